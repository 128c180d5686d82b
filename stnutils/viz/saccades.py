"""Figures of the What/Where model: collicular maps, saccade paths, accuracy against saccades.

- :func:`show_collicular_maps`: scenes beside their target and predicted collicular maps.
- :func:`draw_saccade_paths`: each scene with its fixations, the final 28x28 fovea and the digit.
- :func:`plot_saccade_benchmark`: accuracy against eccentricity for 0..k saccades, oracle and
  random, next to the published What/Where curves (:func:`~stnutils.viz.accuracy.plot_benchmark`).
- :func:`plot_accuracy_vs_saccades`: accuracy against the number of saccades, per eccentricity.

The numbers come from :mod:`stnutils.evaluation.saccades`; nothing is measured here.

Example:
    >>> rows = [dict(model=f"whatwhere_{k}", profile="quick", contrast=0.7, eccentricity=e, accuracy=0.5)
    ...         for k in (0, 1) for e in (10.0, 20.0)]
    >>> fig = plot_accuracy_vs_saccades(rows)
    >>> fig.axes[0].get_xlabel()
    'number of saccades'
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from ..evaluation.reference import seed_rows
from ..evaluation.results import contrast_key, group_rows
from ..evaluation.saccades import MAX_PUBLISHED_SACCADES, SACCADE_COUNTERPARTS
from ._common import as_images, bare, shown, to_numpy
from .accuracy import plot_benchmark
from .retina import _draw_wedges

__all__ = ["saccade_colours", "show_collicular_maps", "draw_saccade_paths", "plot_saccade_benchmark",
           "plot_accuracy_vs_saccades"]

_FOVEA = 28


def saccade_colours(prefix: str = "whatwhere", max_saccades: int = MAX_PUBLISHED_SACCADES) -> Dict[str, str]:
    """One colour per number of saccades (this book's row and the published curve share it); oracle, random."""
    cmap = plt.get_cmap("viridis")
    colours = {}
    for k in range(max_saccades + 1):
        c = cmap(0.9 * k / max(max_saccades, 1))
        colours[f"{prefix}_{k}"] = colours[f"what_where_{k}_saccades"] = c
    colours[f"{prefix}_oracle"], colours[f"{prefix}_random"] = "black", "tab:gray"
    return colours


def show_collicular_maps(retina, scenes, maps: dict, labels=None, offsets=None, n: int = 4,
                         title: Optional[str] = None, ax_size: float = 2.6):
    """Scenes beside their target and predicted collicular maps, one row per scene.

    Columns: the scene (the digit's true centre: a cross; the saccade to the predicted
    arg-max cell: a circle; to the target's: a square); the target map (the What accuracy
    map placed on the digit and projected on the cells); the Where pathway's prediction
    (sigmoid of its logits). Both maps share one colour scale (accuracy) and are drawn
    where the cells sit in the visual field, in pixels from the centre.

    Args:
        retina: the model's :class:`~stnutils.models.retina.Retina` (cell geometry).
        scenes: ``(N, 1, S, S)`` in [0, 1].
        maps: :func:`stnutils.evaluation.saccades.collicular_maps` of those scenes.
        labels, offsets: optional ``(N,)`` digits and ``(N, 2)`` true offsets (px).
        n: the first ``n`` scenes are shown.

    Returns:
        the figure.
    """
    x = as_images(scenes)
    k = shown(n, len(x))
    target, predicted = to_numpy(maps["target"]), to_numpy(maps["predicted"])
    if target.shape != predicted.shape or target.ndim != 3 or len(target) < k:
        raise ValueError(f"maps must hold (N, A, E) 'target' and 'predicted' maps for {k} scenes, "
                         f"got {target.shape} and {predicted.shape}")
    vmax = float(max(target[:k].max(), predicted[:k].max()))
    s = x.shape[-1]
    half = s / 2
    fig, axes = plt.subplots(k, 3, figsize=(3 * ax_size + 1.2, ax_size * k + 0.7), squeeze=False,
                             layout="constrained")
    coll = None
    for r in range(k):
        ax = axes[r, 0]
        ax.imshow(x[r], cmap="gray", vmin=0, vmax=1, extent=(-half, half, half, -half), interpolation="nearest")
        if offsets is not None:
            i, j = to_numpy(offsets)[r]
            ax.plot(j, i, "x", color="yellow", ms=8, mew=2, label="digit")
        for key, marker, colour, name in (("fixation", "o", "red", "predicted saccade"),
                                          ("target_fixation", "s", "deepskyblue", "target's saccade")):
            if key in maps:
                i, j = to_numpy(maps[key])[r]
                ax.plot(j, i, marker, mfc="none", color=colour, ms=9, mew=1.8, label=name)
        who = [] if labels is None else [f"digit {int(to_numpy(labels).reshape(-1)[r])}"]
        ax.set_ylabel("\n".join(who + ["i (px)"]), fontsize=8)
        if r == 0:
            ax.legend(fontsize=6, loc="lower left", framealpha=0.7)
        for col, values in ((1, target[r]), (2, predicted[r])):
            coll = _draw_wedges(axes[r, col], retina, values, cmap="viridis", vmax=vmax)
        for col in range(3):
            axes[r, col].tick_params(labelsize=7)
            if r == k - 1:
                axes[r, col].set_xlabel("j (px)", fontsize=8)
    axes[0, 0].set_title(f"scene ({s}×{s})", fontsize=9)
    axes[0, 1].set_title("target: What accuracy map\nat the digit, on the cells", fontsize=9)
    axes[0, 2].set_title("Where prediction\n(sigmoid of its logits)", fontsize=9)
    fig.colorbar(coll, ax=axes[:, 1:], label="accuracy of a saccade there", shrink=0.7)
    fig.suptitle(title if title is not None else
                 f"Collicular maps: {target.shape[1]} azimuths × {target.shape[2]} eccentricities", fontsize=11)
    return fig


def draw_saccade_paths(scenes, paths, labels=None, predictions=None, offsets=None, n: int = 6,
                       title: Optional[str] = None, ax_size: float = 2.3):
    """Scenes with their saccade paths: fixations joined in order, the final 28x28 fovea boxed.

    Args:
        scenes: ``(N, 1, S, S)`` in [0, 1].
        paths: ``(N, k + 1, 2)`` fixations (px from the centre, (i, j)), the first the centre
            (:meth:`stnutils.models.whatwhere.WhatWhere.saccade_path`).
        labels, predictions: optional ``(N,)`` true digits and the What answers at the end.
        offsets: optional ``(N, 2)`` true digit offsets (a yellow cross).
        n: the first ``n`` scenes are shown.

    Returns:
        the figure, one axes per scene.
    """
    x = as_images(scenes)
    k = shown(n, len(x))
    path = to_numpy(paths).astype(float)
    if path.ndim != 3 or path.shape[-1] != 2 or len(path) < k:
        raise ValueError(f"paths must be (N, k + 1, 2) fixations for {k} scenes, got shape {path.shape}")
    s = x.shape[-1]
    centre = (s - 1) / 2  # pixel-centre coordinate of fixation 0 (the fovea's middle)
    fig, axes = plt.subplots(1, k, figsize=(ax_size * k + 0.3, ax_size + 0.9), squeeze=False, layout="constrained")
    for c, ax in enumerate(axes[0]):
        ax.imshow(x[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        rows, cols = centre + path[c, :, 0], centre + path[c, :, 1]
        ax.plot(cols, rows, "-", color="orange", lw=1.3)
        ax.scatter(cols, rows, c=np.arange(len(rows)), cmap="autumn", s=16, zorder=3, edgecolors="black",
                   linewidths=0.4)
        top, left = (s - _FOVEA) / 2 - 0.5 + path[c, -1, 0], (s - _FOVEA) / 2 - 0.5 + path[c, -1, 1]
        ax.add_patch(Rectangle((left, top), _FOVEA, _FOVEA, fill=False, edgecolor="red", lw=1.5))
        if offsets is not None:
            i, j = to_numpy(offsets)[c]
            ax.plot(centre + j, centre + i, "x", color="yellow", ms=7, mew=2)
        bare(ax)
        parts = []
        if labels is not None:
            parts.append(f"digit {int(to_numpy(labels).reshape(-1)[c])}")
        if predictions is not None:
            parts.append(f"read {int(to_numpy(predictions).reshape(-1)[c])}")
        ax.set_title(", ".join(parts), fontsize=8)
        ax.set_xlabel(f"{len(rows) - 1} saccades", fontsize=8)
    axes[0, 0].set_ylabel(f"{s}×{s} px scene", fontsize=8)
    fig.suptitle((title if title is not None else "Saccade paths")
                 + "\n(dots: fixations from the centre, light = later; red box: the final 28×28 fovea; "
                   "cross: the digit)", fontsize=9)
    return fig


def plot_saccade_benchmark(rows: Sequence[dict], saccades: Sequence[int] = (0, 1, 3, 5), prefix: str = "whatwhere",
                           bounds: bool = True, published: bool = True, title: Optional[str] = None):
    """Accuracy against eccentricity for some numbers of saccades (solid), the published curves (dashed).

    Args:
        rows: :func:`stnutils.evaluation.saccades.saccade_benchmark` rows.
        saccades: the numbers of saccades drawn.
        prefix: the rows' model prefix.
        bounds: also draw the oracle (black) and random (gray) rows.
        published: also draw the published What/Where curves with the same numbers of saccades.

    Returns:
        the figure, one panel per contrast.
    """
    names = [f"{prefix}_{k}" for k in saccades] + ([f"{prefix}_oracle", f"{prefix}_random"] if bounds else [])
    reference = seed_rows([SACCADE_COUNTERPARTS[f"whatwhere_{k}"] for k in saccades
                           if k <= MAX_PUBLISHED_SACCADES]) if published else None
    return plot_benchmark(rows, reference_rows=reference, models=names, colors=saccade_colours(prefix),
                          title=title if title is not None else
                          "What/Where: accuracy after k saccades (solid: this book; dashed: published)")


def plot_accuracy_vs_saccades(rows: Sequence[dict], contrast: float = 0.7, prefix: str = "whatwhere",
                              published: bool = True, title: Optional[str] = None):
    """Accuracy against the number of saccades, one line per eccentricity (this book solid, published dashed).

    Returns:
        the figure (one axes).
    """
    c = contrast_key(contrast)

    def lines(source, name_of):
        out = {}
        for (model, _), per in group_rows(source).items():
            k = name_of(model)
            if k is not None and c in per:
                for e, acc in per[c].items():
                    out.setdefault(e, {})[k] = acc
        return out

    def own_k(model):
        tail = model[len(prefix) + 1:] if model.startswith(prefix + "_") else ""
        return int(tail) if tail.isdigit() else None

    def seed_k(model):
        inverse = {v: int(k.rsplit("_", 1)[1]) for k, v in SACCADE_COUNTERPARTS.items()}
        return inverse.get(model)

    own = lines(rows, own_k)
    if not own:
        raise ValueError(f"rows must hold {prefix}_<k> rows at contrast {contrast:g}, got none")
    ref = lines(seed_rows(list(SACCADE_COUNTERPARTS.values())), seed_k) if published else {}
    eccs = sorted(own)
    cmap = plt.get_cmap("plasma")
    fig, ax = plt.subplots(figsize=(6.8, 4.0), layout="constrained")
    for n, e in enumerate(eccs):
        colour = cmap(0.85 * n / max(len(eccs) - 1, 1))
        ks = sorted(own[e])
        ax.plot(ks, [own[e][k] for k in ks], "o-", color=colour, ms=4, label=f"{e:.1f} px")
        if e in ref:
            kr = sorted(ref[e])
            ax.plot(kr, [ref[e][k] for k in kr], "s--", color=colour, ms=3, lw=0.9)
    ax.axhline(0.1, color="gray", ls=":", lw=1)
    ax.set_xlabel("number of saccades")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(title="eccentricity", fontsize=7, title_fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title if title is not None else
                 f"Accuracy against the number of saccades, contrast {contrast:g} "
                 f"(solid: this book{'; dashed: published' if published else ''})", fontsize=10)
    return fig
