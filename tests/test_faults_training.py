"""Faults of training runs (issue 13): killed runs, two runs in one folder, stale locks, diverging runs.

The killed-run and concurrency tests start ``python -m stnutils train`` in subprocesses
(about a minute together on the project's 2-core machine); the others run in process.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stnutils.cli import main
from stnutils.training import fit, get_config, loop
from stnutils.training.checkpoint import load_checkpoint
from stnutils.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
LOCK_NAME = "train.lock"  # stnutils.training.lock.LOCK_NAME
# A run of three epochs of a few seconds each: long enough to be killed in the middle of one.
RUN = dict(seed=5, epochs=3, samples_per_epoch=1536, batch_size=32, test_samples=64)
ARGS = ["--schedule", "lenet", "--profile", "smoke", "--device", "cpu", "--seed", "5", "--epochs", "3",
        "--set", "samples_per_epoch=1536", "--set", "batch_size=32", "--set", "test_samples=64"]
# Runs torch.save as usual, except for the first checkpoint of the process: half of it, then it waits to be killed.
KILL_IN_WRITE = """
import os, runpy, sys, time, torch
real = torch.save
def save(obj, f, *args, **kwargs):
    name = os.readlink(f"/proc/self/fd/{f.fileno()}") if hasattr(f, "fileno") else str(f)
    if ".checkpoint.pt." in name:
        f.write(b"PK\\x03\\x04 half a checkpoint"); f.flush(); os.fsync(f.fileno())
        open(os.environ["IN_WRITE"], "w").close()
        time.sleep(600)
    return real(obj, f, *args, **kwargs)
