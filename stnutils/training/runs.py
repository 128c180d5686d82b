"""Trained models shared between chapters: one run folder per (profile, schedule, seed).

A chapter that trains a schedule and a later chapter that only evaluates it both call
:func:`trained_model`; the first call trains (with a progress bar) and writes
``<root>/<profile>/<schedule>-seed<seed>/`` (see :func:`stnutils.training.loop.fit`), every later
call loads ``model.pt`` from there with :func:`stnutils.training.checkpoint.load_model`. Nothing is
retrained silently: the call says whether it loaded or trained, a run saved with a
different configuration (the schedule was edited since) is retrained and the call says
why, and with ``train_missing=False`` a missing or stale run is an error that names the
folder and the command that trains it.

The root is ``root``, else ``$STNUTILS_RUNS``, else ``./runs`` (git-ignored). What the calls
print names run folders relative to the working directory (or to the runs root,
:func:`shown_path`), so an executed notebook names no folder of the machine that ran it.

Example:
    >>> run_dir("stn28", "quick", seed=0, root="runs").as_posix()
    'runs/quick/stn28-seed0'
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Union

from torch import nn

from ..provenance import check_profile, resolve_device
from ..validation import check_choice
from .checkpoint import load_checkpoint, load_model
from .lock import RunLockedError, wait_until_free
from .loop import fit
from .schedules import SCHEDULES, get_config

__all__ = ["RUNS_ENV", "TrainedRun", "runs_root", "run_dir", "trained_model", "config_differences", "shown_path"]

RUNS_ENV = "STNUTILS_RUNS"
# Settings that say where a run happened, not what was trained: they may differ.
_WHERE_NOT_WHAT = ("device", "data_root")

PathLike = Union[str, os.PathLike]


@dataclass
class TrainedRun:
    """A trained model with its run: ``model`` (eval mode), ``history`` (one dict per epoch),
    ``run_dir``, ``config`` (the TrainConfig dict), ``provenance`` (profile, device, commit of
    the training run) and ``trained_now`` (False when it was loaded)."""

    model: nn.Module
    history: List[dict]
    run_dir: Path
    config: dict
    provenance: dict
    trained_now: bool

    @property
    def final_test_acc(self) -> float:
        """Test accuracy after the last epoch, at that epoch's difficulty."""
        return float(self.history[-1]["test_acc"])


def runs_root(root: Optional[PathLike] = None) -> Path:
    """``root``, else ``$STNUTILS_RUNS``, else ``./runs``."""
    if root is not None:
        return Path(root)
    env = os.environ.get(RUNS_ENV)
    return Path(env) if env else Path("runs")


def run_dir(schedule: str, profile: str, seed: int = 0, root: Optional[PathLike] = None) -> Path:
    """The folder of the run of ``schedule`` at ``profile`` with ``seed``."""
    check_choice("schedule", schedule, list(SCHEDULES))
    check_profile(profile)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return runs_root(root) / profile / f"{schedule}-seed{seed}"


def shown_path(path: PathLike, root: Optional[PathLike] = None) -> str:
    """``path`` as printed: relative to the working directory when inside it, else relative to the runs
    root (``$STNUTILS_RUNS/...`` when the variable set the root), else as given.

    Example:
        >>> shown_path(Path.cwd() / "runs" / "quick" / "atn-seed0")
        'runs/quick/atn-seed0'
    """
    path = Path(path)
    with contextlib.suppress(ValueError, OSError):
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    base = runs_root(root)
    with contextlib.suppress(ValueError, OSError):
        inside = path.resolve().relative_to(base.resolve()).as_posix()
        return f"${RUNS_ENV}/{inside}" if root is None and os.environ.get(RUNS_ENV) else f"{base.name}/{inside}"
    return path.as_posix()


def config_differences(saved: dict, wanted: dict, ignore=()) -> List[str]:
    """Fields (other than device and data root) whose saved value differs from the wanted one.

    Example:
        >>> config_differences({"lr": 0.01, "device": "cuda"}, {"lr": 0.02, "device": "cpu"})
        ['lr: saved 0.01, now 0.02']
    """
    keys = sorted(set(saved) | set(wanted))
    return [f"{k}: saved {saved.get(k)!r}, now {wanted.get(k)!r}"
            for k in keys
            if k not in _WHERE_NOT_WHAT and k not in ignore and _norm(saved.get(k)) != _norm(wanted.get(k))]


def _norm(value):
    # JSON turns tuples into lists; compare what the two would be after a round trip
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _train_command(schedule: str, profile: str, seed: int, folder: Path) -> str:
    return f"python -m stnutils train --schedule {schedule} --profile {profile} --seed {seed} --out {folder}"


