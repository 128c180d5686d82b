"""What a long training shows while it runs: a progress bar on a terminal, status lines for the book build.

:class:`RunProgress` wraps the batches of each epoch. On a terminal (or with
``progress=True``) it draws tqdm's bar, as before. With the environment variable
``STNUTILS_PROGRESS`` set (``scripts/run_notebooks.py`` sets it to the chapter's name
while ``make book`` executes a notebook) it also writes a status line every few seconds
to the process's *original* standard error, ``sys.__stderr__``: inside a Jupyter kernel
that is the terminal of the papermill process, not the notebook, so the executed
notebooks hold no progress output. A line reads::

    [week02_stn28] stn28 (quick) epoch 3/20: 1,200/6,000 scenes, 812 scenes/s, epoch ETA 6 s, run ETA 2 min 14 s

Example:
    >>> status_line("week04_atn", "atn", "quick", 2, 10, 300, 1000, 150.0, 30.0)
    '[week04_atn] atn (quick) epoch 3/10: 300/1,000 scenes, 150 scenes/s, epoch ETA 5 s, run ETA 30 s'
"""
from __future__ import annotations

import os
import sys
import time
from typing import Iterator, List, Optional

from tqdm import tqdm

__all__ = ["PROGRESS_ENV", "RunProgress", "status_line", "format_duration"]

PROGRESS_ENV = "STNUTILS_PROGRESS"
_EVERY_S = 10.0  # between two status lines (the first comes after 2 s)


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``.

    Example:
        >>> format_duration(3.2), format_duration(185), format_duration(3725)
        ('3 s', '3 min 05 s', '1 h 02 min')
    """
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def status_line(label: str, model: str, profile: str, epoch: int, epochs: int, done: int, total: int,
                rate: float, run_left_s: float) -> str:
    """One status line (0-based ``epoch``; ``done`` of ``total`` scenes at ``rate`` scenes/s)."""
    prefix = f"[{label}] " if label else ""
    epoch_left = (total - done) / rate if rate > 0 else float("nan")
    eta = f", epoch ETA {format_duration(epoch_left)}, run ETA {format_duration(run_left_s)}" if rate > 0 else ""
    return (f"{prefix}{model} ({profile}) epoch {epoch + 1}/{epochs}: {done:,}/{total:,} scenes, "
            f"{rate:,.0f} scenes/s{eta}")


def _label() -> Optional[str]:
    """The label of ``$STNUTILS_PROGRESS`` ('' for a bare '1'), or None when the status lines are off."""
    value = os.environ.get(PROGRESS_ENV, "").strip()
    if value.lower() in ("", "0", "false", "no", "off"):
        return None
    return "" if value.lower() in ("1", "true", "yes", "on") else value


class RunProgress:
    """Per-batch progress of one run: tqdm's bar and/or status lines (see the module docstring).

    Args:
        model, profile: what the lines name.
        epochs: the run's number of epochs.
        bar: tqdm's bar: None (when writing to a terminal), True or False.
        main: whether this process reports at all (rank 0).
    """

    def __init__(self, model: str, profile: str, epochs: int, bar: Optional[bool] = None, main: bool = True):
        self.model, self.profile, self.epochs, self.main = model, profile, epochs, main
        self.bar = bar
        self.label = _label() if main else None
        self.stream = sys.__stderr__ if self.label is not None else None
        self._starts: List[float] = []  # when each epoch's batches began: whole epochs (test pass included)

    def batches(self, epoch: int, n_batches: int, batch_size: int) -> Iterator[int]:
        """``range(n_batches)``, reporting as it goes (0-based ``epoch``)."""
        bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{self.epochs}", unit="batch", leave=False,
                   disable=(not self.main) or (None if self.bar is None else not self.bar))
        t0 = last = time.monotonic()
        self._starts.append(t0)
        first_wait = 2.0
        for b in bar:
            yield b
            if self.stream is None:
                continue
            now = time.monotonic()
            if now - last >= (first_wait if last == t0 else _EVERY_S) or b + 1 == n_batches:
                last = now
                self._say(epoch, (b + 1) * batch_size, n_batches * batch_size, now - t0)

    def _say(self, epoch: int, done: int, total: int, elapsed: float) -> None:
        rate = done / elapsed if elapsed > 0 else 0.0
        starts = self._starts
        per_epoch = ((starts[-1] - starts[0]) / (len(starts) - 1) if len(starts) > 1
                     else (total / rate if rate > 0 else 0.0))
        run_left = (total - done) / rate + (self.epochs - epoch - 1) * per_epoch if rate > 0 else 0.0
        line = status_line(self.label, self.model, self.profile, epoch, self.epochs, done, total, rate, run_left)
        try:
            tty = self.stream.isatty()
            self.stream.write(("\r\x1b[K" if tty else "") + line + "\n")
            self.stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or missing stream: stop reporting
            self.stream = None
