"""Where a model looks: glimpse centres against the digit, and a readout of the retina code.

- :func:`glimpse_errors`: an attention model's glimpse centre against the digit's position.
- :func:`oracle_glimpses`: the same model's classifier fed the glimpse on the digit's true
  position: the ceiling of that classifier, to tell a poor "where" from a poor "what".
- :func:`angle_difference`, :func:`direction_error`: the angle between two directions, or
  between two sets of ``(i, j)`` offsets.
- :func:`offset_correlation`: how closely glimpse centres follow the digit, per axis.
- :func:`brightest_direction`: the direction of the strongest retina-code energy, a readout
  of *where* that needs no training.

Example:
    >>> true = np.array([[0.0, 10.0], [10.0, 0.0]])
    >>> np.degrees(direction_error(np.array([[0.0, 3.0], [0.0, 4.0]]), true)).round(1).tolist()
    [0.0, 90.0]
    >>> true, centres = torch.tensor([[1, 2], [3, 4], [5, 0]]), torch.tensor([[2.0, 7.0], [6.0, 7.0], [10.0, 7.0]])
    >>> [round(c, 6) for c in offset_correlation(true, centres)]  # j: a glimpse that never moves
    [1.0, 0.0]
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import torch

from ..models.retina import code_energy
from ..models.transformer import affine_grid, grid_sample_fill, offset_to_theta
from ..validation import check_positive_int
from .loop import predictions

__all__ = ["glimpse_errors", "oracle_glimpses", "angle_difference", "direction_error", "offset_correlation",
           "brightest_direction"]


def glimpse_errors(model, dataset, n: int, batch_size: int = 250) -> Dict[str, np.ndarray]:
    """Where an attention model looks: its glimpse centre against the digit's position.

    Runs ``model.attend`` on samples ``0 .. n-1`` of ``dataset`` (:func:`~stnutils.evaluation.loop.predictions`).

    Args:
        model: an attention model of :mod:`stnutils.models` (``attend``).
        dataset: e.g. :class:`stnutils.data.NoisyMNIST128`; ``batch(indices) -> (images, labels, offsets)``.
        n: samples, in [1, len(dataset)].

    Returns:
        ``{"predicted": (n, 2), "true": (n, 2)`` pixel ``(i, j)``, ``"distance": (n,)`` pixels,
        ``"correct": (n,)`` bool ``}``.
    """
    check_positive_int("n", n)
    pred, true, correct = [], [], []
    for batch in predictions(model, dataset, n, batch_size, attend=True):
        pred.append(batch.attention.offset.cpu().double())
        true.append(batch.offsets.cpu().double())
        correct.append(batch.correct.cpu())
    p, t = torch.cat(pred).numpy(), torch.cat(true).numpy()
    return {"predicted": p, "true": t, "distance": np.hypot(*(p - t).T), "correct": torch.cat(correct).numpy()}


def oracle_glimpses(model, dataset, n: int, batch_size: int = 250) -> Dict[str, np.ndarray]:
    """The model's own glimpse against the *oracle* glimpse: the same zoom, centred on the digit.

    For each sample ``0 .. n-1`` the linear part of the model's ``theta`` (its zoom) is kept
    and the translation replaced by the digit's true offset; ``model.classifier`` reads that
    glimpse (grey 0.5 outside the scene, as the models fill). The oracle accuracy is the
    ceiling of the classifier: a model far below it looks in the wrong place.

    Args:
        model: an attention model with ``attend`` and a ``classifier`` on ``(B, 1, h, w)``
            glimpses (:class:`~stnutils.models.HeatATN`, ``FastATN``, ``ATN``, ...).
        dataset: e.g. :class:`stnutils.data.NoisyMNIST128` (``batch`` gives the offsets).
        n: samples, in [1, len(dataset)].

    Returns:
        ``{"correct": (n,) bool`` (own glimpse), ``"oracle_correct": (n,) bool``,
        ``"distance": (n,)`` pixels between the glimpse centre and the digit ``}``.

    Raises:
        ValueError: a model without ``classifier`` or a dataset without offsets.
    """
    check_positive_int("n", n)
    if not isinstance(getattr(model, "classifier", None), torch.nn.Module):
        raise ValueError(f"model must have a 'classifier' module reading its glimpse, {type(model).__name__} has none")
    own, oracle, dist = [], [], []
    for batch in predictions(model, dataset, n, batch_size, attend=True):
        if batch.offsets is None:
            raise ValueError("dataset must give the digits' offsets (batch() -> images, labels, offsets)")
        att, size = batch.attention, batch.images.shape[-2:]
        theta = att.theta.clone()
        theta[:, :, 2] = offset_to_theta(batch.offsets.to(theta.dtype), size)[:, :, 2]
        with torch.no_grad():
            glimpse = grid_sample_fill(batch.images, affine_grid(theta, att.glimpse.shape[-2:], theta.dtype), fill=0.5)
            oracle.append((model.classifier(glimpse).argmax(1) == batch.labels).cpu())
        own.append(batch.correct.cpu())
        dist.append(torch.linalg.vector_norm(att.offset.double() - batch.offsets.double(), dim=1).cpu())
    return {"correct": torch.cat(own).numpy(), "oracle_correct": torch.cat(oracle).numpy(),
            "distance": torch.cat(dist).numpy()}


def angle_difference(a, b) -> np.ndarray:
    """``|a - b|`` wrapped to [0, pi]: the angle between directions ``a`` and ``b`` (radians)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return np.abs(np.remainder(d + np.pi, 2 * np.pi) - np.pi)


