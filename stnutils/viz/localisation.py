"""Where a model looks: glimpse centres against digit offsets, glimpse errors, angles against rotations.

Example:
    >>> import torch
    >>> off = torch.tensor([[1, -2], [3, 0]])
    >>> fig = plot_offset_tracking(off, {"stn": off.float()})
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['digit offset i (px)', 'digit offset j (px)']
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import matplotlib.pyplot as plt
import numpy as np

from ..evaluation.rotation import angle_agreement
from ..validation import check_positive_int
from ._common import to_numpy

__all__ = ["plot_offset_tracking", "plot_glimpse_errors", "plot_angle_scatter"]


def plot_offset_tracking(
    offsets,
    predicted: dict,
    title: Optional[str] = None,
    limit: Optional[float] = None,
    size: float = 3.8,
):
    """Where a transformer looks against where the digit is, for the row and column offsets.

    A transformer that centres every digit puts its glimpse centre on the digit's offset:
    the points lie on the diagonal. One that ignores its input draws a horizontal line
    (the same glimpse for every scene).

    Args:
        offsets: ``(N, 2)`` true ``(i, j)`` digit offsets, pixels (the datasets' ``offsets``).
        predicted: ``{model name: (N, 2)}`` glimpse centres ``(i, j)`` in pixels from the
            field centre, e.g. the ``offset`` of an attention model's ``attend``.
        title: the figure's title.
        limit: the view is ``±limit`` pixels on both axes; glimpse centres beyond it are
            drawn on the border as open triangles and counted in the legend. None: the
            view holds every point.

    Returns:
        the figure: two axes, row offset ``i`` and column offset ``j``.

    Raises:
        ValueError: shapes that are not ``(N, 2)`` or that differ between models, no
            model, a ``limit`` that is not positive.

    Example:
        >>> import torch
        >>> off = torch.tensor([[1, -2], [3, 0]])
        >>> fig = plot_offset_tracking(off, {"stn": off.float()})
        >>> [ax.get_xlabel() for ax in fig.axes]
        ['digit offset i (px)', 'digit offset j (px)']
    """
    true = to_numpy(offsets).astype(float)
    if true.ndim != 2 or true.shape[1] != 2 or len(true) == 0:
        raise ValueError(f"offsets must be (N, 2) with N >= 1, got shape {tuple(true.shape)}")
    if not predicted:
        raise ValueError("predicted must hold at least one model's glimpse centres, got 0")
    preds = {}
    for name, value in predicted.items():
        arr = to_numpy(value).astype(float)
        if arr.shape != true.shape:
            raise ValueError(f"predicted[{name!r}] must have the shape of offsets {tuple(true.shape)}, "
                             f"got {tuple(arr.shape)}")
        preds[str(name)] = arr
    if limit is not None and not limit > 0:
        raise ValueError(f"limit must be a positive number of pixels or None, got {limit!r}")
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.6, size + 0.4), squeeze=False, layout="constrained")
    axes = axes[0]
    if limit is None:
        lo = min(true.min(), min(p.min() for p in preds.values())) - 1
        hi = max(true.max(), max(p.max() for p in preds.values())) + 1
    else:
        lo, hi = -float(limit), float(limit)
    colours = plt.get_cmap("tab10").colors
    for col, (ax, axis) in enumerate(zip(axes, ("i", "j"))):
        ax.plot([lo, hi], [lo, hi], color="gray", ls="--", lw=1, label="glimpse on the digit")
        for n_model, (name, arr) in enumerate(preds.items()):
            colour = colours[n_model % len(colours)]
            x, y = true[:, col], arr[:, col]
            out = (y < lo) | (y > hi)
            label = name if not out.any() else f"{name} ({out.sum()} of {len(y)} beyond ±{hi:g} px)"
            ax.plot(x[~out], y[~out], "o", ms=2.5, alpha=0.5, color=colour, label=label)
            for beyond, marker, edge in ((y > hi, "^", hi), (y < lo, "v", lo)):
                if beyond.any():  # drawn on the border, pointing the way out
                    ax.plot(x[beyond], np.full(beyond.sum(), edge), marker, ms=4, mfc="none", alpha=0.6,
                            color=colour, label="_nolegend_")
        pad = 0.03 * (hi - lo)  # border markers stay whole
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal")
        ax.set_xlabel(f"digit offset {axis} (px)")
        ax.set_ylabel(f"glimpse centre {axis} (px)")
        ax.set_title("row (i)" if axis == "i" else "column (j)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right", markerscale=2)
    fig.suptitle(title if title is not None else "Where the transformer looks vs where the digit is", fontsize=11)
    return fig


def plot_glimpse_errors(results: Dict[str, Dict[float, Dict[str, np.ndarray]]], glimpse: float = 28.0,
                        title: Optional[str] = None):
    """Glimpse-to-digit distance and accuracy against the digit's eccentricity.

    Args:
        results: ``{model name: {eccentricity (px): stnutils.evaluation.localisation.glimpse_errors(...)}}``.
        glimpse: side of the glimpse in scene pixels (the "digit inside the glimpse" band).
        title: the figure's title.

    Returns:
        the figure: left, median distance (pixels; band: quartiles) with the line of a
        glimpse that stays at the centre (distance = eccentricity); right, the share of
        glimpses centred within a quarter glimpse of the digit, and the accuracy.
    """
    if not results:
        raise ValueError("results must hold at least one model, got 0")
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    top = 0.0
    for k, (name, per) in enumerate(results.items()):
        eccs = np.array(sorted(per))
        dist = [per[e]["distance"] for e in eccs]
        med = np.array([np.median(v) for v in dist])
        q1 = np.array([np.percentile(v, 25) for v in dist])
        q3 = np.array([np.percentile(v, 75) for v in dist])
        colour = f"C{k}"
        ax0.plot(eccs, med, "o-", color=colour, label=f"{name}: median")
        ax0.fill_between(eccs, q1, q3, color=colour, alpha=0.2, label=f"{name}: quartiles")
        near = np.array([np.mean(v <= glimpse / 4) for v in dist])
        acc = np.array([np.mean(per[e]["correct"]) for e in eccs])
        ax1.plot(eccs, near, "o-", color=colour, label=f"{name}: glimpse within {glimpse / 4:g} px")
        ax1.plot(eccs, acc, "s--", color=colour, label=f"{name}: accuracy")
        top = max(top, float(eccs.max()), float(q3.max()))
    line = np.linspace(0, top, 2)
    ax0.plot(line, line, ":", color="gray", label="glimpse stays at the centre")
    ax0.axhspan(0, glimpse / 4, color="green", alpha=0.08, label=f"within {glimpse / 4:g} px (¼ glimpse)")
    ax0.set_xlabel("digit eccentricity (px)")
    ax0.set_ylabel("glimpse centre to digit centre (px)")
    ax0.set_title("How far the glimpse lands from the digit", fontsize=10)
    ax0.legend(fontsize=7)
    ax1.axhline(0.1, color="gray", ls=":", lw=1, label="chance accuracy (0.1)")
    ax1.set_ylim(0, 1.02)
    ax1.set_xlabel("digit eccentricity (px)")
    ax1.set_ylabel("fraction of test scenes")
    ax1.set_title("Glimpses on target, and accuracy", fontsize=10)
    ax1.legend(fontsize=7)
    fig.suptitle(title if title is not None else "Where the attention model looks", fontsize=11)
    return fig


def plot_angle_scatter(readouts: Dict[str, Tuple[np.ndarray, np.ndarray]], title: Optional[str] = None,
                       size: float = 3.8, max_points: int = 2000):
    """Predicted vs true rotation, one panel per model, with the uprighting line ``-α``.

    Args:
        readouts: ``{model name: (true_deg, pred_deg)}``.
        title: the figure's title.
        max_points: at most this many points drawn per panel (the statistics use all).

    Returns:
        the figure, one axes per model; each title gives the correlation, the gain
        (-slope) and the residual spread (:func:`stnutils.evaluation.rotation.angle_agreement`).
    """
    if not readouts:
        raise ValueError("readouts must hold at least one model, got 0")
    check_positive_int("max_points", max_points)
    fig, axes = plt.subplots(1, len(readouts), figsize=(size * len(readouts) + 0.6, size + 0.6), squeeze=False,
                             sharey=True, layout="constrained")
    for ax, (name, (true, pred)) in zip(axes[0], readouts.items()):
        t, p = np.asarray(true, dtype=np.float64), np.asarray(pred, dtype=np.float64)
        stats = angle_agreement(t, p)
        ax.scatter(t[:max_points], p[:max_points], s=4, alpha=0.4, color="C0", label="test digits")
        lim = max(90.0, float(np.abs(t).max()))
        line = np.array([-lim, lim])
        ax.plot(line, -line, "--", color="C3", lw=1.5, label="upright: −α")
        ax.plot(line, 0 * line, ":", color="gray", lw=1.2, label="no rotation: 0")
        ax.plot(line, stats["slope"] * line + stats["intercept"], "-", color="k", lw=1.2,
                label=f"fit: slope {stats['slope']:.2f}")
        ax.set_xlim(-lim, lim)
        ax.set_xlabel("true rotation α of the digit (degrees)")
        ax.set_title(f"{name}\nr = {stats['correlation']:.2f}, gain {stats['gain']:.2f}, "
                     f"residual σ {stats['residual_std']:.1f}°", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    axes[0, 0].set_ylabel("angle of the sampling grid (degrees)")
    fig.suptitle((title if title is not None else "Does the transformer undo the rotation?")
                 + "\n(angles counter-clockwise on screen)", fontsize=11)
    return fig
