"""stnutils.widgets without a browser: slider values -> scene -> each model's view, the HTML, the widgets.

The scene must be the generator's own, the digit where the sliders put it, its amplitude
falling with the contrast, and the probabilities the model's own on that scene.
"""
import base64
import io
import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import stnutils as stn
from stnutils.data.scenes import DIGIT_SIZE
from stnutils.widgets import (
    REACH,
    CentralPatch,
    Controls,
    SceneGrid,
    SliderGrid,
    explorable,
    explorer_state,
    explorer_states,
    render,
    slider_html,
    slider_table,
    state,
)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    fast = stn.models.build_model("fast_atn").eval()
    with torch.no_grad():  # a head that depends on the scene (the trained ones do; a fresh one is constant)
        fast.stn.head.weight.normal_(0, 0.05)
    return {"fast_atn": fast, "lenet": stn.models.LeNet().eval()}


def digit_of(index, data_root):
    return stn.data.load_mnist(data_root, train=False)[0][index].float()


def locate(scene, digit):
    """Top-left pixel where the digit template correlates best with the (mean-removed) scene."""
    s = (scene - scene.mean())[None, None]
    t = (digit - digit.mean())[None, None]
    score = F.conv2d(s, t)[0, 0]
    k = int(score.argmax())
    return divmod(k, score.shape[1])


@pytest.mark.parametrize("offset", [(0, 0), (17, -9), (-40, 33), (50, 50), (-50, 0)])
def test_the_digit_lands_where_the_sliders_say(offset, data_root):
    c = Controls(digit=3, i=offset[0], j=offset[1], contrast=1.0, noise=0.0)
    s = explorer_state({"lenet": stn.models.LeNet().eval()}, c, data_root)
    assert s.offset == offset
    # no background: the scene is bright exactly on the digit's strokes (MNIST >= 128), shifted
    top, left = REACH + offset[0], REACH + offset[1]
    mnist = digit_of(3, data_root)
    want = torch.zeros(128, 128, dtype=torch.bool)
    want[top:top + DIGIT_SIZE, left:left + DIGIT_SIZE] = mnist >= 128
    disc = stn.data.scenes.disc_mask(128).bool()
    assert torch.equal((s.scene > 0) & disc, want & disc)
    # over the noisy background too, the template finds the digit there
    noisy = explorer_state({"lenet": stn.models.LeNet().eval()}, c.replace(contrast=0.7, noise=0.75), data_root)
    if disc[top + 14, left + 14]:
        assert locate(noisy.scene, mnist) == (top, left)


def test_polar_controls_are_the_generators_offsets(data_root):
    for r, degrees in [(0, 0), (20, 45), (10, 180), (33, 250), (50, 355)]:
        c = Controls.polar(r, degrees, digit=1)
        ds = stn.data.NoisyMNIST128(data_root, train=False, radius=float(r), direction=math.radians(degrees),
                                    contrast=0.7, seed=0)
        images, _, offsets = ds.batch([1])
        assert c.offset == tuple(offsets[0].tolist())
        scene, _, _ = SceneGrid([c], data_root).batch([0])
        assert torch.equal(scene, images)  # the same generator: the same bits


def test_lower_contrast_lowers_the_digits_amplitude(data_root):
    """Over the same background, the digit's strokes stand less above it as the contrast falls."""
    base = dict(digit=5, seed=2, noise=0.75)
    top, left = REACH - 10, REACH + 12
    strokes = digit_of(5, data_root) >= 128
    far = SceneGrid([Controls(i=40, j=-40, contrast=0.7, **base)], data_root).batch([0])[0][0, 0]
    background = far[top:top + DIGIT_SIZE, left:left + DIGIT_SIZE]  # the same pixels without the digit
    amplitude = []
    for contrast in (1.0, 0.7, 0.5, 0.3, 0.1):
        scene = SceneGrid([Controls(i=-10, j=12, contrast=contrast, **base)], data_root).batch([0])[0][0, 0]
        patch = scene[top:top + DIGIT_SIZE, left:left + DIGIT_SIZE]
        amplitude.append(float((patch - background)[strokes].mean()))
    assert all(a > b for a, b in zip(amplitude, amplitude[1:])), amplitude
    assert amplitude[-1] < 0.25 * amplitude[0]


