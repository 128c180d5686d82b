"""Files that are never half-written: one atomic writer for checkpoints, histories and results.

:func:`atomic_write` yields a temporary file in the destination's own folder; when the
block ends without an error the file is flushed, ``fsync``-ed and renamed over the
destination (``os.replace``, atomic on POSIX), and the folder entry is synced too. A
crash or an exception at any point leaves the previous file as it was, and the temporary
file is removed. :func:`write_json` writes JSON through it.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "rows.json")
    >>> _ = write_json({"accuracy": np.float32(0.5)}, path)
    >>> read_json(path)
    {'accuracy': 0.5}
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator, List, Union

import numpy as np
import torch

__all__ = ["TMP_PREFIX", "atomic_write", "write_json", "read_json", "json_default", "stale_temporaries",
           "remove_stale_temporaries"]

PathLike = Union[str, os.PathLike]
#: Temporary files are ``.<name>.<random>.tmp`` beside their destination.
TMP_PREFIX = "."


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` only once the ``with`` block succeeds.

    Args:
        path: the destination; its folder is created if missing.
        mode: ``"wb"`` (bytes) or ``"w"`` (UTF-8 text).

    Yields:
        the open temporary file.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be one of ['wb', 'w'], got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


def stale_temporaries(folder: PathLike, name: str = "*") -> List[Path]:
    """The temporary files :func:`atomic_write` left in ``folder`` for ``name`` (all names by default).

    Only a process killed inside the ``with`` block (SIGKILL, power loss) leaves one; the
    destination itself is then the previous complete file.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / ".checkpoint.pt.k2j4_x.tmp").write_bytes(b"PK half")
        >>> [p.name for p in stale_temporaries(folder, "checkpoint.pt")]
        ['.checkpoint.pt.k2j4_x.tmp']
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{TMP_PREFIX}{name}.*.tmp") if p.is_file())


def remove_stale_temporaries(folder: PathLike, name: str = "*") -> List[Path]:
    """Delete :func:`stale_temporaries` of ``folder``; returns what was removed.

    Call it only while no other process writes into ``folder`` (a training run holds its
    folder's lock): another writer's temporary file is indistinguishable from a stale one.
    """
    removed = []
    for path in stale_temporaries(folder, name):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def json_default(value: Any):
    """``json.dump`` fallback: numpy scalars and arrays, tensors and ranges become plain values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.tolist()
    if isinstance(value, (range, tuple, set)):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_json(obj: Any, path: PathLike, indent: int = 1) -> Path:
    """Write ``obj`` as JSON (with a final newline) to ``path``, atomically; returns the path."""
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=indent, default=json_default)
        f.write("\n")
    return Path(path)


def read_json(path: PathLike) -> Any:
    """The JSON value stored at ``path``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)
