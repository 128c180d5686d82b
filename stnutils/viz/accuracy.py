"""Accuracy figures: maps over shifts, the benchmark against eccentricity, against contrast, by angle.

Rows are grouped with :func:`stnutils.evaluation.results.group_rows`, the one rounding
rule the tables use too.

Example:
    >>> rows = [dict(model="stn128", profile="quick", contrast=c, eccentricity=40.0, accuracy=c)
    ...         for c in (0.3, 0.5, 0.7)]
    >>> fig = plot_contrast_accuracy(rows)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('digit contrast', 'accuracy')
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np

from ..evaluation.reference import seed_label
from ..evaluation.results import eccentricity_key, group_rows
from ._common import to_numpy

__all__ = ["plot_accuracy_maps", "plot_benchmark", "plot_contrast_accuracy", "plot_accuracy_by_angle",
           "plot_compute_accuracy"]


def plot_accuracy_maps(
    maps: dict,
    reference: Optional[dict] = None,
    title: Optional[str] = None,
    vmin: float = 0.0,
    vmax: float = 1.0,
    cmap: str = "viridis",
    size: float = 3.6,
):
    """Accuracy maps side by side on one colour scale, with one colour bar.

    Args:
        maps: ``{name: result of stnutils.evaluation.metrics.accuracy_map}`` (needs ``"map"``,
            ``"offsets"``, ``"central"``, ``"general"``).
        reference: optional ``{name: {"central", "general"}}`` (e.g. the seed's
            :data:`stnutils.evaluation.reference.SEED_ACCURACY_MAP` entries), added to the titles.
        title: the figure's title.
        vmin, vmax: the shared colour limits (accuracy).
        cmap: the colour map.

    Returns:
        the figure: one axes per map and the colour bar (labelled "accuracy").

    Example:
        >>> m = {"map": np.full((3, 3), 0.5), "offsets": [-3, 0, 3], "central": 0.5, "general": 0.5}
        >>> fig = plot_accuracy_maps({"a": m, "b": m})
        >>> len(fig.axes), fig.axes[0].get_xlabel()
        (3, 'j offset (px)')
    """
    if not maps:
        raise ValueError("maps must hold at least one accuracy map, got 0")
    reference = reference or {}
    names = list(maps)
    fig, axes = plt.subplots(1, len(names), figsize=(size * len(names) + 1.2, size + 0.6), squeeze=False,
                             layout="constrained")
    axes = axes[0]
    image = None
    for ax, name in zip(axes, names):
        result = maps[name]
        grid = to_numpy(result["map"]).astype(float)
        offsets = np.asarray(result["offsets"], dtype=float)
        if grid.shape != (len(offsets), len(offsets)):
            raise ValueError(f"maps[{name!r}]['map'] must be ({len(offsets)}, {len(offsets)}), got {grid.shape}")
        step = float(np.median(np.diff(offsets))) if len(offsets) > 1 else 1.0
        extent = (offsets[0] - step / 2, offsets[-1] + step / 2, offsets[-1] + step / 2, offsets[0] - step / 2)
        image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, interpolation="nearest")
        ax.set_xlabel("j offset (px)")
        ax.set_ylabel("i offset (px)")
        text = f"{name}\ncentral {result['central']:.2f}, general {result['general']:.2f}"
        if name in reference:
            ref = reference[name]
            text += f"\n(seed: central {ref['central']:.2f}, general {ref['general']:.2f})"
        ax.set_title(text, fontsize=9)
    fig.colorbar(image, ax=list(axes), label="accuracy", shrink=0.85)
    n = maps[names[0]].get("n")
    default = "Accuracy for each shift (i, j) of the digit"
    if n is not None:
        default += f" ({n} test digits per cell)"
    fig.suptitle(title if title is not None else default, fontsize=11)
    return fig


def _row_label(model: str, profile: str) -> str:
    return seed_label(model) if profile == "seed" else f"{model} ({profile})"


def _curves(rows: Iterable[dict]):
    """``{(model, profile): {contrast: (eccentricities, accuracies, stds or None)}}`` sorted by eccentricity."""
    rows = list(rows)
    spread = group_rows(rows, "std")
    out = {}
    for key, per in group_rows(rows).items():
        out[key] = {}
        for c, v in per.items():
            eccs = sorted(v)
            s = spread.get(key, {}).get(c, {})
            std = np.array([s.get(e, np.nan) for e in eccs]) if s else None
            out[key][c] = (np.array(eccs), np.array([v[e] for e in eccs]), std)
    return out


def plot_benchmark(
    rows: Sequence[dict],
    reference_rows: Optional[Sequence[dict]] = None,
    models: Optional[Sequence[str]] = None,
    title: Optional[str] = None,
    chance: float = 0.1,
    size: float = 3.8,
    colors: Optional[dict] = None,
):
    """Accuracy vs eccentricity, one panel per contrast: this book's models and the reference.

    Args:
        rows: benchmark rows (:func:`stnutils.evaluation.metrics.benchmark`), drawn solid with markers;
            rows with a ``std`` (:func:`stnutils.evaluation.results.aggregate_seeds`) get error bars.
        reference_rows: rows drawn dashed (e.g. :func:`stnutils.evaluation.reference.seed_rows`; pick
            models with its ``models=`` argument).
        models: names from ``rows`` to draw (default: all).
        title: the figure's title.
        chance: the chance level, a gray dotted line in every panel.
        colors: optional ``{model name: matplotlib colour}`` (e.g. one colour for a model
            and its reference counterpart); other lines take the next colour of the cycle.

    Returns:
        the figure, one axes per contrast (ascending), a legend outside the panels.

    Example:
        >>> rows = [dict(model="atn", profile="quick", contrast=c, eccentricity=e, accuracy=0.5)
        ...         for c in (0.3, 0.7) for e in (10.0, 20.0)]
        >>> fig = plot_benchmark(rows)
        >>> [ax.get_title() for ax in fig.axes]
        ['contrast 0.3', 'contrast 0.7']
    """
    rows = list(rows)
    if models is not None:
        wanted = set(models)
        rows = [r for r in rows if r["model"] in wanted]
    reference_rows = list(reference_rows or [])
    if not rows and not reference_rows:
        raise ValueError("rows must hold at least one benchmark row (after the models filter), got 0")
    own, ref = _curves(rows), _curves(reference_rows)
    contrasts = sorted({c for per in list(own.values()) + list(ref.values()) for c in per})
    fig, axes = plt.subplots(1, len(contrasts), figsize=(size * len(contrasts) + 2.6, size + 0.4), squeeze=False,
                             sharey=True, layout="constrained")
    axes = axes[0]
    colours = plt.get_cmap("tab10" if len(own) + len(ref) <= 10 else "tab20").colors
    styles = [(key, "-", "o") for key in own] + [(key, "--", "s") for key in ref]
    handles: dict = {}
    for n_line, (key, ls, marker) in enumerate(styles):
        per = (own if ls == "-" else ref)[key]
        label = _row_label(*key)
        for ax, c in zip(axes, contrasts):
            if c not in per:
                continue
            x, y, std = per[c]
            colour = (colors or {}).get(key[0], colours[n_line % len(colours)])
            (line,) = ax.plot(x, y, ls=ls, marker=marker, ms=3.5, lw=1.6 if ls == "-" else 1.1, color=colour,
                              label=label)
            if std is not None:  # rows aggregated over training seeds: mean ± std as error bars
                ax.errorbar(x, y, yerr=np.nan_to_num(std), fmt="none", ecolor=colour, elinewidth=1, capsize=2)
            handles.setdefault(label, line)
    for k, (ax, c) in enumerate(zip(axes, contrasts)):
        chance_line = ax.axhline(chance, color="gray", ls=":", lw=1.2, label=f"chance ({chance:g})")
        ax.set_title(f"contrast {c:g}", fontsize=10)
        ax.set_xlabel("eccentricity (px)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if k == 0:
            ax.set_ylabel("accuracy")
    handles[f"chance ({chance:g})"] = chance_line
    fig.legend(list(handles.values()), list(handles), loc="outside right upper", fontsize=8,
               title="solid: this book\ndashed: reference", title_fontsize=8)
    fig.suptitle(title if title is not None else "Accuracy vs eccentricity of the digit, per contrast", fontsize=11)
    return fig


def _rows_at(rows, eccentricity: Optional[float]) -> Dict[Tuple[str, str], Tuple[np.ndarray, np.ndarray]]:
    """``{(model, profile): (contrasts ascending, accuracies)}`` of the rows at ``eccentricity``."""
    key = None if eccentricity is None else eccentricity_key(eccentricity)
    out = {}
    for name, per in group_rows(rows).items():
        values = {c: by_ecc[key] for c, by_ecc in per.items() if key in by_ecc}
        if values:
            out[name] = (np.array(sorted(values)), np.array([values[c] for c in sorted(values)]))
    return out


def plot_contrast_accuracy(
    rows: Sequence[dict],
    reference_rows: Optional[Sequence[dict]] = None,
    eccentricity: Optional[float] = None,
    labels: Optional[Dict[str, str]] = None,
    title: Optional[str] = None,
    chance: float = 0.1,
    size: Tuple[float, float] = (6.4, 3.8),
):
    """Accuracy against digit contrast at one eccentricity: one line per model.

    Args:
        rows: benchmark rows ``{model, profile, contrast, eccentricity, accuracy}``
            (:func:`stnutils.evaluation.metrics.benchmark`), drawn solid with round markers.
        reference_rows: rows drawn dashed with square markers (e.g. the seed's,
            :func:`stnutils.evaluation.reference.seed_rows`).
        eccentricity: keep only rows at this eccentricity (pixels); ``None``: the rows must
            all share one eccentricity.
        labels: optional legend labels ``{(model, profile): label}`` or ``{model: label}``
            (the pair wins: a model of this book and the seed's may share a name); default
            ``"model (profile)"``.
        title: the figure's title (default names the eccentricity).
        chance: the chance level, a grey dotted line.

    Returns:
        the figure, one axes: x = contrast, y = accuracy in [0, 1].

    Raises:
        ValueError: no row left at ``eccentricity``, several eccentricities without
            ``eccentricity``, or a negative ``eccentricity``.

    Example:
        >>> rows = [dict(model="a", profile="quick", contrast=0.3, eccentricity=40.0, accuracy=0.5),
        ...         dict(model="a", profile="quick", contrast=0.7, eccentricity=40.0, accuracy=0.9)]
        >>> ax = plot_contrast_accuracy(rows, labels={"a": "model A"}).axes[0]
        >>> [line.get_label() for line in ax.get_lines()][:1]
        ['model A']
    """
    rows, reference_rows = list(rows), list(reference_rows or [])
    if eccentricity is not None and float(eccentricity) < 0:
        raise ValueError(f"eccentricity must be >= 0 pixels, got {eccentricity}")
    if eccentricity is None:
        eccs = {eccentricity_key(r["eccentricity"]) for r in rows + reference_rows}
        if len(eccs) > 1:
            raise ValueError(f"rows hold several eccentricities {sorted(eccs)}; pass eccentricity= to pick one")
        eccentricity = eccs.pop() if eccs else None
    own, ref = _rows_at(rows, eccentricity), _rows_at(reference_rows, eccentricity)
    if not own and not ref:
        raise ValueError(f"rows must hold at least one row at eccentricity {eccentricity}, got 0")
    labels = dict(labels or {})
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    colours = plt.get_cmap("tab10").colors
    lines = [(k, v, "-", "o") for k, v in own.items()] + [(k, v, "--", "s") for k, v in ref.items()]
    for n, ((model, profile), (x, y), ls, marker) in enumerate(lines):
        label = labels.get((model, profile), labels.get(model, f"{model} ({profile})"))
        ax.plot(x, y, ls=ls, marker=marker, ms=4, lw=1.6 if ls == "-" else 1.1,
                color=colours[n % len(colours)], label=label)
    ax.axhline(chance, color="gray", ls=":", lw=1.2, label=f"chance ({chance:g})")
    ax.set_xlabel("digit contrast")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    at = "" if eccentricity is None else f" at eccentricity {eccentricity:g} px"
    fig.suptitle(title if title is not None else f"Accuracy against contrast{at}", fontsize=11)
    return fig


def plot_accuracy_by_angle(curves: Dict[str, Tuple[np.ndarray, np.ndarray]], title: Optional[str] = None,
                           chance: float = 0.1):
    """Accuracy against the digit's rotation, one line per model.

    Args:
        curves: ``{model name: (bin centres in degrees, accuracy)}`` (:func:`accuracy_by_angle`).
        title: the figure's title.
        chance: the chance level, a dotted line.

    Returns:
        the figure (one axes).

    Example:
        >>> fig = plot_accuracy_by_angle({"a": (np.array([-45.0, 45.0]), np.array([0.5, 0.6]))})
        >>> fig.axes[0].get_ylabel()
        'accuracy'
    """
    if not curves:
        raise ValueError("curves must hold at least one model, got 0")
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    for k, (name, (centres, acc)) in enumerate(curves.items()):
        ax.plot(centres, acc, "o-", ms=4, color=f"C{k}", label=name)
    ax.axhline(chance, color="gray", ls=":", lw=1.2, label=f"chance ({chance:g})")
    ax.set_xlabel("rotation of the digit (degrees, counter-clockwise)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower center")
    ax.set_title(title if title is not None else "Accuracy against the rotation of the digit", fontsize=10)
    return fig


def plot_compute_accuracy(summary: Sequence[dict], reference: Optional[Sequence[dict]] = None,
                          budget: Optional[float] = None, labels: Optional[Dict[str, str]] = None,
                          title: Optional[str] = None, chance: float = 0.1, size: float = 3.6):
    """Accuracy against training compute: one point per model and contrast, scenes on a log axis.

    Args:
        summary: :func:`stnutils.evaluation.tables.compute_summary` records of this book
            (filled markers; error bars: the std over training seeds where there is one).
        reference: the same for reference models (hollow squares), e.g. the seed's rows
            summarised with ``scenes=SEED_TRAINING_SCENES``.
        budget: a number of training scenes drawn as a vertical line (e.g. a tenth of the seed's).
        labels: legend labels ``{model: label}`` (default ``"model (profile)"``).
        title: the figure's title.
        chance: the chance level, a dotted line.

    Returns:
        the figure, one axes per contrast; records without ``train_scenes`` are left out.

    Example:
        >>> s = [dict(model="m", profile="quick", train_scenes=1e5, contrasts=[0.7], mean=[0.8], std=[0.02])]
        >>> fig = plot_compute_accuracy(s, budget=6.6e5)
        >>> fig.axes[0].get_xscale(), fig.axes[0].get_xlabel()
        ('log', 'training scenes seen')
    """
    own = [r for r in summary if r.get("train_scenes")]
    ref = [r for r in (reference or []) if r.get("train_scenes")]
    if not own and not ref:
        raise ValueError("summary must hold at least one record with train_scenes, got 0")
    labels = dict(labels or {})
    contrasts = sorted({c for r in own + ref for c in r["contrasts"]})
    fig, axes = plt.subplots(1, len(contrasts), figsize=(size * len(contrasts) + 2.4, size + 0.4), squeeze=False,
                             sharey=True, layout="constrained")
    colours = plt.get_cmap("tab10" if len(own) + len(ref) <= 10 else "tab20").colors
    handles: dict = {}
    for n_rec, (rec, hollow) in enumerate([(r, False) for r in own] + [(r, True) for r in ref]):
        label = labels.get(rec["model"], _row_label(rec["model"], rec["profile"]))
        colour = colours[n_rec % len(colours)]
        for ax, c in zip(axes[0], contrasts):
            if c not in rec["contrasts"]:
                continue
            k = rec["contrasts"].index(c)
            if rec["mean"][k] is None:
                continue
            std = (rec.get("std") or [None] * len(rec["contrasts"]))[k]
            marker = ax.errorbar([rec["train_scenes"]], [rec["mean"][k]], yerr=None if std is None else [std],
                                 fmt="s" if hollow else "o", ms=6, capsize=3, color=colour,
                                 mfc="none" if hollow else colour, label=label)
            handles.setdefault(label, marker)
    for k, (ax, c) in enumerate(zip(axes[0], contrasts)):
        line = ax.axhline(chance, color="gray", ls=":", lw=1.2)
        if budget is not None:
            ax.axvline(float(budget), color="gray", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_title(f"contrast {c:g}", fontsize=10)
        ax.set_xlabel("training scenes seen")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3, which="both")
        if k == 0:
            ax.set_ylabel("mean accuracy over the eccentricities")
    handles[f"chance ({chance:g})"] = line
    legend_title = "filled: this book\nhollow: reference"
    if budget is not None:
        legend_title += f"\ndashed: {budget:,.0f} scenes"
    fig.legend(list(handles.values()), list(handles), loc="outside right upper", fontsize=8, title=legend_title,
               title_fontsize=8)
    fig.suptitle(title if title is not None else "Accuracy against training compute", fontsize=11)
    return fig
