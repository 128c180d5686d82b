"""The benchmark's results files and the book's summary of them (week 7 and the results page).

Week 7 benchmarks the 128x128 models and writes ``results/benchmark_<profile>.json`` (one
file per profile, rows as :func:`stnutils.metrics.benchmark` makes them); the results page
reads it back with :func:`load_results`, which says which chapter writes it when it is
missing. :func:`summary_table` condenses the rows to one mean accuracy per model and
contrast, next to the seed's own version of the same model.

Example:
    >>> results_path("quick", root="results").as_posix()
    'results/benchmark_quick.json'
    >>> rows = [dict(model="atn", profile="quick", contrast=0.7, eccentricity=e, accuracy=a)
    ...         for e, a in ((4.44444444, 0.9), (40.0, 0.5))]
    >>> rec = summary_table(rows, contrasts=(0.7,))[0]
    >>> rec["model"], rec["mean"], rec["seed_model"], rec["seed_mean"]
    ('atn', [0.7], 'atn', [0.9531])
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

from ._validate import check_choice
from .metrics import BENCHMARK_CONTRASTS, read_results
from .provenance import check_profile

__all__ = [
    "RESULTS_DIR",
    "PRODUCER",
    "SEED_COUNTERPARTS",
    "results_path",
    "load_results",
    "rows_provenance",
    "summary_table",
]

#: Folder of the results files, relative to the repository root (where the book runs).
RESULTS_DIR = "results"
#: Environment variable that moves the results folder (set absolute by the book build).
RESULTS_ENV = "STNUTILS_RESULTS"
#: The chapter that writes the results files.
PRODUCER = "notebooks/week07_benchmark.ipynb"
#: This book's schedules and the seed model each one reproduces (the What pathway alone on
#: the central crop is the What/Where model with 0 saccades). fast_atn and fast_atn_aux are
#: not in the seed.
SEED_COUNTERPARTS: Dict[str, str] = {
    "lenet": "what_where_0_saccades",
    "stn128": "stn_128x128",
    "atn": "atn",
    "polo_atn": "polo_atn_95",
}

PathLike = Union[str, os.PathLike]


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


def _means(rows: Iterable[dict]) -> Dict[tuple, Dict[float, Dict[float, float]]]:
    """``{(model, profile): {contrast: {eccentricity: accuracy}}}``; later rows win."""
    out: Dict[tuple, Dict[float, Dict[float, float]]] = {}
    for r in rows:
        per = out.setdefault((str(r["model"]), str(r["profile"])), {})
        per.setdefault(round(float(r["contrast"]), 4), {})[round(float(r["eccentricity"]), 4)] = float(r["accuracy"])
    return out


def _mean(values: Dict[float, float], eccs: Optional[Iterable[float]] = None) -> Optional[float]:
    picked = [values[e] for e in (values if eccs is None else eccs) if e in values]
    return round(sum(picked) / len(picked), 4) if picked else None


def summary_table(
    rows: Iterable[dict],
    reference: Optional[Iterable[dict]] = None,
    counterparts: Optional[Dict[str, str]] = None,
    contrasts: Sequence[float] = BENCHMARK_CONTRASTS,
    fmt: str = "records",
    digits: int = 3,
) -> Union[List[dict], str]:
    """Mean accuracy over the eccentricities per model and contrast, beside the seed's version.

    The seed's mean is taken over the same eccentricities as the model's own, so a model
    measured at fewer eccentricities is compared fairly.

    Args:
        rows: benchmark rows of this book (:func:`stnutils.metrics.benchmark`).
        reference: the seed's rows (default: :func:`stnutils.reference.seed_rows`).
        counterparts: ``{model: seed model}`` (default :data:`SEED_COUNTERPARTS`).
        contrasts: the contrasts shown, in order.
        fmt: ``"records"`` or ``"markdown"`` (one line per model; the higher of the book's
            and the seed's mean in bold).
        digits: decimals in the Markdown table.

    Returns:
        ``"records"``: one dict per (model, profile) of ``rows``, in order of first
        appearance: ``{model, profile, contrasts, mean (list, None where not measured),
        seed_model (None without a counterpart), seed_mean (list or None)}``;
        ``"markdown"``: the same as a table.

    Example:
        >>> md = summary_table([dict(model="x", profile="quick", contrast=0.3, eccentricity=40.0,
        ...                          accuracy=0.5)], contrasts=(0.3,), fmt="markdown")
        >>> md.splitlines()[2]
        '| x | quick | 0.500 | – | – |'
    """
    check_choice("fmt", fmt, ("records", "markdown"))
    if reference is None:
        from .reference import seed_rows

        reference = seed_rows()
    counterparts = SEED_COUNTERPARTS if counterparts is None else counterparts
    contrasts = [round(float(c), 4) for c in contrasts]
    own, ref = _means(rows), _means(reference)
    seed_by_model = {model: per for (model, _), per in ref.items()}
    records = []
    for (model, profile), per in own.items():
        seed_model = counterparts.get(model)
        seed_per = seed_by_model.get(seed_model) if seed_model else None
        mean = [_mean(per[c]) if c in per else None for c in contrasts]
        seed_mean = None
        if seed_per is not None:
            seed_mean = [_mean(seed_per.get(c, {}), per[c]) if c in per else None for c in contrasts]
        records.append(dict(model=model, profile=profile, contrasts=list(contrasts), mean=mean,
                            seed_model=seed_model if seed_per is not None else None, seed_mean=seed_mean))
    if fmt == "records":
        return records
    return _summary_markdown(records, contrasts, digits)


def _summary_markdown(records: List[dict], contrasts: List[float], digits: int) -> str:
    from .reference import seed_label

    def cell(value, other):
        if value is None:
            return "–"
        text = f"{value:.{digits}f}"
        return f"**{text}**" if other is not None and value > other else text

    cs = [f"c = {c:g}" for c in contrasts]
    header = ["model", "profile"] + cs + ["the seed's version"] + [f"seed, {c}" for c in cs]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---", "---"] + ["---:"] * len(cs) + ["---"] + ["---:"] * len(cs)) + "|"]
    for r in records:
        seed = r["seed_mean"] or [None] * len(contrasts)
        own_cells = [cell(v, s) for v, s in zip(r["mean"], seed)]
        if r["seed_model"] is None:
            line = own_cells + ["–"] * (1 + len(contrasts))
        else:
            line = own_cells + [seed_label(r["seed_model"])] + [cell(s, v) for s, v in zip(seed, r["mean"])]
        lines.append("| " + " | ".join([r["model"], r["profile"]] + line) + " |")
    return "\n".join(lines) + "\n"
