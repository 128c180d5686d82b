"""The classifiers behind every model: LeNet (the What pathway) and its 128x128 variant.

Inputs are images ``(N, 1, S, S)`` in [0, 1]; each network centres them (``2 x - 1``) in
its first layer and returns logits ``(N, 10)``.
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import nn

from ..validation import check_tensor

__all__ = ["GLIMPSE", "LeNet", "Classifier128", "check_images"]

GLIMPSE = 28  # the What pathway's input size


def check_images(x, size: int) -> torch.Tensor:
    """Raise ``ValueError`` unless ``x`` is a float32 ``(N, 1, size, size)`` tensor with ``N >= 1``.

    float32 is the weights' dtype: a float64 or float16 batch would fail deep in a conv with a
    message that does not name the images. An empty batch has nothing to classify (and
    ``affine_grid`` refuses it).
    """
    return check_tensor("images", x, (None, 1, size, size), dtype=torch.float32, min_len=1)


class _Centre(nn.Module):
    """``[0, 1] -> [-1, 1]``: zero-mean inputs for the first layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x - 1


def _conv_stack(*channels_kernels: Tuple[int, int, int], pool_first: bool = False) -> list:
    """conv -> relu -> maxpool 2 per ``(in, out, kernel)`` (or conv -> pool -> relu)."""
    layers = []
    for c_in, c_out, k in channels_kernels:
        if pool_first:  # the PyTorch STN tutorial's order; same result, relu on 4x fewer values
            layers += [nn.Conv2d(c_in, c_out, k), nn.MaxPool2d(2), nn.ReLU(inplace=True)]
        else:
            layers += [nn.Conv2d(c_in, c_out, k), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    return layers


def _lenet_net(*convs: Tuple[int, int, int]) -> nn.Sequential:
    """Centring, conv/relu/pool stages, then LeNet's fc 800 -> 500 -> 10 head (50 maps of 4x4)."""
    return nn.Sequential(
        _Centre(),
        *_conv_stack(*convs),
        nn.Flatten(),
        nn.Linear(50 * 4 * 4, 500),
        nn.ReLU(inplace=True),
        nn.Linear(500, 10),
    )


class LeNet(nn.Module):
    """The What pathway: conv 20@5x5 - relu - pool - conv 50@5x5 - relu - pool - fc 800->500 - relu - fc 10.

    Example:
        >>> LeNet()(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    name = "lenet"
    image_size = 28

    def __init__(self):
        super().__init__()
        self.config: Dict = {}
        self.net = _lenet_net((1, 20, 5), (20, 50, 5))  # 28 -> 24 -> 12 -> 8 -> 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1, 28, 28)`` in [0, 1] -> logits ``(N, 10)``."""
        check_images(x, self.image_size)
        return self.net(x)


class Classifier128(nn.Module):
    """LeNet for 128x128 inputs: two more conv/pool stages keep the fc input at 800.

    conv 20@5 - pool - conv 50@5 - pool - conv 50@5 - pool - conv 50@5 - pool - fc 500 - fc 10
    (128 -> 124 -> 62 -> 58 -> 29 -> 25 -> 12 -> 8 -> 4), as the seed added two conv layers
    to the What network for the full field.
    """

    image_size = 128

    def __init__(self):
        super().__init__()
        self.net = _lenet_net((1, 20, 5), (20, 50, 5), (50, 50, 5), (50, 50, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.image_size)
        return self.net(x)
