"""Readouts of the retina code and of where a model looks: code energy, retina figures, glimpse
distances, accuracy against contrast (what stnutils.polo held before the layout change)."""
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from stnutils.evaluation.localisation import brightest_direction, glimpse_errors  # noqa: E402
from stnutils.models.attention import Attention  # noqa: E402
from stnutils.models.retina import PolarLogRetina, WhatWhereRetina, code_energy, retina_positions  # noqa: E402
from stnutils.viz import plot_contrast_accuracy  # noqa: E402
from stnutils.viz.localisation import plot_glimpse_errors  # noqa: E402
from stnutils.viz.retina import _wedge_cells, show_retina_codes, show_retina_layout  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def small():
    return PolarLogRetina(size=32, n_orientations=2, n_eccentricities=3, n_azimuths=6)


def test_code_energy_sums_orientations_and_phases():
    shape = (2, 3, 4, 2)  # orientations, azimuths, eccentricities, phases
    code = torch.zeros(1, math.prod(shape))
    per = code.view(1, *shape)
    per[0, 0, 1, 2, 0] = 3.0
    per[0, 1, 1, 2, 1] = 4.0  # another orientation and phase, same position
    per[0, 1, 0, 0, 0] = 1.0
    energy = code_energy(code, shape)
    assert energy.shape == (1, 3, 4)
    assert energy[0, 1, 2].item() == pytest.approx(5.0)
    assert energy[0, 0, 0].item() == pytest.approx(1.0)
    assert energy.sum().item() == pytest.approx(6.0)


def test_code_energy_rejects_bad_shapes():
    with pytest.raises(ValueError, match="code must be"):
        code_energy(torch.zeros(1, 10), (2, 3, 4, 1))
    with pytest.raises(ValueError, match="code_shape"):
        code_energy(torch.zeros(1, 24), (2, 3, 4))


def test_ring_radii_grow_geometrically_like_the_retina(small):
    radii = small.ring_radii()
    assert radii.shape == (3,)
    ratios = radii[1:] / radii[:-1]
    assert np.allclose(ratios, 1.41, atol=1e-6)
    full = PolarLogRetina().ring_radii()
    assert full[0] == pytest.approx(9.21, abs=0.01) and full[-1] == pytest.approx(51.35, abs=0.01)


def test_wedge_cells_are_centred_on_the_filters(small):
    cells = _wedge_cells(small)
    pos, _, _ = retina_positions(32, 6, 3)
    centre = (32 - 1) / 2
    r_mid = np.sqrt(cells[..., 0] * cells[..., 1])  # geometric middle of the cell
    phi = np.radians((cells[..., 2] + cells[..., 3]) / 2)
    j, i = r_mid * np.cos(phi), r_mid * np.sin(phi)  # data coordinates of the figure
    assert np.allclose(j, pos[..., 1].numpy() - centre, atol=1e-9)
    assert np.allclose(i, pos[..., 0].numpy() - centre, atol=1e-9)
    # neighbouring rings touch: the outer edge of ring k is the inner edge of ring k + 1
    assert np.allclose(cells[0, :-1, 1], cells[0, 1:, 0])


def test_show_retina_layout(small):
    fig = show_retina_layout(small, scene=torch.rand(1, 1, 32, 32))
    assert len(fig.axes) == 5  # three panels and two colour bars
    assert "px" in fig.axes[0].get_xlabel()
    assert "filters" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="scene must be"):
        show_retina_layout(small, scene=torch.rand(16, 16))


def test_show_retina_codes(small):
    scenes = torch.rand(2, 1, 32, 32)
    codes = small.encode(scenes)
    fig = show_retina_codes(small, scenes, codes, small.decode(codes), labels=torch.tensor([3, 4]),
                                 offsets=torch.tensor([[0, 0], [5, -3]]), per_ring=True)
    assert len(fig.axes) == 2 * 4 + 2  # 4 columns per scene, two colour bars
    assert "digit 4" in fig.axes[4].get_ylabel()
    assert len(fig.axes[2].collections[0].get_paths()) == 6 * 3  # one wedge per filter position
    fig = show_retina_codes(small, scenes, codes)
    assert len(fig.axes) == 2 * 3 + 2
    with pytest.raises(ValueError, match="codes must be"):
        show_retina_codes(small, scenes, codes[:1])


def test_what_where_retina_code_shape_matches_energy():
    r = WhatWhereRetina(size=32, n_orientations=2, n_azimuths=4, n_eccentricities=2)
    code = r.encode(torch.rand(3, 1, 32, 32))
    assert code_energy(code, r.code_shape).shape == (3, 4, 2)


