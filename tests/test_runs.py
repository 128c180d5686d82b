"""stnutils.training.runs: trained models shared between chapters, never retrained silently."""
import json

import pytest
import torch

from stnutils.training import load_snapshots, runs
from stnutils.training.checkpoint import load_checkpoint


def test_run_dir_layout_and_root_resolution(monkeypatch, tmp_path):
    assert runs.run_dir("atn", "full", seed=3, root=tmp_path) == tmp_path / "full" / "atn-seed3"
    monkeypatch.setenv(runs.RUNS_ENV, str(tmp_path / "elsewhere"))
    assert runs.run_dir("stn28", "smoke") == tmp_path / "elsewhere" / "smoke" / "stn28-seed0"
    monkeypatch.delenv(runs.RUNS_ENV)
    assert runs.runs_root().as_posix() == "runs"
    with pytest.raises(ValueError, match="schedule must be one of"):
        runs.run_dir("resnet", "quick")
    with pytest.raises(ValueError, match="profile must be one of"):
        runs.run_dir("stn28", "medium")
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        runs.run_dir("stn28", "quick", seed=-1)


def test_trains_once_then_loads_the_same_weights(tmp_path, data_root, capsys):
    first = runs.trained_model("lenet", "smoke", root=tmp_path, data_root=data_root, progress=False)
    out = capsys.readouterr().out
    assert first.trained_now and "Training lenet (smoke" in out and "no trained run yet" in out
    assert (first.run_dir / "model.pt").is_file() and len(first.history) == 2
    second = runs.trained_model("lenet", "smoke", root=tmp_path, data_root=data_root)
    out = capsys.readouterr().out
    assert not second.trained_now and out.startswith("Loaded lenet (smoke)")
    assert second.history == first.history and second.config["schedule"] == "lenet"
    assert second.provenance["profile"] == "smoke"
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert not second.model.training
    assert second.final_test_acc == first.history[-1]["test_acc"]


def test_missing_run_is_reported_with_the_command_when_training_is_not_allowed(tmp_path, data_root):
    with pytest.raises(FileNotFoundError) as err:
        runs.trained_model("stn28", "smoke", root=tmp_path, data_root=data_root, train_missing=False)
    message = str(err.value)
    assert "no trained 'stn28' for profile 'smoke'" in message
    assert "python -m stnutils train --schedule stn28 --profile smoke --seed 0" in message
    assert not (tmp_path / "smoke").exists()  # nothing written


def test_a_stale_run_is_retrained_and_says_why(tmp_path, data_root, capsys):
    run = runs.trained_model("lenet", "smoke", root=tmp_path, data_root=data_root, progress=False)
    capsys.readouterr()
    # pretend the run was made with another learning rate (the schedule has been edited since)
    from stnutils.training.checkpoint import save_model

    ckpt = load_checkpoint(run.run_dir / "model.pt")
    ckpt["extra"]["config"]["lr"] = 0.5
    save_model(run.run_dir / "model.pt", run.model, extra=ckpt["extra"])
    with pytest.raises(RuntimeError, match=r"another configuration \(lr: saved 0.5, now 0.01\)"):
        runs.trained_model("lenet", "smoke", root=tmp_path, data_root=data_root, train_missing=False)
    again = runs.trained_model("lenet", "smoke", root=tmp_path, data_root=data_root, progress=False)
    assert again.trained_now and "another configuration" in capsys.readouterr().out
    assert load_checkpoint(again.run_dir / "model.pt")["extra"]["config"]["lr"] == 0.01


def test_where_it_ran_is_not_a_difference():
    assert runs.config_differences({"lr": 0.01, "device": "cuda", "data_root": "/a", "final_contrast": [0.3, 0.7]},
                                   {"lr": 0.01, "device": "cpu", "data_root": None,
                                    "final_contrast": (0.3, 0.7)}) == []
    assert runs.config_differences({"lr": 0.01}, {"lr": 0.01, "rotation": 0.0}) == ["rotation: saved None, now 0.0"]


def test_an_interrupted_run_is_resumed(tmp_path, data_root, capsys):
    from stnutils.training import fit, get_config

    folder = runs.run_dir("lenet", "smoke", root=tmp_path)
    cfg = get_config("lenet", "smoke", data_root=data_root, device="cpu")
    fit(get_config("lenet", "smoke", data_root=data_root, device="cpu", epochs=1), folder, progress=False,
        verbose=False)
    (folder / "model.pt").unlink()  # as if it had stopped after epoch 1 of 2
    run = runs.trained_model("lenet", "smoke", root=tmp_path, data_root=data_root, progress=False)
    assert "resuming the unfinished run" in capsys.readouterr().out
    reference = fit(cfg, tmp_path / "straight", progress=False, verbose=False)
    assert [h["test_acc"] for h in run.history] == [h["test_acc"] for h in reference]


def test_stage_snapshots_hold_the_weights_at_each_stage(tmp_path, data_root):
    from stnutils.training import fit, get_config

    cfg = get_config("stn28", "smoke", data_root=data_root, device="cpu", epochs=3, epochs_per_stage=2)
    assert cfg.stage_snapshots
    fit(cfg, tmp_path, progress=False, verbose=False)
    snaps = load_snapshots(tmp_path)
    assert [epoch for epoch, _ in snaps] == [0, 2, 3]  # start, end of stage 0, end of the run
    final = load_checkpoint(tmp_path / "model.pt")["state_dict"]
    for key, value in snaps[-1][1].state_dict().items():
        assert torch.equal(value, final[key])
    assert not torch.equal(snaps[0][1].state_dict()["classifier.net.1.weight"], final["classifier.net.1.weight"])
    assert load_snapshots(tmp_path / "nothing") == []
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history) == 3
