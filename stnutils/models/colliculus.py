"""The collicular map of the What/Where model: 24 azimuths x 10 eccentricities of smooth kernels.

Daucé, Albiges & Perrinet (2020) read out the Where pathway on a log-polar "collicular"
map: one cell per filter position of the retina, whose kernel is the sum over
orientations and phases of the squared log-Gabor filters there, normalised to sum 1
(:func:`collicular_kernels`, from the *plain*, un-whitened bank). A field over the
scene (an accuracy map placed where the digit is) is projected onto the cells by a dot
product with each kernel (:func:`project`); :func:`back_project` spreads cell values
back over the pixels. A saccade to cell ``c`` goes to the arg-max pixel of its kernel
(:func:`kernel_offsets`).

The Where pathway's target for a digit at offset ``(i, j)`` is the What accuracy map,
placed so that a fovea centred at pixel ``h + s`` (``h = S // 2``) scores ``acc(i - s)``,
with ``baseline`` (chance, 0.1) where the map has no cell, projected onto the kernels.
:func:`target_table` computes it once for every integer offset, so a batch of targets is
a gather (:func:`collicular_targets`).

Conventions: pixel ``h + s`` of the field (``h = S // 2 = 64``) is fixation, saccade and
digit offset ``s``; the 28x28 fovea at fixation ``s`` is rows ``50 + s .. 77 + s``, and a
digit at offset ``i`` occupies the same rows when ``s = i``. Cells are ordered
``azimuth * n_eccentricities + eccentricity``.

Example:
    >>> k = torch.zeros(2, 16); k[0, 5] = 1.0; k[1, 10] = 1.0
    >>> kernel_offsets(k, 4).tolist()
    [[-1, -1], [0, 0]]
    >>> project(torch.arange(16.0).view(1, 4, 4), k).tolist()
    [[5.0, 10.0]]
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..validation import check_range, check_tensor

__all__ = [
    "MAP_RADIUS",
    "collicular_kernels",
    "kernel_offsets",
    "project",
    "back_project",
    "full_accuracy_map",
    "target_table",
    "collicular_targets",
]

#: The What accuracy map covers shifts -27..27 on each axis (55 x 55 cells), as the reference's.
MAP_RADIUS = 27


def collicular_kernels(bank: torch.Tensor, code_shape: Sequence[int]) -> torch.Tensor:
    """Kernels of the collicular cells: sum of squared filters over orientations and phases, sum 1.

    Args:
        bank: ``(n_filters, S * S)`` plain (un-whitened) log-Gabor bank, rows in the order
            ``(orientation, azimuth, eccentricity, phase)`` (``Retina.bank``).
        code_shape: ``(n_orientations, n_azimuths, n_eccentricities, n_phases)``.

    Returns:
        ``(n_azimuths * n_eccentricities, S * S)`` float32, non-negative, each row summing to 1.

    Example:
        >>> collicular_kernels(torch.randn(2 * 3 * 4 * 2, 25), (2, 3, 4, 2)).sum(1).round().tolist()[:3]
        [1.0, 1.0, 1.0]
    """
    o, a, e, p = (int(v) for v in code_shape)
    check_tensor("bank", bank, (o * a * e * p, None))
    energy = bank.to(torch.float64).view(o, a, e, p, -1).pow(2).sum(dim=(0, 3)).reshape(a * e, -1)
    return (energy / energy.sum(dim=1, keepdim=True).clamp_min(1e-30)).to(torch.float32)


def kernel_offsets(kernels: torch.Tensor, size: int) -> torch.Tensor:
    """Where a saccade to each cell goes: the arg-max pixel of its kernel minus ``size // 2``.

    Args:
        kernels: ``(C, size * size)``.
        size: side of the field, pixels.

    Returns:
        ``(C, 2)`` int64 ``(i, j)`` offsets (row, column) from pixel ``(size // 2, size // 2)``.
    """
    check_tensor("kernels", kernels, (None, size * size))
    peak = kernels.argmax(dim=1)
    return torch.stack([peak // size, peak % size], dim=1) - size // 2


def project(fields: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Fields over the scene -> collicular cells: each cell's kernel-weighted mean of the field.

    Args:
        fields: ``(N, S, S)`` or ``(N, 1, S, S)``.
        kernels: ``(C, S * S)`` (:func:`collicular_kernels`).

    Returns:
        ``(N, C)``; a constant field gives that constant in every cell.
    """
    flat = fields.reshape(len(fields), -1)
    check_tensor("kernels", kernels, (None, flat.shape[1]))
    return flat.to(kernels.dtype) @ kernels.T


def back_project(cells: torch.Tensor, kernels: torch.Tensor, size: int) -> torch.Tensor:
    """Collicular cells -> a field: each pixel the mean of the cells' values weighted by their kernels.

    Where no kernel reaches (beyond every cell's support), the field is the mean cell value.

    Args:
        cells: ``(N, C)``.
        kernels: ``(C, size * size)``.
        size: side of the field.

    Returns:
        ``(N, 1, size, size)``; a constant ``cells`` gives that constant everywhere.
    """
    check_tensor("kernels", kernels, (None, size * size))
    check_tensor("cells", cells, (None, kernels.shape[0]))
    weight = kernels.sum(dim=0)  # (S^2,)
    field = cells.to(kernels.dtype) @ kernels  # (N, S^2)
    mean = cells.to(kernels.dtype).mean(dim=1, keepdim=True)
    out = torch.where(weight > 1e-12, field / weight.clamp_min(1e-12), mean)
    return out.view(-1, 1, size, size)


def full_accuracy_map(grid, offsets: Sequence[int], radius: int = MAP_RADIUS) -> torch.Tensor:
    """An accuracy map measured on a sub-grid of shifts, interpolated to every shift in ±``radius``.

    Bilinear between the measured shifts (separably: rows, then columns); beyond the
    outermost measured shift the edge value is held.

    Args:
        grid: ``(n, n)`` accuracies, ``grid[a, b]`` at shift ``(offsets[a], offsets[b])``
            (:func:`stnutils.evaluation.metrics.accuracy_map`'s ``"map"``).
        offsets: the ``n`` strictly increasing shifts, pixels.
        radius: half-width of the output, pixels.

    Returns:
        ``(2 radius + 1, 2 radius + 1)`` float32, cell ``[radius + i, radius + j]`` at shift ``(i, j)``.

    Example:
        >>> full_accuracy_map([[0.0, 1.0], [1.0, 2.0]], [-1, 1], radius=1).tolist()
        [[0.0, 0.5, 1.0], [0.5, 1.0, 1.5], [1.0, 1.5, 2.0]]
    """
    g = np.asarray(grid.detach().cpu() if isinstance(grid, torch.Tensor) else grid, dtype=np.float64)
    x = np.asarray(list(offsets), dtype=np.float64)
    if g.ndim != 2 or g.shape != (len(x), len(x)) or len(x) == 0:
        raise ValueError(f"grid must be ({len(x)}, {len(x)}) for {len(x)} offsets, got shape {g.shape}")
    if len(x) > 1 and np.any(np.diff(x) <= 0):
        raise ValueError(f"offsets must be strictly increasing, got {list(offsets)}")
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
    out = np.arange(-radius, radius + 1, dtype=np.float64)
    rows = np.stack([np.interp(out, x, g[:, b]) for b in range(len(x))], axis=1)  # (2R+1, n)
    full = np.stack([np.interp(out, x, rows[a]) for a in range(len(out))], axis=0)
    return torch.as_tensor(full, dtype=torch.float32)


def target_table(kernels: torch.Tensor, accuracy_map: torch.Tensor, size: int, max_offset: int,
                 baseline: float = 0.1) -> torch.Tensor:
    """The Where target for every integer digit offset ``(i, j)`` with ``|i|, |j| <= max_offset``.

    ``table[c, M + i, M + j] = baseline + sum_p K[c, p] (acc(i - s_p) - baseline)``, with
    ``s_p = p - size // 2`` the fixation of pixel ``p`` and ``acc - baseline`` zero beyond
    the map: the field "accuracy of a fovea centred at each pixel" for a digit at ``(i, j)``,
    projected on the cells. Computed as one 2-D convolution per kernel (by FFT, float64).

    Args:
        kernels: ``(C, size * size)`` (:func:`collicular_kernels`, rows summing to 1).
        accuracy_map: ``(2 R + 1, 2 R + 1)`` accuracy at shift ``(i, j)`` in cell ``[R + i, R + j]``.
        size: side of the field.
        max_offset: largest ``|i|`` and ``|j|`` of the table, pixels.
        baseline: accuracy where the map has no cell (chance).

    Returns:
        ``(C, 2 M + 1, 2 M + 1)`` float32 on the kernels' device.
    """
    check_tensor("kernels", kernels, (None, size * size))
    if accuracy_map.dim() != 2 or accuracy_map.shape[0] != accuracy_map.shape[1] or accuracy_map.shape[0] % 2 == 0:
        raise ValueError(f"accuracy_map must be a square (2R + 1, 2R + 1) tensor, got {tuple(accuracy_map.shape)}")
    if isinstance(max_offset, bool) or not isinstance(max_offset, int) or max_offset < 0:
        raise ValueError(f"max_offset must be a non-negative integer, got {max_offset!r}")
    check_range("baseline", baseline, 0, 1)
    r, m, h = accuracy_map.shape[0] // 2, max_offset, size // 2
    w = accuracy_map.to(device=kernels.device, dtype=torch.float64) - baseline
    k = kernels.to(torch.float64).view(-1, size, size)
    n_fft = size + 2 * r  # >= the full linear convolution's side, size + 2R - 1
    conv = torch.fft.irfft2(torch.fft.rfft2(k, s=(n_fft, n_fft)) * torch.fft.rfft2(w, s=(n_fft, n_fft)),
                            s=(n_fft, n_fft))
    # conv[q] = sum_d K[q - R - d] w(d): the wanted sum sits at q = h + i + R
    lo = h + r - m
    out = torch.zeros(len(k), 2 * m + 1, 2 * m + 1, dtype=torch.float64, device=kernels.device)
    src = slice(max(lo, 0), min(lo + 2 * m + 1, n_fft))
    dst = slice(src.start - lo, src.stop - lo)
    out[:, dst, dst] = conv[:, src, src]
    return (out + baseline).to(torch.float32)


def collicular_targets(table: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The targets ``(N, C)`` of digits at integer ``offsets`` ``(N, 2)``: a gather in :func:`target_table`.

    Raises:
        ValueError: an offset beyond the table's ``max_offset``.
    """
    m = table.shape[-1] // 2
    off = torch.as_tensor(offsets, device=table.device).to(torch.long)
    check_tensor("offsets", off, (None, 2))
    if len(off) and int(off.abs().max()) > m:
        raise ValueError(f"offsets must be within ±{m} px (the target table's max_offset), "
                         f"got {int(off.abs().max())}")
    return table[:, off[:, 0] + m, off[:, 1] + m].T