class _Looker(nn.Module):
    """A fake attention model that always looks at a fixed offset and predicts class 1."""

    def __init__(self, where):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.where = torch.tensor(where, dtype=torch.float32)
        self.n = 0

    def forward(self, x):
        return self.attend(x).logits

    def attend(self, x):
        self.n = len(x)
        logits = nn.functional.one_hot(torch.ones(len(x), dtype=torch.long), 10).float() + 0 * self.w
        theta = torch.eye(2, 3).expand(len(x), 2, 3)
        grid = torch.zeros(len(x), 2, 2, 2)
        return Attention(logits, theta, grid, x[:, :, :2, :2], self.where.expand(len(x), 2))


class _Scenes:
    def __len__(self):
        return 10

    def batch(self, idx):
        idx = torch.as_tensor(list(idx))
        offsets = torch.stack([idx * 0 + 3, idx * 0 + 4], 1)
        return torch.zeros(len(idx), 1, 8, 8), (idx % 2), offsets


def test_glimpse_errors_measures_distance_and_restores_mode():
    model = _Looker([0.0, 0.0]).train()
    out = glimpse_errors(model, _Scenes(), n=7, batch_size=3)
    assert out["distance"].shape == (7,)
    assert np.allclose(out["distance"], 5.0)  # (3, 4) from the centre
    assert out["correct"].tolist() == [False, True] * 3 + [False]
    assert model.training
    out = glimpse_errors(_Looker([3.0, 4.0]), _Scenes(), n=4)
    assert np.allclose(out["distance"], 0.0)
    with pytest.raises(ValueError, match="n must be"):
        glimpse_errors(model, _Scenes(), n=11)
    with pytest.raises(ValueError, match="attend"):
        glimpse_errors(nn.Linear(2, 2), _Scenes(), n=2)


def test_plot_glimpse_errors_and_contrast_accuracy():
    errs = glimpse_errors(_Looker([0.0, 0.0]), _Scenes(), n=6)
    fig = plot_glimpse_errors({"fake": {5.0: errs, 10.0: errs}})
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xlabel() == "digit eccentricity (px)"
    # the bar chart {source: {contrast: accuracy}} is gone: the one contrast figure draws rows,
    # one line per source; the same five (source, contrast) values must be drawn
    values = {"a": {0.3: 0.2, 0.7: 0.5}, "b": {0.3: 0.1, 0.5: 0.3, 0.7: 0.4}}
    rows = [dict(model=m, profile="quick", contrast=c, eccentricity=20.0, accuracy=a)
            for m, per in values.items() for c, a in per.items()]
    fig = plot_contrast_accuracy(rows, title="t")
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"a (quick)", "b (quick)", "chance (0.1)"}
    assert sum(len(lines[k].get_xdata()) for k in ("a (quick)", "b (quick)")) == 5
    for m, per in values.items():
        assert lines[f"{m} (quick)"].get_xdata().tolist() == sorted(per)
        assert lines[f"{m} (quick)"].get_ydata().tolist() == [per[c] for c in sorted(per)]
    assert sorted({x for k in ("a (quick)", "b (quick)") for x in lines[k].get_xdata()}) == [0.3, 0.5, 0.7]
    assert fig._suptitle.get_text() == "t"
    with pytest.raises(ValueError, match="rows must"):
        plot_contrast_accuracy([], title="t")
    with pytest.raises(ValueError, match="results must"):
        plot_glimpse_errors({})


def test_brightest_direction_finds_a_bright_patch():
    r = PolarLogRetina()  # the real 768-filter retina (cached after the first build)
    scenes = torch.full((4, 1, 128, 128), 0.5)
    # a bright 9x9 square 40 px from the centre in four directions (counter-clockwise, 0 = right)
    truth = []
    for k, (i, j) in enumerate([(0, 40), (-40, 0), (0, -40), (28, 28)]):
        c = 64 + i, 64 + j
        scenes[k, 0, c[0] - 4:c[0] + 5, c[1] - 4:c[1] + 5] = 1.0
        truth.append(math.atan2(-i, j))
    found = brightest_direction(r.encode(scenes), r, min_radius=25)
    error = torch.remainder(found - torch.tensor(truth, dtype=torch.float64) + math.pi, 2 * math.pi) - math.pi
    assert error.abs().max().item() <= math.radians(22.5) + 1e-9  # within one azimuth step (16 azimuths)
    with pytest.raises(ValueError, match="min_radius"):
        brightest_direction(r.encode(scenes), r, min_radius=100)
