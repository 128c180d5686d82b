"""Layer 3: the trained models exported to ONNX, and the data the page composes scenes from.

In the rendered book served over http(s), the slider of :mod:`~stnutils.widgets.static`
runs the real networks in the reader's browser with onnxruntime-web (WebAssembly, one
thread), so any slider position, not only the pre-rendered grid, gets the model's answer.
The page composes the scene itself, with the same float32 arithmetic as
:class:`~stnutils.data.NoisyMNIST128` (contrast, composite, mask), from arrays this module
ships: each offered digit (784 bytes) and the raw MotionCloud field of its index at each
offered seed (128x128 float32, before gain and normalisation, as the generator computes it).

:func:`web_payload` gathers the ONNX files and those arrays into one JSON-able dict that
the chapter emits with its slider (in the output's metadata, :data:`PAYLOAD_KEY`); the book's extension
``_ext/explorer_assets.py`` writes it into ``_static/explorer/<id>/`` of the HTML build,
beside the pinned onnxruntime-web runtime and ``live.js``.

onnx, onnxscript (the dynamo exporter needs it) and onnxruntime are imported only here,
when a function needs them: the package imports without them.
"""
from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..data.mnist import load_mnist
from ..evaluation.loop import eval_mode
from ..validation import check_choice
from .state import SCENE_SIZE, Controls, explorable, raw_field

__all__ = ["PAYLOAD_KEY", "OPSET", "OUTPUTS", "RUNTIME_FILES", "RUNTIME_GZIP_BYTES", "ExportedModel", "export_onnx",
           "rounded_copy", "onnx_outputs", "sample_arrays", "web_payload", "data_js", "LIVE_JS", "runtime_bytes",
           "payload_model", "parity"]

#: the key of the payload in the slider output's metadata (read by _ext/explorer_assets.py)
PAYLOAD_KEY = "stnutils.explorer"
OPSET = 18  # the dynamo exporter's default: affine_grid becomes plain ops, grid_sample GridSample
OUTPUTS = ("logits", "theta", "glimpse")
#: what the page loads of the pinned onnxruntime-web 1.30.0 (package.json), with their sizes in bytes
RUNTIME_FILES = {"ort.wasm.min.js": 50_196, "ort-wasm-simd-threaded.mjs": 24_381,
                 "ort-wasm-simd-threaded.wasm": 14_239_897}
#: the same files gzip-compressed (level 6), what a server that compresses sends
RUNTIME_GZIP_BYTES = 16_142 + 9_102 + 3_678_426
#: the page's script, copied to _static/explorer/live.js by the book's extension
LIVE_JS = Path(__file__).with_name("live.js")
#: parameters with at least this many values are stored as float16 in a "float16" export
HALF_MIN_ELEMENTS = 1024


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{module} is needed to export or run ONNX models: pip install -r requirements.txt "
                          f"(onnx, onnxscript and onnxruntime are pinned there)") from exc


