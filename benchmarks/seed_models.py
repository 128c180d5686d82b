"""The seed lab book's own architectures, re-created as the throughput reference.

The seed intern's models (2021, PyTorch; the What/Where data pipeline) as the seed's
notebooks trained them, layer for layer:

- ``SeedSTN28``: the 28x28 affine STN. Localisation: conv 8@7x7, max-pool 2, ReLU,
  conv 10@5x5, max-pool 2, ReLU, fc 90 -> 32 -> 6 (identity-initialised θ); sampler
  output 28x28; the What pathway's LeNet (conv 20@5x5, conv 50@5x5, fc 500, fc 10).
- ``SeedSTN128``: the affine STN on the whole 128x128 scene, output 128x128.
  Localisation on the full scene: conv 16@7x7, conv 32@5x5, conv 64@5x5, conv 128@5x5,
  each followed by max-pool 2 and ReLU (128 x 4 x 4 features), fc 2048 -> 32 -> 6,
  identity-initialised. Classifier: the What net widened for 128x128 with two conv
  layers (20@5x5, 100@5x5, each max-pool 2) and fc 100·29·29 -> 128 -> 10.
- ``SeedATN``: the attention-parametrised STN with 28x28 downsampling: the same
  localisation CNN on the full 128x128 scene, fc 2048 -> 32 -> 3 giving
  ``(scale, tx, ty)``, initialised to scale 0.2 (≈ 28/128) and no translation;
  θ = [[s, 0, tx], [0, s, ty]]; a 28x28 glimpse classified by the LeNet.

Sampling uses ``align_corners=False`` (PyTorch's default since 1.3, which the seed ran on).
SPEC (a 2-core CPU of this kind, batch 100): STN 28x28 ≈ 3,700 samples/s, STN 128x128
≈ 50 samples/s, ATN ≈ 230 samples/s.

Example:
    >>> import torch
    >>> SeedATN()(torch.rand(2, 1, 128, 128)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SeedSTN28", "SeedSTN128", "SeedATN", "SEED_MODELS", "SEED_SPEC_SAMPLES_PER_S"]

#: What the SPEC reports for the seed's models (samples/s, training, batch 100, 2-core CPU).
SEED_SPEC_SAMPLES_PER_S = {"stn_28x28": 3700, "stn_128x128": 50, "atn": 230}


class _LeNet(nn.Module):
    """The What pathway: conv 20@5x5, conv 50@5x5, fc 500, fc 10 on a 28x28 input."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(4 * 4 * 50, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def _scene_localisation() -> nn.Sequential:
    """The seed's localisation CNN on the 128x128 scene -> (N, 128 * 4 * 4)."""
    layers = []
    for c_in, c_out, k in ((1, 16, 7), (16, 32, 5), (32, 64, 5), (64, 128, 5)):
        layers += [nn.Conv2d(c_in, c_out, k), nn.MaxPool2d(2), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.Flatten())


def _head(n_in: int, n_out: int, bias) -> nn.Sequential:
    head = nn.Sequential(nn.Linear(n_in, 32), nn.ReLU(inplace=True), nn.Linear(32, n_out))
    nn.init.zeros_(head[2].weight)
    with torch.no_grad():
        head[2].bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return head


def _sample(x, theta, size):
    grid = F.affine_grid(theta, (x.shape[0], x.shape[1], size, size), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


class SeedSTN28(nn.Module):
    """The seed's 28x28 affine STN in front of the LeNet."""

    def __init__(self):
        super().__init__()
        self.localisation = nn.Sequential(
            nn.Conv2d(1, 8, 7), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(8, 10, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True), nn.Flatten(),
        )
        self.fc_loc = _head(10 * 3 * 3, 6, [1, 0, 0, 0, 1, 0])
        self.what = _LeNet()

    def forward(self, x):
        theta = self.fc_loc(self.localisation(x)).view(-1, 2, 3)
        return self.what(_sample(x, theta, 28))


class SeedSTN128(nn.Module):
    """The seed's affine STN on the full 128x128 scene, output 128x128, widened What net."""

    def __init__(self):
        super().__init__()
        self.localisation = _scene_localisation()
        self.fc_loc = _head(128 * 4 * 4, 6, [1, 0, 0, 0, 1, 0])
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 100, 5)
        self.fc1 = nn.Linear(100 * 29 * 29, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        theta = self.fc_loc(self.localisation(x)).view(-1, 2, 3)
        x = _sample(x, theta, 128)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class SeedATN(nn.Module):
    """The seed's attention STN: (scale, tx, ty) from the full scene, 28x28 glimpse, LeNet."""

    def __init__(self):
        super().__init__()
        self.localisation = _scene_localisation()
        self.fc_loc = _head(128 * 4 * 4, 3, [0.2, 0, 0])  # scale 0.2 ≈ 28/128, centred
        self.what = _LeNet()

    def forward(self, x):
        scale, tx, ty = self.fc_loc(self.localisation(x)).unbind(1)
        zero = torch.zeros_like(scale)
        theta = torch.stack([torch.stack([scale, zero, tx], 1), torch.stack([zero, scale, ty], 1)], 1)
        return self.what(_sample(x, theta, 28))


#: name -> (class, input side in pixels)
SEED_MODELS = {"stn_28x28": (SeedSTN28, 28), "stn_128x128": (SeedSTN128, 128), "atn": (SeedATN, 128)}
