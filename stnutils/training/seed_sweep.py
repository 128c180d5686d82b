"""Seed sweeps: the same schedule trained with several seeds, benchmarked on the same test scenes.

One seed on one machine is not a result (issue 14): the unsupervised recipes are fragile.
:func:`sweep` trains (or loads, through the shared runs folder) each ``(schedule, seed)``,
measures it on the 128x128 benchmark grid with the test scenes of ``test_seed`` (the same
for every training seed, so the spread is the training's), and merges its rows into one
results file, rewritten atomically after every run: a killed sweep keeps every run it
finished, and running it again skips nothing but retrains nothing either (the runs are
reused). :func:`stnutils.evaluation.results.aggregate_seeds` turns the rows into mean ± std.

Example (from the repository root; the book's results page reads the file)::

    python -m stnutils sweep --schedule heat_atn --schedule fast_atn_aux --profile quick \\
        --seeds 0 1 2 --out results/sweep_quick.json

:func:`map_sweep` is the same for the 28x28 task: each seed's accuracy map over the seed's
full grid of shifts (-27..27 px, every pixel), summarised as *central* and *general*
accuracy (``python -m stnutils sweep --accuracy-map ...``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import List, Optional, Sequence, Union

from ..evaluation.metrics import accuracy_map, benchmark
from ..evaluation.results import read_results, with_training, write_map_rows, write_results
from ..models.registry import input_size
from ..provenance import check_profile, describe_device, git_commit, resolve_device
from ..validation import check_choice
from .runs import trained_model
from .schedules import SCHEDULES
from .whatwhere import is_two_stage, whatwhere_rows

__all__ = ["sweep", "map_sweep", "TEST_SCENES", "MAP_DIGITS", "CENTRAL_DIGITS"]

#: Test scenes per (contrast, eccentricity) per profile, as weeks 7 and 9.
TEST_SCENES = {"smoke": 4, "quick": 400, "full": 1000}
#: Test digits per accuracy-map cell per profile; the map has 55 x 55 cells (smoke: 3 x 3).
MAP_DIGITS = {"smoke": 4, "quick": 40, "full": 200}
#: Test digits at the shift (0, 0) for the central accuracy, per profile: one map cell's
#: 40 digits would leave it ±0.05 uncertain, so it is measured on its own.
CENTRAL_DIGITS = {"smoke": 8, "quick": 2000, "full": 10000}
#: Shifts of the accuracy map per profile: the seed's full grid, every pixel of -27..27
#: (smoke: a 3 x 3 grid, seconds).
MAP_OFFSETS = {"smoke": [-27, 0, 27], "quick": list(range(-27, 28)), "full": list(range(-27, 28))}


def _seeds(seeds: Sequence[int]) -> List[int]:
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**63 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers in [0, 2**63), got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must not repeat, got {seeds!r}")
    return seeds


def _schedules(schedules: Sequence[str]) -> List[str]:
    schedules = [check_choice("schedule", s, list(SCHEDULES)) for s in schedules]
    if not schedules:
        raise ValueError("schedules must name at least one schedule, got an empty list")
    return schedules


def _check_n(n_per_cell, default: int) -> int:
    n = default if n_per_cell is None else n_per_cell
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n_per_cell must be a positive integer, got {n_per_cell!r}")
    return n


def sweep(
    schedules: Sequence[str],
    profile: str,
    seeds: Sequence[int],
    out: Union[str, os.PathLike],
    *,
    device: str = "cpu",
    data_root: Optional[Union[str, os.PathLike]] = None,
    runs_root: Optional[Union[str, os.PathLike]] = None,
    n_per_cell: Optional[int] = None,
    test_seed: int = 0,
    eccentricities: Optional[Sequence[float]] = None,
    verbose: bool = True,
) -> List[dict]:
    """Train and benchmark every ``(schedule, seed)``; merge the rows into the results file ``out``.

    Args:
        schedules: names of :data:`~stnutils.training.schedules.SCHEDULES` (128x128 or 28x28
            models: a 28x28 one classifies the central patch; ``whatwhere`` gives its
            ``whatwhere_<k>``, oracle and random rows).
        profile: ``smoke``, ``quick`` or ``full``.
        seeds: training seeds (weights, scenes, order), distinct.
        out: the results file; rows already there for another ``(schedule, profile, seed)``
            are kept, those of a swept one are replaced.
        device, data_root: as for :func:`~stnutils.training.runs.trained_model`.
        runs_root: the runs folder (default ``$STNUTILS_RUNS``, else ``./runs``): seed 0 of
            a schedule the book already trained is loaded, not trained again.
        n_per_cell: test scenes per cell (default :data:`TEST_SCENES` of the profile).
        test_seed: seed of the test scenes, the same for every training seed.
        eccentricities: a subset of the benchmark's (default: all nine).

    Returns:
        every row of ``out`` after the sweep (each with ``schedule``, ``seed``,
        ``train_scenes``, ``train_device``, ``train_commit``, ``test_seed``).

    Raises:
        ValueError: an unknown schedule or profile, bad seeds or ``n_per_cell``.
    """
    check_profile(profile)
    schedules = _schedules(schedules)
    seeds = _seeds(seeds)
    n = _check_n(n_per_cell, TEST_SCENES[profile])
    out = Path(out)
    rows = read_results(out) if out.is_file() else []
    grid = {} if eccentricities is None else {"eccentricities": list(eccentricities)}
    for schedule in schedules:
        for seed in seeds:
            t0 = time.time()
            if is_two_stage(schedule):
                new = whatwhere_rows(profile, seed=seed, device=device, data_root=data_root, n_per_cell=n,
                                     schedule=schedule, root=runs_root, test_seed=test_seed, **grid)
            else:
                run = trained_model(schedule, profile, seed=seed, device=device, data_root=data_root,
                                    root=runs_root, verbose=verbose)
                new = with_training(benchmark(run.model, schedule, profile, n_per_cell=n, seed=test_seed,
                                              device=device, data_root=data_root,
                                              input_size=input_size(run.config["model"]), **grid),
                                    run.config, run.provenance, run.history)
            swept = {(r["schedule"], r["profile"], r["seed"]) for r in new}
            rows = [r for r in rows if (r.get("schedule"), r.get("profile"), r.get("seed")) not in swept] + new
            write_results(rows, out)
            if verbose:
                print(f"sweep: {schedule} seed {seed} ({profile}): {len(new)} rows in {time.time() - t0:.0f} s "
                      f"-> {out}")
    return rows


def map_sweep(
    schedules: Sequence[str],
    profile: str,
    seeds: Sequence[int],
    out: Union[str, os.PathLike],
    *,
    device: str = "cpu",
    data_root: Optional[Union[str, os.PathLike]] = None,
    runs_root: Optional[Union[str, os.PathLike]] = None,
    n_per_cell: Optional[int] = None,
    test_seed: int = 0,
    contrast: float = 0.7,
    verbose: bool = True,
) -> List[dict]:
    """Train every ``(schedule, seed)`` of a 28x28 schedule and measure its accuracy map.

    The map covers the seed's grid (every shift of -27..27 px, :data:`MAP_OFFSETS`), the
    same digits and backgrounds (``test_seed``) in every cell and for every run; the central
    accuracy is measured apart, on the first :data:`CENTRAL_DIGITS` test digits at (0, 0).
    One row per run, merged into ``out`` as :func:`sweep` does (rewritten atomically after
    every run).

    Args:
        schedules: 28x28 schedules (``lenet``, ``stn28``, ``stn28_loc``, ...).
        profile, seeds, out, device, data_root, runs_root, test_seed: as for :func:`sweep`.
        n_per_cell: test digits per cell (default :data:`MAP_DIGITS` of the profile).
        contrast: digit contrast of the map, in (0, 1] (week 2: 0.7).

    Returns:
        every row of ``out`` after the sweep: ``model``, ``schedule``, ``profile``,
        ``device``, ``commit``, ``seed``, ``test_seed``, ``contrast``, ``n`` (digits a cell),
        ``cells``, ``offsets`` (first, last, step), ``central`` (on ``central_n`` digits),
        ``general`` (the mean of the map), ``map_central`` (the map's own (0, 0) cell) and the
        ``train_*`` keys of :func:`~stnutils.evaluation.results.with_training`.

    Raises:
        ValueError: an unknown schedule or profile, a schedule whose model is not 28x28,
            bad seeds or ``n_per_cell``.
    """
    check_profile(profile)
    schedules = _schedules(schedules)
    wrong = [s for s in schedules if is_two_stage(s) or input_size(SCHEDULES[s]["model"]) != 28]
    if wrong:
        raise ValueError(f"the accuracy map is for 28x28 schedules; {wrong} are not (use sweep for the benchmark)")
    seeds = _seeds(seeds)
    n = _check_n(n_per_cell, MAP_DIGITS[profile])
    offsets = MAP_OFFSETS[profile]
    out = Path(out)
    rows = read_results(out) if out.is_file() else []
    device_name, commit = describe_device(resolve_device(device)), git_commit()
    for schedule in schedules:
        for seed in seeds:
            t0 = time.time()
            run = trained_model(schedule, profile, seed=seed, device=device, data_root=data_root,
                                root=runs_root, verbose=verbose)
            measure = dict(seed=test_seed, contrast=contrast, device=device, data_root=data_root)
            amap = accuracy_map(run.model, offsets=offsets, n_per_cell=n, progress=verbose, **measure)
            central_n = CENTRAL_DIGITS[profile]
            central = accuracy_map(run.model, offsets=[0], n_per_cell=central_n, **measure)["central"]
            row = dict(model=run.config["model"], profile=profile, device=device_name,
                       commit=commit, test_seed=test_seed, contrast=contrast, n=n,
                       cells=len(offsets) ** 2, offsets=[offsets[0], offsets[-1], offsets[1] - offsets[0]],
                       central=central, central_n=central_n, general=amap["general"],
                       map_central=amap["central"])
            new = with_training([row], run.config, run.provenance, run.history)
            rows = [r for r in rows if (r.get("schedule"), r.get("profile"), r.get("seed")) !=
                    (schedule, profile, seed)] + new
            write_map_rows(rows, out)
            if verbose:
                print(f"map sweep: {schedule} seed {seed} ({profile}): central {central:.3f}, "
                      f"general {amap['general']:.3f} in {time.time() - t0:.0f} s -> {out}")
    return rows
