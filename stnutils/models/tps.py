"""Thin-plate splines: a dense sampling grid from the displacements of a few control points.

The spline's linear system depends only on the (fixed) control points, so
:class:`TPSGrid` solves it once and interpolates with one matmul per forward; the grid
goes to :func:`~stnutils.models.transformer.grid_sample_fill` like an affine one.

Example:
    >>> tps_grid(torch.zeros(1, 16, 2), 28).shape
    torch.Size([1, 28, 28, 2])
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from ..validation import check_positive_int
from .transformer import Size, _hw

__all__ = ["tps_control_points", "tps_grid", "TPSGrid", "normalised_pixel_grid"]


def tps_control_points(grid_size: int = 4, span: float = 1.0, dtype=None, device=None) -> torch.Tensor:
    """A ``grid_size x grid_size`` lattice of control points ``(K, 2)`` ``(x, y)`` on ``[-span, span]``.

    Example:
        >>> tps_control_points(2).tolist()
        [[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]]
    """
    check_positive_int("grid_size", grid_size)
    if grid_size < 2:
        raise ValueError(f"grid_size must be at least 2, got {grid_size}")
    axis = torch.linspace(-span, span, grid_size, dtype=dtype, device=device)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def _tps_kernel(d2: torch.Tensor) -> torch.Tensor:
    """``U(r) = r^2 log r`` from squared distances (0 at r = 0)."""
    return torch.where(d2 > 0, 0.5 * d2 * torch.log(d2.clamp_min(1e-30)), torch.zeros_like(d2))


def normalised_pixel_grid(h: int, w: int, dtype=torch.float64) -> torch.Tensor:
    """``(h * w, 2)`` ``(x, y)`` of the output pixel centres, ``align_corners=False``."""
    ys = (2 * torch.arange(h, dtype=dtype) + 1) / h - 1
    xs = (2 * torch.arange(w, dtype=dtype) + 1) / w - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def _tps_basis(control: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Matrix ``B`` ``(M, K)`` with ``f(points) = B @ f(control)`` for the thin-plate spline.

    The spline ``f(v) = a0 + A v + sum_k w_k U(|v - c_k|)`` that takes the values ``y_k`` at
    the control points ``c_k`` solves ``[[K, P], [P^T, 0]] [w; a] = [y; 0]``. Its matrix
    depends only on the (fixed) control points, so the interpolant is a fixed linear map of
    the control values: computed once in float64, applied as one matmul per forward.
    """
    control = control.to(torch.float64)
    points = points.to(torch.float64)
    k = control.shape[0]
    kernel = _tps_kernel(torch.cdist(control, control) ** 2)
    p = torch.cat([torch.ones(k, 1, dtype=torch.float64), control], dim=1)
    system = torch.zeros(k + 3, k + 3, dtype=torch.float64)
    system[:k, :k] = kernel
    system[:k, k:] = p
    system[k:, :k] = p.T
    inverse = torch.linalg.inv(system)[:, :k]  # (K + 3, K): control values -> (w, a)
    ones = torch.ones(len(points), 1, dtype=torch.float64)
    rows = torch.cat([_tps_kernel(torch.cdist(points, control) ** 2), ones, points], 1)
    return rows @ inverse


def tps_grid(displacements: torch.Tensor, out_size: Size, control: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Thin-plate-spline sampling grid: control point ``c_k`` of the output samples ``c_k + d_k``.

    Args:
        displacements: ``(N, K, 2)`` ``(dx, dy)`` in normalised units.
        out_size: ``h`` or ``(h, w)``.
        control: ``(K, 2)`` control points; default a square lattice of ``K`` points.

    Returns:
        ``(N, h, w, 2)`` grid for ``grid_sample(align_corners=False)``; zero displacements
        give ``affine_grid`` of the identity.

    Example:
        >>> from stnutils.models.transformer import affine_grid, identity_theta
        >>> g = tps_grid(torch.zeros(1, 16, 2), 28)
        >>> torch.allclose(g, affine_grid(identity_theta(1), 28), atol=1e-6)
        True
    """
    h, w = _hw(out_size, "out_size")
    if displacements.dim() != 3 or displacements.shape[2] != 2:
        raise ValueError(f"displacements must be (N, K, 2), got {tuple(displacements.shape)}")
    k = displacements.shape[1]
    if control is None:
        side = int(round(math.sqrt(k)))
        if side * side != k:
            raise ValueError(f"displacements must hold a square number of control points, got {k}")
        control = tps_control_points(side)
    return TPSGrid(control, (h, w)).to(displacements.device, displacements.dtype)(displacements)


class TPSGrid(nn.Module):
    """Fixed control points and output size; ``forward(displacements) -> grid (N, h, w, 2)``.

    The spline basis is a non-persistent buffer: rebuilt from ``(control, out_size)``, kept
    out of checkpoints, moved by ``.to(device)``.
    """

    def __init__(self, control: torch.Tensor, out_size: Size):
        super().__init__()
        h, w = _hw(out_size, "out_size")
        self.out_size = (h, w)
        control = torch.as_tensor(control, dtype=torch.float64)
        pixels = normalised_pixel_grid(h, w)
        centre = torch.zeros(1, 2, dtype=torch.float64)
        basis = _tps_basis(control, torch.cat([pixels, centre]))
        self.register_buffer("control", control.to(torch.float32), persistent=False)
        self.register_buffer("pixels", pixels.to(torch.float32), persistent=False)
        self.register_buffer("basis", basis[:-1].to(torch.float32), persistent=False)
        self.register_buffer("centre_basis", basis[-1:].to(torch.float32), persistent=False)

    def forward(self, displacements: torch.Tensor) -> torch.Tensor:
        # identity grid + interpolated displacement field (the identity is reproduced
        # exactly by the spline's affine part, so only displacements are interpolated)
        field = torch.einsum("mk,nkc->nmc", self.basis.to(displacements.dtype), displacements)
        grid = self.pixels.to(displacements.dtype) + field
        return grid.view(-1, *self.out_size, 2)

    def centre(self, displacements: torch.Tensor) -> torch.Tensor:
        """``(N, 2)`` ``(x, y)`` normalised input position sampled by the output centre."""
        return torch.einsum("mk,nkc->nmc", self.centre_basis.to(displacements.dtype), displacements)[:, 0]
