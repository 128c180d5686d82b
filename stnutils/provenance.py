"""What produced a result: profile, device, git commit, versions, time.

Every executed notebook opens with :func:`start` and ends with :func:`finish`, so its
first output states the profile, device, commit and (once finished) the wall time, and
no reader mistakes a quick result for a full one.

Example:
    >>> check_profile("quick")
    'quick'
    >>> sorted(provenance("smoke", "cpu"))[:4]
    ['device', 'git_commit', 'profile', 'python']
"""
from __future__ import annotations

import platform
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Union

import torch

from .validation import check_choice

__all__ = [
    "PROFILES",
    "check_profile",
    "resolve_device",
    "describe_device",
    "git_commit",
    "provenance",
    "provenance_banner",
    "start",
    "finish",
]

PROFILES = ("smoke", "quick", "full")
_PACKAGE_DIR = Path(__file__).resolve().parent


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of :data:`PROFILES`, else raise ``ValueError``.

    Example:
        >>> check_profile("fast")
        Traceback (most recent call last):
        ...
        ValueError: profile must be one of ['smoke', 'quick', 'full'], got 'fast'
    """
    return check_choice("profile", profile, PROFILES)


def resolve_device(device: Union[str, torch.device, None] = "cpu") -> str:
    """``'auto'`` becomes ``'cuda'`` when CUDA is available, else ``'cpu'``; others are checked.

    Args:
        device: ``'auto'``, ``'cpu'``, ``'cuda'``, ``'cuda:N'`` (or a ``torch.device``);
            ``None`` means ``'cpu'``.

    Returns:
        the device as a string torch accepts.

    Raises:
        ValueError: unknown device type, or CUDA asked for where there is none.

    Example:
        >>> resolve_device("cpu")
        'cpu'
    """
    if device is None:
        return "cpu"
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(dev)!r} asked for, but CUDA is not available here; use 'cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {str(dev)!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    return str(dev)


def describe_device(device: Union[str, torch.device]) -> str:
    """A readable name: ``'cpu'`` or ``'cuda: NVIDIA H100 80GB HBM3'``."""
    dev = torch.device(resolve_device(device))
    if dev.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(dev)}"
    return "cpu"


def _git(*args: str, cwd: Path) -> Optional[str]:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(path: Union[str, Path, None] = None) -> str:
    """Short hash of ``HEAD`` of the repository holding ``path`` (default: this package).

    ``'+dirty'`` is appended when ``git status --porcelain`` lists changes outside ``book/``
    (the executed notebooks a book build is writing are its output, not its source);
    ``'unknown'`` outside a repository, without git, or before the first commit.
    """
    cwd = Path(path) if path is not None else _PACKAGE_DIR
    commit = _git("rev-parse", "--short", "HEAD", cwd=cwd)
    if not commit:
        return "unknown"
    if _git("status", "--porcelain", "--", ":(top)", ":(top,exclude)book", cwd=cwd):
        commit += "+dirty"
    return commit


def provenance(profile: str, device: Union[str, torch.device, None] = None, start_time: Optional[float] = None) -> dict:
    """Profile, device, git commit, versions and a UTC time stamp, as a plain dict.

    Args:
        profile: one of :data:`PROFILES` (checked).
        device: as for :func:`resolve_device` (``None``: ``'cpu'``).
        start_time: a ``time.time()`` value; adds ``wall_time_s`` since then.

    Returns:
        ``{profile, device, git_commit, torch, python, timestamp[, wall_time_s]}``.
    """
    info = {
        "profile": check_profile(profile),
        "device": describe_device(resolve_device(device)),
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if start_time is not None:
        info["wall_time_s"] = round(time.time() - start_time, 1)
    return info


def _format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def provenance_banner(info: dict) -> str:
    """A MyST Markdown admonition stating the run's profile, device, commit and times.

    Example:
        >>> print(provenance_banner({"profile": "smoke", "device": "cpu", "git_commit": "abc1234",
        ...                          "torch": "2.0", "python": "3.11", "timestamp": "T"}).splitlines()[0])
        ```{admonition} Run: profile smoke on cpu
    """
    lines = [
        f"```{{admonition}} Run: profile {info['profile']} on {info['device']}",
        ":class: note",
        "",
        f"- **profile**: `{info['profile']}` (smoke: CI check; quick: 2-core CPU, reduced; "
        "full: the paper's schedules on one GPU)",
        f"- **device**: {info['device']}",
        f"- **git commit**: `{info['git_commit']}`",
        f"- **versions**: torch {info['torch']}, Python {info['python']}",
        f"- **started**: {info['timestamp']} (UTC)",
    ]
    if "wall_time_s" in info:
        lines.append(f"- **wall time**: {_format_seconds(info['wall_time_s'])}")
    else:
        lines.append("- **wall time**: running (filled in when the notebook finishes)")
    lines.append("```")
    return "\n".join(lines)


def _plain_banner(info: dict) -> str:
    keys = ("profile", "device", "git_commit", "torch", "python", "timestamp", "wall_time_s")
    return "\n".join(f"{k}: {info[k]}" for k in keys if k in info)


def _show(info: dict, display_id: str, update: bool) -> None:
    bundle = {"text/markdown": provenance_banner(info), "text/plain": _plain_banner(info)}
    try:
        from IPython import get_ipython
        from IPython.display import display, update_display
    except ImportError:  # plain Python: print
        print(_plain_banner(info))
        return
    if get_ipython() is None:
        print(_plain_banner(info))
    elif update:
        update_display(bundle, raw=True, display_id=display_id)
    else:
        display(bundle, raw=True, display_id=display_id)


def start(profile: str, device: Union[str, torch.device, None] = "cpu") -> dict:
    """Check ``profile`` and ``device``, show the run header, and start the clock.

    Call it in the first code cell after the parameters; :func:`finish` at the end fills
    the wall time into the same header (papermill keeps the updated output).

    Returns:
        the :func:`provenance` dict plus ``device_name`` (for ``torch.device``),
        ``start_time`` and ``display_id``.
    """
    start_time = time.time()
    info = provenance(profile, device)
    info["device_name"] = resolve_device(device)
    info["start_time"] = start_time
    info["display_id"] = f"stnutils-provenance-{uuid.uuid4().hex}"
    _show(info, info["display_id"], update=False)
    return info


def finish(info: dict) -> dict:
    """Stop the clock started by :func:`start`, update the header and show the wall time.

    Returns:
        ``info`` with ``wall_time_s`` (seconds, one decimal).
    """
    info = dict(info, wall_time_s=round(time.time() - info["start_time"], 1))
    if "display_id" in info:
        _show(info, info["display_id"], update=True)
    print(f"Finished: profile {info['profile']} on {info['device']}, wall time {_format_seconds(info['wall_time_s'])}.")
    return info