def direction_error(predicted, true) -> np.ndarray:
    """Angle (radians, in [0, pi]) between offsets ``predicted`` and ``true``, each ``(N, 2)`` ``(i, j)``.

    Directions are counted counter-clockwise on screen (``atan2(-i, j)``); an offset of
    ``(0, 0)`` has direction 0.
    """
    p = np.asarray(predicted, dtype=np.float64).reshape(-1, 2)
    t = np.asarray(true, dtype=np.float64).reshape(-1, 2)
    if p.shape != t.shape:
        raise ValueError(f"predicted and true must have the same shape (N, 2), got {p.shape} and {t.shape}")
    return angle_difference(np.arctan2(-p[:, 0], p[:, 1]), np.arctan2(-t[:, 0], t[:, 1]))


def offset_correlation(true, predicted) -> Tuple[float, float]:
    """Pearson correlation of predicted with true offsets, for rows ``i`` and columns ``j``.

    A predicted coordinate that does not vary (a glimpse that never moves) does not follow
    the digit: its correlation is 0, not undefined.

    Args:
        true: ``(N, 2)`` true ``(i, j)`` offsets (pixels), ``N >= 2``.
        predicted: ``(N, 2)`` glimpse centres ``(i, j)``.

    Returns:
        ``(correlation along i, correlation along j)``.
    """
    t = torch.as_tensor(true).detach().cpu().double().reshape(-1, 2)
    p = torch.as_tensor(predicted).detach().cpu().double().reshape(-1, 2)
    if t.shape != p.shape or len(t) < 2:
        raise ValueError(f"true and predicted must be (N, 2) with N >= 2 and the same shape, "
                         f"got {tuple(t.shape)} and {tuple(p.shape)}")
    out = []
    for k in range(2):
        if float(p[:, k].std()) == 0.0 or float(t[:, k].std()) == 0.0:
            out.append(0.0)
        else:
            out.append(float(torch.corrcoef(torch.stack([t[:, k], p[:, k]]))[0, 1]))
    return out[0], out[1]


def brightest_direction(codes: torch.Tensor, retina, min_radius: float = 0.0) -> torch.Tensor:
    """A hand-made *where* readout: the azimuth of the strongest code energy.

    Each ring's energies (:func:`~stnutils.models.retina.code_energy`) are divided by their mean over the
    azimuths (the rings' gains differ), and the filter position with the largest value
    among the rings at least ``min_radius`` pixels from the centre gives the direction.
    No learning: it tells whether the code carries the digit's direction at all.

    Args:
        codes: ``(N, n_filters)`` codes of ``retina``.
        retina: the :class:`stnutils.models.retina.Retina` that made them.
        min_radius: pixels; rings closer to the centre are ignored.

    Returns:
        ``(N,)`` float64 azimuths in radians, counter-clockwise on screen (0 = right),
        comparable with ``atan2(-i, j)`` of an offset ``(i, j)``.

    Example:
        >>> from stnutils.models.retina import PolarLogRetina
        >>> r = PolarLogRetina(size=32, n_orientations=2, n_eccentricities=2, n_azimuths=4)
        >>> brightest_direction(r.encode(torch.rand(3, 1, 32, 32)), r).shape
        torch.Size([3])
    """
    radii = retina.ring_radii()
    keep = torch.as_tensor(radii >= float(min_radius))
    if not bool(keep.any()):
        raise ValueError(f"min_radius must leave at least one ring (outermost at {radii[-1]:.1f} px), "
                         f"got {min_radius!r}")
    energy = code_energy(codes.detach().cpu().double(), retina.code_shape)  # (N, A, E)
    energy = energy / energy.mean(dim=1, keepdim=True).clamp_min(1e-12)
    energy = energy[:, :, keep]
    psi = torch.as_tensor(retina.azimuths())[:, keep]  # (A, E_kept)
    best = energy.flatten(1).argmax(dim=1)
    return psi.flatten()[best]
