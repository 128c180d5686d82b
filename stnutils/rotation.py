"""Rotated digits: does a spatial transformer turn them upright? Measurements and figures.

A digit turned counter-clockwise by ``alpha`` is uprighted by sampling it with
``rotation_theta(-alpha)``, so a transformer that has learnt to upright digits predicts a
``theta`` whose angle (:func:`stnutils.transformer.theta_angle`) is about ``-alpha``. For a
thin-plate-spline model the angle is that of the affine least-squares fit of its grid
(``model.last_theta``).

- :func:`rotation_readout`: true angle, predicted angle and correctness on a dataset.
- :func:`angle_agreement`: correlation, fitted slope and residual spread of predicted
  vs true angle, and the "uprighting gain" (1: fully uprights, 0: ignores the rotation).
- :func:`mean_grid_test`: accuracy with each input's own transform against one fixed
  (mean) transform for all: does the input-dependence of the transform matter?
- :func:`accuracy_by_angle`: accuracy in bins of the true angle.
- :func:`plot_angle_scatter`, :func:`plot_accuracy_by_angle`, :func:`draw_sampling_grids`.

Example:
    >>> a = np.array([-60.0, 0.0, 60.0])
    >>> angle_agreement(a, -a)["gain"]
    1.0
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from ._validate import check_positive_int, check_range
from .transformer import theta_angle

__all__ = [
    "rotation_readout",
    "mean_grid_test",
    "angle_agreement",
    "accuracy_by_angle",
    "plot_angle_scatter",
    "plot_accuracy_by_angle",
    "draw_sampling_grids",
]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


@torch.no_grad()
def rotation_readout(model, dataset, n: int, batch_size: int = 250) -> Dict[str, Optional[np.ndarray]]:
    """Run ``model`` on samples ``0 .. n-1`` of a rotated dataset and read its angles.

    Args:
        model: a classifier ``(B, 1, S, S) -> (B, 10)``; if it keeps ``last_theta`` (the
            transformer models) the predicted angle is read from it after each forward.
        dataset: a :class:`stnutils.NoisyMNIST28` (``batch`` and ``rotations``).
        n: samples, in [1, len(dataset)].
        batch_size: samples per forward.

    Returns:
        ``{"true_deg": (n,) float64 (counter-clockwise), "pred_deg": (n,) float64 or None
        (no ``last_theta``), "labels": (n,), "predicted": (n,), "correct": (n,) bool}``.
    """
    check_positive_int("n", n)
    check_range("n", n, 1, len(dataset))
    check_positive_int("batch_size", batch_size)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    true, pred, labels, predicted = [], [], [], []
    has_theta = hasattr(model, "last_theta")
    try:
        for start in range(0, n, batch_size):
            idx = list(range(start, min(n, start + batch_size)))
            images, y, _ = dataset.batch(idx)
            logits = model(images.to(device))
            true.append(dataset.rotations(idx).cpu().double())
            labels.append(y.cpu())
            predicted.append(logits.argmax(1).cpu())
            if has_theta:
                pred.append(torch.rad2deg(theta_angle(model.last_theta.detach().double())).cpu())
    finally:
        model.train(was_training)
    labels_t, predicted_t = torch.cat(labels), torch.cat(predicted)
    return {
        "true_deg": torch.cat(true).numpy(),
        "pred_deg": torch.cat(pred).numpy() if has_theta else None,
        "labels": labels_t.numpy(),
        "predicted": predicted_t.numpy(),
        "correct": (labels_t == predicted_t).numpy(),
    }


def _sampling_grid(model, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Forward ``images``; return ``(logits, grid (N, h, w, 2))`` of the transformer model."""
    logits = model(images)
    grid = getattr(model, "last_grid", None)
    if grid is None:
        theta = model.last_theta
        h, w = model.stn.out_size
        grid = F.affine_grid(theta, [len(images), 1, h, w], align_corners=False)
    return logits, grid


