"""Training curves: one run's history with its curriculum stages, and several runs compared.

Histories are lists of per-epoch dicts as :func:`stnutils.training.loop.fit` returns them.

Example:
    >>> h = [dict(epoch=e, loss=1 / e, train_acc=0.5, test_acc=0.4, lr=0.01, stage=e // 3,
    ...           shift_std=float(e // 3)) for e in range(1, 7)]
    >>> [ax.get_ylabel() for ax in plot_history(h).axes]
    ['loss', 'accuracy', 'learning rate']
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_history", "plot_history_comparison"]

_CURRICULUM_KEYS = (("shift_std", "shift σ"), ("eccentricity_std", "ecc. σ"))


def _value(entry: dict, key: str) -> float:
    v = entry.get(key)
    return float("nan") if v is None else float(v)


def _stage_text(entry: dict, show_contrast: bool) -> str:
    parts = []
    for key, name in _CURRICULUM_KEYS:
        if entry.get(key) is not None:
            parts.append(f"{name} {float(entry[key]):.3g} px")  # 4.44 px, not 4.44444 px
    if show_contrast and entry.get("contrast") is not None:
        c = entry["contrast"]
        parts.append(f"c {c[0]:g}–{c[1]:g}" if isinstance(c, (list, tuple)) else f"c {float(c):g}")
    if not parts and entry.get("stage") is not None:
        parts.append(f"stage {entry['stage']}")
    return ", ".join(parts)


def _stage_key(entry: dict):
    if "stage" in entry:
        return entry["stage"]
    c = entry.get("contrast")
    return tuple(entry.get(k) for k, _ in _CURRICULUM_KEYS) + (tuple(c) if isinstance(c, list) else c,)


def _epochs(history: Sequence[dict]) -> np.ndarray:
    """The epoch of each entry (its ``"epoch"``, else its 1-based position)."""
    return np.array([_value(e, "epoch") if "epoch" in e else k + 1 for k, e in enumerate(history)], dtype=float)


def _stage_starts(history: Sequence[dict]) -> List[int]:
    """Indices of the entries that begin a curriculum stage (the first entry included)."""
    keys = [_stage_key(e) for e in history]
    return [0] + [k for k in range(1, len(history)) if keys[k] != keys[k - 1]]


def _stage_lines(axes, epochs: np.ndarray, starts: List[int]) -> None:
    """A dotted vertical line between the last epoch of a stage and the first of the next."""
    for ax in axes:
        for k in starts[1:]:
            ax.axvline((epochs[k - 1] + epochs[k]) / 2, color="gray", ls=":", lw=1)


def plot_history(
    history: Sequence[dict],
    metrics: Sequence[str] = ("loss", "train_acc", "test_acc"),
    title: Optional[str] = None,
    chance: Optional[float] = 0.1,
):
    """Training curves from a history (a list of per-epoch dicts, as ``fit`` returns).

    Panels, left to right: losses (metrics containing ``"loss"``), accuracies (containing
    ``"acc"``, with the chance level), any other metric, and the learning rate (log scale)
    when the entries have ``"lr"``. Curriculum stage boundaries (a change of ``"stage"``,
    or of the shift/eccentricity std or contrast) are dotted vertical lines in every
    panel; the first panel names each stage's value (e.g. ``"shift σ 3 px"``).

    Args:
        history: ``[{"epoch", "loss", "train_acc", "test_acc", "lr", "stage",
            "shift_std" | "eccentricity_std", "contrast", ...}, ...]``; missing or ``None``
            values are left out of the curves.
        metrics: the history keys to draw.
        title: the figure's title.
        chance: the chance accuracy drawn in the accuracy panel (``None``: none).

    Returns:
        the figure (one axes per panel).

    Example:
        >>> h = [dict(epoch=e, loss=1 / e, train_acc=0.5, test_acc=0.4, lr=0.01, stage=e // 3,
        ...           shift_std=float(e // 3)) for e in range(1, 7)]
        >>> fig = plot_history(h)
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['loss', 'accuracy', 'learning rate']
    """
    history = list(history)
    if not history:
        raise ValueError("history must hold at least one epoch, got 0")
    for name in metrics:
        if not any(name in entry for entry in history):
            raise ValueError(f"metrics must be keys of the history entries, {name!r} is in none")
    epochs = _epochs(history)
    groups: List[Tuple[str, List[str]]] = []
    losses = [m for m in metrics if "loss" in m]
    accs = [m for m in metrics if "acc" in m and "loss" not in m]
    if losses:
        groups.append(("loss", losses))
    if accs:
        groups.append(("accuracy", accs))
    groups += [(m, [m]) for m in metrics if m not in losses and m not in accs]
    has_lr = any(e.get("lr") is not None for e in history)
    if has_lr:
        groups.append(("learning rate", ["lr"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.3 * len(groups), 3.6), squeeze=False, layout="constrained")
    axes = axes[0]
    for ax, (ylabel, keys) in zip(axes, groups):
        for key in keys:
            y = np.array([_value(e, key) for e in history])
            ok = ~np.isnan(y)
            ax.plot(epochs[ok], y[ok], "o-" if ok.sum() < 30 else "-", ms=3, label=key.replace("_", " "))
        if ylabel == "accuracy":
            ax.set_ylim(0, 1.02)
            if chance is not None:
                ax.axhline(chance, color="gray", ls="--", lw=1, label=f"chance ({chance:g})")
        if ylabel == "learning rate" and all((e.get("lr") or 1) > 0 for e in history):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if ylabel != "learning rate" and (len(keys) > 1 or ylabel == "accuracy"):
            ax.legend(fontsize=8, loc="best")
    starts = _stage_starts(history)
    show_contrast = len({str(e.get("contrast")) for e in history}) > 1
    _stage_lines(axes, epochs, starts)
    if len(starts) > 1 or _stage_text(history[0], show_contrast):
        ax0 = axes[0]
        for k in starts:
            text = _stage_text(history[k], show_contrast)
            if text:
                x = epochs[k] if k == 0 else (epochs[k - 1] + epochs[k]) / 2
                ax0.annotate(text, xy=(x, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -3),
                             textcoords="offset points", rotation=90, va="top", ha="left", fontsize=7,
                             color="dimgray", bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.7))
    default = "Training history"
    if len(starts) > 1:
        default += f" ({len(starts)} curriculum stages, dotted lines)"
    fig.suptitle(title if title is not None else default, fontsize=11)
    return fig


_COMPARISON_LABELS = {"loss": "training loss", "train_acc": "training accuracy", "test_acc": "test accuracy",
                      "test_loss": "test loss"}


def plot_history_comparison(
    histories: dict,
    metrics: Sequence[str] = ("loss", "test_acc"),
    title: Optional[str] = None,
    chance: Optional[float] = 0.1,
    size: float = 4.3,
):
    """The same metrics of several runs side by side: one panel per metric, one line per run.

    Curriculum stage boundaries of the first run (a change of ``"stage"``, or of the
    shift/eccentricity std or contrast) are dotted vertical lines; the top axis of each
    panel gives the stage's shift or eccentricity std.

    Args:
        histories: ``{run name: history}``, each history a list of per-epoch dicts as
            :func:`stnutils.training.loop.fit` returns (``"epoch"`` and the ``metrics`` keys).
        metrics: the history keys to draw, one panel each (accuracies get ``[0, 1]`` and
            the chance level).
        title: the figure's title.
        chance: the chance accuracy drawn in accuracy panels (``None``: none).

    Returns:
        the figure, one axes per metric.

    Raises:
        ValueError: no history, an empty history, or a metric that no run recorded.

    Example:
        >>> h = [dict(epoch=e, loss=1 / e, test_acc=0.5, stage=e // 2, shift_std=float(e // 2)) for e in range(1, 5)]
        >>> fig = plot_history_comparison({"sgd": h, "adam": h})
        >>> [ax.get_ylabel() for ax in fig.axes], len(fig.axes[0].get_lines()) >= 2
        (['training loss', 'test accuracy'], True)
    """
    if not histories:
        raise ValueError("histories must hold at least one run, got 0")
    runs = {str(name): list(h) for name, h in histories.items()}
    for name, history in runs.items():
        if not history:
            raise ValueError(f"histories[{name!r}] must hold at least one epoch, got 0")
    if not metrics:
        raise ValueError("metrics must name at least one history key, got 0")
    for metric in metrics:
        if not any(metric in e for h in runs.values() for e in h):
            raise ValueError(f"metrics must be keys of the history entries, {metric!r} is in no run")
    fig, axes = plt.subplots(1, len(metrics), figsize=(size * len(metrics) + 0.4, 3.6), squeeze=False,
                             layout="constrained")
    axes = axes[0]
    for ax, metric in zip(axes, metrics):
        for name, history in runs.items():
            x = _epochs(history)
            y = np.array([_value(e, metric) for e in history])
            ok = ~np.isnan(y)
            if ok.any():
                ax.plot(x[ok], y[ok], "o-" if ok.sum() < 30 else "-", ms=3, label=name)
        is_acc = "acc" in metric and "loss" not in metric
        if is_acc:
            ax.set_ylim(0, 1.02)
            if chance is not None:
                ax.axhline(chance, color="gray", ls="--", lw=1, label=f"chance ({chance:g})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(_COMPARISON_LABELS.get(metric, metric.replace("_", " ")))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    # the first run's curriculum: dotted boundaries, the stage values on a top axis
    first = next(iter(runs.values()))
    epochs, starts = _epochs(first), _stage_starts(first)
    _stage_lines(axes, epochs, starts)
    key = next(((k, name) for k, name in _CURRICULUM_KEYS if first[0].get(k) is not None), None)
    if len(starts) > 1 and key is not None:
        step = max(1, int(math.ceil(len(starts) / 16)))  # at most 16 labels
        ticks = [epochs[k] for k in starts][::step]
        labels = [f"{_value(first[k], key[0]):g}" for k in starts][::step]
        for ax in axes:
            top = ax.secondary_xaxis("top")
            top.set_xticks(ticks)
            top.set_xticklabels(labels, fontsize=7)
            top.set_xlabel(f"curriculum stage: {key[1]} (px)", fontsize=8)
    fig.suptitle(title if title is not None else "Training runs compared", fontsize=11)
    return fig
