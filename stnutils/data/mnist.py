"""Where MNIST lives, and loading it once per process, checked.

The four files of ``MNIST/raw/`` are read as LeCun distributes them (IDX: a big-endian
header, then unsigned bytes). Before a file is used its size, magic number, dimensions
and md5 are compared with the published values (:data:`MNIST_SPECS`), once per process
(and again only if the file changes): a truncated, empty, foreign or altered file is an
:class:`MNISTCorruptError` that names the file, what was expected and what was found, and
how to get a good copy, never a short dataset or a reshape error deep in torch.

The md5 sums are those of the uncompressed files (the ones ``MNIST/raw/`` holds). The
sums torchvision knows (``torchvision.datasets.MNIST.resources``) are those of the
``.gz`` archives; torchvision checks them itself when it downloads into ``./data``.

Example:
    >>> MNIST_SPECS["t10k-labels-idx1-ubyte"].size, MNIST_SPECS["t10k-labels-idx1-ubyte"].shape
    (10008, (10000,))
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np
import torch

__all__ = ["MNIST_FILES", "MNIST_SPECS", "resolve_data_root", "load_mnist", "check_mnist_file",
           "MNISTNotFoundError", "MNISTCorruptError"]

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
DEFAULT_ROOT = "./data"
_CACHE: dict = {}
_VERIFIED: Dict[tuple, bool] = {}  # (path, size, mtime_ns) of the files already checked in this process


class MnistSpec(NamedTuple):
    """What one file of MNIST is: ``size`` in bytes, IDX ``magic``, ``shape``, ``md5`` of the contents."""

    size: int
    magic: int
    shape: Tuple[int, ...]
    md5: str


#: The published size, magic number (0x0803 images, 0x0801 labels), shape and md5 of each file.
MNIST_SPECS = {
    "train-images-idx3-ubyte": MnistSpec(47_040_016, 2051, (60000, 28, 28), "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte": MnistSpec(60_008, 2049, (60000,), "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte": MnistSpec(7_840_016, 2051, (10000, 28, 28), "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte": MnistSpec(10_008, 2049, (10000,), "27ae3e4e09519cfbb04c329615203637"),
}
_FIX = ("To fix it: delete the file and run again with the default data root ./data, where torchvision "
        "downloads MNIST (download=True), or point STNUTILS_DATA (or the root argument) at a folder holding "
        "a complete copy of MNIST/raw/.")


class MNISTNotFoundError(FileNotFoundError):
    """MNIST is not on disk and could not be downloaded."""


class MNISTCorruptError(MNISTNotFoundError):
    """A file of MNIST is there but is not the complete, published file (truncated, empty, foreign)."""


def resolve_data_root(root: Optional[str | os.PathLike] = None) -> Tuple[Path, bool]:
    """The data root: ``root``, else ``$STNUTILS_DATA``, else ``./data``.

    Returns:
        ``(path, is_default)``; downloading is only allowed by default into ``./data``.

    Raises:
        TypeError: ``root`` is neither None, a ``str`` nor an ``os.PathLike``.
    """
    if root is not None:
        if not isinstance(root, (str, os.PathLike)) or (isinstance(root, str) and not root):
            raise TypeError(f"root must be a folder path (a non-empty str or os.PathLike) or None, got {root!r}")
        return Path(root), False
    env = os.environ.get("STNUTILS_DATA")
    if env:
        return Path(env), False
    return Path(DEFAULT_ROOT), True


def _missing_files(root: Path) -> list:
    raw = root / "MNIST" / "raw"
    return [f for f in MNIST_FILES if not (raw / f).exists()]


def _what(name: str) -> str:
    split = "training" if name.startswith("train") else "test"
    return f"MNIST's {split} {'images' if 'images' in name else 'labels'}"


def check_mnist_file(path: Path, data: Optional[bytes] = None) -> bytes:
    """The contents of MNIST file ``path`` once its size, magic, shape and md5 are the published ones.

    Args:
        path: one of :data:`MNIST_FILES` in a ``MNIST/raw`` folder.
        data: its contents, if already read.

    Raises:
        MNISTCorruptError: naming the file, what was expected, what was found, and the fix.
    """
    path = Path(path)
    spec = MNIST_SPECS[path.name]
    if data is None:
        data = path.read_bytes()

    def fail(problem: str):
        raise MNISTCorruptError(f"{path} ({_what(path.name)}) {problem}. {_FIX}")

    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if len(data) != spec.size:
        state = "empty" if not data else ("truncated" if len(data) < spec.size else "longer than MNIST's")
        header = "" if magic in (None, spec.magic) else f", and its magic number is {magic} instead of {spec.magic}"
        fail(f"is {len(data):,} bytes, expected {spec.size:,}: the file is {state} (an interrupted download or "
             f"copy?){header}")
    if magic != spec.magic:
        fail(f"has magic number {magic} (0x{magic:08x}), expected {spec.magic} (0x{spec.magic:08x}): "
             f"not an IDX {'image' if spec.magic == 2051 else 'label'} file")
    dims = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(len(spec.shape)))
    if dims != spec.shape:
        fail(f"has a header for shape {dims}, expected {spec.shape}")
    digest = hashlib.md5(data).hexdigest()
    if digest != spec.md5:
        fail(f"has md5 {digest}, expected {spec.md5} (the published file): its contents differ from MNIST's")
    return data


def _read_checked(path: Path) -> np.ndarray:
    """The array stored in ``path`` (uint8, the spec's shape), checked once per process."""
    spec = MNIST_SPECS[path.name]
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    data = path.read_bytes()
    if key not in _VERIFIED:
        check_mnist_file(path, data)
        _VERIFIED[key] = True
    elif len(data) != spec.size:  # changed under the same size and time: check again
        check_mnist_file(path, data)
    offset = 4 + 4 * len(spec.shape)
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(spec.shape)


def load_mnist(
    root: Optional[str | os.PathLike] = None, train: bool = True, download: Optional[bool] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """MNIST digits ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64, checked and cached per process.

    Args:
        root: folder holding ``MNIST/raw/`` (torchvision's layout).
        train: the 60,000 training digits, else the 10,000 test digits.
        download: let torchvision fetch missing files; by default only into ``./data``.

    Raises:
        MNISTNotFoundError: naming the folder, the four files and ``STNUTILS_DATA``.
        MNISTCorruptError: a file of the split is truncated, empty or not MNIST's (see
            :func:`check_mnist_file`).
    """
    path, is_default = resolve_data_root(root)
    if download is None:
        download = is_default
    key = (str(path.resolve()), bool(train))
    if key in _CACHE:
        return _CACHE[key]

    missing = _missing_files(path)
    if missing and download:
        from torchvision.datasets import MNIST  # imported late: only needed to download

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
    prefix = "train" if train else "t10k"
    raw = path / "MNIST" / "raw"
    images = _read_checked(raw / f"{prefix}-images-idx3-ubyte")
    labels = _read_checked(raw / f"{prefix}-labels-idx1-ubyte")
    _CACHE[key] = (torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))
    return _CACHE[key]
