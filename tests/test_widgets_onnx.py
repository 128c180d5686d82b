"""The explorer's layer 3 in Python: ONNX exports compute what the torch models compute; the payload.

onnxruntime's logits must equal torch's within 1e-4 on a batch of scenes, for float32
files against the model and for float16-weight files against the model with the same
rounded weights. The payload the book's extension writes must hold the files and the
exact digits and fields the page composes scenes from.
"""
import base64
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import stnutils as stn
from stnutils.widgets import Controls, SceneGrid, web

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-4


def model(name, seed=0):
    """A model whose localisation depends on the scene (a fresh head is constant)."""
    torch.manual_seed(seed)
    m = stn.models.build_model(name).eval()
    head = getattr(getattr(m, "stn", None), "head", None)
    if head is not None:
        with torch.no_grad():
            head.weight.normal_(0, 0.05)
    return m


_EXPORTS: dict = {}


def exported(name, seed=0, weights="float32"):
    """The export of ``model(name, seed)``, made once per test session."""
    key = (name, seed, weights)
    if key not in _EXPORTS:
        _EXPORTS[key] = web.export_onnx(model(name, seed), weights)
    return _EXPORTS[key]


@pytest.fixture(scope="module")
def scenes(data_root):
    ds = stn.data.NoisyMNIST128(data_root, train=False, seed=3, contrast=(0.3, 0.7), eccentricity_std=20.0)
    return ds.batch(range(8))[0]


@pytest.mark.parametrize("name", ["fast_atn", "stn128", "lenet"])
def test_float32_export_matches_torch(name, scenes):
    check = web.parity(model(name), exported(name), scenes, weights="float32")
    assert check["logits"] < TOL, check
    assert check["theta"] < 1e-5 and check["glimpse"] < 1e-4, check


def test_float16_export_is_the_rounded_model_and_half_the_size(scenes):
    m = model("fast_atn", seed=1)
    full, half = exported("fast_atn"), exported("fast_atn", 1, "float16")
    assert len(half) < 0.6 * len(full)
    check = web.parity(m, half, scenes, weights="float16")
    assert check["logits"] < TOL, check  # exactly what the file holds
    assert check["same_answer"] == 1.0 and check["probs_vs_float32"] < 1e-3, check
    # the rounding is real: the float16 file is not the float32 model to the bit
    assert check["logits_vs_float32"] > 0


def test_a_broken_export_fails_the_parity_check(scenes):
    """The check can fail: a file of another model's weights is far from this model."""
    check = web.parity(model("fast_atn", seed=1), exported("fast_atn", 0), scenes, weights="float32")
    assert check["logits"] > 1e-2


def test_export_leaves_the_models_mode_and_rejects_bad_weights():
    m = model("lenet").train()
    web.export_onnx(m, "float32")
    assert m.training
    with pytest.raises(ValueError, match="weights must be one of"):
        web.export_onnx(m, "int8")


def test_the_payload_holds_files_digits_and_fields(data_root):
    m = model("lenet")
    payload = web.web_payload({"lenet": m}, [(0, 0), (5, 3)], notes={"polo_atn": "too large"}, data_root=data_root)
    live = payload["live"]
    assert set(payload["files"]) == {"data.js", "lenet.onnx"}
    assert live["payload"] == payload["id"] and payload["id"].isalnum()
    assert live["models"]["lenet"]["bytes"] == len(web.payload_model(payload, "lenet"))
    assert live["notes"] == {"polo_atn": "too large"}
    script = payload["files"]["data.js"]["text"]
    assert script.startswith("(window.STNX_DATA = window.STNX_DATA || {})") and live["data_bytes"] == len(script)
    data = json.loads(script.split("] = ", 1)[1].rstrip(";\n"))
    digits, labels = stn.data.load_mnist(data_root, train=False)
    for sample, (digit, seed) in zip(data["samples"], [(0, 0), (5, 3)]):
        assert (sample["digit"], sample["seed"], sample["label"]) == (digit, seed, int(labels[digit]))
        pixels = np.frombuffer(base64.b64decode(sample["digit_u8"]), np.uint8).reshape(28, 28)
        assert np.array_equal(pixels, digits[digit].numpy())
        field = np.frombuffer(base64.b64decode(sample["field_f32"]), "<f4").reshape(128, 128)
        want, lo, hi = stn.widgets.raw_field(seed, digit)
        assert np.array_equal(field, want.numpy()) and (sample["field_min"], sample["field_max"]) == (lo, hi)
        assert np.float32(lo) == lo  # a float32 value, exact in JSON
    with pytest.raises(ValueError, match="must be one of the payload's models"):
        web.payload_model(payload, "atn")
    with pytest.raises(ValueError, match="samples"):
        web.web_payload({"lenet": m}, [])


