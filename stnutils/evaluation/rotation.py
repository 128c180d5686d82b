"""Rotated digits: does a spatial transformer turn them upright? The measurements.

A digit turned counter-clockwise by ``alpha`` is uprighted by sampling it with
``rotation_theta(-alpha)``, so a transformer that has learnt to upright digits predicts a
``theta`` whose angle (:func:`stnutils.models.transformer.theta_angle`) is about ``-alpha``.
For a thin-plate-spline model the angle is that of the affine least-squares fit of its
grid (the ``theta`` of its :meth:`~stnutils.models.attention.TPSSTN.attend`).

- :func:`rotation_readout`: true angle, predicted angle and correctness on a dataset.
- :func:`angle_agreement`: correlation, fitted slope and residual spread of predicted
  vs true angle, and the "uprighting gain" (1: fully uprights, 0: ignores the rotation).
- :func:`mean_grid_test`: accuracy with each input's own transform against one fixed
  (mean) transform for all: does the input-dependence of the transform matter?
- :func:`accuracy_by_angle`: accuracy in bins of the true angle.

The figures are in :mod:`stnutils.viz.rotation`.

Example:
    >>> a = np.array([-60.0, 0.0, 60.0])
    >>> angle_agreement(a, -a)["gain"]
    1.0
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from ..models.transformer import grid_sample_fill, theta_angle
from ..validation import check_positive_int
from .loop import predictions

__all__ = [
    "rotation_readout",
    "mean_grid_test",
    "angle_agreement",
    "accuracy_by_angle",
]


def rotation_readout(model, dataset, n: int, batch_size: int = 250) -> Dict[str, Optional[np.ndarray]]:
    """Run ``model`` on samples ``0 .. n-1`` of a rotated dataset and read its angles.

    Args:
        model: a classifier ``(B, 1, S, S) -> (B, 10)``; for an attention model (``attend``)
            the predicted angle is that of its theta (:func:`~stnutils.models.transformer.theta_angle`).
        dataset: a :class:`stnutils.data.NoisyMNIST28` (``batch`` and ``rotations``).
        n: samples, in [1, len(dataset)].
        batch_size: samples per forward.

    Returns:
        ``{"true_deg": (n,) float64 (counter-clockwise), "pred_deg": (n,) float64 or None
        (not an attention model), "labels": (n,), "predicted": (n,), "correct": (n,) bool}``.
    """
    check_positive_int("n", n)
    attend = callable(getattr(model, "attend", None))
    true, pred, labels, predicted = [], [], [], []
    for batch in predictions(model, dataset, n, batch_size, attend=attend):
        true.append(dataset.rotations(batch.indices).cpu().double())
        labels.append(batch.labels.cpu())
        predicted.append(batch.logits.argmax(1).cpu())
        if attend:
            pred.append(torch.rad2deg(theta_angle(batch.attention.theta.double())).cpu())
    labels_t, predicted_t = torch.cat(labels), torch.cat(predicted)
    return {
        "true_deg": torch.cat(true).numpy(),
        "pred_deg": torch.cat(pred).numpy() if attend else None,
        "labels": labels_t.numpy(),
        "predicted": predicted_t.numpy(),
        "correct": (labels_t == predicted_t).numpy(),
    }


def mean_grid_test(model, dataset, n: int, batch_size: int = 250) -> Dict[str, object]:
    """Does the transformer's input-dependence matter? Its own grids against their mean.

    Two passes over samples ``0 .. n-1``: the first runs the model and averages its
    sampling grids (the mean grid: one fixed transform for every input); the second
    classifies every input sampled on that mean grid with the model's own classifier.
    If both accuracies agree, what the localisation network adapts per input does not
    help the classifier; an uprighting transformer would lose much without it.

    Args:
        model: an attention model with a ``classifier`` (e.g. :class:`stnutils.models.STN28`,
            :class:`stnutils.models.TPSSTN`).
        dataset: ``batch(indices) -> (images, labels, ...)``.
        n: samples, in [1, len(dataset)].

    Returns:
        ``{"accuracy"`` (own grids), ``"accuracy_mean_grid"``, ``"grid_spread_px"`` (root
        mean square distance, in input pixels, between each input's sampling positions
        and the mean grid's), ``"mean_grid"`` ``(h, w, 2)``, ``"mean_scale"`` and
        ``"mean_angle_deg"`` (of the affine least-squares fit of the mean grid) ``}``.
    """
    check_positive_int("n", n)
    if not callable(getattr(model, "attend", None)) or not hasattr(model, "classifier"):
        raise ValueError(f"model must be an attention model with a classifier, got {type(model).__name__}")
    total, hits = None, 0
    for batch in predictions(model, dataset, n, batch_size, attend=True):
        hits += int(batch.correct.sum())
        part = batch.attention.grid.double().sum(0)
        total = part if total is None else total + part
    mean = total / n
    hits_mean, square = 0, 0.0
    for batch in predictions(model, dataset, n, batch_size, attend=True):
        images = batch.images
        size = torch.tensor(images.shape[-1:-3:-1], dtype=torch.float64, device=mean.device) / 2  # (W/2, H/2)
        square += float((((batch.attention.grid.double() - mean) * size) ** 2).sum(-1).sum())
        with torch.no_grad():
            fixed = grid_sample_fill(images, mean.to(images.dtype).expand(len(images), *mean.shape), fill=0.5)
            hits_mean += int((model.classifier(fixed).argmax(1) == batch.labels).sum())
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
