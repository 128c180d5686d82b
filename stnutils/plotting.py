"""Figures for the lab book: labelled example grids, fields and spectra.

Every function returns a ``matplotlib.figure.Figure`` made with ``pyplot`` (shown by the
notebook's inline backend), with titles and axis units (pixels, cycles/pixel).

Example:
    >>> import torch
    >>> fig = show_examples(torch.rand(3, 1, 28, 28), labels=torch.tensor([1, 2, 3]))
    >>> len(fig.axes)
    3
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["show_examples", "show_grid", "show_field", "radial_power_spectrum", "show_radial_spectrum"]


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _images(images) -> np.ndarray:
    """``(B, 1, H, W)`` or ``(B, H, W)`` to ``(B, H, W)``."""
    arr = _to_numpy(images)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise ValueError(f"images must be (B, 1, H, W) or (B, H, W), got shape {tuple(arr.shape)}")
    return arr


def show_examples(
    images,
    labels=None,
    offsets=None,
    ncols: int = 8,
    title: Optional[str] = None,
    ax_size: float = 1.6,
):
    """A grid of grayscale images (intensity 0 black, 1 white), each titled by label and offset.

    Args:
        images: ``(B, 1, H, W)`` or ``(B, H, W)`` in [0, 1].
        labels: optional ``(B,)`` digit classes.
        offsets: optional ``(B, 2)`` integer (i, j) offsets in pixels (row, column).
        ncols: images per row.
        title: the figure's title (default: "B examples").
        ax_size: inches per image.

    Returns:
        the figure, one axes per image.
    """
    arr = _images(images)
    n = len(arr)
    if n == 0:
        raise ValueError("images must hold at least one image, got 0")
    labels = None if labels is None else _to_numpy(labels).reshape(-1)
    offsets = None if offsets is None else _to_numpy(offsets).reshape(-1, 2)
    for name, extra in (("labels", labels), ("offsets", offsets)):
        if extra is not None and len(extra) != n:
            raise ValueError(f"{name} must have one entry per image ({n}), got {len(extra)}")
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ax_size * ncols, ax_size * nrows + 0.5), squeeze=False, layout="constrained"
    )
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.remove()
            continue
        ax.imshow(arr[k], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        parts = []
        if labels is not None:
            parts.append(f"{int(labels[k])}")
        if offsets is not None:
            parts.append(f"({int(offsets[k, 0])}, {int(offsets[k, 1])})")
        if parts:
            ax.set_title("  ".join(parts), fontsize=9)
    suptitle = title if title is not None else f"{n} examples"
    if labels is not None or offsets is not None:
        key = " and ".join(
            name for name, val in (("label", labels), ("(i, j) offset in pixels", offsets)) if val is not None
        )
        suptitle += f"\n(each: {key})"
    fig.suptitle(suptitle, fontsize=10)
    return fig


def show_grid(
    images,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    ax_size: float = 1.8,
):
    """A table of images: one row per ``row_labels`` entry, one column per ``col_labels`` entry.

    Args:
        images: ``(R, C, 1, H, W)`` or ``(R, C, H, W)`` in [0, 1].
        row_labels, col_labels: text shown left of each row and above each column
            (include the unit, e.g. ``"40 px"``).
        title: the figure's title.

    Returns:
        the figure, ``R * C`` axes.
    """
    arr = _to_numpy(images)
    if arr.ndim == 5 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 4:
        raise ValueError(f"images must be (R, C, 1, H, W) or (R, C, H, W), got shape {tuple(arr.shape)}")
    nrows, ncols = arr.shape[:2]
    if len(row_labels) != nrows or len(col_labels) != ncols:
        raise ValueError(
            f"expected {nrows} row labels and {ncols} column labels, got {len(row_labels)} and {len(col_labels)}"
        )
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ax_size * ncols + 0.4, ax_size * nrows + 0.6), squeeze=False, layout="constrained"
    )
    for r in range(nrows):
        for c in range(ncols):
            ax = axes[r, c]
            ax.imshow(arr[r, c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(str(col_labels[c]), fontsize=9)
            if c == 0:
                ax.set_ylabel(str(row_labels[r]), fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def show_field(
    image,
    title: str,
    extent_px: bool = True,
    cmap: str = "gray",
    vmin: Optional[float] = 0.0,
    vmax: Optional[float] = 1.0,
    cbar_label: str = "intensity (a.u.)",
    size: float = 4.0,
):
    """One image with a colour bar; axes in pixels.

    Args:
        image: ``(H, W)``, ``(1, H, W)`` or ``(1, 1, H, W)``.
        title: the axes title.
        extent_px: label the axes in pixels from the centre (``j`` right, ``i`` down);
            otherwise in pixel indices from the top-left corner.
        vmin, vmax: colour limits (``None``: the data's range).
        cbar_label: the colour bar's label.

    Returns:
        the figure (two axes: the image and the colour bar).
    """
    arr = _to_numpy(image)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"image must be (H, W) or (1, H, W), got shape {tuple(_to_numpy(image).shape)}")
    h, w = arr.shape
    fig, ax = plt.subplots(figsize=(size + 1.0, size), layout="constrained")
    if extent_px:
        extent = (-w / 2, w / 2, h / 2, -h / 2)
        ax.set_xlabel("j: column from centre (pixels)")
        ax.set_ylabel("i: row from centre (pixels)")
    else:
        extent = None
        ax.set_xlabel("column (pixels)")
        ax.set_ylabel("row (pixels)")
    im = ax.imshow(arr, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label=cbar_label, shrink=0.85)
    return fig


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
    arr = _to_numpy(fields).astype(np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"fields must be (B, S, S) or (S, S), got shape {tuple(_to_numpy(fields).shape)}")
    size = arr.shape[-1]
    arr = arr - arr.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(arr)) ** 2).mean(axis=0) / size**2
    return _ring_average(np.fft.fftshift(power))


def _ring_average(centred: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
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
            :func:`stnutils.motioncloud_envelope`); its square is drawn for comparison.
        sf_0: optional central frequency (cycles/pixel), drawn as a vertical line.
        title: the figure's title.

    Returns:
        the figure: left the 2-D spectrum, right power vs frequency (both normalised to
        their peak), frequencies in cycles/pixel.
    """
    arr = _to_numpy(fields).astype(np.float64)
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
        env = _to_numpy(envelope).astype(np.float64)
        if env.shape != (size, size):
            raise ValueError(f"envelope must be ({size}, {size}) like the fields, got shape {tuple(env.shape)}")
        ef, ep = _ring_average(env**2)
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
