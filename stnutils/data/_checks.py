"""The checks of the datasets' parameters and indices (:mod:`stnutils.data.datasets`).

Every value that reaches the generator is finite and in range before a scene is drawn: an
infinite angle or spread would reach the int64 offsets as -2**63 and the fused kernels'
unchecked writes (issue 13). Each check raises ``ValueError`` or ``TypeError`` naming the
parameter and what it allows.

Example:
    >>> _whole("shift_max", 25.0, 0, 27)
    25
    >>> _as_indices(range(2, 5), 10).tolist()
    [2, 3, 4]
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch

from ..validation import check_range

__all__ = ["MAX_SIZE", "MAX_LENGTH", "DatasetIndexError"]

#: The largest scene side (a 1024x1024 scene is 4 MiB) and dataset length accepted.
MAX_SIZE, MAX_LENGTH = 1024, 2**62


class DatasetIndexError(IndexError, ValueError):
    """An index outside ``[-length, length)``: an ``IndexError`` (the sequence protocol) and a ``ValueError``."""




def _whole(name: str, value, low: int, high: int) -> int:
    """An integer (or a float holding one) in ``[low, high]``."""
    check_range(name, value, low, high)
    if isinstance(value, bool) or float(value) != int(float(value)):
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(float(value))


def _check_offset(offset, limit: int, name: str = "offset") -> Optional[Tuple[int, int]]:
    if offset is None:
        return None
    if isinstance(offset, (str, bytes)) or not hasattr(offset, "__len__") or len(offset) != 2:
        raise ValueError(f"{name} must be an (i, j) pair of integers in [{-limit}, {limit}], got {offset!r}")
    return tuple(_whole(f"{name} {axis}", v, -limit, limit) for axis, v in zip("ij", offset))


def _check_device(device) -> torch.device:
    """A device this machine has: ``'cpu'``, ``'cuda'`` or ``'cuda:N'`` with N a visible GPU."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N' (a torch.device), got {device!r}") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (dev.index or 0) >= count:
            raise ValueError(f"device must be 'cpu' or a visible GPU ('cuda:0' to 'cuda:{count - 1}'), got "
                             f"{device!r}" if count else f"device must be 'cpu' (no GPU is visible), got {device!r}")
    elif dev.type != "cpu":
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return dev


def _as_indices(indices, length: int) -> torch.Tensor:
    """``indices`` as a flat int64 tensor, each in ``[-length, length)``, or a clear error naming them."""
    if isinstance(indices, torch.Tensor):
        if indices.dtype == torch.bool or indices.is_floating_point() or indices.is_complex() or indices.dim() > 1:
            raise TypeError(f"indices must be integers (an integer, a sequence, a range or a 0-D/1-D integer "
                            f"tensor), got a {indices.dim()}-D tensor of {indices.dtype}")
        index = indices.detach().to(torch.int64).reshape(-1)
    else:
        if isinstance(indices, range):  # its ends bound it: no list of a huge range is ever built
            ends = [indices[0], indices[-1]] if indices else []
            bad = [v for v in ends if not -length <= v < length]
            if bad:
                raise DatasetIndexError(f"indices must be in [{-length}, {length}) for a dataset of length "
                                        f"{length}, got {bad[0]}")
            array = np.arange(indices.start, indices.stop, indices.step, dtype=np.int64)
        else:
            try:
                array = np.asarray(indices)
            except (ValueError, TypeError):  # ragged nesting
                array = np.asarray(None, dtype=object)
        if array.size == 0 and array.dtype.kind in "fiu" and array.ndim == 1:
            array = array.astype(np.int64)
        if array.dtype == object and array.ndim <= 1 and array.size and all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in array.reshape(-1)):
            bad = next(int(v) for v in array.reshape(-1) if not -length <= int(v) < length)
            raise DatasetIndexError(f"indices must be in [{-length}, {length}) for a dataset of length {length}, "
                                    f"got {bad}")
        if array.dtype.kind not in "iu" or array.ndim > 1:
            what = f"{array.ndim}-D {array.dtype}" if array.dtype != object else type(indices).__name__
            raise TypeError(f"indices must be integers (an integer, a sequence, a range or a 0-D/1-D integer "
                            f"tensor), got {what} ({str(indices)[:60]})")
        if array.dtype.kind == "u" and array.size and int(array.max()) >= length:
            raise DatasetIndexError(f"indices must be in [{-length}, {length}) for a dataset of length {length}, "
                                    f"got {int(array.max())}")
        index = torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64).reshape(-1))
    if index.numel() and (int(index.min()) < -length or int(index.max()) >= length):
        bad = int(index.min()) if int(index.min()) < -length else int(index.max())
        raise DatasetIndexError(f"indices must be in [{-length}, {length}) for a dataset of length {length}, "
                                f"got {bad}")
    return index
