"""Results files and the one way to group benchmark rows.

A benchmark row is a dict with at least :data:`ROW_KEYS` (see
:func:`stnutils.evaluation.metrics.benchmark`). Week 7 writes the rows of a profile to
``results/benchmark_<profile>.json`` with :func:`write_results` (atomically); the results
page reads them back with :func:`load_results`, which names the chapter that writes them
when the file is missing. :func:`group_rows` is how every table and figure groups rows:
one rounding rule for contrasts and eccentricities (:func:`contrast_key`,
:func:`eccentricity_key`), later rows replacing earlier ones.

Example:
    >>> results_path("quick", root="results").as_posix()
    'results/benchmark_quick.json'
    >>> rows = [dict(model="atn", profile="quick", contrast=0.7, eccentricity=40.0, accuracy=0.5),
    ...         dict(model="atn", profile="quick", contrast=0.7, eccentricity=40.00000001, accuracy=0.6)]
    >>> group_rows(rows)
    {('atn', 'quick'): {0.7: {40.0: 0.6}}}
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ..io import read_json, write_json
from ..provenance import check_profile
from ..validation import check_choice

__all__ = [
    "ROW_KEYS",
    "RESULTS_DIR",
    "RESULTS_ENV",
    "PRODUCER",
    "RESULT_KINDS",
    "contrast_key",
    "eccentricity_key",
    "group_rows",
    "aggregate_seeds",
    "write_results",
    "MAP_ROW_KEYS",
    "write_map_rows",
    "aggregate_maps",
    "read_results",
    "results_path",
    "load_results",
    "rows_provenance",
    "with_training",
]

#: The keys of a benchmark row.
ROW_KEYS = ("model", "profile", "device", "commit", "contrast", "eccentricity", "accuracy", "n")
#: Folder of the results files, relative to the repository root (where the book runs).
RESULTS_DIR = "results"
#: Environment variable that moves the results folder (set absolute by the book build).
RESULTS_ENV = "STNUTILS_RESULTS"
#: The chapter that writes the results files.
PRODUCER = "notebooks/week07_benchmark.ipynb"

PathLike = Union[str, os.PathLike]


def contrast_key(value) -> float:
    """A contrast as rows are grouped and compared: rounded to 4 decimals."""
    return round(float(value), 4)


def eccentricity_key(value) -> float:
    """An eccentricity (px) as rows are grouped: 4 decimals (the seed file stores 8, linspace 15)."""
    return round(float(value), 4)


def group_rows(rows: Iterable[dict], value: str = "accuracy") -> Dict[Tuple[str, str], Dict[float, Dict[float, float]]]:
    """``{(model, profile): {contrast: {eccentricity: row[value]}}}``, keys rounded; later rows win.

    Models and profiles keep the order in which they first appear; rows without ``value``
    (or with ``None``) are left out, so ``value="std"`` groups the spreads of aggregated rows.
    """
    out: Dict[Tuple[str, str], Dict[float, Dict[float, float]]] = {}
    for row in rows:
        if row.get(value) is None:
            continue
        per = out.setdefault((str(row["model"]), str(row["profile"])), {})
        by_ecc = per.setdefault(contrast_key(row["contrast"]), {})
        by_ecc[eccentricity_key(row["eccentricity"])] = float(row[value])
    return out


def aggregate_seeds(rows: Iterable[dict]) -> List[dict]:
    """Rows of several training seeds -> one row per (model, profile, contrast, eccentricity).

    Rows of one cell are told apart by their ``"seed"`` (the training seed; a row without
    one counts as its own seed ``None``); when a seed appears twice in a cell the later row
    wins, as in :func:`group_rows`. Rows aggregated already (with ``n_seeds``) pass as they
    are, so aggregating twice changes nothing.

    Returns:
        rows in the input's order of first appearance, each the first row of its cell with
        ``accuracy`` = the mean over the seeds, ``std`` = their sample standard deviation
        (None for one seed), ``seeds`` (sorted, as strings for None-safety kept as given),
        ``n_seeds`` and ``accuracies`` (per seed, in ``seeds`` order).

    Example:
        >>> rows = [dict(model="m", profile="quick", contrast=0.7, eccentricity=40.0, accuracy=a, seed=s)
        ...         for s, a in ((0, 0.8), (1, 0.9), (2, 1.0))]
        >>> r = aggregate_seeds(rows)[0]
        >>> round(r["accuracy"], 6), round(r["std"], 6), r["seeds"], r["n_seeds"]
        (0.9, 0.1, [0, 1, 2], 3)
        >>> aggregate_seeds(aggregate_seeds(rows)) == aggregate_seeds(rows)
        True
    """
    cells: Dict[tuple, dict] = {}
    for row in rows:
        key = (str(row["model"]), str(row["profile"]), contrast_key(row["contrast"]),
               eccentricity_key(row["eccentricity"]))
        if "n_seeds" in row:
            cells[key] = {"aggregated": row}
            continue
        cell = cells.setdefault(key, {"first": row, "by_seed": {}})
        cell["by_seed"][row.get("seed")] = float(row["accuracy"])
    out = []
    for cell in cells.values():
        if "aggregated" in cell:
            out.append(cell["aggregated"])
            continue
        seeds = sorted(cell["by_seed"], key=lambda s: (s is None, s if s is not None else 0))
        values = [cell["by_seed"][s] for s in seeds]
        mean, std = _mean_std(values)
        out.append(dict(cell["first"], accuracy=mean, std=std, seeds=seeds, n_seeds=len(values), accuracies=values))
    return out


def _mean_std(values: List[float]) -> Tuple[float, Optional[float]]:
    """The mean and the sample standard deviation (None for one value) of ``values``."""
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else None
    return mean, std


def _check_rows(rows: List[dict], keys: Sequence[str], what: str) -> None:
    """Raise ValueError for a row that is not a dict or lacks one of ``keys`` (``what``: "rows", ...)."""
    for k, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"rows must be dicts, got {type(row).__name__} at position {k}")
        missing = [key for key in keys if key not in row]
        if missing:
            raise ValueError(f"{what} must have the keys {list(keys)}; row {k} lacks {missing}")


def write_results(rows: List[dict], path: Union[str, os.PathLike]) -> Path:
    """Write benchmark rows to ``path`` as a JSON list, atomically.

    The rows go to a temporary file in the same folder, which then replaces ``path``
    (``os.replace``): a crash mid-way leaves the previous file as it was.

    Args:
        rows: dicts with at least the keys of :data:`ROW_KEYS`.
        path: the JSON file (its folder is created if missing).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ValueError: a row that is not a dict or lacks a key of :data:`ROW_KEYS`.
    """
    rows = list(rows)
    _check_rows(rows, ROW_KEYS, "rows")
    return write_json(rows, path)


#: The keys of an accuracy-map row (:func:`stnutils.training.seed_sweep.map_sweep`).
MAP_ROW_KEYS = ("model", "profile", "device", "commit", "central", "general", "n", "cells")


def write_map_rows(rows: List[dict], path: Union[str, os.PathLike]) -> Path:
    """Write accuracy-map rows (one per trained run) to ``path``, atomically, as :func:`write_results`.

    Raises:
        ValueError: a row that is not a dict or lacks a key of :data:`MAP_ROW_KEYS`.
    """
    rows = list(rows)
    _check_rows(rows, MAP_ROW_KEYS, "accuracy-map rows")
    return write_json(rows, path)


def aggregate_maps(rows: Iterable[dict]) -> List[dict]:
    """Mean and sample std of ``central`` and ``general`` over the seeds of each ``(schedule, profile)``.

    Returns one dict per group, in the order groups first appear: ``schedule``, ``model``,
    ``profile``, ``n_seeds``, ``seeds``, ``central``/``general`` (means),
    ``central_std``/``general_std`` (None for one seed), ``cells``, ``n``.

    Example:
        >>> rows = [dict(schedule="stn28", model="stn28", profile="quick", seed=s, central=c, general=g,
        ...              cells=3025, n=40) for s, c, g in [(0, 0.9, 0.40), (1, 0.8, 0.42)]]
        >>> a = aggregate_maps(rows)[0]
        >>> a["n_seeds"], round(a["central"], 3), round(a["general"], 3), round(a["general_std"], 4)
        (2, 0.85, 0.41, 0.0141)
    """
    groups: Dict[tuple, List[dict]] = {}
    for row in rows:
        groups.setdefault((row.get("schedule", row["model"]), row["profile"]), []).append(row)
    out = []
    for (schedule, profile), members in groups.items():
        agg = dict(schedule=schedule, model=members[0]["model"], profile=profile, n_seeds=len(members),
                   seeds=[m.get("seed") for m in members], cells=members[0]["cells"], n=members[0]["n"])
        for key in ("central", "general"):
            agg[key], agg[f"{key}_std"] = _mean_std([float(m[key]) for m in members])
        out.append(agg)
    return out


def read_results(path: Union[str, os.PathLike]) -> List[dict]:
    """Rows written by :func:`write_results` (a JSON list; ``{"rows": [...]}`` also accepted)."""
    data = read_json(path)
    if isinstance(data, dict) and "rows" in data:
        data = data["rows"]
    if not isinstance(data, list):
        raise ValueError(f"{path} must hold a JSON list of rows, got {type(data).__name__}")
    return data


#: The results files, ``<kind>_<profile>.json``, and what writes each.
RESULT_KINDS = {
    "benchmark": f"week 7, {PRODUCER}: `python scripts/run_notebooks.py --profile {{profile}} --only week07_benchmark`",
    "whatwhere": "week 9, notebooks/week09_whatwhere.ipynb: "
                 "`python scripts/run_notebooks.py --profile {profile} --only week09_whatwhere`",
    "sweep": "the seed sweep: `python -m stnutils sweep --profile {profile} --seeds 0 1 2 "
             "--out results/sweep_{profile}.json` (README, Results)",
    "accuracy_map": "the 28x28 seed sweep: `python -m stnutils sweep --accuracy-map --schedule stn28_loc "
                    "--schedule stn28 --schedule lenet --profile {profile} --seeds 0 1 2 "
                    "--out results/accuracy_map_{profile}.json` (README, Results)",
}


def results_path(profile: str, root: Optional[PathLike] = None, kind: str = "benchmark") -> Path:
    """``<root>/<kind>_<profile>.json``; ``root`` defaults to ``$STNUTILS_RESULTS``, else
    ``results`` (relative). The book build sets the variable to an absolute folder, because
    nbval runs each notebook's kernel in the notebook's own folder.

    Raises:
        ValueError: an unknown profile or kind (:data:`RESULT_KINDS`).
    """
    check_profile(profile)
    check_choice("kind", kind, RESULT_KINDS)
    if root is None:
        root = os.environ.get(RESULTS_ENV) or RESULTS_DIR
    return Path(root) / f"{kind}_{profile}.json"


def load_results(profile: str, root: Optional[PathLike] = None, kind: str = "benchmark") -> List[dict]:
    """The rows of ``profile``'s results file of ``kind``, or an error naming what writes it.

    Raises:
        FileNotFoundError: no such results file; the message names the chapter or command
            that writes it (:data:`RESULT_KINDS`).
        ValueError: an unknown profile or kind, or a file that holds no rows.
    """
    path = results_path(profile, root, kind)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: it is written by {RESULT_KINDS[kind].format(profile=profile)}; "
            f"run it at the same profile first")
    rows = read_results(path)
    if not rows:
        raise ValueError(f"{path} must hold at least one benchmark row, got an empty list")
    return rows


def with_training(rows: Iterable[dict], config: dict, provenance: dict,
                  history: Optional[Sequence[dict]] = None) -> List[dict]:
    """``rows`` with what trained their model: ``schedule``, ``seed`` (the training seed),
    ``train_scenes``, ``train_device``, ``train_commit`` and, given the run's ``history``,
    ``train_seconds`` (the sum of its epochs' wall times, seconds).

    Args:
        config: the run's TrainConfig dict (``schedule``, ``seed``, ``epochs``, ``samples_per_epoch``).
        provenance: the run's provenance (``device``, ``git_commit``).
        history: the run's epochs (each with ``seconds``), or None.

    Example:
        >>> cfg = dict(schedule="atn", seed=2, epochs=3, samples_per_epoch=100)
        >>> r = with_training([dict(model="atn", accuracy=0.5)], cfg, dict(device="cpu", git_commit="abc"))[0]
        >>> r["schedule"], r["seed"], r["train_scenes"], r["train_device"], r["train_commit"]
        ('atn', 2, 300, 'cpu', 'abc')
        >>> with_training([{}], cfg, {}, history=[{"seconds": 1.5}, {"seconds": 2.0}])[0]["train_seconds"]
        3.5
    """
    trained = dict(schedule=config["schedule"], seed=config["seed"],
                   train_scenes=int(config["epochs"]) * int(config["samples_per_epoch"]),
                   train_device=provenance.get("device"), train_commit=provenance.get("git_commit"))
    if history:
        trained["train_seconds"] = round(sum(float(h["seconds"]) for h in history), 1)
    return [dict(row, **trained) for row in rows]


def rows_provenance(rows: Iterable[dict]) -> Dict[str, list]:
    """The distinct ``model``, ``profile``, ``device``, ``commit`` and ``n`` of ``rows``.

    Returns:
        ``{key: sorted list of distinct values}`` (models in order of first appearance).

    Example:
        >>> rows_provenance([dict(model="b", profile="quick", device="cpu", commit="abc", n=5),
        ...                  dict(model="a", profile="quick", device="cpu", commit="abc", n=5)])["model"]
        ['b', 'a']
    """
    rows = list(rows)
    out: Dict[str, list] = {"model": list(dict.fromkeys(str(r["model"]) for r in rows))}
    for key in ("profile", "device", "commit", "n"):
        out[key] = sorted({r.get(key) for r in rows}, key=str)
    return out
