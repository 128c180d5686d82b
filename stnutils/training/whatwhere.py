"""Training the What/Where model in two stages: the What pathway, its accuracy map, the Where pathway.

A two-stage schedule (:data:`TWO_STAGE`: ``"whatwhere"``) writes one run folder::

    DIR/what/            the What pathway's run (schedule "what_pathway", fit on the 28x28 task)
    DIR/what_map.json    its accuracy map over shifts (i, j) (sized per profile, MAP_SIZES)
    DIR/config.json, history.json, checkpoint.pt, model.pt, run.json
                         the Where pathway's run (fit on the 128x128 task, BCE on collicular targets):
                         model.pt is the whole WhatWhere model (What weights, map, Where weights)
    DIR/two_stage.json   wall time of each stage

:func:`fit_two_stage` is what ``python -m stnutils train --schedule whatwhere`` runs;
:func:`trained_two_stage` is what :func:`stnutils.training.trained_model` runs for it
(load when every stage is current, else train what is missing, resume what was
interrupted, retrain what is stale, and say which). :func:`whatwhere_rows` trains or
loads the model and returns its benchmark rows (0..5 saccades, oracle, random): the one
call a chapter needs.

Example:
    >>> is_two_stage("whatwhere"), is_two_stage("atn")
    (True, False)
    >>> s = map_settings("quick", seed=0)
    >>> len(s["offsets"]), s["n_per_cell"], s["contrast"]
    (19, 300, [0.3, 0.7])
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..evaluation.metrics import accuracy_map
from ..evaluation.results import with_training
from ..evaluation.saccades import saccade_benchmark
from ..io import read_json, write_json
from ..models.registry import build_model
from ..provenance import check_profile, resolve_device
from .checkpoint import load_checkpoint, load_model
from .config import TrainConfig
from .loop import fit
from .schedules import get_config

__all__ = ["TWO_STAGE", "MAP_SIZES", "WHAT_DIR", "MAP_FILE", "is_two_stage", "map_settings", "fit_two_stage",
           "trained_two_stage", "load_what_map", "whatwhere_rows"]

PathLike = Union[str, os.PathLike]
#: Two-stage schedules and the schedule of their What stage.
TWO_STAGE: Dict[str, str] = {"whatwhere": "what_pathway"}
#: The What accuracy map per profile: every ``step``-th shift of -27..27, ``n_per_cell`` test digits a cell.
#: full = the reference (55 x 55 shifts, the whole 10,000-digit test set per cell).
MAP_SIZES = {"smoke": dict(step=9, n_per_cell=8), "quick": dict(step=3, n_per_cell=300),
             "full": dict(step=1, n_per_cell=10_000)}
WHAT_DIR = "what"
MAP_FILE = "what_map.json"
_WHERE_NOT_WHAT = ("device", "data_root")


def is_two_stage(schedule: str) -> bool:
    """Whether ``schedule`` trains in two stages (What, then Where) with :func:`fit_two_stage`."""
    return schedule in TWO_STAGE


def map_settings(profile: str, seed: int = 0) -> dict:
    """The accuracy-map arguments of ``profile``: offsets, n_per_cell, seed, contrast U(0.3, 0.7), noise 0.75."""
    check_profile(profile)
    size = MAP_SIZES[profile]
    return dict(offsets=list(range(-27, 28, size["step"])), n_per_cell=size["n_per_cell"], seed=seed,
                contrast=[0.3, 0.7], noise=0.75)


def _fingerprint(module: nn.Module) -> str:
    """A digest of a module's weights (to tell whether the Where stage was built on this What net)."""
    h = hashlib.blake2b(digest_size=8)
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _differences(saved: dict, wanted: dict, ignore=()) -> List[str]:
    keys = sorted(set(saved) | set(wanted))
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731 (JSON turns tuples into lists)
    return [f"{k}: saved {saved.get(k)!r}, now {wanted.get(k)!r}" for k in keys
            if k not in _WHERE_NOT_WHAT and k not in ignore and norm(saved.get(k)) != norm(wanted.get(k))]


