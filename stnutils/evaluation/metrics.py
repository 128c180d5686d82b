"""Measurements of the lab book: accuracy maps (28x28 task) and the 128x128 benchmark.

- :func:`accuracy_map`: accuracy for each fixed ``(i, j)`` shift of the 28x28 task;
  *central* = at ``(0, 0)``, *general* = mean over the map (the seed's two numbers).
- :func:`benchmark`: accuracy at each contrast x eccentricity of the 128x128 task, as rows
  ``{model, profile, device, commit, contrast, eccentricity, accuracy, n}`` that
  :func:`stnutils.evaluation.results.write_results` stores and
  :func:`stnutils.evaluation.results.results_table` lays out next to the seed's numbers.
- :func:`center_crop`, :func:`inside_fraction`: small measurements on images and thetas.

Every sample is drawn from the *test* split with a fixed seed, so two models measured with
the same arguments see exactly the same scenes (a paired comparison).

Example:
    >>> [round(e, 2) for e in BENCHMARK_ECCENTRICITIES][:3], BENCHMARK_ECCENTRICITIES[-1]
    ([4.44, 8.89, 13.33], 40.0)
"""
from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..data import NoisyMNIST28, NoisyMNIST128
from ..data.datasets import check_contrast
from ..models.registry import MODEL_NAMES
from ..models.registry import input_size as model_input_size
from ..models.transformer import affine_grid
from ..provenance import check_profile, describe_device, git_commit, resolve_device
from ..validation import check_positive_int, check_range, check_tensor
from .loop import evaluate

__all__ = [
    "BENCHMARK_ECCENTRICITIES",
    "BENCHMARK_CONTRASTS",
    "ACCURACY_MAP_OFFSETS",
    "center_crop",
    "inside_fraction",
    "accuracy_map",
    "benchmark",
]

#: ``linspace(40, 0, 9, endpoint=False)[::-1]``), rounded to 8 decimals like the seed file.
BENCHMARK_ECCENTRICITIES: Tuple[float, ...] = tuple(
    round(float(e), 8) for e in np.linspace(40, 0, 9, endpoint=False)[::-1]
)
#: Test contrasts of the benchmark.
BENCHMARK_CONTRASTS: Tuple[float, ...] = (0.3, 0.5, 0.7)
#: The default accuracy-map grid: every third pixel of -27..27 (19 x 19 cells, (0, 0) included).
ACCURACY_MAP_OFFSETS: Tuple[int, ...] = tuple(range(-27, 28, 3))
#: The keys of a benchmark row.