def test_the_probabilities_are_the_models_own_on_the_same_scene(models, data_root):
    controls = [Controls(digit=7, i=12, j=-30, contrast=0.5), Controls.polar(40, 90, digit=2, contrast=0.3, seed=4)]
    states = explorer_states(models, controls, data_root)
    scenes, labels, _ = SceneGrid(controls, data_root).batch([0, 1])
    with torch.no_grad():
        fast = torch.softmax(models["fast_atn"](scenes), 1)
        attention = models["fast_atn"].attend(scenes)
        lenet = torch.softmax(models["lenet"](stn.evaluation.center_crop(scenes, 28)), 1)
    for k, s in enumerate(states):
        assert s.label == int(labels[k])
        assert torch.equal(s.scene, scenes[k, 0])
        assert torch.allclose(s.views["fast_atn"].probs, fast[k], atol=1e-6)
        assert torch.allclose(s.views["lenet"].probs, lenet[k], atol=1e-6)
        assert torch.allclose(s.views["fast_atn"].theta, attention.theta[k])
        assert torch.allclose(s.views["fast_atn"].corners, stn.models.theta_corners(attention.theta, 128)[k])
        assert torch.equal(s.views["fast_atn"].glimpse, attention.glimpse[k, 0])
        assert s.views["lenet"].corners[0].tolist() == [49.5, 49.5]  # the central patch
    assert models["lenet"].training is False and models["fast_atn"].training is False


def test_central_patch_scales_an_inner_transformers_theta():
    torch.manual_seed(1)
    stn28 = stn.models.build_model("stn28").eval()
    with torch.no_grad():  # a zoom well inside the patch, moving with the input
        stn28.stn.head.weight.normal_(0, 0.01)
        stn28.stn.head.bias.copy_(torch.tensor([0.6, 0.0, 0.1, 0.0, 0.6, -0.1]))
    x = torch.rand(2, 1, 128, 128)
    out = CentralPatch(stn28).attend(x)
    inner = stn28.attend(stn.evaluation.center_crop(x, 28))
    assert torch.allclose(out.logits, inner.logits)
    # a glimpse sampled on the scene with the scaled theta is the inner glimpse of the patch
    resampled = stn.models.affine_sample(x, out.theta, 28, fill=0.5)
    assert torch.allclose(resampled, inner.glimpse, atol=1e-5)
    with pytest.raises(ValueError, match="attend"):
        explorable(stn.models.registry.build_model("stn128").classifier)
    assert explorable(stn28).patch == 28


@pytest.mark.parametrize("bad, match", [
    (dict(i=51), r"i must be in \[-50, 50\], got 51"),
    (dict(j=2.5), "j must be an integer"),
    (dict(contrast=0), r"contrast must be in \(0, 1\]"),
    (dict(noise=1.5), r"noise must be in \[0, 1\]"),
    (dict(digit=10_000), r"digit must be in \[0, 9999\]"),
    (dict(seed=-1), "seed must be in"),
])
def test_controls_reject_bad_values_naming_them(bad, match):
    with pytest.raises(ValueError, match=match):
        Controls(**bad)


def test_polar_rejects_an_eccentricity_beyond_the_reach():
    with pytest.raises(ValueError, match=r"eccentricity must be in \[0, 50\]"):
        Controls.polar(60, 0)


def test_the_background_is_the_scene_outside_the_digits_patch(data_root):
    """raw_field is the generator's field: where the digit leaves the extremes alone, the scene equals it."""
    c = Controls(digit=0, seed=0, i=-20, j=15, contrast=0.3, noise=0.75)
    scene = SceneGrid([c], data_root).batch([0])[0][0, 0]
    base = state.background(c.seed, c.digit, c.noise)
    top, left = REACH + c.i, REACH + c.j
    outside = torch.ones(128, 128, dtype=torch.bool)
    outside[top:top + DIGIT_SIZE, left:left + DIGIT_SIZE] = False
    assert torch.equal(scene[outside], base[outside])
    field, lo, hi = state.raw_field(c.seed, c.digit)
    assert field.shape == (128, 128) and float(field.min()) == lo and float(field.max()) == hi


def test_render_draws_the_box_the_glimpse_and_the_bars(models, data_root):
    s = explorer_state(models, Controls(digit=4, i=10, j=5), data_root)
    html = render.state_html(s)
    assert html.count('class="stnx-model"') == 2
    assert html.count('<polygon class="stnx-box"') == 2
    assert render.corners_points(s.views["lenet"].corners) in html
    assert len(re.findall(r'class="stnx-bar[" ]', html)) == 20
    top = s.views["fast_atn"].prediction
    assert f'<span class="stnx-k">{top}</span>' in html.split('data-model="fast_atn"')[1].split("stnx-top")[1][:80]
    assert "(right)" in html or "(wrong" in html
    png = render.png_bytes(s.scene)
    assert render.png_size(png) == (128, 128)
    with pytest.raises(ValueError, match="10 values"):
        render.bars_html([0.5, 0.5])


