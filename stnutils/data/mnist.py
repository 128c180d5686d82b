"""Where MNIST lives, and loading it once per process."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple

import torch

__all__ = ["MNIST_FILES", "resolve_data_root", "load_mnist", "MNISTNotFoundError"]

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
DEFAULT_ROOT = "./data"
_CACHE: dict = {}


class MNISTNotFoundError(FileNotFoundError):
    """MNIST is not on disk and could not be downloaded."""


def resolve_data_root(root: Optional[str | os.PathLike] = None) -> Tuple[Path, bool]:
    """The data root: ``root``, else ``$STNUTILS_DATA``, else ``./data``.

    Returns:
        ``(path, is_default)``; downloading is only allowed by default into ``./data``.
    """
    if root is not None:
        return Path(root), False
    env = os.environ.get("STNUTILS_DATA")
    if env:
        return Path(env), False
    return Path(DEFAULT_ROOT), True


def _missing_files(root: Path) -> list:
    raw = root / "MNIST" / "raw"
    return [f for f in MNIST_FILES if not (raw / f).exists()]


def load_mnist(
    root: Optional[str | os.PathLike] = None, train: bool = True, download: Optional[bool] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """MNIST digits ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64, cached per process.

    Args:
        root: folder holding ``MNIST/raw/`` (torchvision's layout).
        train: the 60,000 training digits, else the 10,000 test digits.
        download: let torchvision fetch missing files; by default only into ``./data``.

    Raises:
        MNISTNotFoundError: naming the folder, the four files and ``STNUTILS_DATA``.
    """
    path, is_default = resolve_data_root(root)
    if download is None:
        download = is_default
    key = (str(path.resolve()), bool(train))
    if key in _CACHE:
        return _CACHE[key]
    from torchvision.datasets import MNIST  # imported late: only needed on first load

    missing = _missing_files(path)
    if missing and download:
        try:
            MNIST(str(path), train=train, download=True)
        except Exception as exc:  # no network, proxy, ...: fall through to the clear error
            reason = f" (download failed: {exc})"
        else:
            reason = ""
        missing = _missing_files(path)
    else:
        reason = "" if download else " (download not allowed)"
    if missing:
        raise MNISTNotFoundError(
            f"MNIST not found in {path / 'MNIST' / 'raw'}{reason}: missing {', '.join(missing)}. "
            f"Expected the four files {', '.join(MNIST_FILES)}. Point the data root at a folder "
            f"holding MNIST/raw/ with the root argument or the STNUTILS_DATA environment "
            f"variable, or allow download=True on a machine with internet access."
        )
    ds = MNIST(str(path), train=train, download=False)
    _CACHE[key] = (ds.data.contiguous(), ds.targets.to(torch.int64).contiguous())
    return _CACHE[key]