def _state(cfg: TrainConfig, folder: Path) -> Tuple[str, str]:
    """``(state, why)`` of a stage's folder: ``done``, ``resume``, ``stale`` or ``missing``."""
    wanted = cfg.to_dict()
    if (folder / "model.pt").is_file():
        diff = _differences(load_checkpoint(folder / "model.pt")["extra"].get("config", {}), wanted)
        if not diff:
            return "done", "trained with this configuration"
        return "stale", f"trained with another configuration ({'; '.join(diff)})"
    if (folder / "checkpoint.pt").is_file():
        extra = load_checkpoint(folder / "checkpoint.pt")["extra"]
        if extra.get("epoch", 0) <= cfg.epochs and not _differences(extra.get("config", {}), wanted, ("epochs",)):
            return "resume", "resuming the unfinished run"
        return "stale", "an unfinished run of another configuration"
    return "missing", "no trained run yet"


def _stage(cfg: TrainConfig, folder: Path, *, auto: bool, resume: bool, overwrite: bool, model=None,
           must_retrain: bool = False, progress=None, verbose=True) -> Tuple[nn.Module, List[dict], bool]:
    """Reuse or train one stage: ``(trained model, history, trained now)``."""
    state, why = _state(cfg, folder)
    if must_retrain and state in ("done", "resume"):
        state, why = "stale", "its What stage changed"
    if state == "done" and not overwrite and (auto or resume):
        ckpt = load_checkpoint(folder / "model.pt")
        if verbose:
            print(f"Loaded {cfg.schedule} ({cfg.profile}) from {folder}: {len(ckpt['extra']['history'])} epochs, "
                  f"final test accuracy {ckpt['extra']['history'][-1]['test_acc']:.3f}")
        return load_model(folder / "model.pt", resolve_device(cfg.device)), list(ckpt["extra"]["history"]), False
    if auto:
        resume, overwrite = state == "resume", state == "stale"
        if verbose:
            print(f"Training {cfg.schedule} ({cfg.profile}, {cfg.epochs} epochs x {cfg.samples_per_epoch} scenes) "
                  f"into {folder}: {why}")
    elif must_retrain:
        resume, overwrite = False, True
    history = fit(cfg, folder, resume=resume, model=model, overwrite=overwrite, progress=progress, verbose=verbose)
    return load_model(folder / "model.pt", resolve_device(cfg.device)), history, True


def _map_stage(what: nn.Module, folder: Path, profile: str, seed: int, device, data_root, *, reuse: bool,
               progress, verbose) -> Tuple[dict, bool]:
    """The What accuracy map of ``profile`` (reused from ``what_map.json`` when current): ``(map, computed now)``."""
    path, settings, fingerprint = folder / MAP_FILE, map_settings(profile, seed), _fingerprint(what)
    if reuse and path.is_file():
        saved = read_json(path)
        if saved.get("settings") == settings and saved.get("what_fingerprint") == fingerprint:
            return dict(saved, map=np.asarray(saved["map"])), False
    if verbose:
        print(f"Measuring the What accuracy map ({len(settings['offsets'])}x{len(settings['offsets'])} shifts, "
              f"{settings['n_per_cell']} test digits a cell) into {path}")
    t0 = time.time()
    kwargs = {k: v for k, v in settings.items() if k != "contrast"}
    result = accuracy_map(what, contrast=tuple(settings["contrast"]), device=device, data_root=data_root,
                          batch_size=min(2500, max(256, settings["n_per_cell"])), progress=bool(progress), **kwargs)
    record = dict(result, map=np.asarray(result["map"]).tolist(), contrast=list(result["contrast"]),
                  settings=settings, what_fingerprint=fingerprint, seconds=round(time.time() - t0, 1))
    write_json(record, path)
    return dict(record, map=np.asarray(record["map"])), True


def load_what_map(run_dir: PathLike) -> dict:
    """The What accuracy map a two-stage run measured (``map`` as an ndarray), as :func:`accuracy_map` returns it."""
    saved = read_json(Path(run_dir) / MAP_FILE)
    return dict(saved, map=np.asarray(saved["map"]))


