"""One way to reject bad input: ``ValueError("<name> must be <allowed>, got <value>")``."""
from __future__ import annotations

import math
from typing import Iterable

__all__ = ["check_range", "check_choice", "check_positive_int"]


def check_range(name: str, value, low=None, high=None, *, low_open=False, high_open=False):
    """Raise ``ValueError`` naming ``name`` unless ``low <(=) value <(=) high``; return ``value``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(v):
        raise ValueError(f"{name} must be a number, got nan")
    bad_low = low is not None and (v <= low if low_open else v < low)
    bad_high = high is not None and (v >= high if high_open else v > high)
    if bad_low or bad_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return value


def check_choice(name: str, value, choices: Iterable):
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_positive_int(name: str, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value
