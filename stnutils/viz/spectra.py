"""The power spectrum of fields against a spectral envelope (the MotionCloud check of week 1)."""
from __future__ import annotations

from typing import Optional

import matplotlib.pyplot as plt
import numpy as np

from ..evaluation.spectra import radial_power_spectrum, ring_average
from ._common import to_numpy

__all__ = ["show_radial_spectrum"]


def show_radial_spectrum(
    fields,
    envelope=None,
    sf_0: Optional[float] = None,
    title: str = "Radial power spectrum",
):
    """The measured power spectrum of ``fields``: 2-D (log scale) and averaged over rings.

    Args:
        fields: ``(B, S, S)`` real fields.
        envelope: optional DC-centred ``(S, S)`` spectral envelope (amplitude; e.g.
            :func:`stnutils.data.motioncloud_envelope`); its square is drawn for comparison.
        sf_0: optional central frequency (cycles/pixel), drawn as a vertical line.
        title: the figure's title.

    Returns:
        the figure: left the 2-D spectrum, right power vs frequency (both normalised to
        their peak), frequencies in cycles/pixel.
    """
    arr = to_numpy(fields).astype(np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    freqs, power = radial_power_spectrum(arr)
    size = arr.shape[-1]
    centred = np.fft.fftshift((np.abs(np.fft.fft2(arr - arr.mean(axis=(1, 2), keepdims=True))) ** 2).mean(axis=0))
    fig, (ax2d, ax1d) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    half = 0.5
    im = ax2d.imshow(
        np.log10(centred / centred.max() + 1e-12),
        extent=(-half, half - 1 / size, half - 1 / size, -half),
        cmap="magma",
        vmin=-4,
        vmax=0,
    )
    ax2d.set_xlabel("f_y (cycles/pixel)")
    ax2d.set_ylabel("f_x (cycles/pixel)")
    ax2d.set_title(f"2-D power spectrum (mean of {len(arr)} fields)", fontsize=10)
    fig.colorbar(im, ax=ax2d, label="log10 power (relative to peak)", shrink=0.85)
    ax1d.loglog(freqs, power / power.max(), "o-", ms=3, label=f"measured (mean of {len(arr)} fields)")
    if envelope is not None:
        env = to_numpy(envelope).astype(np.float64)
        if env.shape != (size, size):
            raise ValueError(f"envelope must be ({size}, {size}) like the fields, got shape {tuple(env.shape)}")
        ef, ep = ring_average(env**2)
        ax1d.loglog(ef, ep / ep.max(), "-", lw=2, alpha=0.7, label="envelope squared")
    if sf_0 is not None:
        ax1d.axvline(sf_0, color="gray", ls="--", lw=1, label=f"sf_0 = {sf_0:g} cycles/pixel")
    ax1d.set_ylim(1e-4, 2)
    ax1d.set_xlabel("spatial frequency (cycles/pixel)")
    ax1d.set_ylabel("power (relative to peak)")
    ax1d.set_title("averaged over rings of equal frequency", fontsize=10)
    ax1d.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig
