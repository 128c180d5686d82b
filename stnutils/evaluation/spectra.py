"""Power spectra of fields, averaged over rings of equal frequency (the MotionCloud check)."""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch

__all__ = ["radial_power_spectrum", "ring_average"]


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def radial_power_spectrum(fields) -> Tuple[np.ndarray, np.ndarray]:
    """Mean power spectrum of square fields, averaged over rings of equal frequency.

    Args:
        fields: ``(B, S, S)`` or ``(S, S)`` real fields (the mean of each is removed).

    Returns:
        ``(frequencies, power)``: ring centres ``k / S`` in cycles/pixel for
        ``k = 1 .. S // 2`` and the mean ``|FFT|^2 / S^2`` on each ring.

    Example:
        >>> f, p = radial_power_spectrum(torch.randn(4, 32, 32))
        >>> f.shape, p.shape, float(f[-1])
        ((16,), (16,), 0.5)
    """
    arr = _as_numpy(fields).astype(np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"fields must be (B, S, S) or (S, S), got shape {tuple(_as_numpy(fields).shape)}")
    size = arr.shape[-1]
    arr = arr - arr.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(arr)) ** 2).mean(axis=0) / size**2
    return ring_average(np.fft.fftshift(power))


def ring_average(centred: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Average a DC-centred ``(S, S)`` spectrum over rings ``k / S``, ``k = 1 .. S // 2``."""
    size = centred.shape[0]
    f = (np.arange(size) - size // 2) / size
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    ring = np.rint(radius * size).astype(int)
    kmax = size // 2
    sums = np.bincount(ring.ravel(), weights=centred.ravel(), minlength=kmax + 1)
    counts = np.bincount(ring.ravel(), minlength=kmax + 1)
    k = np.arange(1, kmax + 1)
    return k / size, sums[k] / counts[k]