class ExportedModel(nn.Module):
    """What the page runs: ``scene (N, 1, 128, 128) -> logits (N, 10), theta (N, 2, 3), glimpse (N, 1, h, w)``.

    The model's own :meth:`attend` (through :func:`~stnutils.widgets.state.explorable`, so a
    28x28 model reads the central patch).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = explorable(model)

    def forward(self, x: torch.Tensor):
        out = self.model.attend(x)
        return out.logits, out.theta, out.glimpse


def _half_names(model: nn.Module, min_elements: int = HALF_MIN_ELEMENTS):
    return {name for name, p in ExportedModel(model).named_parameters() if p.numel() >= min_elements}


def rounded_copy(model: nn.Module, min_elements: int = HALF_MIN_ELEMENTS) -> nn.Module:
    """A copy of ``model`` whose large parameters are rounded to float16 and back: what a float16 export holds."""
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.parameters():
            if p.numel() >= min_elements:
                p.copy_(p.half().float())
    return other


def export_onnx(model: nn.Module, weights: str = "float32", opset: int = OPSET) -> bytes:
    """The ONNX file (bytes) of :class:`ExportedModel` ``(model)``, for one scene at a time.

    Args:
        model: a trained model (eval mode is used; its own mode is restored).
        weights: ``"float32"``, or ``"float16"``: parameters of at least 1,024 values stored
            as float16, each followed by a Cast to float32 (the arithmetic stays float32;
            the file is about half the size). It computes :func:`rounded_copy` ``(model)``.
        opset: ONNX opset of the dynamo exporter (18: ``GridSample``, supported by
            onnxruntime-web 1.30).

    Raises:
        ImportError: onnx or onnxscript missing.
    """
    check_choice("weights", weights, ("float32", "float16"))
    onnx = _need("onnx")
    _need("onnxscript")
    wrapped = ExportedModel(model)
    was_training = model.training
    wrapped.eval()
    try:
        # the exporter's optimiser prints notes (e.g. "Skipped deduplication of initializer")
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            # one scene, the page's batch: the models' input checks take len() of the batch, which
            # would specialise a dynamic batch size anyway
            program = torch.onnx.export(
                wrapped, (torch.rand(1, 1, SCENE_SIZE, SCENE_SIZE),), dynamo=True, opset_version=opset,
                input_names=["scene"], output_names=list(OUTPUTS), optimize=True, verbose=False,
            )
    finally:
        model.train(was_training)
    proto = program.model_proto
    if weights == "float16":
        _store_half(proto, _half_names(model))
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _store_half(proto, names) -> None:
    """Replace the float32 initializers named ``names`` by float16 ones and a Cast back to float32."""
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    kept, casts = [], []
    found = set()
    for init in graph.initializer:
        if init.name in names and init.data_type == TensorProto.FLOAT:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "__float16")
            kept.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                          name=init.name + "__cast"))
            found.add(init.name)
        else:
            kept.append(init)
    if found != set(names):
        raise RuntimeError(f"the exported graph has no initializer for parameters {sorted(set(names) - found)}")
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)


def onnx_outputs(model_bytes: bytes, scenes: torch.Tensor) -> Dict[str, np.ndarray]:
    """Run an exported file with onnxruntime (CPU, one thread) on each of ``scenes`` ``(N, 1, 128, 128)``.

    Returns:
        ``{"logits": (N, 10), "theta": (N, 2, 3), "glimpse": (N, 1, h, w)}`` numpy arrays.
    """
    ort = _need("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    x = scenes.detach().cpu().float().numpy()
    runs = [session.run(list(OUTPUTS), {"scene": x[k:k + 1]}) for k in range(len(x))]  # one scene a run
    return {name: np.concatenate([r[n] for r in runs]) for n, name in enumerate(OUTPUTS)}


def sample_arrays(digit: int, seed: int, data_root=None) -> dict:
    """What the page needs to compose the scenes of test digit ``digit`` over its background at ``seed``."""
    c = Controls(digit=digit, seed=seed)  # validates both
    digits, labels = load_mnist(data_root, train=False)
    field, lo, hi = raw_field(c.seed, c.digit)
    return {
        "digit": c.digit, "seed": c.seed, "label": int(labels[c.digit]),
        "digit_u8": base64.b64encode(digits[c.digit].numpy().astype(np.uint8).tobytes()).decode("ascii"),
        "field_f32": base64.b64encode(field.numpy().astype("<f4").tobytes()).decode("ascii"),
        "field_min": lo, "field_max": hi,  # float32 values, exact as JSON doubles
    }


def runtime_bytes(dist: Optional[Path] = None) -> Dict[str, int]:
    """Sizes of the runtime files: read from ``dist`` (``node_modules/onnxruntime-web/dist``) when given, else
    :data:`RUNTIME_FILES` (the pinned version's)."""
    if dist is None:
        return dict(RUNTIME_FILES)
    return {name: (Path(dist) / name).stat().st_size for name in RUNTIME_FILES}


def web_payload(
    models: Mapping[str, nn.Module],
    samples: Sequence[Tuple[int, int]],
    notes: Optional[Mapping[str, str]] = None,
    weights: str = "float16",
    data_root=None,
    noise: float = 0.75,
) -> dict:
    """Everything layer 3 ships: the ONNX file of each live model and the digits and fields of ``samples``.

    Args:
        models: ``{name: model}`` that run in the browser.
        samples: ``(digit, seed)`` pairs the page offers (its digit and seed pickers).
        notes: ``{name: why}`` for the models that do not run in the browser (said on the page).
        weights: :func:`export_onnx`'s ``weights``.
        data_root: folder holding ``MNIST/raw``.
        noise: the noise slider's starting value.

    Returns:
        ``{"format", "id", "files": {name: {"text": ...} or {"base64": ...}}, "live": {...}}``:
        ``files`` (``data.js`` and one ``<model>.onnx`` each) are what the book's extension
        writes into ``_static/explorer/<id>/``; ``live`` is the description the page's slider
        embeds (the payload ``id``, each model's file size, the notes, the samples).
    """
    if not samples:
        raise ValueError("samples must hold at least one (digit, seed) pair")
    files = {name: export_onnx(m, weights) for name, m in models.items()}
    data = {"format": 1, "size": SCENE_SIZE, "noise": float(noise),
            "samples": [sample_arrays(d, s, data_root) for d, s in samples]}
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode())
    for name in sorted(files):
        digest.update(name.encode() + files[name])
    ident = digest.hexdigest()[:12]
    script = data_js(ident, data)
    live = {
        "payload": ident, "format": 1, "weights": weights,
        "models": {name: {"file": f"{name}.onnx", "bytes": len(b)} for name, b in files.items()},
        "notes": dict(notes or {}),
        "samples": [[s["digit"], s["seed"], s["label"]] for s in data["samples"]],
        "noise": float(noise),
        "runtime_bytes": sum(RUNTIME_FILES.values()),
        "data_bytes": len(script.encode()),
    }
    out = {"data.js": {"text": script}}
    out.update({f"{name}.onnx": {"base64": base64.b64encode(b).decode("ascii")} for name, b in files.items()})
    return {"format": 1, "id": ident, "files": out, "live": live}


