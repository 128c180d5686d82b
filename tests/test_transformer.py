import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stnutils.models.tps import TPSGrid, _tps_basis, tps_control_points, tps_grid
from stnutils.models.transformer import (
    MODES,
    SpatialTransformer,
    affine_grid,
    affine_sample,
    attention_theta,
    grid_sample_fill,
    identity_params,
    identity_theta,
    offset_to_theta,
    params_to_theta,
    rotation_theta,
    theta_corners,
    theta_to_offset,
    translation_theta,
)


def _centre_theta(r: int, c: int, size: int = 128, glimpse: int = 28) -> torch.Tensor:
    """Theta of the glimpse scene[r - g/2 : r + g/2, c - g/2 : c + g/2] (integer-aligned)."""
    half = size / 2
    return attention_theta(glimpse / size, (c - half) / half, (r - half) / half)


# --- affine_sample -------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 1, 28, 28), (3, 2, 17, 40)])
def test_identity_theta_reproduces_input(shape):
    x = torch.rand(*shape)
    y = affine_sample(x, identity_theta(shape[0]), shape[-2:])
    assert y.shape == x.shape
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)


def test_zoom_theta_samples_the_known_quadrant():
    x = torch.arange(64.0).reshape(1, 1, 8, 8)
    # zoom 1/2 centred on the middle of the top-left quadrant
    y = affine_sample(x, attention_theta(0.5, -0.5, -0.5), 4)
    torch.testing.assert_close(y, x[..., :4, :4], atol=1e-4, rtol=0)
    y = affine_sample(x, attention_theta(0.5, 0.5, -0.5), 4)  # x = columns: top-right
    torch.testing.assert_close(y, x[..., :4, 4:], atol=1e-4, rtol=0)


@pytest.mark.parametrize("r, c", [(64, 64), (30, 90), (100, 41), (14, 114)])
def test_attention_glimpse_equals_slice(r, c):
    scene = torch.rand(1, 1, 128, 128)
    glimpse = affine_sample(scene, _centre_theta(r, c), 28)
    torch.testing.assert_close(glimpse[0, 0], scene[0, 0, r - 14 : r + 14, c - 14 : c + 14], atol=1e-4, rtol=0)


def test_fill_pads_outside_with_the_value():
    x = torch.zeros(1, 1, 8, 8)
    y = affine_sample(x, attention_theta(1.0, 2.5, 0.0), 8, fill=0.5)  # entirely off the image
    torch.testing.assert_close(y, torch.full_like(y, 0.5))
    y = affine_sample(x, identity_theta(1), 8, fill=0.5)  # inside: unchanged
    torch.testing.assert_close(y, x, atol=1e-6, rtol=0)


def test_affine_sample_gradcheck_theta():
    x = torch.rand(1, 1, 6, 6, dtype=torch.float64)
    theta = (identity_theta(1, dtype=torch.float64) * 0.7 + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: affine_sample(x, t, 5), (theta,))


def test_affine_sample_errors_name_the_parameter():
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="theta"):
        affine_sample(x, torch.zeros(2, 3, 3), 4)
    with pytest.raises(ValueError, match="theta"):
        affine_sample(x, identity_theta(3), 4)
    with pytest.raises(ValueError, match="images"):
        affine_sample(torch.rand(8, 8), identity_theta(1), 4)
    with pytest.raises(ValueError, match="out_size"):
        affine_sample(x, identity_theta(2), 0)
    with pytest.raises(ValueError, match="padding_mode"):
        affine_sample(x, identity_theta(2), 4, padding_mode="wrap")


# --- corners and offsets ---------------------------------------------------------------------
def test_theta_corners_match_affine_grid_half_a_pixel_out():
    torch.manual_seed(0)
    theta = identity_theta(3) + 0.2 * torch.randn(3, 2, 3)
    in_h, in_w, out_h, out_w = 30, 50, 7, 9
    grid = F.affine_grid(theta, [3, 1, out_h, out_w], align_corners=False)  # (N, h, w, 2)
    pix = (grid + 1) * torch.tensor([in_w, in_h]) / 2 - 0.5  # sample points, pixel coordinates
    step_col = pix[:, 0, 1] - pix[:, 0, 0]  # input displacement per output column
    step_row = pix[:, 1, 0] - pix[:, 0, 0]
    expected = torch.stack(
        [
            pix[:, 0, 0] - 0.5 * step_col - 0.5 * step_row,
            pix[:, 0, -1] + 0.5 * step_col - 0.5 * step_row,
            pix[:, -1, -1] + 0.5 * step_col + 0.5 * step_row,
            pix[:, -1, 0] - 0.5 * step_col + 0.5 * step_row,
        ],
        dim=1,
    )
    torch.testing.assert_close(theta_corners(theta, (in_h, in_w)), expected, atol=1e-5, rtol=0)


