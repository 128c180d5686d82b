"""One way to reject bad input: ``ValueError("<name> must be <allowed>, got <value>")``.

Range and choice checks for numbers and options, and :func:`check_tensor` for the shape
and dtype of tensors, so that every public function of the package reports a bad
argument in the same words and names the parameter.

Example:
    >>> check_range("lr", 0.01, 0, None, low_open=True)
    0.01
    >>> check_tensor("theta", torch.zeros(2, 2, 3), shape=(None, 2, 3)).shape
    torch.Size([2, 2, 3])
    >>> check_tensor("images", torch.zeros(2, 28, 28), shape=(None, 1, 28, 28))
    Traceback (most recent call last):
    ...
    ValueError: images must be an (N, 1, 28, 28) tensor, got (2, 28, 28)
"""
from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence, Union

import torch

__all__ = ["check_range", "check_finite", "check_choice", "check_positive_int", "check_tensor"]


def check_range(name: str, value, low=None, high=None, *, low_open=False, high_open=False):
    """Raise ``ValueError`` naming ``name`` unless ``low <(=) value <(=) high``; return ``value``."""
    interval = _interval(low, high, low_open, high_open)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}") from None
    if math.isnan(v):
        raise ValueError(f"{name} must be a number in {interval}, got nan")
    bad_low = low is not None and (v <= low if low_open else v < low)
    bad_high = high is not None and (v >= high if high_open else v > high)
    if bad_low or bad_high:
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def _interval(low, high, low_open: bool, high_open: bool, open_infinities: bool = False) -> str:
    """``[low, high)`` and the like; ``open_infinities``: a missing bound is written ``(-inf`` / ``inf)``."""
    lo = f"{'(' if low_open or (open_infinities and low is None) else '['}{'-inf' if low is None else f'{low:g}'}"
    hi = f"{'inf' if high is None else f'{high:g}'}{')' if high_open or (open_infinities and high is None) else ']'}"
    return f"{lo}, {hi}"


def check_finite(name: str, value, low=None, high=None, *, low_open=False, high_open=False) -> float:
    """:func:`check_range`, and finite: an infinite parameter (``Infinity`` parses from JSON and
    passes ``(0, inf]``) would reach int64 offsets as -2**63. Returns ``float(value)``.

    Example:
        >>> check_finite("radius", 3)
        3.0
        >>> check_finite("radius", float("inf"), 0)
        Traceback (most recent call last):
        ...
        ValueError: radius must be a finite number in [0, inf), got inf
    """
    v = float(check_range(name, value, low, high, low_open=low_open, high_open=high_open))
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number in {_interval(low, high, low_open, high_open, True)}, "
                         f"got {value!r}")
    return v


def check_choice(name: str, value, choices: Iterable):
    """Raise ``ValueError`` listing ``choices`` unless ``value`` is one of them; return ``value``."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_positive_int(name: str, value):
    """Raise ``ValueError`` unless ``value`` is an ``int`` (not a bool) >= 1; return it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _shape_text(shape: Sequence[Optional[Union[int, str]]]) -> str:
    """``"an (N, 1, 28, 28)"``: free sizes are letters, the article fits the first one."""
    letters = iter("NMKLJ")
    parts = [str(s) if isinstance(s, (int, str)) else next(letters) for s in shape]
    text = "(" + ", ".join(parts) + ")"
    return ("an " if text.startswith("(N") else "a ") + text


def check_tensor(name: str, value, shape: Optional[Sequence[Optional[Union[int, str]]]] = None, *,
                 floating: bool = False, dtype: Optional[torch.dtype] = None, min_len: int = 0):
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a tensor of the given shape/dtype.

    Args:
        name: the parameter's name, for the message.
        value: what was passed.
        shape: the expected shape; ``None`` (shown as N, M, ...) or a letter (``"C"``) matches
            any size.
        floating: require a floating-point dtype.
        dtype: require exactly this dtype.
        min_len: require at least this many rows (first dimension).

    Returns:
        ``value``, unchanged.
    """
    if not isinstance(value, torch.Tensor):
        want = "a tensor" if shape is None else f"{_shape_text(shape)} tensor"
        raise ValueError(f"{name} must be {want}, got {type(value).__name__}")
    if shape is not None:
        # an int must match; None or a letter ("C") matches any size
        ok = value.dim() == len(shape) and all(not isinstance(s, int) or s == v for s, v in zip(shape, value.shape))
        if not ok:
            raise ValueError(f"{name} must be {_shape_text(shape)} tensor, got {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if dtype is not None and value.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype}, got {value.dtype}")
    if value.dim() > 0 and len(value) < min_len:
        raise ValueError(f"{name} must hold at least {min_len} rows, got {len(value)}")
    return value