def data_js(ident: str, data: dict) -> str:
    """The ``data.js`` of a payload: a script (not fetched JSON, so it also loads from ``file://``)."""
    return (f"(window.STNX_DATA = window.STNX_DATA || {{}})[{json.dumps(ident)}] = "
            f"{json.dumps(data, separators=(',', ':'))};\n")


def payload_model(payload: Mapping, name: str) -> bytes:
    """The ONNX file of ``name`` in a :func:`web_payload`."""
    try:
        return base64.b64decode(payload["files"][f"{name}.onnx"]["base64"])
    except KeyError:
        raise ValueError(f"name must be one of the payload's models {sorted(payload['live']['models'])}, "
                         f"got {name!r}") from None


def parity(model: nn.Module, model_bytes: bytes, scenes: torch.Tensor, weights: str = "float16") -> Dict[str, float]:
    """How closely an exported file (run by onnxruntime) computes what ``model`` computes in torch.

    Args:
        model: the trained model.
        model_bytes: its :func:`export_onnx` file.
        scenes: ``(N, 1, 128, 128)``.
        weights: the file's weights; for ``"float16"`` the reference is :func:`rounded_copy`
            (what the file holds), and the file is also compared with the float32 model.

    Returns:
        ``{"logits", "theta", "glimpse"}``: max absolute differences with the reference; for
        float16 also ``"logits_vs_float32"``, ``"probs_vs_float32"`` (max absolute) and
        ``"same_answer"`` (fraction of scenes with the same arg-max as the float32 model).
    """
    check_choice("weights", weights, ("float32", "float16"))
    got = onnx_outputs(model_bytes, scenes)

    def torch_outputs(m):
        with eval_mode(m):
            return [t.numpy() for t in ExportedModel(m)(scenes)]

    want = torch_outputs(rounded_copy(model) if weights == "float16" else model)
    out = {k: float(np.abs(got[k] - w).max()) for k, w in zip(OUTPUTS, want)}
    if weights == "float16":
        full = torch_outputs(model)[0]
        probs = torch.softmax(torch.from_numpy(got["logits"]), 1) - torch.softmax(torch.from_numpy(full), 1)
        out.update(logits_vs_float32=float(np.abs(got["logits"] - full).max()),
                   probs_vs_float32=float(probs.abs().max()),
                   same_answer=float((got["logits"].argmax(1) == full.argmax(1)).mean()))
    return out
