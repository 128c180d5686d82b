"""The heat-map attention model and the training options of its recipe (issue 14)."""
import math

import pytest
import torch
from torch import nn

import stnutils as stn
from stnutils.data import NoisyMNIST128
from stnutils.models import HeatATN, build_model
from stnutils.models.localisation import local_soft_argmax, soft_argmax
from stnutils.models.transformer import affine_grid, attention_theta, grid_sample_fill
from stnutils.training import TrainConfig, fit, get_config, get_lr, load_history


def test_soft_argmax_finds_a_peak_and_is_differentiable():
    logits = torch.full((2, 16, 16), -30.0, requires_grad=True)
    with torch.no_grad():
        logits[0, 2, 13] = 30.0  # row 2, column 13
        logits[1, 8, 8] = 30.0
    centre = soft_argmax(logits)
    expected = torch.tensor([[(13.5 / 16) * 2 - 1, (2.5 / 16) * 2 - 1], [(8.5 / 16) * 2 - 1, (8.5 / 16) * 2 - 1]])
    assert torch.allclose(centre, expected, atol=1e-5)
    centre.sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    # a uniform map averages to the centre
    assert soft_argmax(torch.zeros(1, 16, 16)).abs().max() < 1e-6


class _FixedHeat(nn.Module):
    """A stand-in heat-map net: one hot cell, wherever the test wants the glimpse."""

    def __init__(self, row, col, side=16, low=-10.0, high=10.0):
        super().__init__()
        self.row, self.col, self.side, self.low, self.high = row, col, side, low, high

    def forward(self, x):
        m = torch.full((len(x), 1, self.side, self.side), self.low)
        m[:, 0, self.row, self.col] = self.high
        return m


def test_the_glimpse_goes_where_the_heat_map_peaks():
    model = HeatATN().eval()
    model.heat = _FixedHeat(row=12, col=3)
    scene = torch.rand(1, 1, 128, 128)
    out = model.attend(scene)
    # cell (12, 3) of a 16x16 map over 128 px: its centre is 8 px per cell, + 4
    i, j = 12 * 8 + 4 - 64, 3 * 8 + 4 - 64
    assert out.offset[0].tolist() == pytest.approx([i, j], abs=0.05)
    # the glimpse is the 28x28 patch at that centre (the initial zoom samples at full resolution)
    r, c = 64 + i - 14, 64 + j - 14
    assert torch.allclose(out.glimpse[0, 0], scene[0, 0, r : r + 28, c : c + 28], atol=1e-5)
    assert torch.equal(model(scene), out.logits)


def test_untrained_model_looks_at_the_centre_and_learns_where_to_look():
    model = build_model("heat_atn")
    x = torch.rand(3, 1, 128, 128)
    assert model.attend(x).offset.abs().max() < 1e-4
    out = model.attend(x)
    stn.training.location_loss(out.offset, torch.tensor([[20, -10]] * 3), 128).backward()
    assert model.heat[-1].weight.grad.abs().sum() > 0  # the location target reaches the heat map
    assert model.zoom.log_scale.grad is not None


def test_local_soft_argmax_ignores_far_heat_that_pulls_the_global_one_inward():
    # a peak at row 14, column 2 on a floor of diffuse heat: the global mean is pulled to the centre
    logits = torch.zeros(1, 16, 16)
    logits[0, 14, 2] = 5.0
    peak = torch.tensor([(2.5 / 16) * 2 - 1, (14.5 / 16) * 2 - 1])
    glob, loc = soft_argmax(logits)[0], local_soft_argmax(logits, 2)[0]
    assert float((glob - peak).norm()) > 0.3  # more than 19 px of a 128 px scene
    assert float((loc - peak).norm()) < 0.01  # the window is symmetric around the peak here
    # sub-cell precision inside the window: a second hot cell next to the peak moves the centre halfway
    logits[0, 14, 3] = 5.0
    assert local_soft_argmax(logits, 1)[0].tolist() == pytest.approx([(3.0 / 16) * 2 - 1, (14.5 / 16) * 2 - 1],
                                                                     abs=0.02)
    # a flat map: a cell next to the middle, not a corner; gradients reach the window only
    assert local_soft_argmax(torch.zeros(1, 16, 16), 2).abs().max() <= 1 / 16 + 1e-6
    x = logits.clone().requires_grad_(True)
    local_soft_argmax(x, 1).sum().backward()
    assert x.grad[0, 0, 0] == 0 and x.grad[0, 13:16, 1:5].abs().sum() > 0
    with pytest.raises(ValueError, match="radius must be a positive integer"):
        local_soft_argmax(logits, 0)