def trained_model(
    schedule: str,
    profile: str,
    *,
    seed: int = 0,
    device: str = "cpu",
    data_root: Optional[PathLike] = None,
    root: Optional[PathLike] = None,
    train_missing: bool = True,
    progress: Optional[bool] = None,
    verbose: bool = True,
) -> TrainedRun:
    """Load the trained ``schedule`` for ``profile``, training it first if needed.

    Args:
        schedule: a named schedule of :data:`stnutils.training.schedules.SCHEDULES` (``'stn28'``, ``'atn'``, ...).
        profile: ``'smoke'``, ``'quick'`` or ``'full'`` (sizes from :func:`~stnutils.training.schedules.get_config`).
        seed: the run's seed (weights, scenes, order).
        device: where to train and to put the model (``'cpu'``, ``'cuda'``, ``'auto'``).
        data_root: folder holding ``MNIST/raw`` (default ``$STNUTILS_DATA``).
        root: the runs folder (default ``$STNUTILS_RUNS``, else ``./runs``).
        train_missing: train when the run is missing, unfinished or stale; if False, raise. When
            another process is training the same run folder, wait for it and use its result.
        progress: per-epoch progress bars while training (None: when on a terminal).
        verbose: say what was loaded or trained, and the per-epoch lines while training.

    Raises:
        FileNotFoundError: the run is missing or unfinished and ``train_missing`` is False.
        RuntimeError: the saved run was trained with another configuration and
            ``train_missing`` is False (the message lists the differences).
    """
    from .whatwhere import is_two_stage, trained_two_stage  # imports this module

    if is_two_stage(schedule):  # the What/Where model: its What stage, accuracy map and Where stage
        return trained_two_stage(schedule, profile, seed=seed, device=device, data_root=data_root, root=root,
                                 train_missing=train_missing, progress=progress, verbose=verbose)
    folder = run_dir(schedule, profile, seed, root)
    device = resolve_device(device)
    data_root = None if data_root is None else os.fspath(data_root)
    cfg = get_config(schedule, profile, seed=seed, device=device, data_root=data_root)
    wanted = cfg.to_dict()
    model_path, ckpt_path = folder / "model.pt", folder / "checkpoint.pt"

    reason = None
    if model_path.is_file():
        ckpt = load_checkpoint(model_path)
        differences = config_differences(ckpt["extra"].get("config", {}), wanted)
        if not differences:
            model = load_model(model_path, device)
            prov = ckpt["extra"].get("provenance") or {}
            if verbose:
                last = ckpt["extra"]["history"][-1]
                print(f"Loaded {schedule} ({profile}) from {shown_path(folder, root)}: "
                      f"{len(ckpt['extra']['history'])} epochs, "
                      f"final test accuracy {last['test_acc']:.3f}, trained on {prov.get('device', '?')} "
                      f"at commit {prov.get('git_commit', '?')}")
            return TrainedRun(model, list(ckpt["extra"]["history"]), folder, ckpt["extra"]["config"], prov, False)
        reason = f"{shown_path(model_path, root)} was trained with another configuration ({'; '.join(differences)})"
        if not train_missing:
            raise RuntimeError(f"{reason}; retrain it with `{_train_command(schedule, profile, seed, folder)} "
                               f"--overwrite` or call trained_model(..., train_missing=True)")
    elif not train_missing:
        raise FileNotFoundError(
            f"no trained {schedule!r} for profile {profile!r}: {model_path} does not exist. Run the chapter that "
            f"trains it, or `{_train_command(schedule, profile, seed, folder)}`, or call "
            f"trained_model(..., train_missing=True)")

    # Resume an interrupted run of the same configuration (fit lets the number of epochs
    # grow); anything else starts afresh.
    resume = False
    if reason is None and ckpt_path.is_file():
        saved = load_checkpoint(ckpt_path)["extra"]
        resume = saved.get("epoch", 0) <= cfg.epochs and not config_differences(
            saved.get("config", {}), wanted, ignore=("epochs",))
    if verbose:
        why = reason or ("resuming the unfinished run" if resume else "no trained run yet")
        print(f"Training {schedule} ({profile}, {cfg.epochs} epochs x {cfg.samples_per_epoch} scenes) "
              f"into {shown_path(folder, root)}: {why}")
    try:
        history = fit(cfg, folder, resume=resume, overwrite=not resume, progress=progress, verbose=verbose)
    except RunLockedError:  # another build trains this very run (a shared runs folder): use its result
        if verbose:
            print(f"Waiting for the process that is training {shown_path(folder, root)} to finish")
        wait_until_free(folder)
        return trained_model(schedule, profile, seed=seed, device=device, data_root=data_root, root=root,
                             train_missing=train_missing, progress=progress, verbose=verbose)
    ckpt = load_checkpoint(model_path)
    model = load_model(model_path, device)
    return TrainedRun(model, history, folder, ckpt["extra"]["config"], ckpt["extra"].get("provenance") or {}, True)
