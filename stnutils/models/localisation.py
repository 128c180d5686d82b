"""Localisation networks: where to look, ``(N, 1, S, S)`` in [0, 1] -> features ``(N, F)``.

Each builder returns ``(network, F)``; a :class:`~stnutils.models.transformer.SpatialTransformer`
puts its theta head (``nn.Linear(F, P)``) on top.

Example:
    >>> net, width = tutorial_localisation(28)
    >>> net(torch.rand(2, 1, 28, 28)).shape, width
    (torch.Size([2, 32]), 32)
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import nn

from ..validation import check_positive_int
from .classifiers import _Centre, _conv_stack

__all__ = ["tutorial_localisation", "pooled_localisation", "heat_map_net", "soft_argmax", "local_soft_argmax",
           "RetinaMLP"]


def tutorial_localisation(size: int, extra_stage: bool = False) -> Tuple[nn.Module, int]:
    """The PyTorch STN tutorial's net: conv 8@7 - pool - relu - conv 10@5 - pool - relu - fc 32 - relu.

    Args:
        size: side of the square input (28 for STN 28x28, 60 for the 60x60 field, 128).
        extra_stage: one more conv 10@5 - pool - relu stage (the seed's change for 128x128).

    Returns:
        ``(network, 32)``; e.g. ``28 -> 22 -> 11 -> 7 -> 3`` before the fc layer.
    """
    check_positive_int("size", size)
    convs = [(1, 8, 7), (8, 10, 5)] + ([(10, 10, 5)] if extra_stage else [])
    side = size
    for _, _, kernel in convs:  # a valid convolution, then a 2x2 max-pool
        side = (side - kernel + 1) // 2
    if side < 1:
        raise ValueError(f"size must leave at least one pixel after the convolutions, got {size}")
    net = nn.Sequential(
        _Centre(),
        *_conv_stack(*convs, pool_first=True),
        nn.Flatten(),
        nn.Linear(10 * side * side, 32),
        nn.ReLU(inplace=True),
    )
    return net, 32


def pooled_localisation(pool: int, size: int = 128) -> Tuple[nn.Module, int]:
    """Average-pool by ``pool``, then conv 8@5 stride 2 - relu - conv 16@5 stride 2 - relu - fc 64 - relu.

    Strided convolutions instead of conv + max-pool: on a 2-core CPU the max-pool and its
    backward cost more than these small convolutions themselves.
    """
    side = size // pool
    after = ((side - 5) // 2 + 1 - 5) // 2 + 1  # two valid 5x5 convolutions of stride 2
    if after < 1:
        raise ValueError(f"pool must leave at least a 13x13 scene for the localisation net, got pool={pool}")
    net = nn.Sequential(
        nn.AvgPool2d(pool),
        _Centre(),
        nn.Conv2d(1, 8, 5, stride=2),  # 32 -> 14
        nn.ReLU(inplace=True),
        nn.Conv2d(8, 16, 5, stride=2),  # 14 -> 5
        nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(16 * after * after, 64),
        nn.ReLU(inplace=True),
    )
    return net, 64


def heat_map_net(pool: int, width: int = 16) -> nn.Sequential:
    """A fully convolutional net ``(N, 1, S, S) -> (N, 1, S / (2 pool), S / (2 pool))`` of location logits.

    Average-pool by ``pool``, centre to [-1, 1], conv 8@5 - leaky ReLU - max-pool 2 - conv
    ``width``@5 - leaky ReLU - conv 1@3 ('same' padding throughout). The last conv starts at
    zero: a uniform map (the glimpse on the centre) until the first gradient step. Being
    convolutional, it finds a digit at 40 px with the same filters as one at the centre.

    Example:
        >>> heat_map_net(4)(torch.rand(2, 1, 128, 128)).shape
        torch.Size([2, 1, 16, 16])
    """
    check_positive_int("pool", pool)
    check_positive_int("width", width)
    net = nn.Sequential(
        nn.AvgPool2d(pool), _Centre(),
        nn.Conv2d(1, 8, 5, padding=2), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
        nn.Conv2d(8, width, 5, padding=2), nn.LeakyReLU(0.1),
        nn.Conv2d(width, 1, 3, padding=1),
    )
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


def soft_argmax(logits: torch.Tensor) -> torch.Tensor:
    """The softmax-weighted mean cell centre of each ``(h, w)`` map, normalised: ``(N, h, w) -> (N, 2)``.

    Returns ``(x, y)`` (column, row) in ``[-1, 1]`` with ``align_corners=False`` cell
    centres, the coordinates of ``theta``'s translation. Differentiable everywhere.

    Example:
        >>> m = torch.full((1, 4, 4), -1e4); m[0, 3, 0] = 0.0  # one hot at row 3, column 0
        >>> soft_argmax(m).tolist()
        [[-0.75, 0.75]]
    """
    n, h, w = logits.shape
    p = torch.softmax(logits.reshape(n, -1), dim=1).view(n, h, w)
    rows = (torch.arange(h, device=logits.device, dtype=logits.dtype) + 0.5) * (2.0 / h) - 1.0
    cols = (torch.arange(w, device=logits.device, dtype=logits.dtype) + 0.5) * (2.0 / w) - 1.0
    return torch.stack([(p.sum(1) * cols).sum(1), (p.sum(2) * rows).sum(1)], dim=1)


def local_soft_argmax(logits: torch.Tensor, radius: int) -> torch.Tensor:
    """:func:`soft_argmax` over the ``(2 radius + 1)^2`` cells around each map's arg-max.

    The global soft-argmax is a mean over the whole map: when the heat is diffuse (a faint
    digit far out), the low heat spread over the other cells pulls the centre toward the
    middle of the map, by 7 px at 40 px eccentricity and contrast 0.3 for a trained
    :class:`~stnutils.models.HeatATN`. Keeping only the arg-max's neighbourhood removes that
    pull and keeps sub-cell precision. Ties go to the cell nearest the map's centre, so a
    flat map (an untrained net) gives a centre cell (half a cell from the middle of an even
    map). Differentiable inside the window.

    Args:
        logits: ``(N, h, w)``.
        radius: half-width of the window, cells (>= 1).

    Returns:
        ``(N, 2)`` normalised ``(x, y)``, as :func:`soft_argmax`.

    Example:
        >>> m = torch.zeros(1, 8, 8); m[0, 6, 1] = 6.0  # a peak on a flat floor of 63 cells
        >>> [round(v, 3) for v in soft_argmax(m)[0].tolist()]  # pulled toward the middle
        [-0.539, 0.539]
        >>> [round(v, 3) for v in local_soft_argmax(m, 1)[0].tolist()]  # the peak's cell centre
        [-0.625, 0.625]
    """
    check_positive_int("radius", radius)
    n, h, w = logits.shape
    rows = torch.arange(h, device=logits.device, dtype=logits.dtype) - (h - 1) / 2
    cols = torch.arange(w, device=logits.device, dtype=logits.dtype) - (w - 1) / 2
    dist2 = rows.view(h, 1) ** 2 + cols.view(1, w) ** 2
    with torch.no_grad():  # which window: a choice, not a gradient path
        peak = (logits - 1e-6 * dist2).reshape(n, -1).argmax(1)
        pr, pc = (peak // w).view(n, 1, 1), (peak % w).view(n, 1, 1)
        r_idx = torch.arange(h, device=logits.device).view(1, h, 1)
        c_idx = torch.arange(w, device=logits.device).view(1, 1, w)
        keep = ((r_idx - pr).abs() <= radius) & ((c_idx - pc).abs() <= radius)
    return soft_argmax(logits.masked_fill(~keep, float("-inf")))


class RetinaMLP(nn.Module):
    """Log-polar retina code -> MLP (the POLO-ATN's localisation).

    Args:
        retina: a :class:`~stnutils.models.retina.Retina` (its code is the MLP's input).
        hidden: widths of the hidden layers (ReLU after each).
    """

    def __init__(self, retina: nn.Module, hidden: Sequence[int]):
        super().__init__()
        self.retina = retina
        layers, width = [], retina.n_filters
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        self.mlp = nn.Sequential(*layers)
        self.n_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # filters are zero-mean: the code does not see the mean grey, no centring needed
        return self.mlp(self.retina.encode(x))