def test_window_changes_the_eval_centre_only_and_round_trips():
    torch.manual_seed(0)
    model = HeatATN(window=2)
    model.heat = _FixedHeat(row=14, col=2, low=0.0, high=0.25)  # times the gain 20: a peak of 5 on a flat floor
    x = torch.rand(2, 1, 128, 128)
    train_centre = model.train().attend(x).offset
    eval_centre = model.eval().attend(x).offset
    assert eval_centre[0].tolist() == pytest.approx([14 * 8 + 4 - 64, 2 * 8 + 4 - 64], abs=0.5)
    assert float((train_centre - eval_centre).detach().norm(dim=1).min()) > 19  # training: the global mean
    assert build_model("heat_atn", **HeatATN(window=2).config).config["window"] == 2
    old = {k: v for k, v in HeatATN().config.items() if k != "window"}  # a run saved before week 11
    assert build_model("heat_atn", **old).config["window"] is None
    with pytest.raises(ValueError, match="window must be a positive integer"):
        HeatATN(window=0)


def test_jitter_averages_nine_glimpses_in_eval_mode_only():
    torch.manual_seed(0)
    model = HeatATN(jitter=3.0)
    model.heat = _FixedHeat(row=5, col=9, low=0.0, high=0.25)
    torch.nn.init.normal_(model.classifier.net[-1].weight, std=0.5)  # logits that differ from glimpse to glimpse
    x = torch.rand(3, 1, 128, 128)
    plain = HeatATN()  # the same model without jitter
    plain.classifier.load_state_dict(model.classifier.state_dict())
    plain.heat = model.heat
    assert torch.equal(model.train().attend(x).logits, plain.train().attend(x).logits)  # training: one glimpse
    out, ref = model.eval().attend(x), plain.eval().attend(x)
    assert torch.equal(out.offset, ref.offset) and torch.equal(out.glimpse, ref.glimpse)  # the centre glimpse is kept
    # by hand: the 3 x 3 centres 3 px apart, each glimpse classified, log-probabilities averaged
    logps = []
    for di in (-3.0, 0.0, 3.0):
        for dj in (-3.0, 0.0, 3.0):
            centre = ref.offset + torch.tensor([di, dj])
            theta = attention_theta(ref.theta[:, 0, 0], centre[:, 1] / 64, centre[:, 0] / 64)
            g = grid_sample_fill(x, affine_grid(theta, 28, x.dtype), fill=0.5)
            logps.append(torch.log_softmax(model.classifier(g), dim=1))
    expected = torch.stack(logps).mean(0)
    assert torch.allclose(out.logits, expected, atol=1e-5)
    assert not torch.allclose(out.logits, torch.log_softmax(ref.logits, dim=1), atol=1e-3)
    assert build_model("heat_atn", **model.config).config["jitter"] == 3.0
    old = {k: v for k, v in HeatATN().config.items() if k != "jitter"}  # a run saved before week 12
    assert build_model("heat_atn", **old).config["jitter"] is None
    with pytest.raises(ValueError, match=r"jitter must be in \(0, 14\]"):
        HeatATN(jitter=0.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(pool=3), "pool must divide 64"),
    (dict(pool=0), "pool must be a positive integer"),
    (dict(width=0), "width must be a positive integer"),
    (dict(gain=0.0), "gain"),
    (dict(init_scale=1.5), "init_scale"),
])
def test_bad_parameters_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HeatATN(**kwargs)


