"""Tests for stnutils.evaluation.rotation and its figures in stnutils.viz: reading the angle of transforms,
agreement, accuracy per angle, figures."""
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from stnutils import viz  # noqa: E402
from stnutils.evaluation import rotation  # noqa: E402
from stnutils.models import STN28, TPSSTN, LeNet  # noqa: E402
from stnutils.models.transformer import identity_theta, rotation_theta  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_angle_agreement_perfect_and_blind_transformers():
    true = np.linspace(-90, 90, 37)
    perfect = rotation.angle_agreement(true, -true)
    assert perfect["gain"] == pytest.approx(1.0)
    assert perfect["correlation"] == pytest.approx(-1.0)
    assert perfect["upright_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert perfect["residual_std"] == pytest.approx(0.0, abs=1e-9)
    blind = rotation.angle_agreement(true, np.zeros_like(true))
    assert blind["gain"] == pytest.approx(0.0, abs=1e-12)
    assert blind["correlation"] == 0.0
    assert blind["upright_rmse"] == pytest.approx(blind["input_rms"])
    wrong_way = rotation.angle_agreement(true, true)  # doubles the tilt
    assert wrong_way["gain"] == pytest.approx(-1.0)
    assert wrong_way["upright_rmse"] == pytest.approx(2 * wrong_way["input_rms"])


def test_angle_agreement_noise_shows_in_residual():
    rng = np.random.default_rng(0)
    true = rng.uniform(-90, 90, 4000)
    pred = -0.5 * true + rng.normal(0, 10, true.shape)
    s = rotation.angle_agreement(true, pred)
    assert s["gain"] == pytest.approx(0.5, abs=0.02)
    assert s["residual_std"] == pytest.approx(10, abs=0.5)
    assert -1 < s["correlation"] < -0.8


def test_angle_agreement_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        rotation.angle_agreement([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 3"):
        rotation.angle_agreement([1, 2], [1, 2])
    with pytest.raises(ValueError, match="constant"):
        rotation.angle_agreement([5, 5, 5], [1, 2, 3])


def test_accuracy_by_angle_bins():
    centres, acc, counts = rotation.accuracy_by_angle([-80, -70, 10, 90], [True, False, True, False], [-90, 0, 45, 90])
    assert centres.tolist() == [-45.0, 22.5, 67.5]
    assert acc.tolist() == [0.5, 1.0, 0.0]  # 90 falls in the last bin (right edge included)
    assert counts.tolist() == [2, 1, 1]
    _, acc, counts = rotation.accuracy_by_angle([10.0], [True], [-90, 0, 90])
    assert np.isnan(acc[0]) and counts.tolist() == [0, 1]
    with pytest.raises(ValueError, match="edges"):
        rotation.accuracy_by_angle([0], [True], [0, 0])
    with pytest.raises(ValueError, match="same length"):
        rotation.accuracy_by_angle([0, 1], [True], [-1, 2])


class _Rotated:
    """A fake rotated dataset: known angles, labels 0..9."""

    def __init__(self, n=10):
        self.n = n
        self.angles = torch.linspace(-80, 80, n, dtype=torch.float64)

    def __len__(self):
        return self.n

    def batch(self, idx):
        idx = torch.as_tensor(list(idx))
        return torch.rand(len(idx), 1, 28, 28), idx % 10, torch.zeros(len(idx), 2, dtype=torch.long)

    def rotations(self, idx):
        return self.angles[torch.as_tensor(list(idx))]


def test_rotation_readout_reads_the_angle_of_the_affine_stn():
    torch.manual_seed(0)
    model = STN28()
    with torch.no_grad():  # a transformer that always turns its grid by -30 degrees
        model.stn.head.bias.copy_(rotation_theta(math.radians(-30))[0].reshape(-1))
    model.train()
    out = rotation.rotation_readout(model, _Rotated(), n=7, batch_size=3)
    assert np.allclose(out["pred_deg"], -30.0, atol=1e-4)
    assert np.allclose(out["true_deg"], np.linspace(-80, 80, 10)[:7])
    assert out["correct"].dtype == bool and len(out["correct"]) == 7
    assert (out["correct"] == (out["labels"] == out["predicted"])).all()
    assert model.training  # mode restored
    with pytest.raises(ValueError, match="n must be"):
        rotation.rotation_readout(model, _Rotated(), n=11)


def test_rotation_readout_tps_and_plain_cnn():
    torch.manual_seed(0)
    tps = TPSSTN()
    out = rotation.rotation_readout(tps, _Rotated(), n=4)
    assert np.allclose(out["pred_deg"], 0.0, atol=1e-4)  # identity at initialisation
    # displacements that turn the control lattice by 40 degrees: the affine fit reads 40
    c = tps.tps.control
    a = math.radians(40)
    turned = c @ torch.tensor([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    with torch.no_grad():
        tps.head.bias.copy_((turned - c).reshape(-1))
    out = rotation.rotation_readout(tps, _Rotated(), n=4)
    assert np.allclose(out["pred_deg"], 40.0, atol=0.5)
    lenet = rotation.rotation_readout(LeNet(), _Rotated(), n=3)
    assert lenet["pred_deg"] is None and len(lenet["correct"]) == 3


def test_plot_angle_scatter_and_accuracy_by_angle():
    true = np.linspace(-90, 90, 50)
    fig = viz.localisation.plot_angle_scatter({"a": (true, -true), "b": (true, 0.1 * true)})
    assert len(fig.axes) == 2
    assert "gain 1.00" in fig.axes[0].get_title()
    assert "degrees" in fig.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="readouts"):
        viz.localisation.plot_angle_scatter({})
    fig = viz.accuracy.plot_accuracy_by_angle({"a": (np.array([-45.0, 45.0]), np.array([0.5, 0.7]))})
    assert fig.axes[0].get_ylim()[1] == pytest.approx(1.02)


def test_draw_sampling_grids_identity_lines_on_pixel_centres():
    grid = F.affine_grid(identity_theta(2), [2, 1, 28, 28], align_corners=False)
    fig = viz.glimpses.draw_sampling_grids(torch.rand(2, 1, 28, 28), grid, labels=[1, 2], angles=[10.0, -20.0], step=9)
    ax = fig.axes[0]
    rows = [0, 9, 18, 27]
    assert len(ax.lines) == 2 * len(rows)  # rows and columns 0, 9, 18 and the last one
    x, y = ax.lines[0].get_data()
    assert np.allclose(x, np.arange(28), atol=1e-5) and np.allclose(y, 0, atol=1e-5)
    assert "α = -20°" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="grids must be"):
        viz.glimpses.draw_sampling_grids(torch.rand(2, 1, 28, 28), grid[:1])


def test_mean_grid_test_constant_transformer_loses_nothing():
    torch.manual_seed(0)
    model = STN28()
    with torch.no_grad():  # a constant transform: turn by 20 degrees, zoom 0.8
        model.stn.head.bias.copy_(rotation_theta(math.radians(20), scale=0.8)[0].reshape(-1))
    out = rotation.mean_grid_test(model, _Rotated(), n=7, batch_size=3)
    assert out["grid_spread_px"] == pytest.approx(0.0, abs=1e-5)
    assert out["accuracy"] == out["accuracy_mean_grid"]
    assert out["mean_scale"] == pytest.approx(0.8, abs=1e-5)
    assert out["mean_angle_deg"] == pytest.approx(20.0, abs=1e-3)
    assert out["mean_grid"].shape == (28, 28, 2)


def test_mean_grid_test_sees_an_input_dependent_tps_grid():
    torch.manual_seed(0)
    tps = TPSSTN()
    with torch.no_grad():  # displacements that depend on the input
        tps.head.weight.normal_(0, 0.05)
    out = rotation.mean_grid_test(tps, _Rotated(), n=6)
    assert out["grid_spread_px"] > 0.01
    assert 0 <= out["accuracy_mean_grid"] <= 1
    with pytest.raises(ValueError, match="attention model"):
        rotation.mean_grid_test(LeNet(), _Rotated(), n=2)
