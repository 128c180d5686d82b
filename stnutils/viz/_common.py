"""What every figure module shares: array conversion, the shown-images count, tick-free axes."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["BOX_COLOURS", "to_numpy", "as_images", "shown", "bare", "joined"]

#: Distinct colours for up to 8 models, readable on a grey noisy background.
BOX_COLOURS = ("red", "deepskyblue", "yellow", "lime", "magenta", "orange", "white", "cyan")


def to_numpy(x) -> np.ndarray:
    """A tensor (detached, on the CPU) or an array-like as a numpy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def as_images(images, name: str = "images") -> np.ndarray:
    """``(B, 1, H, W)`` or ``(B, H, W)`` to ``(B, H, W)``."""
    arr = to_numpy(images)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise ValueError(f"{name} must be (B, 1, H, W) or (B, H, W), got shape {tuple(arr.shape)}")
    return arr


def shown(n: int, available: int, name: str = "images") -> int:
    """How many of ``available`` items a figure of the first ``n`` shows; checks both."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if available == 0:
        raise ValueError(f"{name} must hold at least one image, got 0")
    return min(int(n), available)


def bare(ax) -> None:
    """No ticks on an image axes (its labels stay)."""
    ax.set_xticks([])
    ax.set_yticks([])


def joined(*parts, sep: str = ", ") -> str:
    """The parts that are not None or empty, joined: a per-image title from optional annotations."""
    return sep.join(str(p) for p in parts if p)
