"""Sphinx extension: the files the model explorer's live layer needs, copied into the HTML build.

The explorer chapter (stnutils.widgets) emits a pre-rendered slider that works offline
and, in the metadata of the same output (key ``stnutils.explorer``, which no renderer
shows), a payload: the trained models as ONNX files and the digits and background fields
its scenes are composed from. The payload is part of the
executed notebook in book/, so CI, which builds the committed book without training,
has it. At the end of an HTML build this extension writes, under ``_static/explorer/``:

- ``ort/``: the three files of the pinned onnxruntime-web (package.json) that a page needs
  for the plain WebAssembly backend, from ``node_modules/`` (``make install-ort``, never
  committed);
- ``live.js``: the page's script (``stnutils/widgets/live.js``);
- ``<payload id>/``: each payload's ``data.js`` and ``<model>.onnx``.

Not in a ``_static/`` folder of the book's source: Jupyter Book adds every ``.js`` there to
every page. The package is located with importlib's finder, not imported (that would
import torch).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

PAYLOAD_KEY = "stnutils.explorer"  # stnutils.widgets.web.PAYLOAD_KEY
RUNTIME = "onnxruntime-web"
RUNTIME_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
TARGET = "explorer"  # under _static/


def runtime_dist(root: Path) -> Path:
    """``node_modules/onnxruntime-web/dist`` of the book, checked against the pin in package.json."""
    wanted = json.loads((root / "package.json").read_text())["dependencies"][RUNTIME]
    package = root / "node_modules" / RUNTIME
    hint = "run `make install-ort` (npm ci --ignore-scripts installs the version pinned in package-lock.json)"
    try:
        installed = json.loads((package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        raise ExtensionError(f"explorer_assets: {package} is not installed; {hint}") from None
    if installed != wanted:
        raise ExtensionError(f"explorer_assets: {package} is version {installed}, package.json pins {wanted}; {hint}")
    missing = [name for name in RUNTIME_FILES if not (package / "dist" / name).is_file()]
    if missing:
        raise ExtensionError(f"explorer_assets: {package / 'dist'} lacks {', '.join(missing)}; {hint}")
    return package / "dist"


def live_script() -> Path:
    spec = importlib.util.find_spec("stnutils")
    for location in (spec.submodule_search_locations or []) if spec else []:
        script = Path(location) / "widgets" / "live.js"
        if script.is_file():
            return script
    raise ExtensionError("explorer_assets: stnutils/widgets/live.js not found; run `make venv` (pip install -e .)")


def payloads(notebook: Path) -> list:
    """The explorer payloads in a notebook's outputs."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    found = []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            payload = (output.get("metadata") or {}).get(PAYLOAD_KEY)
            if payload:
                found.append(payload)
    return found


def write_payload(payload: dict, target: Path) -> list:
    ident = str(payload.get("id", ""))
    if payload.get("format") != 1 or not ident.isalnum():
        raise ExtensionError(f"explorer_assets: a payload of unknown format or id "
                             f"({payload.get('format')!r}, {ident!r})")
    folder = target / ident
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in payload["files"].items():
        if "/" in name or name.startswith("."):
            raise ExtensionError(f"explorer_assets: bad file name {name!r} in payload {ident}")
        data = content["text"].encode("utf-8") if "text" in content else base64.b64decode(content["base64"])
        (folder / name).write_bytes(data)
        written.append(folder / name)
    return written


def check_config(app: Sphinx, config) -> None:
    # Fail at the start of the build, not after every page was written.
    runtime_dist(Path(app.srcdir))
    live_script()


def copy_assets(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.builder.outdir) / "_static" / TARGET
    shutil.rmtree(target, ignore_errors=True)  # written whole at every build: no payload of an older run stays
    (target / "ort").mkdir(parents=True, exist_ok=True)
    dist = runtime_dist(Path(app.srcdir))
    for name in RUNTIME_FILES:
        shutil.copy2(dist / name, target / "ort" / name)
    shutil.copy2(live_script(), target / "live.js")
    for docname in sorted(app.env.found_docs):
        path = Path(app.env.doc2path(docname))
        if path.suffix == ".ipynb":
            for payload in payloads(path):
                write_payload(payload, target)


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", check_config)
    app.connect("build-finished", copy_assets)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