def _run(schedule: str, profile: str, out_dir: PathLike, *, auto: bool, resume: bool, overwrite: bool,
         progress, verbose, overrides: dict) -> Tuple[nn.Module, List[dict], bool]:
    if not is_two_stage(schedule):
        raise ValueError(f"schedule must be one of the two-stage schedules {list(TWO_STAGE)}, got {schedule!r}")
    check_profile(profile)
    out_dir = Path(out_dir)
    where_cfg = get_config(schedule, profile, **overrides)
    common = {k: overrides[k] for k in ("seed", "device", "data_root") if k in overrides}
    what_cfg = get_config(TWO_STAGE[schedule], profile, **common)
    device = resolve_device(where_cfg.device)
    if not (resume or overwrite or auto) and any((out_dir / name).exists() for name in (WHAT_DIR, "checkpoint.pt")):
        raise FileExistsError(f"{out_dir} holds a What/Where run: pass resume=True to continue it (--resume) "
                              f"or overwrite=True to start again (--overwrite)")
    times, cpu, load = {}, {}, [_load()]
    t0, c0 = time.time(), time.process_time()
    what, _, what_now = _stage(what_cfg, out_dir / WHAT_DIR, auto=auto, resume=resume, overwrite=overwrite,
                               progress=progress, verbose=verbose)
    times["what_s"], cpu["what_s"] = round(time.time() - t0, 1), round(time.process_time() - c0, 1)
    t0, c0 = time.time(), time.process_time()
    amap, map_now = _map_stage(what, out_dir, profile, where_cfg.seed, device, where_cfg.data_root,
                               reuse=(auto or resume) and not overwrite and not what_now, progress=progress,
                               verbose=verbose)
    times["map_s"], cpu["map_s"] = round(time.time() - t0, 1), round(time.process_time() - c0, 1)
    torch.manual_seed(where_cfg.seed)  # the Where net's initial weights
    fresh = build_model(where_cfg.model, **where_cfg.model_config).load_what(what, amap).to(device)
    stale = what_now or map_now or not _same_what(out_dir, fresh)
    t0, c0 = time.time(), time.process_time()
    model, history, where_now = _stage(where_cfg, out_dir, auto=auto, resume=resume, overwrite=overwrite,
                                       model=fresh, must_retrain=stale, progress=progress, verbose=verbose)
    times["where_s"], cpu["where_s"] = round(time.time() - t0, 1), round(time.process_time() - c0, 1)
    if what_now or map_now or where_now:
        times["total_s"] = round(sum(times.values()), 1)
        # CPU seconds of this process and the machine's load: how contended the wall times were
        write_json(dict(times, schedule=schedule, profile=profile, cpu_seconds=cpu, threads=torch.get_num_threads(),
                        load_average=load + [_load()], trained_now=dict(what=what_now, map=map_now, where=where_now)),
                   out_dir / "two_stage.json")
    return model, history, where_now


