"""compose_scenes_ against the stage-by-stage recipe it replaces (background, composite, mask)."""
import pytest
import torch

from stnutils.data.scenes import apply_disc_mask, compose_scenes_, composite_digits_, disc_mask


def stage_by_stage(fields, gain, digit, top, left, mask):
    scene = 0.5 + gain[:, None, None] * fields
    composite_digits_(scene, digit, top, left)
    return apply_disc_mask(scene) if mask else scene


def random_inputs(seed, b=12, size=64, h=28):
    g = torch.Generator().manual_seed(seed)
    fields = torch.randn(b, size, size, generator=g)
    gain = 0.375 / fields.flatten(1).abs().amax(dim=1)
    c = 0.3 + 0.7 * torch.rand(b, generator=g)
    ink = torch.rand(b, h, h, generator=g) * (torch.rand(b, h, h, generator=g) > 0.7)  # sparse strokes
    digit = 0.5 + c[:, None, None] * (ink - 0.5)
    top = torch.randint(0, size - h + 1, (b,), generator=g)
    left = torch.randint(0, size - h + 1, (b,), generator=g)
    return fields, gain, digit, top, left


@pytest.fixture(params=["fused", "torch"])
def path(request, monkeypatch):
    """Both implementations of compose_scenes_: numba's fused loop (when installed) and torch's."""
    from stnutils.data import _kernels

    if request.param == "fused" and not _kernels.AVAILABLE:
        pytest.skip("numba is not installed")
    if request.param == "torch":
        monkeypatch.setattr(_kernels, "AVAILABLE", False)
    return request.param


@pytest.mark.parametrize("mask", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compose_equals_the_stage_by_stage_recipe(seed, mask, path):
    fields, gain, digit, top, left = random_inputs(seed)
    expected = stage_by_stage(fields, gain, digit, top, left, mask)
    got = compose_scenes_(fields.clone(), fields.flatten(1).amax(dim=1), gain, digit, top, left, mask)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    if mask:
        outside = disc_mask(64) == 0
        assert (got[:, outside] == 0.5).all()
        assert (got >= 0).all() and (got <= 1).all()


def test_a_stroke_over_the_darkest_pixel_moves_the_minimum(path):
    fields, gain, digit, top, left = random_inputs(3, b=4)
    fields[:, 32, 32] = fields.flatten(1).amin(dim=1) - 1  # the darkest pixel, inside the disc
    gain = 0.375 / fields.flatten(1).abs().amax(dim=1)
    top[:], left[:] = 20, 20
    digit[:, 12, 12] = 0.95  # a bright stroke over it
    expected = stage_by_stage(fields, gain, digit, top, left, True)
    got = compose_scenes_(fields.clone(), fields.flatten(1).amax(dim=1), gain, digit, top, left, True)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    darkest = fields.flatten(1).argmin(dim=1, keepdim=True)
    assert (got.flatten(1).gather(1, darkest) > 0.5).all()  # now under a bright stroke


def test_the_extremes_are_exactly_0_and_1_when_the_background_holds_them(path):
    fields, gain, digit, top, left = random_inputs(4, b=6)
    fields[:, 30, 30] = fields.flatten(1).amin(dim=1) - 1  # extremes inside the disc
    fields[:, 33, 33] = fields.flatten(1).amax(dim=1) + 1
    gain = 0.375 / fields.flatten(1).abs().amax(dim=1)
    digit.fill_(0.2)  # no strokes: the scene is the normalised background
    got = compose_scenes_(fields.clone(), fields.flatten(1).amax(dim=1), gain, digit, top, left, True)
    assert (got[:, 30, 30] == 0).all() and (got[:, 33, 33] == 1).all()
    raw = fields.flatten(1)
    lo, hi = raw.amin(dim=1, keepdim=True), raw.amax(dim=1, keepdim=True)
    inside = (disc_mask(64) == 1).flatten()
    torch.testing.assert_close(got.flatten(1)[:, inside], ((raw - lo) / (hi - lo))[:, inside], rtol=0, atol=1e-6)


def test_a_zero_gain_gives_the_blank_background_recipe():
    fields, gain, digit, top, left = random_inputs(5, b=3)
    zeros = torch.zeros_like(fields)
    expected = stage_by_stage(zeros, torch.zeros(3), digit, top, left, True)
    got = compose_scenes_(zeros.clone(), torch.zeros(3), torch.zeros(3), digit, top, left, True)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
