"""Tests of the command line, ``python -m stnutils``."""
import json
import os
import subprocess
import sys

import pytest
import torch

from stnutils.cli import main
from stnutils.training import SCHEDULES

TRAIN_OPTIONS = ["--schedule", "--model", "--profile", "--out", "--device", "--seed", "--resume", "--overwrite",
                 "--data-root", "--epochs", "--set", "--quiet"]
EVALUATE_OPTIONS = ["RUN_DIR", "--benchmark", "--accuracy-map", "--profile", "--n", "--seed", "--device",
                    "--data-root", "--out"]


def run_main(argv, capsys):
    """``main(argv)`` -> (exit status, stdout, stderr)."""
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def test_python_m_stnutils_runs_the_cli_main():
    import stnutils.__main__ as entry

    assert entry.main is main


def test_module_help_runs_as_a_program():
    done = subprocess.run([sys.executable, "-m", "stnutils", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for word in ("train", "evaluate", "schedules"):
        assert word in done.stdout


@pytest.mark.parametrize("command, options", [("train", TRAIN_OPTIONS), ("evaluate", EVALUATE_OPTIONS)])
def test_subcommand_help_lists_every_option(command, options, capsys):
    status, out, _ = run_main([command, "--help"], capsys)
    assert status == 0
    for option in options:
        assert option in out, option
    assert out.count("\n") > len(options)  # every option has its help text


def test_schedules_lists_every_schedule_and_profile(capsys):
    status, out, _ = run_main(["schedules"], capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["schedule", "profile", "model", "epochs"]
    rows = [line.split() for line in lines[1:]]
    assert ["stn128", "full", "stn128", "110", "60000"] in [r[:5] for r in rows]
    assert ["stn28", "full", "stn28", "320", "60000"] in [r[:5] for r in rows]
    assert len(rows) == len(SCHEDULES) * 3


BASE = ["train", "--schedule", "lenet", "--profile", "smoke", "--device", "cpu", "--quiet"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "lenet", "--profile", "smoke"], "the following arguments are required: --out"),
        (["train", "--model", "resnet", "--profile", "smoke", "--out", "x"], "invalid choice: 'resnet'"),
        (["train", "--model", "lenet", "--profile", "fast", "--out", "x"], "invalid choice: 'fast'"),
        (BASE + ["--out", "{tmp}", "--set", "lr=-1"], r"lr must be in (0, 10], got -1"),
        (BASE + ["--out", "{tmp}", "--set", "lr=Infinity"], r"lr must be in (0, 10], got inf"),
        (BASE + ["--out", "{tmp}", "--set", "lr=1e30"], r"lr must be in (0, 10], got 1e+30"),
        (BASE + ["--out", "{tmp}", "--set", "learning_rate=1"], "unknown TrainConfig field(s) ['learning_rate']"),
        (BASE + ["--out", "{tmp}", "--set", "lr"], "--set expects key=value, got 'lr'"),
        (BASE + ["--out", "{tmp}", "--set", "curriculum=[]"], "curriculum must be a non-empty list"),
        (BASE + ["--out", "{tmp}", "--epochs", "0"], "epochs must be a positive integer, got 0"),
        (BASE + ["--out", "{tmp}", "--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
        (["evaluate", "{tmp}"], "model.pt not found"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_options_exit_non_zero_with_a_clear_message(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path / "run")) for a in argv]
    status, _, err = run_main(argv, capsys)
    assert status == 2
    assert message in err
    assert not (tmp_path / "run").exists()  # nothing written


def test_train_smoke_run_then_resume_and_evaluate(tmp_path, data_root, capsys):
    out = tmp_path / "lenet"
    # as a program, the way a user (or torchrun) starts it
    cmd = [sys.executable, "-m", "stnutils", "train", "--model", "lenet", "--profile", "smoke", "--out", str(out),
           "--device", "cpu", "--seed", "2", "--set", "samples_per_epoch=32", "--set", "test_samples=32"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "epoch 2/2" in done.stdout and "done: 2 epochs" in done.stdout
    for name in ("config.json", "run.json", "history.json", "checkpoint.pt", "model.pt"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert (config["schedule"], config["profile"], config["seed"], config["samples_per_epoch"]) == (
        "lenet", "smoke", 2, 32)
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [1, 2]

    from stnutils.training.checkpoint import load_model

    model = load_model(out / "model.pt")
    assert model.name == "lenet" and model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)

    # an existing run is not overwritten by accident; --resume of a finished run is a no-op
    again = BASE + ["--out", str(out), "--seed", "2", "--set", "samples_per_epoch=32", "--set", "test_samples=32"]
    before = (out / "checkpoint.pt").read_bytes()
    status, _, err = run_main(again, capsys)
    assert status == 1 and "--resume" in err and "--overwrite" in err
    status, _, err = run_main(again + ["--resume"], capsys)
    assert status == 0, err
    assert (out / "checkpoint.pt").read_bytes() == before
    status, _, err = run_main(again + ["--resume", "--set", "lr=0.5"], capsys)
    assert status == 2 and "cannot resume" in err

    results = tmp_path / "results" / "lenet.json"
    status, stdout, err = run_main(["evaluate", str(out), "--accuracy-map", "--n", "1", "--device", "cpu",
                                    "--out", str(results)], capsys)
    assert status == 0, err
    assert "central" in stdout and "general" in stdout
    saved = json.loads(results.read_text())["accuracy_map"]
    assert 0 <= saved["central"] <= 1 and 0 <= saved["general"] <= 1 and saved["profile"] == "smoke"


def test_train_and_benchmark_a_128_model(tmp_path, data_root, capsys):
    out = tmp_path / "fast_atn"
    status, _, err = run_main(["train", "--model", "fast_atn_aux", "--profile", "smoke", "--out", str(out),
                               "--device", "cpu", "--quiet", "--set", "samples_per_epoch=32",
                               "--set", "test_samples=16"], capsys)
    assert status == 0, err
    history = json.loads((out / "history.json").read_text())
    assert [h["contrast"] for h in history] == [0.7, [0.3, 0.7]] and "aux_loss" in history[0]

    results = tmp_path / "fast_atn.json"
    status, stdout, err = run_main(["evaluate", str(out), "--n", "2", "--device", "cpu", "--out", str(results)],
                                   capsys)
    assert status == 0, err
    from stnutils.evaluation.results import read_results

    rows = read_results(results)
    assert len(rows) == 3 * 9
    assert {r["model"] for r in rows} == {"fast_atn_aux"} and {r["profile"] for r in rows} == {"smoke"}
    assert all(0 <= r["accuracy"] <= 1 and r["n"] == 2 for r in rows)
