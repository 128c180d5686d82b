"""Tests of stnutils.training: configs and schedules, the loop, resume, checkpoints, errors."""
import json
import math

import pytest
import torch
from torch import nn

from stnutils.models.attention import Attention
from stnutils.training import (
    SCHEDULES,
    TrainConfig,
    fit,
    get_config,
    get_lr,
    location_loss,
    schedules_for,
    seed_counterpart,
    stage_of,
)
from stnutils.training import loop as train_loop

HISTORY_KEYS = {"epoch", "stage", "contrast", "lr", "loss", "train_acc", "test_loss", "test_acc", "seconds", "samples"}


class TinyNet(nn.Module):
    """A stand-in classifier for 28x28 scenes: fast, with dropout (the RNG must be reproduced)."""

    name = "lenet"

    def __init__(self, dropout: float = 0.2):
        super().__init__()
        self.config = {"dropout": dropout}
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(6 * 12 * 12, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class TinyWhere(nn.Module):
    """A stand-in 128x128 model that also predicts the digit's offset (for the auxiliary loss)."""

    name = "fast_atn"

    def __init__(self):
        super().__init__()
        self.config = {}
        self.pool = nn.AvgPool2d(8)  # 128 -> 16
        self.fc = nn.Linear(16 * 16, 12)

    def forward(self, x):
        return self.attend(x).logits

    def attend(self, x):
        h = self.fc(self.pool(x).flatten(1))
        offset = 64 * torch.tanh(h[:, 10:])
        theta = torch.zeros(len(x), 2, 3)  # not read by the training loop
        return Attention(h[:, :10], theta, torch.zeros(len(x), 1, 1, 2), x[:, :, :1, :1], offset)


def tiny_config(**kw) -> TrainConfig:
    """A 28x28 run of a few hundred clean-ish scenes: seconds on a CPU."""
    base = dict(model="lenet", profile="smoke", epochs=2, samples_per_epoch=128, batch_size=32, test_samples=64,
                curriculum=[0.0, 1.0], epochs_per_stage=1, lr=0.05, noise=0.25, device="cpu", seed=3)
    base.update(kw)
    return TrainConfig(**base)


def seeded(make, seed=0):
    """A stand-in model with reproducible initial weights (fit seeds only the models it builds)."""
    torch.manual_seed(seed)
    return make()


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def load_ckpt(path):
    from stnutils.training.checkpoint import load_checkpoint

    return load_checkpoint(path)


# --- configs and schedules ------------------------------------------------------------------


def test_config_round_trip_through_json():
    cfg = get_config("fast_atn_aux", "quick", seed=5)
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert again.task == "128" and again.aux_location_weight > 0 and again.final_contrast == (0.3, 0.7)


def test_task_is_inferred_from_the_model():
    assert TrainConfig(model="lenet").task == "28"
    assert TrainConfig(model="polo_atn", curriculum=[0, 5]).task == "128"
    assert TrainConfig(model="atn").curriculum_key == "eccentricity_std"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(model="resnet"), r"model must be one of \['lenet'"),
        (dict(lr=-0.1), r"lr must be in \(0, 10\], got -0.1"),
        (dict(lr=0), r"lr must be in \(0, 10\]"),
        (dict(lr=float("inf")), r"lr must be in \(0, 10\], got inf"),
        (dict(lr=1e30), r"lr must be in \(0, 10\], got 1e\+30"),
        (dict(weight_decay=float("inf")), r"weight_decay must be a finite number in \[0, inf\)"),
        (dict(curriculum=[0, float("inf")]), r"curriculum\[1\] must be a finite number in \[0, inf\)"),
        (dict(samples_per_epoch=10**12), r"samples_per_epoch must be a positive integer <= 10,000,000"),
        (dict(device="gpu"), r"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got 'gpu'"),
        (dict(curriculum=[]), r"curriculum must be a non-empty list"),
        (dict(curriculum=[0, -1]), r"curriculum\[1\] must be in \[0, inf\]"),
        (dict(epochs=0), r"epochs must be a positive integer, got 0"),
        (dict(batch_size=0), r"batch_size must be a positive integer"),
        (dict(samples_per_epoch=150, batch_size=100), r"samples_per_epoch must be a multiple of batch_size=100"),
        (dict(optimizer="rmsprop"), r"optimizer must be one of \['sgd', 'adam'\], got 'rmsprop'"),
        (dict(task="64"), r"task must be one of \['28', '60', '128'\]"),
        (dict(model="atn", task="28"), r"task must be '128' for model 'atn'"),
        (dict(contrast=0.0), r"contrast must be in \(0, 1\]"),
        (dict(contrast=1.5), r"contrast must be in \(0, 1\], got 1.5"),
        (dict(final_contrast=(0.7, 0.3)), r"final_contrast must have c_min <= c_max"),
        (dict(final_contrast_epochs=50, epochs=10), r"final_contrast_epochs must be in \[0, 10\]"),
        (dict(profile="fast"), r"profile must be one of \['smoke', 'quick', 'full'\], got 'fast'"),
        (dict(lr_schedule="linear"), r"lr_schedule must be one of"),
        (dict(lr_gamma=2.0), r"lr_gamma must be in \(0, 1\]"),
        (dict(aux_location_weight=-1), r"aux_location_weight must be in \[0, inf\]"),
        (dict(seed=-1), r"seed must be an integer in \[0, 2\*\*63\)"),
        (dict(momentum=1.0), r"momentum must be in \[0, 1\)"),
    ],
)
def test_bad_configs_are_rejected_with_a_clear_message(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_bad_schedule_profile_and_fields():
    with pytest.raises(ValueError, match=r"profile must be one of \['smoke', 'quick', 'full'\], got 'fast'"):
        get_config("stn28", "fast")
    with pytest.raises(ValueError, match=r"schedule must be one of .*got 'vgg'"):
        get_config("vgg", "quick")
    with pytest.raises(ValueError, match=r"unknown TrainConfig field\(s\) \['learning_rate'\]"):
        get_config("stn28", "quick", learning_rate=0.1)
    with pytest.raises(ValueError, match=r"unknown TrainConfig field"):
        TrainConfig.from_dict({"modle": "atn"})


def test_full_profile_reproduces_the_seed_schedules():
    stn28 = get_config("stn28", "full")
    assert (stn28.epochs, stn28.samples_per_epoch, stn28.optimizer) == (320, 60_000, "sgd")
    assert [stage_of(stn28, e)["std"] for e in (0, 19, 20, 39, 40, 300, 319)] == [0, 0, 1, 1, 2, 15, 15]
    assert stn28.curriculum == [float(s) for s in range(16)] and stn28.final_contrast_epochs == 0
    assert get_config("stn28_adam", "full").optimizer == "adam" and get_config("stn28_adam", "full").lr == 1e-2

    stn128 = get_config("stn128", "full")
    assert stn128.epochs == 110 and stn128.curriculum[-1] == 40
    assert [stage_of(stn128, e)["std"] for e in (0, 9, 10, 80, 89, 109)] == pytest.approx(
        [40 / 9, 40 / 9, 80 / 9, 40, 40, 40])
    from stnutils.evaluation.metrics import BENCHMARK_ECCENTRICITIES  # the stages are the benchmark's eccentricities

    assert stn128.curriculum == pytest.approx(list(BENCHMARK_ECCENTRICITIES))
    assert stage_of(stn128, 89)["contrast"] == 0.7 and stage_of(stn128, 90)["contrast"] == (0.3, 0.7)
    assert [get_lr(stn128, e) for e in (0, 29, 30, 60, 90)] == pytest.approx([0.01, 0.01, 1e-3, 1e-4, 1e-5])

    atn = get_config("atn", "full")
    assert [get_lr(atn, e) for e in (0, 9, 10, 25)] == pytest.approx([0.01, 0.01, 0.005, 0.0025])
    polo = get_config("polo_atn", "full")
    assert polo.lr == 0.005 and get_lr(polo, 10) == pytest.approx(0.0025)
    # the auxiliary-loss run differs from the unsupervised one in that weight only
    plain, aux = get_config("fast_atn", "full").to_dict(), get_config("fast_atn_aux", "full").to_dict()
    assert plain["aux_location_weight"] == 0 < aux["aux_location_weight"]
    assert {k for k in plain if plain[k] != aux[k]} == {"aux_location_weight", "schedule"}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_every_schedule_has_three_profiles_of_the_same_shape(name):
    smoke, quick, full = (get_config(name, p) for p in ("smoke", "quick", "full"))
    assert smoke.epochs <= 2 and smoke.samples_per_epoch <= 64 and smoke.test_samples <= 64
    # the heat_atn recipes' full profiles are the issue-14 budgets (660k or 1.5M scenes; quick 220k)
    share = 3 if name.startswith("heat_atn") else 10
    assert quick.samples_per_epoch * quick.epochs <= full.samples_per_epoch * full.epochs / share
    assert quick.curriculum == full.curriculum == smoke.curriculum
    assert quick.model == full.model and quick.optimizer == full.optimizer and quick.lr == full.lr
    if SCHEDULES[name].get("decay_per_stage"):  # the same decay per curriculum stage instead
        for p in (quick, full):
            assert [get_lr(p, e * p.epochs_per_stage) for e in range(len(p.curriculum))] == pytest.approx(
                [p.lr * p.lr_gamma ** k for k in range(len(p.curriculum))])
        return
    if full.lr_schedule == "cosine":  # the same learning rate at the same fraction of the run
        for e in range(quick.epochs):
            t = (e + 0.5) / quick.epochs * full.epochs
            assert get_lr(quick, e, 0.5) == pytest.approx(get_lr(full, int(t), t - int(t))), e
        return
    # the same learning rate per scene seen
    for e in range(quick.epochs):
        scenes = e * quick.samples_per_epoch
        assert get_lr(quick, e) == pytest.approx(get_lr(full, scenes // full.samples_per_epoch)), e
    assert (quick.final_contrast_epochs > 0) == (full.final_contrast_epochs > 0)
    assert {get_config(name, p).schedule for p in ("smoke", "quick", "full")} == {name}


def test_schedules_for_lists_the_schedules_of_a_model_in_order():
    from stnutils.models import MODEL_NAMES

    assert schedules_for("stn28") == ["stn28", "stn28_adam", "stn28_loc", "stn28_loc_long", "stn28_loc_longer",
                                      "stn28_loc_wide", "stn28_rot"]
    assert schedules_for("fast_atn") == ["fast_atn", "fast_atn_aux"]
    assert schedules_for("tps_stn") == ["tps_stn", "tps_rot"]
    assert schedules_for("stn60") == ["stn60", "stn60_constant"]
    # every schedule belongs to exactly one model, listed in SCHEDULES order
    listed = [name for model in MODEL_NAMES for name in schedules_for(model)]
    assert sorted(listed) == sorted(SCHEDULES)
    for model in MODEL_NAMES:
        names = schedules_for(model)
        assert names == [n for n in SCHEDULES if n in names]
        assert all(get_config(n, "smoke").model == model for n in names)
    with pytest.raises(ValueError, match=r"name must be one of \['lenet'.*got 'resnet'"):
        schedules_for("resnet")


def test_seed_counterpart_only_for_the_schedule_named_after_its_model():
    from stnutils.evaluation.reference import load_seed_benchmark

    assert seed_counterpart("stn128") == "stn_128x128"
    assert seed_counterpart("atn") == "atn"
    assert seed_counterpart("polo_atn") == "polo_atn_95"
    assert seed_counterpart("lenet") == "what_where_0_saccades"
    for variant in ("fast_atn_aux", "stn28_adam", "stn28_rot", "tps_rot", "stn60_constant", "atn_cpu"):
        assert seed_counterpart(variant) is None, variant
    assert seed_counterpart("fast_atn") is None and seed_counterpart("stn28") is None  # no 128x128 seed model
    seed_models = set(load_seed_benchmark()["models"])
    for name in SCHEDULES:
        assert seed_counterpart(name) is None or seed_counterpart(name) in seed_models
    with pytest.raises(ValueError, match=r"schedule must be one of .*got 'vgg'"):
        seed_counterpart("vgg")


def test_stage_is_a_pure_function_of_the_epoch():
    cfg = tiny_config(curriculum=[0, 5, 10], epochs_per_stage=2, epochs=8, final_contrast_epochs=2)
    stages = [stage_of(cfg, e) for e in range(8)]
    assert [s["stage"] for s in stages] == [0, 0, 1, 1, 2, 2, 2, 2]
    assert [s["std"] for s in stages] == [0, 0, 5, 5, 10, 10, 10, 10]
    assert [s["contrast"] for s in stages] == [0.7] * 6 + [(0.3, 0.7)] * 2
    assert stages == [stage_of(cfg, e) for e in range(8)]


def test_location_loss_known_answers():
    zero = torch.zeros(3, 2)
    assert location_loss(zero, torch.zeros(3, 2, dtype=torch.int64), 128).item() == 0
    # (32 px off in i) / 64 = 0.5 -> smooth L1 0.5 * 0.5**2 = 0.125, averaged with j's 0
    assert location_loss(torch.tensor([[32.0, 0.0]]), torch.tensor([[0, 0]]), 128).item() == pytest.approx(0.0625)
    pred = torch.zeros(1, 2, requires_grad=True)
    location_loss(pred, torch.tensor([[10, -10]]), 128).backward()
    assert pred.grad[0, 0] < 0 < pred.grad[0, 1]  # pulled towards the true offset


def test_epoch_indices_are_shuffled_pairs_from_the_whole_split():
    cfg = tiny_config(samples_per_epoch=1000, batch_size=100)
    a, b = train_loop._epoch_indices(cfg, 0, 60_000), train_loop._epoch_indices(cfg, 1, 60_000)
    assert len(a) == 1000 and len(set(a.tolist())) == 1000 and 0 <= int(a.min()) and int(a.max()) < 60_000
    assert torch.equal(a[1::2], a[0::2] + 1) and bool((a[0::2] % 2 == 0).all())  # (2p, 2p + 1) pairs
    assert int(a.max()) > 30_000  # drawn from the whole split, not its first 1000 digits
    assert torch.equal(a, train_loop._epoch_indices(cfg, 0, 60_000))  # a pure function of (seed, epoch)
    assert not torch.equal(a, b)
    big = train_loop._epoch_indices(tiny_config(samples_per_epoch=64_000, batch_size=100), 0, 64_001)
    assert len(set(big.tolist())) == 64_000 and int(big.max()) <= 64_000


def test_model_table_matches_the_models_module():
    # train.MODEL_TASKS is gone: the task of a model is its registry spec's (its input size)
    from stnutils import models

    tasks = {name: models.model_spec(name).task for name in models.MODEL_NAMES}
    assert set(tasks) == set(models.MODEL_NAMES)
    for name, task in tasks.items():
        assert models.input_size(name) == int(task)
        assert TrainConfig(model=name, rotation=0.0).task == task  # the config infers it from the registry


# --- the loop --------------------------------------------------------------------------------


def test_a_few_epochs_reduce_the_loss(tmp_path, data_root):
    # the real What pathway (LeNet), 3 epochs of 256 clean-ish scenes
    cfg = tiny_config(epochs=3, samples_per_epoch=256, batch_size=16, curriculum=[0.0], noise=0.0,
                      optimizer="adam", lr=1e-3)
    history = fit(cfg, tmp_path / "run", verbose=False)
    losses = [h["loss"] for h in history]
    assert losses[2] < losses[1] < losses[0] and losses[-1] < 0.8 * losses[0], losses
    assert history[-1]["test_acc"] > 0.3  # chance is 0.1


def test_history_files_and_curriculum(tmp_path, data_root):
    cfg = tiny_config(model="atn", epochs=4, samples_per_epoch=32, batch_size=16, test_samples=32,
                      curriculum=[0, 10, 20], final_contrast_epochs=1, aux_location_weight=0.5, lr=0.01)
    out = tmp_path / "run"
    history = fit(cfg, out, model=TinyWhere(), verbose=False)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert [h["stage"] for h in history] == [0, 1, 2, 2]
    assert [h["eccentricity_std"] for h in history] == [0, 10, 20, 20]
    assert [h["contrast"] for h in history] == [0.7, 0.7, 0.7, [0.3, 0.7]]
    assert [h["samples"] for h in history] == [32, 64, 96, 128]
    for h in history:
        assert set(h) == HISTORY_KEYS | {"eccentricity_std", "aux_loss"}
        assert 0 <= h["train_acc"] <= 1 and 0 <= h["test_acc"] <= 1 and h["aux_loss"] > 0
        assert math.isfinite(h["loss"]) and h["seconds"] > 0
    assert json.loads((out / "history.json").read_text()) == history
    assert TrainConfig.from_dict(json.loads((out / "config.json").read_text())) == cfg
    run = json.loads((out / "run.json").read_text())
    assert run["provenance"]["profile"] == "smoke" and run["provenance"]["device"] == "cpu"
    assert run["finished_epochs"] == 4 and run["wall_time_s"] >= 0
    ckpt = load_ckpt(out / "checkpoint.pt")
    assert ckpt["extra"]["epoch"] == 4 and ckpt["extra"]["history"] == history
    final = load_ckpt(out / "model.pt")
    assert final["model_name"] == "fast_atn" and final["extra"]["config"] == cfg.to_dict()
    assert all(torch.equal(final["state_dict"][k], ckpt["state_dict"][k]) for k in final["state_dict"])


def test_the_same_seed_gives_the_same_run(tmp_path, data_root):
    cfg = tiny_config(epochs=1)
    a, b, c = seeded(TinyNet), seeded(TinyNet), seeded(TinyNet)
    fit(cfg, tmp_path / "a", model=a, verbose=False)
    torch.manual_seed(99)  # the caller's RNG state must not matter
    fit(cfg, tmp_path / "b", model=b, verbose=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    fit(tiny_config(epochs=1, seed=4), tmp_path / "c", model=c, verbose=False)  # other scenes, other order
    assert not torch.equal(a.features[0].weight, c.features[0].weight)


def test_resume_ends_with_exactly_the_weights_of_an_uninterrupted_run(tmp_path, data_root):
    cfg = tiny_config(epochs=2)  # SGD with momentum and dropout: optimiser state and RNG must carry over
    straight = seeded(TinyNet)
    h_straight = fit(cfg, tmp_path / "straight", model=straight, verbose=False)

    fit(tiny_config(epochs=1), tmp_path / "split", model=seeded(TinyNet), verbose=False)
    torch.manual_seed(123)  # the caller's RNG state must not matter
    resumed = TinyNet()  # other initial weights: the checkpoint's replace them
    h_resumed = fit(cfg, tmp_path / "split", resume=True, model=resumed, verbose=False)

    for k, v in weights(straight).items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    drop = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert drop(h_resumed) == drop(h_straight)
    assert load_ckpt(tmp_path / "split" / "checkpoint.pt")["extra"]["epoch"] == 2


def test_resume_without_a_checkpoint_starts_afresh_and_a_finished_run_is_a_no_op(tmp_path, data_root):
    cfg = tiny_config(epochs=1)
    model = TinyNet()
    history = fit(cfg, tmp_path / "run", resume=True, model=model, verbose=False)
    assert len(history) == 1
    before = weights(model)
    again = fit(cfg, tmp_path / "run", resume=True, model=model, verbose=False)
    assert again == history and all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_an_existing_run_is_not_overwritten_by_accident(tmp_path, data_root):
    out = tmp_path / "run"
    fit(tiny_config(epochs=1), out, model=TinyNet(), verbose=False)
    saved = (out / "checkpoint.pt").read_bytes()
    with pytest.raises(FileExistsError, match="resume=True to continue it"):
        fit(tiny_config(epochs=1), out, model=TinyNet(), verbose=False)
    with pytest.raises(ValueError, match=r"cannot resume: the config differs .*lr: saved 0.05, now 0.1"):
        fit(tiny_config(epochs=2, lr=0.1), out, resume=True, model=TinyNet(), verbose=False)
    fit(tiny_config(epochs=2), tmp_path / "long", model=TinyNet(), verbose=False)
    with pytest.raises(ValueError, match="beyond epochs=1"):  # a shorter run cannot continue a longer one
        fit(tiny_config(epochs=1), tmp_path / "long", resume=True, model=TinyNet(), verbose=False)
    assert (out / "checkpoint.pt").read_bytes() == saved


def test_a_failing_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, data_root, monkeypatch):
    out = tmp_path / "run"
    fit(tiny_config(epochs=1), out, model=TinyNet(), verbose=False)
    before = load_ckpt(out / "checkpoint.pt")

    def broken_save(obj, f, *args, **kwargs):  # write half a file, then fail (a full disk, a kill)
        if hasattr(f, "write"):
            f.write(b"partial")
        else:
            with open(f, "wb") as fh:
                fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        fit(tiny_config(epochs=2), out, resume=True, model=TinyNet(), verbose=False)
    monkeypatch.undo()
    after = load_ckpt(out / "checkpoint.pt")
    assert after["extra"]["epoch"] == 1
    assert all(torch.equal(before["state_dict"][k], after["state_dict"][k]) for k in before["state_dict"])
    assert json.loads((out / "history.json").read_text())[-1]["epoch"] == 1


def test_fit_checks_the_model_it_is_given(tmp_path, data_root):
    with pytest.raises(ValueError, match=r"aux_location_weight > 0 needs an attention model \(with attend\(\)\)"):
        fit(tiny_config(aux_location_weight=1.0), tmp_path / "a", model=TinyNet(), verbose=False)
    bare = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with pytest.raises(ValueError, match=r"model must have a 'name' \(str\) and a 'config' \(dict\)"):
        fit(tiny_config(), tmp_path / "b", model=bare, verbose=False)
    with pytest.raises(TypeError, match="cfg must be a TrainConfig"):
        fit({"model": "lenet"}, tmp_path / "c")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