def _load() -> Optional[float]:
    """The machine's 1-minute load average (None where the system has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _same_what(out_dir: Path, fresh: nn.Module) -> bool:
    """Whether the Where run saved in ``out_dir`` (if any) holds this What net and map."""
    for name in ("model.pt", "checkpoint.pt"):
        if (out_dir / name).is_file():
            state = load_checkpoint(out_dir / name)["state_dict"]
            mine = fresh.state_dict()
            keys = [k for k in mine if k == "what_map" or k.startswith("what.")]
            return all(k in state and torch.equal(state[k].cpu(), mine[k].cpu()) for k in keys)
    return True


def fit_two_stage(schedule: str, profile: str, out_dir: PathLike, *, resume: bool = False, overwrite: bool = False,
                  progress: Optional[bool] = None, verbose: bool = True, **overrides) -> List[dict]:
    """Train a two-stage schedule into ``out_dir``: What run, accuracy map, then the Where run.

    Args:
        schedule: a key of :data:`TWO_STAGE` (``"whatwhere"``).
        profile: ``smoke``, ``quick`` or ``full`` (both stages and the map are sized by it).
        out_dir: the run folder (see the module docstring for its layout).
        resume: reuse the finished stages and continue an interrupted one.
        overwrite: retrain every stage.
        progress, verbose: as for :func:`~stnutils.training.loop.fit`.
        **overrides: :class:`~stnutils.training.config.TrainConfig` fields of the Where stage;
            ``seed``, ``device`` and ``data_root`` apply to the What stage too.

    Returns:
        the Where stage's history (one dict per epoch; ``test_acc``: accuracy after 1 saccade).

    Raises:
        FileExistsError: ``out_dir`` holds a run and neither ``resume`` nor ``overwrite``.
        ValueError: not a two-stage schedule, a bad profile or override.
    """
    return _run(schedule, profile, out_dir, auto=False, resume=resume, overwrite=overwrite, progress=progress,
                verbose=verbose, overrides=overrides)[1]


def trained_two_stage(schedule: str, profile: str, *, seed: int = 0, device: str = "cpu",
                      data_root: Optional[PathLike] = None, root: Optional[PathLike] = None,
                      train_missing: bool = True, progress: Optional[bool] = None, verbose: bool = True):
    """:func:`stnutils.training.trained_model` for a two-stage schedule: load it, or train what it lacks.

    Returns:
        a :class:`~stnutils.training.runs.TrainedRun` of the whole model (``history``: the Where stage's).

    Raises:
        FileNotFoundError: a stage is missing or stale and ``train_missing`` is False.
    """
    from .runs import TrainedRun, run_dir

    folder = run_dir(schedule, profile, seed, root)
    device = resolve_device(device)
    overrides = dict(seed=seed, device=device, data_root=None if data_root is None else os.fspath(data_root))
    if not train_missing:
        where_cfg = get_config(schedule, profile, **overrides)
        what_cfg = get_config(TWO_STAGE[schedule], profile, seed=seed, device=device, data_root=overrides["data_root"])
        states = {"What": _state(what_cfg, folder / WHAT_DIR), "Where": _state(where_cfg, folder)}
        bad = {k: why for k, (state, why) in states.items() if state != "done"}
        if bad:
            whys = "; ".join(f"{k} stage: {w}" for k, w in bad.items())
            raise FileNotFoundError(
                f"no trained {schedule!r} for profile {profile!r} in {folder} ({whys}). "
                f"Run `python -m stnutils train --schedule {schedule} --profile {profile} --seed {seed} --out {folder} "
                f"--resume` or call trained_model(..., train_missing=True)")
    model, history, now = _run(schedule, profile, folder, auto=True, resume=False, overwrite=False, progress=progress,
                               verbose=verbose, overrides=overrides)
    extra = load_checkpoint(folder / "model.pt")["extra"]
    return TrainedRun(model, history, folder, extra["config"], extra.get("provenance") or {}, now)


def whatwhere_rows(profile: str, *, seed: int = 0, device: str = "cpu", data_root: Optional[PathLike] = None,
                   n_per_cell: Optional[int] = None, max_saccades: int = 5, schedule: str = "whatwhere",
                   root: Optional[PathLike] = None, train_missing: bool = True, progress: bool = False,
                   test_seed: Optional[int] = None, **benchmark_kwargs) -> List[dict]:
    """Benchmark rows of this book's What/Where model: ``whatwhere_0 .. whatwhere_<k>``, oracle and random.

    Trains or loads the model (:func:`trained_two_stage`), then measures it on the
    benchmark grid with :func:`stnutils.evaluation.saccades.saccade_benchmark`; rows carry
    ``schedule``, ``seed``, ``train_scenes`` (the Where pathway's), ``train_device`` and
    ``train_commit`` like week 7's (:func:`~stnutils.evaluation.results.with_training`).

    Args:
        profile: the training profile (and the default test size: smoke 4, quick 400,
            full 1,000 scenes a cell, as week 7).
        n_per_cell: test scenes per (contrast, eccentricity), overriding the profile's.
        test_seed: seed of the test scenes (default: ``seed``, as week 9).
        max_saccades: rows for 0 .. ``max_saccades`` saccades.
        **benchmark_kwargs: passed to :func:`~stnutils.evaluation.saccades.saccade_benchmark`
            (``contrasts``, ``eccentricities``, ``batch_size``).
    """
    run = trained_two_stage(schedule, profile, seed=seed, device=device, data_root=data_root, root=root,
                            train_missing=train_missing, verbose=False)
    n = n_per_cell if n_per_cell is not None else {"smoke": 4, "quick": 400, "full": 1000}[profile]
    test_seed = seed if test_seed is None else test_seed
    rows = saccade_benchmark(run.model, "whatwhere", profile, n_per_cell=n, seed=test_seed,
                             device=resolve_device(device), data_root=data_root, max_saccades=max_saccades,
                             schedule=schedule, progress=progress, **benchmark_kwargs)
    return with_training(rows, run.config, run.provenance)  # train_scenes: the Where pathway's