def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size x size`` patch of ``(N, C, H, W)`` images.

    Classifying the central 28x28 patch of a 128x128 scene is the What/Where model's
    "0 saccades" baseline.

    Example:
        >>> center_crop(torch.zeros(2, 1, 128, 128), 28).shape
        torch.Size([2, 1, 28, 28])
    """
    h, w = images.shape[-2:]
    if size > min(h, w):
        raise ValueError(f"size must be <= the image side {min(h, w)}, got {size}")
    top, left = (h - size) // 2, (w - size) // 2
    return images[..., top : top + size, left : left + size]


def inside_fraction(theta: torch.Tensor, out_size: Union[int, Tuple[int, int]]) -> torch.Tensor:
    """Fraction of each output's pixels that ``theta`` samples from inside the input.

    An affine transformer (``affine_grid``, ``align_corners=False``) maps each output pixel
    centre to a point of the input in normalised coordinates; the input covers
    ``[-1, 1]`` on both axes (the outer edges of its border pixels). A point outside shows
    only the fill value, so a fraction of 0 means the output holds nothing of the input.

    Args:
        theta: ``(N, 2, 3)`` output-to-input affine maps.
        out_size: the output's side ``h`` or ``(h, w)``, pixels.

    Returns:
        ``(N,)`` fractions in [0, 1] (float).

    Raises:
        ValueError: ``theta`` is not ``(N, 2, 3)`` or ``out_size`` is not positive.

    Example:
        >>> eye = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        >>> inside_fraction(eye, 28).tolist(), inside_fraction(2 * eye, 28).tolist()
        ([1.0], [0.25])
    """
    check_tensor("theta", theta, (None, 2, 3))
    grid = affine_grid(theta.detach(), out_size, torch.float64)
    return (grid.abs() <= 1).all(dim=-1).to(torch.float64).mean(dim=(1, 2)).to(torch.get_default_dtype())


@torch.no_grad()
def _progress(iterable, enabled: bool, desc: str, total: int):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total)


# --- the 28x28 accuracy map -----------------------------------------------------------------
def accuracy_map(
    model: torch.nn.Module,
    offsets: Sequence[int] = ACCURACY_MAP_OFFSETS,
    n_per_cell: int = 500,
    seed: int = 0,
    contrast: Union[float, Tuple[float, float]] = (0.3, 0.7),
    noise: float = 0.75,
    device: Union[str, torch.device] = "cpu",
    data_root: Optional[Union[str, os.PathLike]] = None,
    batch_size: int = 256,
    progress: bool = False,
) -> dict:
    """Accuracy of a 28x28 classifier for each fixed shift ``(i, j)`` of the digit.

    Cell ``(a, b)`` holds the accuracy on the first ``n_per_cell`` test samples of
    ``NoisyMNIST28(train=False, offset=(offsets[a], offsets[b]), seed=seed, ...)``: the
    same digits and backgrounds in every cell, only the shift differs. The seed lab book
    used the full grid -27..27; the default is its every-third-pixel sub-grid (19 x 19
    cells, (0, 0) included), pass ``offsets=range(-27, 28)`` for the full one.

    Args:
        model: a 28x28 classifier (logits ``(B, 10)``), on ``device``.
        offsets: strictly increasing integer shifts in [-27, 27], pixels, used for both
            ``i`` (row) and ``j`` (column).
        n_per_cell: test samples per cell (>= 1).
        seed: dataset seed.
        contrast: a fixed contrast in (0, 1] or a ``(c_min, c_max)`` range (default: the
            reference default, uniform in [0.3, 0.7]).
        noise: background amplitude in [0, 1].
        device: where samples are generated.
        data_root: MNIST folder (default ``$STNUTILS_DATA``).
        batch_size: samples per forward pass.
        progress: show a tqdm bar over the cells.

    Returns:
        ``{"map": (len(offsets), len(offsets)) ndarray, map[a, b] = accuracy at
        (i, j) = (offsets[a], offsets[b]); "offsets": list of int; "central": accuracy at
        (0, 0) (measured separately if (0, 0) is off the grid); "general": mean of the map;
        "n": n_per_cell; "contrast", "noise", "seed"}``.

    Raises:
        ValueError: empty or unordered ``offsets``, an offset outside [-27, 27],
            ``n_per_cell < 1``, a contrast outside (0, 1].
    """
    offsets = [int(v) for v in _check_offsets(offsets)]
    check_positive_int("n_per_cell", n_per_cell)
    contrast = check_contrast(contrast)
    check_range("noise", noise, 0, 1)
    device = resolve_device(device)

    def cell(i: int, j: int) -> float:
        ds = NoisyMNIST28(data_root, train=False, seed=seed, offset=(i, j), contrast=contrast, noise=noise,
                          device=device)
        return evaluate(model, ds, n_per_cell, batch_size)

    grid = np.zeros((len(offsets), len(offsets)))
    cells = [(a, b) for a in range(len(offsets)) for b in range(len(offsets))]
    for a, b in _progress(cells, progress, "accuracy map", len(cells)):
        grid[a, b] = cell(offsets[a], offsets[b])
    if 0 in offsets:
        central = float(grid[offsets.index(0), offsets.index(0)])
    else:
        central = cell(0, 0)
    return {
        "map": grid,
        "offsets": offsets,
        "central": central,
        "general": float(grid.mean()),
        "n": n_per_cell,
        "contrast": contrast,
        "noise": float(noise),
        "seed": seed,
    }


def _check_offsets(offsets) -> List[int]:
    values = list(offsets)
    if not values:
        raise ValueError("offsets must hold at least one shift, got an empty sequence")
    for v in values:
        if isinstance(v, bool) or int(v) != v:
            raise ValueError(f"offsets must be integers, got {v!r}")
        check_range("offsets", v, -27, 27)
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"offsets must be strictly increasing, got {values}")
    return values


# --- the 128x128 benchmark ------------------------------------------------------------------
def _model_input_size(model: torch.nn.Module, model_name: str) -> Optional[int]:
    """The side of the images ``model`` takes: its ``image_size``, else the registry's for ``model_name``."""
    size = getattr(model, "image_size", None)
    if isinstance(size, int) and size > 0:
        return size
    return model_input_size(model_name) if model_name in MODEL_NAMES else None