torch.save = save
sys.argv = ["stnutils"] + sys.argv[1:]
runpy.run_module("stnutils", run_name="__main__")
"""


def _env(**extra):
    return dict(os.environ, OMP_NUM_THREADS="2", PYTHONUNBUFFERED="1", **extra)  # the threads of this process


def _start(out: Path, *more, code=None, **env):
    head = [sys.executable, "-c", code] if code else [sys.executable, "-m", "stnutils"]
    return subprocess.Popen(head + ["train", *ARGS, "--out", str(out), *more], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(**env), cwd=REPO)


def _wait_for(condition, proc, timeout=240, what="the run"):
    t0 = time.time()
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"{what} ended (rc {proc.returncode}) too early:\n{proc.stdout.read()[-3000:]}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError(f"{what}: timed out")
        time.sleep(0.05)


def _history(out: Path) -> list:
    try:
        return json.loads((out / "history.json").read_text())
    except (FileNotFoundError, ValueError):
        return []


def _kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return proc.stdout.read()


def _drop_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def _complete_checkpoint(out: Path) -> int:
    """The checkpoint on disk loads and agrees with history.json: the previous or the new complete one."""
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["extra"]["epoch"] == len(ckpt["extra"]["history"]) == len(_history(out))
    return ckpt["extra"]["epoch"]


def test_a_run_killed_mid_epoch_and_during_a_checkpoint_write_resumes_to_the_same_weights(tmp_path, data_root):
    out = tmp_path / "run"
    # 1. SIGKILL partway through epoch 2
    first = _start(out, "--quiet")
    _wait_for(lambda: len(_history(out)) >= 1, first, what="epoch 1")
    time.sleep(0.3 * _history(out)[0]["seconds"])
    _kill(first)
    assert _complete_checkpoint(out) == 1, "killed too late: epoch 2 was already written"
    assert (out / LOCK_NAME).exists() and not (out / "model.pt").exists()

    # 2. resumed, then SIGKILL while epoch 2's checkpoint is being written
    marker = tmp_path / "in_write"
    second = _start(out, "--quiet", "--resume", code=KILL_IN_WRITE, IN_WRITE=str(marker))
    _wait_for(marker.exists, second, what="the checkpoint write")
    _kill(second)
    assert _complete_checkpoint(out) == 1  # the previous complete checkpoint, never a torn file
    torn = list(out.glob(".checkpoint.pt.*.tmp"))
    assert len(torn) == 1 and torn[0].read_bytes().startswith(b"PK\x03\x04 half")

    # 3. resumed to the end: the stale lock is taken over, the torn temporary file removed
    third = subprocess.run([sys.executable, "-m", "stnutils", "train", *ARGS, "--out", str(out), "--resume"],
                           capture_output=True, text=True, env=_env(), cwd=REPO, timeout=600)
    assert third.returncode == 0, third.stdout[-2000:] + third.stderr[-2000:]
    assert f"removed run/{torn[0].name}, left by an interrupted write" in third.stdout
    assert f"took over the stale lock run/{LOCK_NAME}" in third.stdout and "is no longer running" in third.stdout
    assert not list(out.glob(".*.tmp")) and not (out / LOCK_NAME).exists()
    assert _complete_checkpoint(out) == 3

    # an uninterrupted run with the same seed, in this process
    cfg = get_config("lenet", "smoke", device="cpu", **RUN)
    reference = fit(cfg, tmp_path / "straight", progress=False, verbose=False)
    resumed = load_checkpoint(out / "model.pt")
    straight = load_checkpoint(tmp_path / "straight" / "model.pt")
    for key, value in straight["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    assert _drop_seconds(resumed["extra"]["history"]) == _drop_seconds(reference)
    assert _drop_seconds(_history(out)) == _drop_seconds(reference)


def test_a_second_training_into_the_same_folder_is_refused_and_the_first_is_unharmed(tmp_path, data_root, capsys):
    out = tmp_path / "run"
    first = _start(out, "--quiet")
    _wait_for((out / LOCK_NAME).exists, first, what="the first run's lock")
    owner = json.loads((out / LOCK_NAME).read_text())
    assert owner["pid"] == first.pid and owner["host"] == socket.gethostname()
    # in this process, with another model: refused before anything is written
    with pytest.raises(FileExistsError, match=rf"is being trained by pid {first.pid} on host "):
        fit(get_config("fast_atn", "smoke", device="cpu"), out, overwrite=True, verbose=False)
    # from the command line: exit 1 and a clear message
    try:
        status = main(["train", "--schedule", "stn28", "--profile", "smoke", "--out", str(out), "--device", "cpu",
                       "--overwrite", "--quiet"])
    except SystemExit as exc:
        status = exc.code
    err = capsys.readouterr().err
    assert status == 1 and f"pid {first.pid}" in err and "another --out folder" in err
    assert first.wait(timeout=600) == 0, first.stdout.read()[-3000:]
    config = json.loads((out / "config.json").read_text())
    model = load_checkpoint(out / "model.pt")
    assert config["model"] == model["model_name"] == "lenet" and config["schedule"] == "lenet"
    assert len(_history(out)) == 3 and not (out / LOCK_NAME).exists()


def _tiny(**kw) -> TrainConfig:
    base = dict(model="lenet", profile="smoke", epochs=1, samples_per_epoch=128, batch_size=32, test_samples=64,
                curriculum=[0.0, 1.0], lr=0.05, noise=0.25, device="cpu", seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, data_root, capsys):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname(), "started": 1.0}))
    history = fit(_tiny(), out, progress=False, verbose=True)
    said = capsys.readouterr().out
    assert len(history) == 1 and f"took over the stale lock run/{LOCK_NAME}" in said and f"pid {gone.pid}" in said
    assert not (out / LOCK_NAME).exists()


def test_a_lock_held_in_this_process_refuses_a_nested_run(tmp_path, data_root):
    from stnutils.training.lock import run_lock

    with run_lock(tmp_path / "run"):
        with pytest.raises(FileExistsError, match=rf"pid {os.getpid()}"):
            fit(_tiny(), tmp_path / "run", verbose=False)
    assert not (tmp_path / "run").exists()  # refused before writing: no empty folder left


def test_a_finished_model_without_a_checkpoint_is_not_overwritten(tmp_path, data_root):
    out = tmp_path / "run"
    fit(_tiny(), out, progress=False, verbose=False)
    (out / "checkpoint.pt").unlink()
    before = (out / "model.pt").read_bytes()
    for resume in (False, True):
        with pytest.raises(FileExistsError, match=r"model.pt exists but checkpoint.pt does not.*--overwrite"):
            fit(_tiny(), out, resume=resume, verbose=False)
    assert (out / "model.pt").read_bytes() == before
    fit(_tiny(model="stn28"), out, overwrite=True, progress=False, verbose=False)
    assert load_checkpoint(out / "model.pt")["model_name"] == "stn28"


class _Diverging(nn.Module):
    """A classifier whose training loss turns NaN after ``after`` steps (through the model's training_loss hook)."""

    name = "lenet"

    def __init__(self, after: int):
        super().__init__()
        self.config, self.after, self.calls = {}, after, 0
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))

    def forward(self, x):
        return self.net(x)

    def training_loss(self, images, labels, offsets):
        self.calls += 1
        logits = self(images)
        loss = F.cross_entropy(logits, labels)
        return (loss * float("nan") if self.calls > self.after else loss), logits


