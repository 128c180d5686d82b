"""The book's tables of benchmark rows: every cell beside the seed's, and the means per contrast.

Both group rows with :func:`stnutils.evaluation.results.group_rows` (one rounding rule).

Example:
    >>> rows = [dict(model="a", profile="quick", contrast=0.7, eccentricity=40.0, accuracy=0.9),
    ...         dict(model="b", profile="quick", contrast=0.7, eccentricity=40.0, accuracy=0.8)]
    >>> [r["best"] for r in results_table(rows, reference=[])]
    [[True], [False]]
    >>> rows = [dict(model="atn", profile="quick", contrast=0.7, eccentricity=e, accuracy=a)
    ...         for e, a in ((4.44444444, 0.9), (40.0, 0.5))]
    >>> rec = summary_table(rows, contrasts=(0.7,))[0]
    >>> rec["model"], rec["mean"], rec["seed_model"], rec["seed_mean"]
    ('atn', [0.7], 'atn', [0.9531])
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Union

from ..models.registry import REGISTRY
from ..validation import check_choice
from .metrics import BENCHMARK_CONTRASTS
from .reference import SEED_ACCURACY_MAP, seed_label, seed_rows
from .results import aggregate_maps, aggregate_seeds, contrast_key, eccentricity_key, group_rows

__all__ = ["SEED_COUNTERPARTS", "results_table", "summary_table", "compute_summary", "target_gaps", "describe_gaps",
           "map_table"]

#: This book's models and the seed model each one reproduces on the benchmark (from the
#: registry: the What pathway alone on the central patch is the What/Where model with 0
#: saccades). Rows of other schedules (fast_atn_aux, ...) have no counterpart.
SEED_COUNTERPARTS: Dict[str, str] = {name: spec.seed_benchmark for name, spec in REGISTRY.items()
                                     if spec.seed_benchmark}


def _lines(rows: Iterable[dict], source: str) -> Dict[tuple, dict]:
    """``{(model, profile, contrast): {"source", "values": {eccentricity: accuracy}, "std": {...}}}``."""
    rows = list(rows)
    spread = group_rows(rows, "std")
    return {(model, profile, c): {"source": source, "values": values,
                                  "std": spread.get((model, profile), {}).get(c, {})}
            for (model, profile), per in group_rows(rows).items() for c, values in per.items()}


def results_table(
    rows: Iterable[dict],
    reference: Optional[Iterable[dict]] = None,
    fmt: str = "records",
    digits: int = 3,
) -> Union[List[dict], str]:
    """Every model's accuracy per contrast x eccentricity, next to the seed, best marked.

    Args:
        rows: benchmark rows (:func:`~stnutils.evaluation.metrics.benchmark`,
            :func:`~stnutils.evaluation.results.read_results`). Rows repeating a
            (model, profile, contrast, eccentricity) replace the earlier ones; rows of
            several seeds go through :func:`~stnutils.evaluation.results.aggregate_seeds`
            first, and their ``std`` is shown as ``mean ± std``.
        reference: rows shown alongside (default ``None``: the seed's published numbers,
            :func:`stnutils.evaluation.reference.seed_rows`; ``[]`` for none).
        fmt: ``"records"`` (a list of dicts) or ``"markdown"`` (a string, one table per
            contrast, best values in bold).
        digits: decimals in the Markdown table.

    Returns:
        ``"records"``: one dict per (contrast, model, profile), contrasts ascending, this
        book's lines first: ``{contrast, model, profile, source ("this book"|"reference"),
        eccentricities (list, px), accuracy (list, None where not measured), std (list,
        None where the rows have none), mean (over measured cells), best (list of bool: the
        highest accuracy in its contrast and eccentricity column, ties all marked),
        best_mean (bool)}``.
        ``"markdown"``: the same as Markdown.
    """
    check_choice("fmt", fmt, ("records", "markdown"))
    if reference is None:
        reference = seed_rows()
    own = _lines(aggregate_seeds(rows), "this book")  # several training seeds: their mean and std
    ref = _lines(reference, "reference")
    for key in own:
        ref.pop(key, None)  # a reference line with the very same name is shadowed
    lines = {**own, **ref}
    eccs = sorted({e for line in lines.values() for e in line["values"]})
    records: List[dict] = []
    for contrast in sorted({key[2] for key in lines}):
        block = [(key, line) for key, line in lines.items() if key[2] == contrast]
        columns = {e: [line["values"].get(e) for _, line in block] for e in eccs}
        best_of = {e: max((v for v in vals if v is not None), default=None) for e, vals in columns.items()}
        means = []
        for _, line in block:
            measured = [line["values"][e] for e in eccs if e in line["values"]]
            means.append(sum(measured) / len(measured) if measured else None)
        best_mean = max((m for m in means if m is not None), default=None)
        for ((model, profile, _), line), mean in zip(block, means):
            accuracy = [line["values"].get(e) for e in eccs]
            records.append(
                {
                    "contrast": contrast,
                    "model": model,
                    "profile": profile,
                    "source": line["source"],
                    "eccentricities": list(eccs),
                    "accuracy": accuracy,
                    "std": [line["std"].get(e) for e in eccs],
                    "mean": mean,
                    "best": [v is not None and v == best_of[e] for v, e in zip(accuracy, eccs)],
                    "best_mean": mean is not None and mean == best_mean,
                }
            )
    if fmt == "records":
        return records
    return _markdown(records, eccs, digits)


def _markdown(records: List[dict], eccs: List[float], digits: int) -> str:
    def cell(value, best, std=None):
        if value is None:
            return "–"
        text = f"{value:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")
        return f"**{text}**" if best else text

    header = ["model", "profile"] + [f"{e:.1f} px" for e in eccs] + ["mean"]
    parts = []
    for contrast in sorted({r["contrast"] for r in records}):
        parts.append(f"**Contrast {contrast:g}** (accuracy; best per column in bold; chance 0.1)\n")
        parts.append("| " + " | ".join(header) + " |")
        parts.append("|" + "|".join(["---", "---"] + ["---:"] * (len(eccs) + 1)) + "|")
        for r in records:
            if r["contrast"] != contrast:
                continue
            values = [cell(v, b, s) for v, b, s in zip(r["accuracy"], r["best"], r["std"])]
            parts.append(
                "| " + " | ".join([r["model"], r["profile"]] + values + [cell(r["mean"], r["best_mean"])]) + " |"
            )
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


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
        rows: benchmark rows of this book (:func:`stnutils.evaluation.metrics.benchmark`).
        reference: the seed's rows (default: :func:`stnutils.evaluation.reference.seed_rows`).
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
        reference = seed_rows()
    counterparts = SEED_COUNTERPARTS if counterparts is None else counterparts
    contrasts = [contrast_key(c) for c in contrasts]
    own, ref = group_rows(rows), group_rows(reference)
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


def compute_summary(rows: Iterable[dict], scenes: Optional[Dict[str, int]] = None,
                    contrasts: Sequence[float] = BENCHMARK_CONTRASTS) -> List[dict]:
    """Mean accuracy over the eccentricities against the training scenes, per model and contrast.

    For rows of several training seeds (their ``"seed"``), the mean over the eccentricities
    is taken per seed first, and ``std`` is the sample standard deviation of those means.

    Args:
        rows: benchmark rows; the training scenes come from their ``"train_scenes"`` unless
            ``scenes`` names them.
        scenes: ``{model: training scenes}`` (e.g. :data:`stnutils.evaluation.reference.SEED_TRAINING_SCENES`
            for the seed's rows); overrides the rows' ``"train_scenes"``.
        contrasts: the contrasts reported, in order.

    Returns:
        one dict per (model, profile) in order of first appearance: ``{model, profile,
        train_scenes (None if unknown), contrasts, mean (list), std (list, None for one seed),
        n_seeds}``.

    Example:
        >>> rows = [dict(model="m", profile="quick", contrast=0.7, eccentricity=e, accuracy=a, seed=s,
        ...              train_scenes=1000) for s, a in ((0, 0.5), (1, 0.7)) for e in (4.4, 40.0)]
        >>> r = compute_summary(rows, contrasts=(0.7,))[0]
        >>> r["train_scenes"], [round(v, 3) for v in r["mean"]], [round(v, 3) for v in r["std"]], r["n_seeds"]
        (1000, [0.6], [0.141], 2)
    """
    contrasts = [contrast_key(c) for c in contrasts]
    per: Dict[tuple, dict] = {}
    for row in rows:
        key = (str(row["model"]), str(row["profile"]))
        entry = per.setdefault(key, {"scenes": row.get("train_scenes"), "cells": {}})
        entry["cells"].setdefault((row.get("seed"), contrast_key(row["contrast"])), []).append(float(row["accuracy"]))
    out = []
    for (model, profile), entry in per.items():
        seeds = sorted({s for s, _ in entry["cells"]}, key=lambda s: (s is None, s if s is not None else 0))
        means, stds = [], []
        for c in contrasts:
            values = [sum(v) / len(v) for (s, cc), v in entry["cells"].items() if cc == c]
            mean = sum(values) / len(values) if values else None
            means.append(mean)
            stds.append((sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else None)
        train_scenes = (scenes or {}).get(model, entry["scenes"])
        out.append(dict(model=model, profile=profile, train_scenes=train_scenes, contrasts=list(contrasts),
                        mean=means, std=stds, n_seeds=len(seeds)))
    return out


def target_gaps(rows: Iterable[dict], model: str, target: Union[Iterable[dict], Dict[float, float]]) -> List[dict]:
    """``model``'s accuracy minus a target, cell by cell (over its seeds' mean where there are several).

    Args:
        rows: benchmark rows holding ``model`` (one profile).
        model: the model whose cells are compared.
        target: the rows of a reference model (compared at the cells both measured), or
            ``{contrast: accuracy}``, one threshold per contrast for every eccentricity.

    Returns:
        one record per compared cell, contrasts then eccentricities ascending:
        ``{contrast, eccentricity, accuracy, target, gap}`` (``gap < 0``: the target is missed).

    Example:
        >>> rows = [dict(model="m", profile="quick", contrast=0.7, eccentricity=e, accuracy=a)
        ...         for e, a in ((4.4, 0.97), (40.0, 0.90))]
        >>> [round(g["gap"], 2) for g in target_gaps(rows, "m", {0.7: 0.95})]
        [0.02, -0.05]
    """
    mine = [r for r in aggregate_seeds(rows) if r["model"] == model]
    if not mine:
        raise ValueError(f"model must be one of the rows' models, got {model!r}")
    if isinstance(target, dict):
        wanted = {contrast_key(c): float(v) for c, v in target.items()}
        goal = {(contrast_key(r["contrast"]), eccentricity_key(r["eccentricity"])): wanted[contrast_key(r["contrast"])]
                for r in mine if contrast_key(r["contrast"]) in wanted}
    else:
        goal = {(contrast_key(r["contrast"]), eccentricity_key(r["eccentricity"])): float(r["accuracy"])
                for r in aggregate_seeds(target)}
    out = []
    for r in mine:
        key = (contrast_key(r["contrast"]), eccentricity_key(r["eccentricity"]))
        if key in goal:
            out.append(dict(contrast=key[0], eccentricity=key[1], accuracy=float(r["accuracy"]), target=goal[key],
                            gap=float(r["accuracy"]) - goal[key]))
    return sorted(out, key=lambda g: (g["contrast"], g["eccentricity"]))


def describe_gaps(gaps: List[dict], what: str) -> str:
    """One sentence: at how many cells a target is met, and the worst shortfall.

    Example:
        >>> describe_gaps([dict(contrast=0.7, eccentricity=40.0, accuracy=0.9, target=0.95, gap=-0.05),
        ...                dict(contrast=0.7, eccentricity=4.4, accuracy=0.97, target=0.95, gap=0.02)], "0.95")
        '0.95: met at 1 of 2 cells; worst 0.900 against 0.950 (-0.050) at contrast 0.7, 40.0 px'
    """
    if not gaps:
        return f"{what}: no cell to compare"
    worst = min(gaps, key=lambda g: g["gap"])
    met = sum(g["gap"] >= 0 for g in gaps)
    tail = (f"; worst {worst['accuracy']:.3f} against {worst['target']:.3f} ({worst['gap']:+.3f}) at contrast "
            f"{worst['contrast']:g}, {worst['eccentricity']:.1f} px")
    return f"{what}: met at {met} of {len(gaps)} cells" + (tail if met < len(gaps) else "; lowest margin" + tail[7:])


_MAP_LABELS = {"stn_28x28": "STN 28×28 (seed)", "what_pathway": "What pathway (seed)"}


def _mean_std(mean: float, std: Optional[float]) -> str:
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def map_table(rows: Iterable[dict], reference: Optional[Dict[str, Dict[str, float]]] = None) -> str:
    """The 28x28 task's summary as a Markdown table: central and general accuracy per schedule.

    One line per ``(schedule, profile)`` of accuracy-map rows
    (:func:`stnutils.training.seed_sweep.map_sweep`), mean ± std over its seeds, then one
    line per seed model of ``reference`` (default: the seed lab book's STN 28x28 and What
    pathway, :data:`~stnutils.evaluation.reference.SEED_ACCURACY_MAP`). The last two columns
    say by how much each mean is above (+) or below (-) the seed's STN and What pathway.

    Example:
        >>> rows = [dict(schedule="stn28_loc", model="stn28", profile="quick", seed=s, central=0.9, general=g,
        ...              cells=3025, n=40, train_scenes=160000) for s, g in [(0, 0.40), (1, 0.44)]]
        >>> print(map_table(rows).splitlines()[2])
        | stn28_loc | quick | 2 | 160,000 | 0.900 ± 0.000 | 0.420 ± 0.028 | +0.020 / +0.060 | -0.010 / +0.080 |
    """
    reference = SEED_ACCURACY_MAP if reference is None else reference
    stn, what = reference.get("stn_28x28"), reference.get("what_pathway")
    lines = ["| schedule | profile | seeds | training scenes | central | general | central − seed STN / What "
             "| general − seed STN / What |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    scenes = {(r.get("schedule", r["model"]), r["profile"]): r.get("train_scenes") for r in rows}
    for agg in aggregate_maps(rows):
        n_scenes = scenes[(agg["schedule"], agg["profile"])]
        n_scenes = "" if n_scenes is None else f"{n_scenes:,}"
        gaps = [" / ".join(f"{agg[key] - ref[key]:+.3f}" for ref in (stn, what) if ref)
                for key in ("central", "general")]
        lines.append(f"| {agg['schedule']} | {agg['profile']} | {agg['n_seeds']} | {n_scenes} | "
                     f"{_mean_std(agg['central'], agg['central_std'])} | "
                     f"{_mean_std(agg['general'], agg['general_std'])} | {gaps[0]} | {gaps[1]} |")
    for name, ref in reference.items():
        label = _MAP_LABELS.get(name, name)
        lines.append(f"| {label} | seed | | | {ref['central']:.2f} | {ref['general']:.2f} | | |")
    return "\n".join(lines)