@torch.no_grad()
def mean_grid_test(model, dataset, n: int, batch_size: int = 250) -> Dict[str, object]:
    """Does the transformer's input-dependence matter? Its own grids against their mean.

    Two passes over samples ``0 .. n-1``: the first runs the model and averages its
    sampling grids (the mean grid: one fixed transform for every input); the second
    classifies every input sampled on that mean grid with the model's own classifier.
    If both accuracies agree, what the localisation network adapts per input does not
    help the classifier; an uprighting transformer would lose much without it.

    Args:
        model: a transformer model with ``classifier`` and ``last_theta`` (affine, e.g.
            :class:`stnutils.models.STN28`) or ``last_grid`` (:class:`stnutils.models.TPSSTN`).
        dataset: ``batch(indices) -> (images, labels, ...)``.
        n: samples, in [1, len(dataset)].

    Returns:
        ``{"accuracy"`` (own grids), ``"accuracy_mean_grid"``, ``"grid_spread_px"`` (root
        mean square distance, in input pixels, between each input's sampling positions
        and the mean grid's), ``"mean_grid"`` ``(h, w, 2)``, ``"mean_scale"`` and
        ``"mean_angle_deg"`` (of the affine least-squares fit of the mean grid) ``}``.
    """
    from .transformer import grid_sample_fill

    check_positive_int("n", n)
    check_range("n", n, 1, len(dataset))
    check_positive_int("batch_size", batch_size)
    if not hasattr(model, "classifier") or not hasattr(model, "last_theta"):
        raise ValueError(f"model must be a transformer model with a classifier, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    spans = [list(range(a, min(n, a + batch_size))) for a in range(0, n, batch_size)]
    try:
        total, hits = None, 0
        for idx in spans:
            images, labels, *_ = dataset.batch(idx)
            logits, grid = _sampling_grid(model, images.to(device))
            hits += int((logits.argmax(1).cpu() == labels.cpu()).sum())
            part = grid.double().sum(0)
            total = part if total is None else total + part
        mean = total / n
        hits_mean, square = 0, 0.0
        size = torch.tensor(images.shape[-1:-3:-1], dtype=torch.float64, device=mean.device) / 2  # (W/2, H/2)
        for idx in spans:
            images, labels, *_ = dataset.batch(idx)
            images = images.to(device)
            _, grid = _sampling_grid(model, images)
            square += float((((grid.double() - mean) * size) ** 2).sum(-1).sum())
            fixed = grid_sample_fill(images, mean.to(images.dtype).expand(len(images), *mean.shape), fill=0.5)
            hits_mean += int((model.classifier(fixed).argmax(1).cpu() == labels.cpu()).sum())
    finally:
        model.train(was_training)
    h, w = mean.shape[:2]
    ys = (2 * torch.arange(h, dtype=torch.float64) + 1) / h - 1
    xs = (2 * torch.arange(w, dtype=torch.float64) + 1) / w - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    design = torch.stack([xx.reshape(-1), yy.reshape(-1), torch.ones(h * w, dtype=torch.float64)], 1)
    fit = torch.linalg.lstsq(design, mean.cpu().reshape(-1, 2)).solution.T  # (2, 3) affine theta
    return {
        "accuracy": hits / n,
        "accuracy_mean_grid": hits_mean / n,
        "grid_spread_px": (square / (n * h * w)) ** 0.5,
        "mean_grid": mean.cpu().float(),
        "mean_scale": float(torch.linalg.det(fit[:, :2]).abs().sqrt()),
        "mean_angle_deg": float(torch.rad2deg(theta_angle(fit[None].float()))[0]),
    }


def angle_agreement(true_deg, pred_deg) -> Dict[str, float]:
    """How well predicted angles follow the uprighting answer ``-true``.

    Args:
        true_deg: ``(n,)`` true rotations of the digits (degrees, counter-clockwise).
        pred_deg: ``(n,)`` angles of the predicted thetas (degrees), ``n >= 3``.

    Returns:
        ``{"n", "correlation"`` (Pearson, predicted vs true: -1 for a perfect uprighter),
        ``"slope", "intercept"`` (least squares, predicted = slope × true + intercept),
        ``"gain"`` (= -slope: 1 uprights fully, 0 ignores the rotation),
        ``"residual_std"`` (degrees, about the fitted line),
        ``"upright_rmse"`` (degrees, root mean square of predicted + true: the tilt left
        after the transformer), ``"input_rms"`` (degrees, root mean square of true: the
        tilt without any transformer) ``}``.

    Example:
        >>> r = angle_agreement([-90, 0, 90], [45, 0, -45])
        >>> round(r["gain"], 3), round(r["correlation"], 3), round(r["upright_rmse"], 2)
        (0.5, -1.0, 36.74)
    """
    t = np.asarray(true_deg, dtype=np.float64).reshape(-1)
    p = np.asarray(pred_deg, dtype=np.float64).reshape(-1)
    if len(t) != len(p):
        raise ValueError(f"true_deg and pred_deg must have the same length, got {len(t)} and {len(p)}")
    if len(t) < 3:
        raise ValueError(f"true_deg must hold at least 3 angles, got {len(t)}")
    if np.ptp(t) == 0:
        raise ValueError("true_deg must not be constant (no slope can be fitted)")
    slope, intercept = np.polyfit(t, p, 1)
    residual = p - (slope * t + intercept)
    corr = float(np.corrcoef(t, p)[0, 1]) if np.ptp(p) > 0 else 0.0
    return {
        "n": int(len(t)),
        "correlation": corr,
        "slope": float(slope),
        "intercept": float(intercept),
        "gain": float(-slope),
        "residual_std": float(residual.std()),
        "upright_rmse": float(np.sqrt(np.mean((p + t) ** 2))),
        "input_rms": float(np.sqrt(np.mean(t**2))),
    }


def accuracy_by_angle(true_deg, correct, edges: Sequence[float]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy in bins of the true angle.

    Args:
        true_deg: ``(n,)`` degrees.
        correct: ``(n,)`` bool.
        edges: increasing bin edges (degrees), at least 2; the last bin includes its right edge.

    Returns:
        ``(centres, accuracy, counts)``, each ``(len(edges) - 1,)``; accuracy is NaN in an empty bin.

    Example:
        >>> accuracy_by_angle([-50, -10, 10, 50], [True, False, True, True], [-90, 0, 90])[1].tolist()
        [0.5, 1.0]
    """
    t = np.asarray(true_deg, dtype=np.float64).reshape(-1)
    c = np.asarray(correct, dtype=bool).reshape(-1)
    e = np.asarray(edges, dtype=np.float64)
    if len(t) != len(c):
        raise ValueError(f"true_deg and correct must have the same length, got {len(t)} and {len(c)}")
    if e.ndim != 1 or len(e) < 2 or np.any(np.diff(e) <= 0):
        raise ValueError(f"edges must be at least 2 increasing values, got {list(edges)!r}")
    which = np.clip(np.searchsorted(e, t, side="right") - 1, 0, len(e) - 2)
    inside = (t >= e[0]) & (t <= e[-1])
    counts = np.bincount(which[inside], minlength=len(e) - 1)
    hits = np.bincount(which[inside], weights=c[inside].astype(np.float64), minlength=len(e) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    return (e[:-1] + e[1:]) / 2, acc, counts


def plot_angle_scatter(readouts: Dict[str, Tuple[np.ndarray, np.ndarray]], title: Optional[str] = None,
                       size: float = 3.8, max_points: int = 2000):
    """Predicted vs true rotation, one panel per model, with the uprighting line ``-α``.

    Args:
        readouts: ``{model name: (true_deg, pred_deg)}``.
        title: the figure's title.
        max_points: at most this many points drawn per panel (the statistics use all).

    Returns:
        the figure, one axes per model; each title gives the correlation, the gain
        (-slope) and the residual spread (:func:`angle_agreement`).
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


def draw_sampling_grids(images, grids, labels=None, angles=None, n: int = 8, step: int = 3,
                        title: Optional[str] = None, ax_size: float = 2.0):
    """Inputs with the transformer's sampling grid drawn on them (every ``step``-th grid line).

    Args:
        images: ``(B, 1, H, W)`` or ``(B, H, W)`` in [0, 1].
        grids: ``(B, h, w, 2)`` normalised ``(x, y)`` sampling positions (``grid_sample``,
            ``align_corners=False``), e.g. ``TPSSTN.last_grid``.
        labels: optional ``(B,)`` digits; angles: optional ``(B,)`` true rotations (degrees).
        n: images shown (the first ``n``).
        step: draw every ``step``-th row and column of the grid.
        title: the figure's title.

    Returns:
        the figure, one axes per image; the output's top row is drawn in orange, so a
        grid that turns shows which way.
    """
    arr = _np(images)
    if arr.ndim == 4:
        arr = arr[:, 0]
    g = _np(grids).astype(np.float64)
    if arr.ndim != 3 or g.ndim != 4 or g.shape[-1] != 2 or len(g) != len(arr):
        raise ValueError(f"grids must be ({len(arr)}, h, w, 2) for {len(arr)} images of shape (H, W), "
                         f"got images {arr.shape} and grids {g.shape}")
    check_positive_int("n", n)
    check_positive_int("step", step)
    k = min(n, len(arr))
    h_in, w_in = arr.shape[1:]
    cols = ((g[..., 0] + 1) * w_in - 1) / 2
    rows = ((g[..., 1] + 1) * h_in - 1) / 2
    fig, axes = plt.subplots(1, k, figsize=(ax_size * k + 0.4, ax_size + 0.9), squeeze=False, layout="constrained")
    h_out, w_out = g.shape[1:3]
    keep_r = sorted(set(range(0, h_out, step)) | {h_out - 1})
    keep_c = sorted(set(range(0, w_out, step)) | {w_out - 1})
    for c, ax in enumerate(axes[0]):
        ax.imshow(arr[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for r in keep_r:
            ax.plot(cols[c, r], rows[c, r], "-", color="orange" if r == 0 else "red", lw=1.4 if r == 0 else 0.7)
        for q in keep_c:
            ax.plot(cols[c, :, q], rows[c, :, q], "-", color="red", lw=0.7)
        ax.set_xlim(min(-0.5, cols[c].min() - 1), max(w_in - 0.5, cols[c].max() + 1))
        ax.set_ylim(max(h_in - 0.5, rows[c].max() + 1), min(-0.5, rows[c].min() - 1))
        ax.set_xticks([])
        ax.set_yticks([])
        parts = []
        if labels is not None:
            parts.append(f"label {int(_np(labels).reshape(-1)[c])}")
        if angles is not None:
            parts.append(f"α = {float(_np(angles).reshape(-1)[c]):+.0f}°")
        if parts:
            ax.set_title(", ".join(parts), fontsize=8)
    axes[0, 0].set_ylabel(f"{h_in}x{w_in} px input", fontsize=9)
    fig.suptitle((title if title is not None else "Sampling grids of the transformer")
                 + f"\n(grid lines {step} output pixels apart, {h_out}x{w_out} output; orange: its top row)", fontsize=10)
    return fig