def test_raw_field_is_the_generators_field(data_root):
    """The scene at noise > 0 is the field normalised by its extremes wherever the digit leaves them alone."""
    c = Controls(digit=9, seed=4, i=30, j=-30, contrast=0.2, noise=1.0)
    scene = SceneGrid([c], data_root).batch([0])[0][0, 0]
    field, lo, hi = stn.widgets.raw_field(c.seed, c.digit)
    disc = stn.data.scenes.disc_mask(128).bool()
    base = torch.where(disc, (field - lo) / (torch.tensor(hi) - lo), torch.tensor(0.5))
    top, left = 50 + c.i, 50 + c.j
    outside = torch.ones(128, 128, dtype=torch.bool)
    outside[top:top + 28, left:left + 28] = False
    assert torch.equal(scene[outside], base[outside])


def _extension():
    spec = importlib.util.spec_from_file_location("explorer_assets", REPO / "_ext" / "explorer_assets.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["explorer_assets"] = module
    spec.loader.exec_module(module)
    return module


def test_the_book_extension_writes_the_payload_and_checks_the_runtime(tmp_path, data_root):
    ext = _extension()
    payload = web.web_payload({"lenet": model("lenet")}, [(1, 0)], data_root=data_root)
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"text/plain": "x"}, "metadata": {web.PAYLOAD_KEY: payload}}]}]}
    path = tmp_path / "chapter.ipynb"
    path.write_text(json.dumps(nb))
    found = ext.payloads(path)
    assert found == [payload]
    written = ext.write_payload(found[0], tmp_path / "out")
    assert sorted(p.name for p in written) == ["data.js", "lenet.onnx"]
    assert (tmp_path / "out" / payload["id"] / "lenet.onnx").read_bytes() == web.payload_model(payload, "lenet")
    with pytest.raises(Exception, match="bad file name"):
        ext.write_payload(dict(payload, files={"../x.js": {"text": ""}}), tmp_path / "out")
    # the runtime: missing, wrong version, present
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": {"onnxruntime-web": "1.30.0"}}))
    with pytest.raises(Exception, match="make install-ort"):
        ext.runtime_dist(tmp_path)
    dist = tmp_path / "node_modules" / "onnxruntime-web" / "dist"
    dist.mkdir(parents=True)
    (dist.parent / "package.json").write_text(json.dumps({"version": "1.29.0"}))
    with pytest.raises(Exception, match="pins 1.30.0"):
        ext.runtime_dist(tmp_path)
    (dist.parent / "package.json").write_text(json.dumps({"version": "1.30.0"}))
    for name in ext.RUNTIME_FILES:
        (dist / name).write_bytes(b"x")
    assert ext.runtime_dist(tmp_path) == dist
    assert ext.PAYLOAD_KEY == web.PAYLOAD_KEY
    assert set(ext.RUNTIME_FILES) == set(web.RUNTIME_FILES)


def test_the_pinned_runtime_is_what_the_page_counts():
    """package.json pins the version whose file sizes the chapter states (when node_modules is installed)."""
    pin = json.loads((REPO / "package.json").read_text())["dependencies"]["onnxruntime-web"]
    lock = json.loads((REPO / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/onnxruntime-web"]["version"] == pin == "1.30.0"
    dist = REPO / "node_modules" / "onnxruntime-web" / "dist"
    if not dist.is_dir():
        pytest.skip("node_modules not installed (make install-ort)")
    assert web.runtime_bytes(dist) == web.RUNTIME_FILES
    import gzip

    packed = sum(len(gzip.compress((dist / name).read_bytes(), 6)) for name in web.RUNTIME_FILES)
    assert abs(packed - web.RUNTIME_GZIP_BYTES) < 0.01 * web.RUNTIME_GZIP_BYTES