def test_uniform_eccentricity_covers_the_reach_evenly(data_root):
    def radii(ds):
        return torch.cat([ds.batch(range(k, k + 500))[2] for k in range(0, 2000, 500)]).double().norm(dim=1)

    ds = NoisyMNIST128(data_root, seed=1, eccentricity_std=40.0, eccentricity_dist="uniform", length=2000)
    r = radii(ds)
    assert r.max() <= 40.0
    # U(0, 40) truncated to integer offsets: mean a little under 20, a quarter beyond 30 px
    assert 17.5 < float(r.mean()) < 20.5
    assert 0.19 < float((r > 30).double().mean()) < 0.31
    half = radii(NoisyMNIST128(data_root, seed=1, eccentricity_std=40.0, length=2000))
    assert float((half > 30).double().mean()) > 0.4  # |N(0, 40)| clipped at 40 piles up at the clip
    assert "U(0, 40) px" in repr(ds)
    with pytest.raises(ValueError, match="eccentricity_dist must be one of"):
        NoisyMNIST128(data_root, eccentricity_dist="gaussian")


def test_contrast_range_cosine_and_distribution_in_the_config():
    cfg = get_config("heat_atn", "full")
    assert cfg.epochs * cfg.samples_per_epoch == 660_000  # a tenth of the seed's 6.6M scenes
    assert cfg.contrast == (0.3, 0.7) and cfg.final_contrast_epochs == 0
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert stn.training.stage_of(cfg, 0)["contrast"] == (0.3, 0.7)
    lrs = [get_lr(cfg, e, f) for e in range(cfg.epochs) for f in (0.0, 0.5)]
    assert lrs[0] == cfg.lr and all(a > b for a, b in zip(lrs, lrs[1:]))
    assert get_lr(cfg, cfg.epochs - 1, 0.999) < 1e-4 * cfg.lr
    assert get_lr(cfg, 5, 0.5) == pytest.approx(cfg.lr * 0.5 * (1 + math.cos(math.pi * 5.5 / 11)))
    with pytest.raises(ValueError, match="eccentricity_dist is for tasks '60' and '128'"):
        TrainConfig(model="lenet", eccentricity_dist="uniform")
    with pytest.raises(ValueError, match="contrast must have c_min <= c_max"):
        TrainConfig(model="lenet", contrast=(0.7, 0.3))
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainConfig(model="lenet", lr_schedule="linear")


def test_the_recipe_trains_and_the_cosine_lr_moves_every_step(tmp_path, data_root):
    cfg = get_config("heat_atn", "smoke", data_root=data_root, epochs=3, samples_per_epoch=128, batch_size=32)
    history = fit(cfg, tmp_path / "run", verbose=False)
    assert [round(h["lr"], 8) for h in history] == [round(get_lr(cfg, e), 8) for e in range(3)]
    assert history[0]["contrast"] == [0.3, 0.7]
    assert load_history(tmp_path / "run")[-1]["samples"] == 3 * 128
    assert isinstance(stn.training.load_model(tmp_path / "run" / "model.pt"), HeatATN)


def test_eccentricity_max_widens_the_training_radii_beyond_the_benchmark(data_root):
    from stnutils.training.loop import make_dataset

    cfg = TrainConfig(model="heat_atn", curriculum=[46.0], eccentricity_dist="uniform", eccentricity_max=46,
                      data_root=data_root)
    assert cfg.eccentricity_max == 46.0 and TrainConfig.from_dict(cfg.to_dict()) == cfg
    ds = make_dataset(cfg, True, 0, 46.0, 0.7, "cpu")
    r = ds.batch(range(1000))[2].double().norm(dim=1)
    assert float(r.max()) <= 46.0 + 1e-9 and float((r > 40).double().mean()) > 0.05
    default = make_dataset(TrainConfig(model="heat_atn", curriculum=[46.0], eccentricity_dist="uniform",
                                       data_root=data_root), True, 0, 46.0, 0.7, "cpu")
    assert float(default.batch(range(1000))[2].double().norm(dim=1).max()) <= 40.0  # the benchmark's reach
    with pytest.raises(ValueError, match=r"eccentricity_max must be in \[0, 50"):
        TrainConfig(model="heat_atn", eccentricity_max=51)
    with pytest.raises(ValueError, match="eccentricity_max is for tasks '60' and '128'"):
        TrainConfig(model="lenet", eccentricity_max=10)