def test_theta_corners_of_a_crop_are_the_slice_edges():
    r, c = 40, 90
    corners = theta_corners(_centre_theta(r, c), 128)[0]
    lo_x, hi_x, lo_y, hi_y = c - 14 - 0.5, c + 14 - 0.5, r - 14 - 0.5, r + 14 - 0.5
    expected = torch.tensor([[lo_x, lo_y], [hi_x, lo_y], [hi_x, hi_y], [lo_x, hi_y]])
    torch.testing.assert_close(corners, expected, atol=1e-4, rtol=0)


def test_theta_to_offset_inverts_the_crop_and_offset_to_theta():
    offsets = torch.tensor([[0, 0], [-24, 26], [40, -3]])
    rows, cols = 64 + offsets[:, 0], 64 + offsets[:, 1]
    thetas = torch.cat([_centre_theta(int(r), int(c)) for r, c in zip(rows, cols)])
    torch.testing.assert_close(theta_to_offset(thetas, 128), offsets.float(), atol=1e-4, rtol=0)
    torch.testing.assert_close(offset_to_theta(offsets, 128, 28 / 128), thetas, atol=1e-6, rtol=0)


def test_dataset_convention_digit_centre():
    """A 28x28 patch at top = (128 - 28) // 2 + i is centred i pixels from the centre."""
    i, j = 17, -9
    scene = torch.zeros(1, 1, 128, 128)
    scene[..., 50 + i : 78 + i, 50 + j : 78 + j] = 1
    glimpse = affine_sample(scene, offset_to_theta(torch.tensor([[i, j]]), 128, 28 / 128), 28)
    torch.testing.assert_close(glimpse, torch.ones_like(glimpse), atol=1e-5, rtol=0)


# --- building theta ----------------------------------------------------------------------------
def test_rotation_theta():
    x = torch.rand(2, 1, 9, 9)
    y = affine_sample(x, rotation_theta(torch.full((2,), math.pi / 2)), 9)
    torch.testing.assert_close(y, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5, rtol=0)
    back = affine_sample(affine_sample(x, rotation_theta(math.pi / 2).expand(2, 2, 3), 9),
                         rotation_theta(-math.pi / 2).expand(2, 2, 3), 9)
    torch.testing.assert_close(back, x, atol=1e-5, rtol=0)
    t = rotation_theta(torch.tensor([0.3, -1.2]), scale=0.5, tx=0.1)
    assert t.shape == (2, 2, 3)
    lin = t[:, :, :2]
    torch.testing.assert_close(lin @ lin.transpose(1, 2), 0.25 * torch.eye(2).expand(2, 2, 2), atol=1e-6, rtol=0)


def test_translation_theta_checks_scale():
    assert translation_theta(0.1, 0.2, 0.5).tolist() == [
        [[0.5, 0.0, pytest.approx(0.1)], [0.0, 0.5, pytest.approx(0.2)]]]
    with pytest.raises(ValueError, match="scale"):
        translation_theta(0.0, 0.0, 0.0)


@pytest.mark.parametrize("mode", MODES)
def test_identity_params_give_the_initial_theta(mode):
    theta = params_to_theta(identity_params(mode, 0.25)[None], mode, 0.25)
    expected = identity_theta(1) if mode == "affine" else attention_theta(0.25, 0.0, 0.0)
    if mode == "affine":
        expected = expected * torch.tensor([[0.25, 0.25, 1.0], [0.25, 0.25, 1.0]])
    torch.testing.assert_close(theta, expected)


def test_attention_parametrisation_keeps_scale_positive_and_centre_inside():
    params = torch.randn(1000, 3) * 20
    theta = params_to_theta(params, "attention")
    assert (theta[:, 0, 0] > 0).all() and torch.equal(theta[:, 0, 0], theta[:, 1, 1])
    assert (theta[:, :, 2].abs() <= 1).all()
    assert (theta[:, 0, 1] == 0).all() and (theta[:, 1, 0] == 0).all()
    t = params_to_theta(torch.randn(50, 2) * 20, "translation", 0.3)
    assert (t[:, 0, 0] == 0.3).all() and (t[:, :, 2].abs() <= 1).all()
    with pytest.raises(ValueError, match="params"):
        params_to_theta(torch.zeros(4, 6), "attention")
    with pytest.raises(ValueError, match="mode"):
        params_to_theta(torch.zeros(4, 6), "projective")


