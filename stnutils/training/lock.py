"""One training per run folder: a lock file that names its owner and dies with it.

:func:`run_lock` holds ``<run folder>/train.lock`` for the duration of a run. The file
records the owner (pid, host, start time, command); the lock itself is an advisory
``flock`` on it, which the kernel releases when the owner exits, however it exits (a
SIGKILL, an out-of-memory kill). A second training pointed at the same folder therefore
finds the lock held and refuses with :class:`RunLockedError`, naming the owner; a lock
file left by a process that is gone is not held by anyone, and the next run takes it over
(and says so). On file systems without ``flock`` the owner's pid is checked instead (on
the same host).

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with run_lock(folder) as lock:
    ...     _ = lock.owner()["pid"] == os.getpid()
    ...     try:
    ...         with run_lock(folder):
    ...             pass
    ...     except RunLockedError as err:
    ...         print("refused:", "is being trained by pid" in str(err))
    refused: True
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator, Optional, Union

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["LOCK_NAME", "RunLockedError", "RunLock", "run_lock", "wait_until_free"]

LOCK_NAME = "train.lock"


class RunLockedError(FileExistsError):
    """Another live process is training into the same run folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _read(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 1 << 16)
        info = json.loads(data.decode()) if data.strip() else {}
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(info: dict) -> str:
    since = info.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else "?"
    return f"pid {info.get('pid', '?')} on host {info.get('host', '?')} (since {when})"


class RunLock:
    """A held lock on a run folder: :meth:`owner` is what the file records, :attr:`took_over` the stale
    owner it replaced (or None)."""

    def __init__(self, path: Path, fd: int, took_over: Optional[dict]):
        self.path, self._fd, self.took_over = path, fd, took_over

    def owner(self) -> dict:
        return _read(self._fd)

    def release(self) -> None:
        """Remove the file while still holding it, then let go (a waiting process then finds no file)."""
        if self._fd < 0:
            return
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                self.path.unlink()
        os.close(self._fd)
        self._fd = -1


def _try_flock(fd: int) -> Optional[bool]:
    """True: locked; False: someone holds it; None: the file system cannot lock."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES):
            return False
        return None  # ENOLCK, EOPNOTSUPP, ...


def acquire(folder: Union[str, os.PathLike]) -> RunLock:
    """Take ``folder``'s lock (creating the folder), or raise :class:`RunLockedError` naming its owner."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    host = socket.gethostname()
    for _ in range(20):  # retried only when the file is replaced between open and lock
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        locked = _try_flock(fd)
        previous = _read(fd)
        if locked is None:  # no flock here: trust a live pid on this host
            pid = previous.get("pid")
            if previous and previous.get("host") == host and isinstance(pid, int) and pid != os.getpid() \
                    and _alive(pid):
                locked = False
        if locked is False:
            os.close(fd)
            raise RunLockedError(
                f"{folder} is being trained by {_describe(previous)}: {path} is held. Wait for that run to "
                f"finish (or stop it), or train into another --out folder. Two trainings in one folder would "
                f"mix their files.")
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the owner removed it as we locked it: lock the new file instead
            os.close(fd)
            continue
        info = {"pid": os.getpid(), "host": host, "started": time.time(), "command": " ".join(sys.argv)[:500]}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(info) + "\n").encode())
        os.fsync(fd)
        return RunLock(path, fd, previous or None)
    raise RunLockedError(f"{path} keeps changing: another process is taking and releasing it")


@contextlib.contextmanager
def run_lock(folder: Union[str, os.PathLike], *, enabled: bool = True, say=None) -> Iterator[Optional[RunLock]]:
    """Hold ``folder``'s lock for the ``with`` block (yields None when not ``enabled``, e.g. on ranks > 0).

    Args:
        folder: the run folder.
        enabled: take the lock at all (only the process that writes the files does).
        say: called with one line when a stale lock of a dead process is taken over.
    """
    if not enabled:
        yield None
        return
    folder = Path(folder)
    created = not folder.exists()
    lock = acquire(folder)
    if lock.took_over and say is not None:
        say(f"took over the stale lock {folder.name}/{LOCK_NAME}: its owner, {_describe(lock.took_over)}, "
            f"is no longer running")
    try:
        yield lock
    finally:
        lock.release()
        if created:  # a run refused before writing anything leaves no empty folder behind
            with contextlib.suppress(OSError):
                folder.rmdir()


def wait_until_free(folder: Union[str, os.PathLike], poll_s: float = 2.0, timeout_s: Optional[float] = None) -> None:
    """Return once no process holds ``folder``'s lock (at once if none does): for a caller that would
    rather use another process's run than refuse, e.g. a chapter whose model another build is training.

    Raises:
        RunLockedError: still held after ``timeout_s`` seconds (None: wait as long as it takes).
    """
    t0 = time.monotonic()
    while True:
        if not (Path(folder) / LOCK_NAME).exists():
            return
        try:
            acquire(folder).release()
            return
        except RunLockedError:
            try:
                owner = json.loads((Path(folder) / LOCK_NAME).read_text() or "{}")
            except (OSError, ValueError):
                owner = {}
            mine = owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname()
            if mine or (timeout_s is not None and time.monotonic() - t0 > timeout_s):
                raise  # this very process holds it: waiting would never end
            time.sleep(poll_s)
