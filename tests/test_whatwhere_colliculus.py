"""The What/Where retina and collicular map: the reference's bank, kernels, projections and targets."""
import math

import numpy as np
import pytest
import torch

from stnutils.models.colliculus import (
    back_project,
    collicular_kernels,
    collicular_targets,
    full_accuracy_map,
    kernel_offsets,
    project,
    target_table,
)
from stnutils.models.retina import REFERENCE_OPTIONS, WhatWhereRetina
from stnutils.models.whatwhere import WhatWhere

SIZE, H = 128, 64


@pytest.fixture(scope="module")
def reference():
    """The reference retina (plain bank) and its collicular kernels and saccade table."""
    retina = WhatWhereRetina(whitened=False, centre=SIZE / 2, **REFERENCE_OPTIONS)
    kernels = collicular_kernels(retina.bank, retina.code_shape)
    return retina, kernels, kernel_offsets(kernels, SIZE)


def _peaked_map(sigma=5.0, peak=0.9, baseline=0.1):
    d = torch.arange(-27, 28, dtype=torch.float32)
    return baseline + (peak - baseline) * torch.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * sigma**2))


def _direct_target(kernels, acc, i, j, baseline=0.1):
    """The target by its definition: the field 'accuracy of a fovea at each pixel', then the dot products."""
    p = torch.arange(SIZE)
    dr = (i - (p - H))[:, None].expand(SIZE, SIZE)
    dc = (j - (p - H))[None, :].expand(SIZE, SIZE)
    inside = (dr.abs() <= 27) & (dc.abs() <= 27)
    field = torch.full((SIZE, SIZE), baseline, dtype=torch.float64)
    field[inside] = acc.double()[dr[inside] + 27, dc[inside] + 27]
    return kernels.double() @ field.flatten()


def test_reference_bank_geometry(reference):
    retina, _, _ = reference
    assert retina.n_filters == 2880 and retina.centre == 64.0
    bank = retina.bank.view(6, 24, 10, 2, -1)
    # SLIP's normalisation: zero mean, unit maximum absolute value (not unit norm)
    torch.testing.assert_close(bank.abs().amax(-1), torch.ones(6, 24, 10, 2), atol=1e-6, rtol=0)
    assert bank.mean(-1).abs().max() < 1e-6
    norms = bank.norm(dim=-1).mean(dim=(0, 1, 3))  # the reference's L2 norms grow from ~2.7 to ~24 with the ring
    assert 2.5 < float(norms[0]) < 3.0 and 22 < float(norms[-1]) < 25
    radii = retina.ring_radii()
    assert radii[0] == pytest.approx(2.33, abs=0.01) and radii[-1] == pytest.approx(51.35, abs=0.01)
    # the default (this project's) retina is unchanged: centre (S - 1) / 2, unit norm
    plain = WhatWhereRetina(size=64)
    assert plain.centre == 31.5 and plain.whitened and plain.geometry.get("norm") is None


def test_sf_cap_changes_only_the_innermost_ring():
    capped = WhatWhereRetina(size=64, whitened=False, sf_max=0.45)
    free = WhatWhereRetina(size=64, whitened=False)
    diff = (capped.bank - free.bank).view(6, 24, 10, 2, -1).abs().amax(dim=(0, 1, 3, 4))
    assert diff[0] > 0.05 and diff[1:].max() == 0


def test_kernels_are_probabilities_and_saccades_land_at_the_reference_radii(reference):
    _, kernels, offsets = reference
    assert kernels.shape == (240, SIZE * SIZE) and kernels.min() >= 0
    torch.testing.assert_close(kernels.sum(1), torch.ones(240), atol=1e-5, rtol=0)
    # mean distance of each ring's arg-max pixel from pixel 64 in the reference (WhereIsMyMNIST, 128 field)
    radius = offsets.double().norm(dim=1).view(24, 10).mean(0)
    expected = [2.3, 3.3, 4.4, 6.4, 9.4, 12.2, 17.9, 26.7, 37.9, 55.3]
    assert radius.tolist() == pytest.approx(expected, abs=0.06)
    # the outer ring's kernels peak beyond the ±50 px a fixation may reach: the reference clips there
    assert int(offsets.abs().max()) > 50


def test_kernels_from_a_known_bank():
    bank = torch.zeros(2 * 1 * 2 * 2, 9)  # (orientations 2, azimuths 1, eccentricities 2, phases 2) on 3x3
    bank.view(2, 1, 2, 2, 9)[:, 0, 0, :, 4] = 1.0  # ring 0: all energy at the centre pixel
    bank.view(2, 1, 2, 2, 9)[0, 0, 1, 0, 0] = 3.0  # ring 1: at pixel 0 ...
    bank.view(2, 1, 2, 2, 9)[1, 0, 1, 1, 8] = 3.0  # ... and pixel 8, equally
    k = collicular_kernels(bank, (2, 1, 2, 2))
    assert k[0].tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0] and k[1, 0] == k[1, 8] == 0.5
    assert kernel_offsets(k, 3).tolist() == [[0, 0], [-1, -1]]  # ties: the first pixel