def test_the_slider_table_rebuilds_every_scene_exactly(models, data_root):
    grid = SliderGrid(eccentricities=(0, 20, 40), directions=(0, 90), contrasts=(0.3, 1.0), digit=2, seed=1)
    states = explorer_states(models, grid.controls(), data_root)
    table = slider_table(states, grid)
    from PIL import Image

    def pixels(uri):
        return torch.from_numpy(np.array(Image.open(io.BytesIO(base64.b64decode(uri.split(",")[1])))))

    base = pixels(table["images"][table["base"]])
    for st, axes in zip(states, grid.axes()):
        row = table["states"][table["index"][grid.key_of(*axes)]]
        if "scene" in row:
            shown = pixels(table["images"][row["scene"]])
        else:
            shown = base.clone()
            top, left = row["at"]
            shown[top:top + 28, left:left + 28] = pixels(table["images"][row["patch"]])
        assert torch.equal(shown, torch.from_numpy(render.grey8(st.scene)))
        for name, view in row["views"].items():
            assert view["p"] == [round(float(p), 4) for p in st.views[name].probs]
            assert view["box"] == render.corners_points(st.views[name].corners)
    # eccentricity 0 in every direction is one stored state
    assert table["index"]["0|0|0.3"] == table["index"]["0|90|0.3"]
    assert len(table["states"]) == len(grid.controls()) - 2
    with pytest.raises(ValueError, match="in that order"):
        slider_table(states[::-1], grid)


def test_the_static_html_is_self_contained(models, data_root):
    grid = SliderGrid(eccentricities=(0, 20), directions=(0, 90), contrasts=(0.5,))
    table = slider_table(explorer_states(models, grid.controls(), data_root), grid)
    html = slider_html(table, live={"payload": "abc", "models": {}})
    assert not re.search(r"<script[^>]+src=", html)  # no external script
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    embedded = json.loads(re.search(r'class="stnx-table">(.*?)</script>', html, re.S).group(1))
    assert embedded == json.loads(json.dumps(table))
    assert json.loads(re.search(r'class="stnx-spec">(.*?)</script>', html, re.S).group(1))["payload"] == "abc"
    assert html.count('<input type="range"') == 3
    assert 'step="20"' in html and 'step="90"' in html
    with pytest.raises(ValueError, match="evenly spaced"):
        slider_html(dict(table, axes=dict(table["axes"], eccentricity=[0, 10, 30])))


def test_slider_bundle_has_html_png_and_text(models, data_root):
    grid = SliderGrid(eccentricities=(0, 40), directions=(0,), contrasts=(0.3, 0.7))
    out = stn.widgets.slider_bundle(models, grid, data_root)
    bundle = out["bundle"]
    assert set(bundle) == {"text/html", "image/png", "text/plain"}
    assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert out["states"] == 4 and "4 states" in bundle["text/plain"]
    assert out["html_bytes"] == len(bundle["text/html"].encode())


def test_slider_grid_rejects_bad_axes():
    with pytest.raises(ValueError, match="increasing"):
        SliderGrid(eccentricities=(20, 10))
    with pytest.raises(ValueError, match=r"eccentricities must be in \[0, 50\]"):
        SliderGrid(eccentricities=(0, 60))
    with pytest.raises(ValueError, match=r"contrasts must be in \(0, 1\]"):
        SliderGrid(contrasts=(0.0, 0.5))


def test_explore_updates_when_a_slider_moves(models, data_root):
    box = stn.widgets.explore(models, data_root=data_root, digits=[0, 1, 2])
    first = box.children[2].value
    assert 'data-model="fast_atn"' in first and box.last_ms > 0
    box.widgets["eccentricity"].value = 30
    moved = box.children[2].value
    assert moved != first and "(30, 0)" in moved  # polar: 30 px at direction 0 (down)
    box.widgets["mode"].value = "ij"
    box.widgets["i"].value = -12
    box.widgets["j"].value = 7
    assert "(-12, 7)" in box.children[2].value
    lower = box.widgets["contrast"].value = 0.2
    assert f"contrast {lower:g}" in box.children[2].value
    box.widgets["digit"].value = 2
    assert "digit #2 (a 1)" in box.children[2].value
    state_now = box.update()
    assert state_now.controls == Controls(digit=2, i=-12, j=7, contrast=0.2, noise=0.75, seed=0)


def test_adding_a_model_to_the_explorer_is_one_line():
    entries = stn.widgets.EXPLORED + (stn.widgets.Explored("stn28", live=False, note="for the test"),)
    assert stn.widgets.explored_schedules(entries)[-1] == "stn28"
    assert "stn28" not in stn.widgets.live_schedules(entries)
    assert all(e.schedule in stn.training.SCHEDULES for e in stn.widgets.EXPLORED)
