"""scripts/check_sliders.py on a small explorer page in headless Chromium: a good page passes, broken ones fail.

The page is the chapter's block for two models with random weights (LeNet on the central
patch, a FastATN whose localisation depends on the scene) over a 4 x 3 x 3 grid, with the
live layer's files laid out as the book's extension lays them out. Served over http the
real models run in the page (onnxruntime-web); opened from file:// the grid shows. Needs
Chromium (make install-chromium) and node_modules (make install-ort); skipped without them.
"""
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch

import stnutils as stn
from stnutils.widgets import SliderGrid, slider_html, web

REPO = Path(__file__).resolve().parents[1]
DIST = REPO / "node_modules" / "onnxruntime-web" / "dist"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


check_sliders = _load("check_sliders", REPO / "scripts" / "check_sliders.py")
ext = _load("explorer_assets", REPO / "_ext" / "explorer_assets.py")

pytestmark = [
    pytest.mark.skipif(check_sliders.check_html.find_chromium() is None,
                       reason="Chromium is not installed (make install-chromium)"),
    pytest.mark.skipif(not DIST.is_dir(), reason="onnxruntime-web is not installed (make install-ort)"),
]
GRID = SliderGrid(eccentricities=(0, 10, 20, 30), directions=(0, 90, 180), contrasts=(0.3, 0.5, 0.7), digit=1, seed=0)
PAGE = "book/explore.html"


def write_site(root: Path, block: str, payload: dict, live_js: str) -> Path:
    """The layout of the built book: the page under book/, the explorer's files under _static/explorer/."""
    (root / "book").mkdir(parents=True)
    head = "<meta charset='utf-8'><link rel='icon' href='data:,'><title>explorer</title>"
    (root / PAGE).write_text(f"<!DOCTYPE html><html lang='en' data-content_root='../'><head>{head}</head>"
                             f"<body>{block}</body></html>")
    target = root / "_static" / "explorer"
    (target / "ort").mkdir(parents=True)
    for name in ext.RUNTIME_FILES:
        shutil.copy2(DIST / name, target / "ort" / name)
    (target / "live.js").write_text(live_js)
    ext.write_payload(payload, target)
    return root


@pytest.fixture(scope="module")
def page_parts(data_root):
    torch.manual_seed(0)
    fast = stn.models.build_model("fast_atn").eval()
    with torch.no_grad():
        fast.stn.head.weight.normal_(0, 0.05)
    models = {"fast_atn": fast, "lenet": stn.models.LeNet().eval()}
    payload = web.web_payload(models, [(1, 0), (4, 2)], data_root=data_root)
    out = stn.widgets.slider_bundle(models, GRID, data_root, live=payload["live"])
    return {"table": out["table"], "live": payload["live"], "payload": payload, "js": web.LIVE_JS.read_text()}


def run(tmp_path, parts, table=None, js=None, data_root=None):
    block = slider_html(table or parts["table"], parts["live"])
    site = write_site(tmp_path / "site", block, parts["payload"], js or parts["js"])
    return check_sliders.run_checks(site, PAGE, data_root, shots=None)


def test_a_good_page_passes_over_http_and_from_file(tmp_path, page_parts, data_root):
    summary = run(tmp_path, page_parts, data_root=data_root)
    assert summary["ok"], summary["problems"]
    http = summary["http"]["blocks"][0]
    assert http["live_models"] == ["fast_atn", "lenet"]
    assert http["composition"]["max_abs"] <= check_sliders.SCENE_TOL and http["composition"]["scenes"] == 12
    assert http["composition"]["polar_mismatches"] == 0
    assert http["grid"]["positions"] == len(GRID.controls())
    assert http["grid"]["max_prob_diff"] < check_sliders.PROB_TOL
    assert all(step["scene_changed"] for step in http["movement"]["steps"])
    assert "file://" in summary["file"]["status"]
    assert "could not start" in summary["runtime_blocked"]["status"]


def test_a_scene_composed_differently_in_the_page_fails(tmp_path, page_parts, data_root):
    broken = page_parts["js"].replace("DISC[k] ? f32(f32(z[k] - lo) / span) : 0.5",
                                      "DISC[k] ? f32(f32(z[k] - lo) / span) : 0.49")
    assert broken != page_parts["js"]
    summary = run(tmp_path, page_parts, js=broken, data_root=data_root)
    assert any("composed scene differs" in p for p in summary["problems"]), summary["problems"]


def test_a_grid_that_is_not_the_models_answer_fails(tmp_path, page_parts, data_root):
    table = json.loads(json.dumps(page_parts["table"]))
    for state in table["states"]:
        p = state["views"]["lenet"]["p"]
        p[0], p[1] = p[1], p[0] + 0.01  # not what lenet says
    summary = run(tmp_path, page_parts, table=table, data_root=data_root)
    assert any(re.search(r"lenet at .*: live probabilities differ", p) for p in summary["problems"]), \
        summary["problems"]
    assert not any("fast_atn at" in p for p in summary["problems"])


def test_sliders_that_do_not_move_the_digit_fail(tmp_path, page_parts, data_root):
    broken = page_parts["js"].replace("const [i, j] = polarOffsets(ecc, deg);", "const [i, j] = [0, 0];")
    assert broken != page_parts["js"]
    summary = run(tmp_path, page_parts, js=broken, data_root=data_root)
    assert any("on eccentricity: the scene shown did not change" in p for p in summary["problems"]), \
        summary["problems"]
    assert any("the page is at" in p or "live probabilities differ" in p for p in summary["problems"])