# --- thin-plate splines ------------------------------------------------------------------------
def test_tps_zero_displacement_is_identity():
    grid = tps_grid(torch.zeros(2, 16, 2), (20, 28))
    ref = F.affine_grid(identity_theta(2), [2, 1, 20, 28], align_corners=False)
    torch.testing.assert_close(grid, ref, atol=1e-5, rtol=0)


def test_tps_interpolates_control_points_and_reproduces_affine_maps():
    control = tps_control_points(3, span=2 / 3)  # = the pixel centres of a 3x3 output
    torch.testing.assert_close(_tps_basis(control, control).float(), torch.eye(9), atol=1e-6, rtol=0)
    d = 0.1 * torch.randn(2, 9, 2)
    grid = TPSGrid(control, 3)(d)
    torch.testing.assert_close(grid.view(2, 9, 2), control + d, atol=1e-5, rtol=0)
    # an affine displacement field is reproduced everywhere (the spline's affine part)
    a, b = torch.tensor([[0.1, -0.2], [0.05, 0.1]]), torch.tensor([0.03, -0.04])
    tps = TPSGrid(tps_control_points(4), 11)
    grid = tps((tps.control @ a.T + b)[None])
    expected = tps.pixels @ (torch.eye(2) + a).T + b
    torch.testing.assert_close(grid.view(-1, 2), expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="displacements"):
        tps_grid(torch.zeros(1, 15, 2), 8)


# --- the module ----------------------------------------------------------------------------------
def _stn(mode, out_size=6, init_scale=1.0):
    loc = nn.Sequential(nn.Flatten(), nn.Linear(100, 16), nn.Tanh())
    return SpatialTransformer(loc, 16, out_size, mode=mode, init_scale=init_scale)


@pytest.mark.parametrize("mode", MODES)
def test_spatial_transformer_starts_at_the_initial_theta(mode):
    torch.manual_seed(0)
    stn = _stn(mode, out_size=(4, 7), init_scale=0.5)
    x = torch.rand(3, 1, 10, 10)
    out, theta, grid = stn(x)
    assert out.shape == (3, 1, 4, 7)  # output size independent of the input's
    assert grid.shape == (3, 4, 7, 2)
    torch.testing.assert_close(grid, affine_grid(theta, (4, 7)))
    if mode == "affine":
        expected = identity_theta(3) * torch.tensor([[0.5, 1, 1], [1, 0.5, 1]])
    else:
        expected = attention_theta(0.5, 0, 0).expand(3, 2, 3)
    torch.testing.assert_close(theta, expected)


def test_spatial_transformer_identity_reproduces_input_and_learns():
    torch.manual_seed(0)
    stn = _stn("affine", out_size=10)
    x = torch.rand(4, 1, 10, 10)
    out, _, _ = stn(x)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)
    opt = torch.optim.SGD(stn.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        out, _, _ = stn(x)
        (out[..., :5] - 1).pow(2).mean().backward()
        grads = [p.grad for p in stn.parameters()]
        opt.step()
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_spatial_transformer_bad_arguments():
    loc = nn.Flatten()
    with pytest.raises(ValueError, match="mode"):
        SpatialTransformer(loc, 4, 4, mode="zoom")
    with pytest.raises(ValueError, match="init_scale"):
        SpatialTransformer(loc, 4, 4, mode="attention", init_scale=0)
    with pytest.raises(ValueError, match="n_features"):
        SpatialTransformer(loc, 0, 4)


def test_grid_sample_fill_equals_shifted_sampling():
    torch.manual_seed(0)
    x = torch.rand(3, 2, 12, 10)
    theta = (identity_theta(3) * 1.3 + 0.4 * torch.randn(3, 2, 3)).requires_grad_()
    grid = F.affine_grid(theta, [3, 2, 7, 9], align_corners=False)
    ref = F.grid_sample(x - 0.5, grid, align_corners=False) + 0.5
    out = grid_sample_fill(x, grid, fill=0.5)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    g_ref, = torch.autograd.grad(ref.square().sum(), theta)
    out = grid_sample_fill(x, F.affine_grid(theta, [3, 2, 7, 9], align_corners=False), fill=0.5)
    g_out, = torch.autograd.grad(out.square().sum(), theta)
    torch.testing.assert_close(g_out, g_ref, atol=1e-3, rtol=1e-3)