def benchmark(
    model: torch.nn.Module,
    model_name: str,
    profile: str,
    n_per_cell: int = 1000,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    data_root: Optional[Union[str, os.PathLike]] = None,
    contrasts: Sequence[float] = BENCHMARK_CONTRASTS,
    eccentricities: Sequence[float] = BENCHMARK_ECCENTRICITIES,
    batch_size: int = 256,
    input_size: Optional[int] = None,
    progress: bool = False,
) -> List[dict]:
    """Accuracy on the 128x128 task at each contrast x eccentricity (the seed's benchmark).

    Each cell uses the first ``n_per_cell`` samples of
    ``NoisyMNIST128(train=False, radius=e, contrast=c, seed=seed)``: test digits placed
    exactly at eccentricity ``e`` in a random direction. A model whose input is smaller
    than the scene (e.g. ``"lenet"``, 28x28) classifies the central patch: the What/Where
    "0 saccades" baseline.

    Args:
        model: the classifier (logits ``(B, 10)``), on ``device``.
        model_name: the name written in the rows (e.g. ``"atn"``).
        profile: the training profile the model comes from (``smoke``/``quick``/``full``).
        n_per_cell: test samples per (contrast, eccentricity) (>= 1).
        seed: dataset seed (the same scenes for every model).
        device: where samples are generated; also recorded in the rows.
        data_root: MNIST folder (default ``$STNUTILS_DATA``).
        contrasts: test contrasts, each in (0, 1].
        eccentricities: digit eccentricities, pixels, in [0, 50].
        batch_size: samples per forward pass.
        input_size: side of the model's input; smaller than 128 means a central crop
            (default: the model's ``image_size``, else the registry's size of ``model_name``, else 128).
        progress: show a tqdm bar over the cells.

    Returns:
        one row per (contrast, eccentricity), contrasts outer:
        ``{model, profile, device, commit, contrast, eccentricity, accuracy, n, test_seed}``
        (:func:`~stnutils.evaluation.results.with_training` adds what trained the model).

    Raises:
        ValueError: ``n_per_cell < 1``, empty contrasts/eccentricities, a contrast outside
            (0, 1], an unknown profile.
    """
    if not isinstance(model_name, str) or not model_name:
        raise ValueError(f"model_name must be a non-empty string, got {model_name!r}")
    check_profile(profile)
    check_positive_int("n_per_cell", n_per_cell)
    contrasts = [float(check_range("contrast", c, 0, 1, low_open=True)) for c in contrasts]
    eccentricities = [float(check_range("eccentricity", e, 0, 50)) for e in eccentricities]
    if not contrasts:
        raise ValueError("contrasts must hold at least one contrast, got an empty sequence")
    if not eccentricities:
        raise ValueError("eccentricities must hold at least one eccentricity, got an empty sequence")
    device = resolve_device(device)
    size = input_size if input_size is not None else _model_input_size(model, model_name)
    transform = None
    if size is not None and size < 128:
        check_positive_int("input_size", size)
        transform = lambda images: center_crop(images, size)  # noqa: E731
    device_name, commit = describe_device(device), git_commit()
    rows = []
    cells = [(c, e) for c in contrasts for e in eccentricities]
    for c, e in _progress(cells, progress, f"benchmark {model_name}", len(cells)):
        ds = NoisyMNIST128(data_root, train=False, seed=seed, radius=e, contrast=c, device=device)
        accuracy = evaluate(model, ds, n_per_cell, batch_size, transform=transform)
        rows.append(
            {
                "model": model_name,
                "profile": profile,
                "device": device_name,
                "commit": commit,
                "contrast": c,
                "eccentricity": round(e, 8),
                "accuracy": accuracy,
                "n": n_per_cell,
                "test_seed": seed,
            }
        )
    return rows
