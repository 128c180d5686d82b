"""Figures that put several attention models (or one model at several contrasts) side by side.

- :func:`plot_contrast_sweep`: accuracy against the digit's contrast at one eccentricity,
  from benchmark rows (:func:`stnutils.metrics.benchmark` with ``eccentricities=[40.0]``),
  this book's models solid, reference rows (the seed's) dashed.
- :func:`show_glimpses_compared`: the same scenes once, with every model's sampling box
  drawn on them in its own colour, then one row of glimpses per model.

Both return a ``matplotlib.figure.Figure`` and never call ``plt.show()``.

Example:
    >>> rows = [dict(model="stn128", profile="quick", contrast=c, eccentricity=40.0, accuracy=c)
    ...         for c in (0.3, 0.5, 0.7)]
    >>> fig = plot_contrast_sweep(rows)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('digit contrast', 'accuracy')
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
import torch

from .plotting import _images, _to_numpy, sampling_corners

__all__ = ["plot_contrast_sweep", "show_glimpses_compared"]

# Distinct colours for up to 8 models, readable on a grey noisy background.
_BOX_COLOURS = ("red", "deepskyblue", "yellow", "lime", "magenta", "orange", "white", "cyan")


def _rows_at(rows, eccentricity: Optional[float]) -> Dict[Tuple[str, str], Tuple[np.ndarray, np.ndarray]]:
    """``{(model, profile): (contrasts ascending, accuracies)}`` of the rows at ``eccentricity``."""
    per: Dict[Tuple[str, str], Dict[float, float]] = {}
    for row in rows:
        if eccentricity is not None and abs(float(row["eccentricity"]) - eccentricity) > 1e-6:
            continue
        key = (str(row["model"]), str(row["profile"]))
        per.setdefault(key, {})[round(float(row["contrast"]), 4)] = float(row["accuracy"])
    return {k: (np.array(sorted(v)), np.array([v[c] for c in sorted(v)])) for k, v in per.items()}


def plot_contrast_sweep(
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
        rows: benchmark rows ``{model, profile, contrast, eccentricity, accuracy}``, drawn
            solid with round markers.
        reference_rows: rows drawn dashed with square markers (e.g. the seed's,
            :func:`stnutils.reference.seed_rows`).
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
        >>> ax = plot_contrast_sweep(rows, labels={"a": "model A"}).axes[0]
        >>> [line.get_label() for line in ax.get_lines()][:1]
        ['model A']
    """
    rows, reference_rows = list(rows), list(reference_rows or [])
    if eccentricity is not None and float(eccentricity) < 0:
        raise ValueError(f"eccentricity must be >= 0 pixels, got {eccentricity}")
    if eccentricity is None:
        eccs = {round(float(r["eccentricity"]), 6) for r in rows + reference_rows}
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


def show_glimpses_compared(
    images,
    results: dict,
    labels=None,
    n: int = 8,
    title: Optional[str] = None,
    ax_size: float = 1.45,
    fit_boxes: bool = True,
):
    """Scenes with each model's sampling box (top row), then each model's glimpses (one row each).

    Args:
        images: ``(B, 1, H, W)`` or ``(B, H, W)`` scenes in [0, 1].
        results: ``{model name: (glimpses (B, 1, h, w), theta (B, 2, 3), predictions (B,) or None)}``;
            the box of model k is drawn in the k-th colour, and its row's label has the same colour.
        labels: optional ``(B,)`` true digits, shown above the scenes; a glimpse's title is its
            prediction, marked ``✓`` when it equals the label.
        n: number of scenes shown (the first ``n``).
        title: the figure's title.
        fit_boxes: widen each scene's view so that every box is drawn whole, even where it
            leaves the scene; ``False`` keeps the view on the scene (boxes are clipped).

    Returns:
        the figure, ``(1 + len(results)) * min(n, B)`` axes (scenes row first).

    Raises:
        ValueError: no model, more models than colours (8), ``n < 1``, or shapes that do not
            match the scenes.

    Example:
        >>> x = torch.rand(2, 1, 64, 64)
        >>> theta = torch.tensor([[[0.25, 0., 0.2], [0., 0.25, -0.1]]]).repeat(2, 1, 1)
        >>> fig = show_glimpses_compared(x, {"a": (torch.rand(2, 1, 16, 16), theta, None)})
        >>> len(fig.axes), len(fig.axes[0].patches)
        (4, 1)
    """
    from matplotlib.patches import Polygon

    arr = _images(images)
    if not results:
        raise ValueError("results must hold at least one model, got 0")
    if len(results) > len(_BOX_COLOURS):
        raise ValueError(f"results must hold at most {len(_BOX_COLOURS)} models, got {len(results)}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    k = min(n, len(arr))
    if k == 0:
        raise ValueError("images must hold at least one scene, got 0")
    labels = None if labels is None else _to_numpy(labels).reshape(-1)
    models = []
    for name, value in results.items():
        if not isinstance(value, (tuple, list)) or len(value) != 3:
            raise ValueError(f"results[{name!r}] must be (glimpses, theta, predictions), got {type(value).__name__}")
        glimpses, theta, preds = value
        g = _images(glimpses)
        if len(g) != len(arr):
            raise ValueError(f"results[{name!r}] glimpses must hold {len(arr)} images, got {len(g)}")
        corners = sampling_corners(torch.as_tensor(theta).detach().cpu(), arr.shape[1:])
        p = None if preds is None else _to_numpy(preds).reshape(-1)
        models.append((str(name), g, corners, p))
    h, w = arr.shape[1:]
    fig, axes = plt.subplots(1 + len(models), k, figsize=(ax_size * k + 1.2, ax_size * (1 + len(models)) + 0.9),
                             squeeze=False, layout="constrained")
    for c in range(k):
        ax = axes[0, c]
        ax.imshow(arr[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for m, (_, _, corners, _) in enumerate(models):
            ax.add_patch(Polygon(corners[c], closed=True, fill=False, edgecolor=_BOX_COLOURS[m], linewidth=1.3))
        # the whole scene in view, and (fit_boxes) every box even where it leaves the scene
        xs, ys = [np.array([-0.5, w - 0.5])], [np.array([-0.5, h - 0.5])]
        if fit_boxes:
            xs += [corners[c, :, 0] for _, _, corners, _ in models]
            ys += [corners[c, :, 1] for _, _, corners, _ in models]
        xs, ys = np.concatenate(xs), np.concatenate(ys)
        ax.set_xlim(xs.min(), xs.max())
        ax.set_ylim(ys.max(), ys.min())
        if labels is not None:
            ax.set_title(f"label {int(labels[c])}", fontsize=8)
        for m, (_, g, _, p) in enumerate(models):
            gax = axes[1 + m, c]
            gax.imshow(g[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if p is not None:
                ok = labels is not None and int(p[c]) == int(labels[c])
                gax.set_title(f"pred {int(p[c])}" + (" ✓" if ok else ""), fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel(f"scene\n{h}x{w} px", fontsize=9)
    for m, (name, g, _, _) in enumerate(models):
        axes[1 + m, 0].set_ylabel(f"{name}\n({_BOX_COLOURS[m]} box)\n{g.shape[1]}x{g.shape[2]} px", fontsize=8)
    fig.suptitle(title if title is not None else "Where each model looks (boxes), and what it sees (rows below)",
                 fontsize=10)
    return fig
