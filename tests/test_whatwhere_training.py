"""The What/Where model's schedules and two-stage runs: CLI round trip, trained_model, benchmark rows."""
import json

import pytest
import torch

from stnutils.cli import main
from stnutils.evaluation.results import ROW_KEYS, read_results
from stnutils.models.colliculus import full_accuracy_map
from stnutils.training import get_config, stage_of, trained_model
from stnutils.training.checkpoint import load_checkpoint, load_model
from stnutils.training.whatwhere import MAP_FILE, load_what_map, map_settings, whatwhere_rows

VARIANTS = [f"whatwhere_{k}" for k in range(6)] + ["whatwhere_oracle", "whatwhere_random"]


def test_the_reference_recipes_are_the_full_profiles():
    what = get_config("what_pathway", "full")
    assert (what.model, what.optimizer, what.lr, what.epochs, what.epochs_per_stage) == ("lenet", "adam", 0.005, 80, 5)
    assert what.curriculum == [float(s) for s in range(16)] and what.samples_per_epoch == 60_000
    assert {stage_of(what, e)["contrast"] for e in range(what.epochs)} == {(0.3, 0.7)}  # U(0.3, 0.7) throughout
    assert stage_of(what, 79)["std"] == 15.0 and stage_of(what, 4)["std"] == 0.0 and stage_of(what, 5)["std"] == 1.0
    where = get_config("whatwhere", "full")
    assert (where.model, where.optimizer, where.lr, where.epochs, where.samples_per_epoch) == (
        "whatwhere", "adam", 1e-4, 60, 60_000)
    assert where.curriculum == [30.0] and where.contrast == 0.7 and where.final_contrast_epochs == 0
    assert where.task == "128" and where.batch_size == 100
    quick = get_config("whatwhere", "quick")
    assert quick.lr == where.lr and quick.epochs * quick.samples_per_epoch < 60 * 60_000 / 10
    assert map_settings("full")["n_per_cell"] == 10_000 and len(map_settings("full")["offsets"]) == 55
    # the other schedules are untouched by the per-schedule sizes
    assert get_config("lenet", "full").epochs == 320 and get_config("lenet", "full").optimizer == "sgd"


def _cli(argv, capsys):
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_round_trip_at_the_smoke_profile(tmp_path, data_root, capsys):
    out = tmp_path / "ww"
    base = ["train", "--schedule", "whatwhere", "--profile", "smoke", "--out", str(out), "--device", "cpu",
            "--data-root", data_root, "--quiet", "--set", "test_samples=32"]
    status, _, err = _cli(base, capsys)
    assert status == 0, err
    for name in ("what/model.pt", "what/history.json", MAP_FILE, "model.pt", "history.json", "config.json",
                 "two_stage.json"):
        assert (out / name).is_file(), name
    stages = json.loads((out / "two_stage.json").read_text())
    assert stages["trained_now"] == {"what": True, "map": True, "where": True} and stages["total_s"] > 0
    # the saved model holds the What run's weights and its accuracy map
    model, what = load_model(out / "model.pt"), load_model(out / "what" / "model.pt")
    assert model.name == "whatwhere" and model.n_saccades == 1
    for key, value in what.state_dict().items():
        assert torch.equal(model.what.state_dict()[key], value), key
    amap = load_what_map(out)
    assert amap["map"].shape == (7, 7) and amap["offsets"] == list(range(-27, 28, 9))
    torch.testing.assert_close(model.what_map, full_accuracy_map(amap["map"], amap["offsets"]))
    assert load_checkpoint(out / "model.pt")["extra"]["config"]["test_samples"] == 32  # --set reaches the Where run
    # a second train refuses to overwrite; --resume reuses every finished stage
    status, _, err = _cli(base, capsys)
    assert status == 1 and "--resume" in err
    mtime = (out / "what" / "model.pt").stat().st_mtime_ns
    status, _, err = _cli(base + ["--resume"], capsys)
    assert status == 0, err
    assert (out / "what" / "model.pt").stat().st_mtime_ns == mtime
    # evaluate --benchmark: one row name per number of saccades, the oracle and the random saccade
    results = tmp_path / "rows.json"
    status, printed, err = _cli(["evaluate", str(out), "--benchmark", "--n", "2", "--device", "cpu",
                                 "--data-root", data_root, "--out", str(results)], capsys)
    assert status == 0, err
    rows = read_results(results)
    assert len(rows) == 27 * len(VARIANTS) and [r["model"] for r in rows[: len(VARIANTS)]] == VARIANTS
    assert all(set(ROW_KEYS) <= set(r) and r["schedule"] == "whatwhere" and r["profile"] == "smoke" for r in rows)
    assert "whatwhere_oracle" in printed


def test_trained_model_trains_the_two_stages_then_loads_them(tmp_path, data_root, capsys):
    with pytest.raises(FileNotFoundError, match="no trained 'whatwhere' for profile 'smoke'.*--resume"):
        trained_model("whatwhere", "smoke", root=tmp_path, data_root=data_root, train_missing=False)
    first = trained_model("whatwhere", "smoke", root=tmp_path, data_root=data_root, verbose=True)
    said = capsys.readouterr().out
    assert first.trained_now and "Training what_pathway (smoke" in said and "Training whatwhere (smoke" in said
    assert first.model.name == "whatwhere" and first.run_dir == tmp_path / "smoke" / "whatwhere-seed0"
    again = trained_model("whatwhere", "smoke", root=tmp_path, data_root=data_root, train_missing=False)
    assert not again.trained_now and "Loaded whatwhere" in capsys.readouterr().out
    for key, value in first.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[key], value), key
    # a What stage trained with another recipe is stale: both stages are retrained, and it says so
    what_dir = first.run_dir / "what"
    ckpt = torch.load(what_dir / "model.pt", weights_only=True)
    ckpt["extra"]["config"]["lr"] = 0.123
    torch.save(ckpt, what_dir / "model.pt")
    third = trained_model("whatwhere", "smoke", root=tmp_path, data_root=data_root)
    said = capsys.readouterr().out
    assert third.trained_now and "another configuration (lr: saved 0.123" in said and "its What stage changed" in said
    # the one call a chapter makes for the rows
    rows = whatwhere_rows("smoke", root=tmp_path, data_root=data_root, n_per_cell=2, contrasts=(0.7,),
                          eccentricities=(40.0,), max_saccades=2)
    assert [r["model"] for r in rows] == ["whatwhere_0", "whatwhere_1", "whatwhere_2", "whatwhere_oracle",
                                          "whatwhere_random"]
    assert all(r["train_scenes"] == 128 and r["n"] == 2 and r["eccentricity"] == 40.0 for r in rows)