def test_projection_of_known_fields_and_back(reference):
    retina, kernels, offsets = reference
    constant = torch.full((2, SIZE, SIZE), 0.3)
    torch.testing.assert_close(project(constant, kernels), torch.full((2, 240), 0.3), atol=1e-5, rtol=0)
    back = back_project(torch.full((1, 240), 0.7), kernels, SIZE)
    torch.testing.assert_close(back, torch.full((1, 1, SIZE, SIZE), 0.7), atol=1e-5, rtol=0)
    # a point field at the peak pixel of cell c lights the cells that land on that pixel, c among them
    peaks = (offsets[:, 0] + H) * SIZE + (offsets[:, 1] + H)
    points = torch.zeros(240, SIZE * SIZE)
    points[torch.arange(240), peaks] = 1.0
    brightest = project(points, kernels).argmax(1)
    assert torch.equal(offsets[brightest], offsets)
    # and back: a blob projected on the cells and spread back peaks near where it was
    for i, j in ((0, 0), (-12, 20), (30, -25)):
        yy, xx = torch.meshgrid(torch.arange(SIZE) - H, torch.arange(SIZE) - H, indexing="ij")
        blob = torch.exp(-((yy - i) ** 2 + (xx - j) ** 2) / (2 * 4.0**2))[None]
        back = back_project(project(blob, kernels), kernels, SIZE)[0, 0]
        r, c = divmod(int(back.argmax()), SIZE)
        assert math.hypot(r - H - i, c - H - j) <= 0.25 * math.hypot(i, j) + 3, (i, j, r - H, c - H)


@pytest.mark.parametrize("i, j", [(0, 0), (10, -5), (40, 3), (-50, 50), (27, -33), (-17, -40)])
def test_target_table_is_the_shifted_map_projected(reference, i, j):
    _, kernels, _ = reference
    torch.manual_seed(0)
    acc = 0.1 + 0.8 * torch.rand(55, 55)
    table = target_table(kernels, acc, SIZE, 50)
    assert table.shape == (240, 101, 101)
    direct = _direct_target(kernels, acc, i, j)
    torch.testing.assert_close(table[:, i + 50, j + 50].double(), direct, atol=1e-6, rtol=0)
    torch.testing.assert_close(collicular_targets(table, torch.tensor([[i, j]]))[0].double(), direct,
                               atol=1e-6, rtol=0)


def test_target_points_the_saccade_at_the_digit(reference):
    _, kernels, offsets = reference
    table = target_table(kernels, _peaked_map(), SIZE, 50)
    # a flat map gives the baseline everywhere: nothing to look for
    flat = target_table(kernels, torch.full((55, 55), 0.1), SIZE, 50)
    torch.testing.assert_close(flat, torch.full_like(flat, 0.1), atol=1e-6, rtol=0)
    # the target's best cell lands on the digit up to the log-polar quantisation (worse far out)
    for r, tolerance in ((5, 0.5), (10, 1.5), (20, 2.5), (30, 4.0), (40, 7.5)):
        for a in range(16):
            angle = 2 * math.pi * a / 16
            i, j = int(r * math.cos(angle)), int(r * math.sin(angle))
            cell = table[:, i + 50, j + 50].argmax()
            landing = offsets[cell].clamp(-50, 50)
            assert math.hypot(landing[0] - i, landing[1] - j) <= tolerance, (r, a, landing.tolist(), (i, j))
    # beyond the map's reach from every kernel the target is the baseline
    assert table.min() >= 0.1 - 1e-6 and table.max() <= 0.9 + 1e-6
    with pytest.raises(ValueError, match="offsets must be within ±50 px"):
        collicular_targets(table, torch.tensor([[51, 0]]))


def test_full_accuracy_map_interpolates_a_sub_grid():
    offsets = list(range(-27, 28, 3))
    grid = np.add.outer(np.arange(19.0), np.arange(19.0)) / 36  # linear in the shift: interpolation is exact
    full = full_accuracy_map(grid, offsets)
    assert full.shape == (55, 55)
    shifts = torch.arange(-27, 28, dtype=torch.float64)
    expected = ((shifts[:, None] + 27) / 3 + (shifts[None, :] + 27) / 3) / 36
    torch.testing.assert_close(full.double(), expected, atol=1e-6, rtol=0)
    narrow = full_accuracy_map([[0.5]], [0], radius=2)  # one cell: held everywhere
    assert narrow.tolist() == [[0.5] * 5] * 5
    with pytest.raises(ValueError, match="grid must be"):
        full_accuracy_map(np.zeros((3, 3)), [0, 1])
    with pytest.raises(ValueError, match="strictly increasing"):
        full_accuracy_map(np.zeros((2, 2)), [1, 0])


def test_model_uses_the_reference_kernels(reference):
    _, kernels, offsets = reference
    m = WhatWhere()
    assert torch.equal(m.kernels, kernels) and torch.equal(m.cell_offsets, offsets)
    assert m.limit == 50 and m.retina.bank.data_ptr() == reference[0].bank.data_ptr()  # one cached bank
    project_retina = WhatWhere(size=64, retina="project", n_orientations=2, n_azimuths=6, n_eccentricities=3,
                               hidden=[8])
    assert project_retina.retina.centre == 31.5
