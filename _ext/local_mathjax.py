"""Sphinx extension: serve MathJax from the built book instead of a CDN.

Sphinx loads MathJax 3 from cdn.jsdelivr.net by default, so a reader (or CI) without
network sees raw ``\\(...\\)`` TeX. The pinned package jupyter-server-mathjax ships a
complete MathJax 2.7 (the one classic Jupyter Notebook used); this copies it into
``_static/mathjax`` of the HTML output. ``_config.yml`` points ``mathjax_path`` at it and
gives the MathJax 2 configuration.

The package is located with importlib's finder, not imported: importing it would import
jupyter_server, which the build does not need.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

PACKAGE = "jupyter_server_mathjax"
TARGET = "mathjax"  # under _static/; mathjax_path in _config.yml starts with this


def mathjax_source() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        static = Path(location) / "static"
        if (static / "MathJax.js").is_file():
            return static
    raise ExtensionError(
        f"local_mathjax: {PACKAGE} (MathJax 2) is not installed in this Python; "
        "run `make venv` (it is pinned in requirements.txt)"
    )


def check_config(app: Sphinx, config) -> None:
    # Fail at the start of the build, not after every page was written.
    mathjax_source()
    if not str(config.mathjax_path).startswith(f"{TARGET}/"):
        raise ExtensionError(
            f"local_mathjax: mathjax_path is {config.mathjax_path!r}; it must point into "
            f"_static/{TARGET}/ (e.g. '{TARGET}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full')"
        )


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.builder.outdir) / "_static" / TARGET
    shutil.copytree(mathjax_source(), target, dirs_exist_ok=True)


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", check_config)
    app.connect("build-finished", copy_mathjax)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
