"""Seed sweeps: several training seeds of a schedule, benchmarked on the same test scenes, one results file."""
import pytest

from stnutils.cli import main
from stnutils.evaluation import aggregate_seeds, read_results
from stnutils.evaluation.results import aggregate_maps, write_map_rows
from stnutils.training.seed_sweep import map_sweep, sweep

ECCS = [4.44444444, 40.0]


def test_sweep_trains_each_seed_and_merges_its_rows(tmp_path, data_root, capsys):
    out, runs = tmp_path / "results" / "sweep_smoke.json", tmp_path / "runs"
    rows = sweep(["lenet"], "smoke", [0, 1], out, data_root=data_root, runs_root=runs, n_per_cell=8,
                 eccentricities=ECCS, verbose=False)
    assert read_results(out) == rows and len(rows) == 2 * 3 * len(ECCS)
    for row in rows:  # every row says what it is and what made it
        for key in ("model", "schedule", "profile", "device", "commit", "seed", "n", "train_scenes", "test_seed"):
            assert key in row, key
    assert {r["seed"] for r in rows} == {0, 1} and {r["test_seed"] for r in rows} == {0}
    assert (runs / "smoke" / "lenet-seed1" / "model.pt").is_file()
    # the two seeds trained different weights, so their accuracies are not all equal
    by_seed = {s: [r["accuracy"] for r in rows if r["seed"] == s] for s in (0, 1)}
    assert by_seed[0] != by_seed[1]
    mean = aggregate_seeds(rows)
    assert len(mean) == 3 * len(ECCS) and all(m["n_seeds"] == 2 for m in mean)

    # again with seed 1 only: its rows replaced (no duplicates), seed 0's kept, nothing retrained
    mtime = (runs / "smoke" / "lenet-seed1" / "model.pt").stat().st_mtime_ns
    again = sweep(["lenet"], "smoke", [1], out, data_root=data_root, runs_root=runs, n_per_cell=8,
                  eccentricities=ECCS, verbose=False)
    assert len(again) == len(rows) and sorted(r["seed"] for r in again) == sorted(r["seed"] for r in rows)
    assert (runs / "smoke" / "lenet-seed1" / "model.pt").stat().st_mtime_ns == mtime


@pytest.mark.parametrize("kwargs, match", [
    (dict(seeds=[]), "seeds must be a non-empty list"),
    (dict(seeds=[0, 0]), "seeds must not repeat"),
    (dict(seeds=[-1]), r"seeds must be a non-empty list of integers in \[0, 2\*\*63\)"),
    (dict(schedules=["resnet"]), "schedule must be one of"),
    (dict(profile="long"), "profile"),
    (dict(n_per_cell=0), "n_per_cell must be a positive integer"),
])
def test_bad_sweeps_are_refused_before_any_training(tmp_path, kwargs, match):
    args = dict(schedules=["lenet"], profile="smoke", seeds=[0], out=tmp_path / "s.json", runs_root=tmp_path)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sweep(args.pop("schedules"), args.pop("profile"), args.pop("seeds"), args.pop("out"), **args)
    assert not (tmp_path / "s.json").exists() and not (tmp_path / "smoke").exists()


def test_the_cli_runs_a_sweep(tmp_path, data_root, capsys):
    out = tmp_path / "sweep.json"
    status = main(["sweep", "--schedule", "lenet", "--profile", "smoke", "--seeds", "3", "--out", str(out),
                   "--n", "4", "--device", "cpu", "--data-root", data_root, "--runs", str(tmp_path / "runs")])
    assert status == 0
    rows = read_results(out)
    assert {r["seed"] for r in rows} == {3} and len(rows) == 27
    assert "sweep: lenet seed 3 (smoke)" in capsys.readouterr().out


def test_map_sweep_measures_each_seed_on_the_full_grid_and_aggregates(tmp_path, data_root, capsys):
    out, runs = tmp_path / "accuracy_map_smoke.json", tmp_path / "runs"
    rows = map_sweep(["lenet"], "smoke", [0, 1], out, data_root=data_root, runs_root=runs, n_per_cell=6,
                     verbose=False)
    assert read_results(out) == rows and len(rows) == 2
    for row in rows:
        for key in ("model", "schedule", "profile", "device", "commit", "seed", "test_seed", "n", "cells",
                    "central", "general", "train_scenes", "contrast"):
            assert key in row, key
        assert 0.0 <= row["general"] <= 1.0 and row["cells"] == 9 and row["offsets"] == [-27, 27, 27]
        # the central accuracy on its own 8 digits at (0, 0); the map's cell there has only 6
        assert row["central_n"] == 8 and round(row["central"] * 8) == row["central"] * 8
        assert round(row["map_central"] * 6, 6) == round(row["map_central"] * 6)
    assert rows[0]["central"] != rows[1]["central"] or rows[0]["general"] != rows[1]["general"]
    agg = aggregate_maps(rows)
    assert len(agg) == 1 and agg[0]["n_seeds"] == 2
    assert agg[0]["general"] == pytest.approx((rows[0]["general"] + rows[1]["general"]) / 2)
    assert agg[0]["general_std"] is not None
    # seed 1 again: its row replaced, not added
    again = map_sweep(["lenet"], "smoke", [1], out, data_root=data_root, runs_root=runs, n_per_cell=6, verbose=False)
    assert len(again) == 2 and sorted(r["seed"] for r in again) == [0, 1]
    # the CLI's --accuracy-map switch writes the same kind of rows
    cli_out = tmp_path / "cli.json"
    assert main(["sweep", "--accuracy-map", "--schedule", "lenet", "--profile", "smoke", "--seeds", "0", "--out",
                 str(cli_out), "--n", "6", "--device", "cpu", "--data-root", data_root, "--runs", str(runs)]) == 0
    assert read_results(cli_out)[0]["general"] == rows[0]["general"]


def test_map_sweep_refuses_a_128_schedule_and_map_rows_need_their_keys(tmp_path):
    with pytest.raises(ValueError, match="the accuracy map is for 28x28 schedules"):
        map_sweep(["heat_atn"], "smoke", [0], tmp_path / "m.json", runs_root=tmp_path)
    assert not (tmp_path / "m.json").exists()
    with pytest.raises(ValueError, match=r"accuracy-map rows must have the keys .* lacks \['general'"):
        write_map_rows([dict(model="lenet", profile="quick", device="cpu", commit="x", central=0.9, n=4,
                             cells=9)], tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()