def test_a_diverging_run_stops_at_the_first_nan_and_keeps_the_good_checkpoint(tmp_path, data_root):
    out = tmp_path / "run"
    torch.manual_seed(0)
    fit(_tiny(), out, model=_Diverging(after=10**9), progress=False, verbose=False)
    good, finished = (out / "checkpoint.pt").read_bytes(), (out / "model.pt").read_bytes()
    model = _Diverging(after=1)  # epoch 2: the second step's loss is NaN
    with pytest.raises(loop.TrainingDivergedError,
                       match=r"the loss of batch 2/4 is nan at epoch 2/2 .*checkpoint.pt keeps epoch 1"):
        fit(_tiny(epochs=2), out, resume=True, model=model, progress=False, verbose=False)
    assert model.calls == 2  # stopped at the first NaN, not at the end of the epoch
    assert (out / "checkpoint.pt").read_bytes() == good and (out / "model.pt").read_bytes() == finished
    assert len(_history(out)) == 1
    saved = load_checkpoint(out / "checkpoint.pt")["state_dict"]
    assert all(bool(torch.isfinite(v).all()) for v in saved.values())


def test_an_absurd_learning_rate_ends_with_an_error_not_with_nan_weights(tmp_path, data_root):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "stnutils", "train", "--schedule", "lenet", "--profile", "smoke",
                           "--device", "cpu", "--out", str(out), "--set", "lr=10", "--set", "samples_per_epoch=640",
                           "--set", "test_samples=32"], capture_output=True, text=True, env=_env(), cwd=REPO,
                          timeout=600)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "error: training diverged: the loss of batch" in done.stderr and "is nan" in done.stderr
    assert "done:" not in done.stdout and not (out / "model.pt").exists()
    assert not (out / "checkpoint.pt").exists()  # nothing finite to keep yet


def test_a_chapter_waits_for_another_build_training_its_run(tmp_path, data_root, capsys):
    """Two book builds sharing a runs folder: the second waits for the first's training, then uses it."""
    from stnutils.training import runs

    folder = runs.run_dir("lenet", "smoke", root=tmp_path)
    hold = ("import sys, time\nfrom stnutils.training.lock import run_lock\nwith run_lock(sys.argv[1]):\n"
            "    print('held', flush=True)\n    time.sleep(3)\n")
    other = subprocess.Popen([sys.executable, "-c", hold, str(folder)], stdout=subprocess.PIPE, text=True,
                             env=_env(), cwd=REPO)
    assert other.stdout.readline().strip() == "held"
    t0 = time.time()
    run = runs.trained_model("lenet", "smoke", root=tmp_path, data_root=data_root, progress=False)
    assert other.wait(timeout=60) == 0
    said = capsys.readouterr().out
    assert "Waiting for the process that is training" in said and "smoke/lenet-seed0" in said
    assert time.time() - t0 >= 2.0 and run.trained_now and (folder / "model.pt").is_file()


def test_waiting_for_a_lock_this_process_holds_does_not_hang(tmp_path):
    from stnutils.training.lock import run_lock, wait_until_free

    with run_lock(tmp_path / "run"):
        with pytest.raises(FileExistsError, match=rf"pid {os.getpid()}"):
            wait_until_free(tmp_path / "run", poll_s=0.01)
    wait_until_free(tmp_path / "run")  # free: returns at once
