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
from typing import Dict, Iterable, List, Optional, Tuple, Union

from ..io import read_json, write_json
from ..provenance import check_profile

__all__ = [
    "ROW_KEYS",
    "RESULTS_DIR",
    "RESULTS_ENV",
    "PRODUCER",
    "contrast_key",
    "eccentricity_key",
    "group_rows",
    "write_results",
    "read_results",
    "results_path",
    "load_results",
    "rows_provenance",
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


def group_rows(rows: Iterable[dict]) -> Dict[Tuple[str, str], Dict[float, Dict[float, float]]]:
    """``{(model, profile): {contrast: {eccentricity: accuracy}}}``, keys rounded; later rows win.

    Models and profiles keep the order in which they first appear.
    """
    out: Dict[Tuple[str, str], Dict[float, Dict[float, float]]] = {}
    for row in rows:
        per = out.setdefault((str(row["model"]), str(row["profile"])), {})
        by_ecc = per.setdefault(contrast_key(row["contrast"]), {})
        by_ecc[eccentricity_key(row["eccentricity"])] = float(row["accuracy"])
    return out


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
    for k, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"rows must be dicts, got {type(row).__name__} at position {k}")
        missing = [key for key in ROW_KEYS if key not in row]
        if missing:
            raise ValueError(f"rows must have the keys {list(ROW_KEYS)}; row {k} lacks {missing}")
    return write_json(rows, path)


def read_results(path: Union[str, os.PathLike]) -> List[dict]:
    """Rows written by :func:`write_results` (a JSON list; ``{"rows": [...]}`` also accepted)."""
    data = read_json(path)
    if isinstance(data, dict) and "rows" in data:
        data = data["rows"]
    if not isinstance(data, list):
        raise ValueError(f"{path} must hold a JSON list of rows, got {type(data).__name__}")
    return data


def results_path(profile: str, root: Optional[PathLike] = None) -> Path:
    """``<root>/benchmark_<profile>.json``; ``root`` defaults to ``$STNUTILS_RESULTS``, else
    ``results`` (relative). The book build sets the variable to an absolute folder, because
    nbval runs each notebook's kernel in the notebook's own folder.

    Raises:
        ValueError: an unknown profile.
    """
    check_profile(profile)
    if root is None:
        root = os.environ.get(RESULTS_ENV) or RESULTS_DIR
    return Path(root) / f"benchmark_{profile}.json"


def load_results(profile: str, root: Optional[PathLike] = None) -> List[dict]:
    """The benchmark rows of ``profile``, or an error naming the chapter that writes them.

    Raises:
        FileNotFoundError: no results file for ``profile``; the message names
            :data:`PRODUCER` and the command that runs it.
        ValueError: an unknown profile, or a file that holds no rows.
    """
    path = results_path(profile, root)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: it is written by week 7, {PRODUCER}. Run that chapter at the "
            f"same profile first: `python scripts/run_notebooks.py --profile {profile} --only week07_benchmark`")
    rows = read_results(path)
    if not rows:
        raise ValueError(f"{path} must hold at least one benchmark row, got an empty list")
    return rows


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
