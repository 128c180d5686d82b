"""Counter-based random numbers: every value is a pure function of (seed, index, stream).

Why not ``torch.Generator``: a sample must be identical whatever the batch it is drawn in,
the number of DataLoader workers, the order of access, and the device (CPU and CUDA use
different generator algorithms). Hashing a counter with integer tensor ops gives all four
properties at once, and it vectorises over the batch on any device.

The mixing function is ``lowbias32`` (C. Wellons' hash-prospector), a bijection on 32-bit
words with low avalanche bias. All arithmetic is done in int32/int64 tensors with explicit
masks, because torch's ``>>`` on signed integers is an arithmetic shift.
"""
from __future__ import annotations

import math

import torch

__all__ = ["hash32", "sample_keys", "uniform", "normal", "noise_words"]

_MASK32 = 0xFFFFFFFF
_M1 = 0x7FEB352D
_M2 = 0x846CA68B
_GOLDEN = 0x9E3779B9


def _to_int32(value: int) -> int:
    """Reinterpret an unsigned 32-bit Python int as a signed one (for int32 tensor ops)."""
    value &= _MASK32
    return value - (1 << 32) if value >= (1 << 31) else value


def hash32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 on unsigned 32-bit words held in an int64 tensor (values in [0, 2**32)).

    Example:
        >>> int(hash32(torch.tensor([1], dtype=torch.int64))[0])
        1753845952
    """
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = (x * _M1) & _MASK32
    x = x ^ (x >> 15)
    x = (x * _M2) & _MASK32
    return x ^ (x >> 16)


def _hash32_int32_(x: torch.Tensor) -> torch.Tensor:
    """In-place lowbias32 on an int32 tensor (the same bits as :func:`hash32`), for big tensors."""
    x ^= (x >> 16) & 0xFFFF
    x *= _to_int32(_M1)
    x ^= (x >> 15) & 0x1FFFF
    x *= _to_int32(_M2)
    x ^= (x >> 16) & 0xFFFF
    return x


def sample_keys(seed: int, index: torch.Tensor) -> torch.Tensor:
    """Two independent 32-bit keys per sample from (seed, index).

    Args:
        seed: the dataset seed (any Python int).
        index: sample indices, shape ``(B,)``, integer.

    Returns:
        int64 tensor ``(B, 2)`` with values in [0, 2**32).
    """
    index = index.to(torch.int64)
    s = hash32(torch.tensor([seed & _MASK32, (seed >> 32) & _MASK32], device=index.device))
    base = hash32(s[0] ^ hash32(s[1] + _GOLDEN))
    k0 = hash32(hash32((index & _MASK32) ^ base) + (index >> 32))
    k1 = hash32(k0 ^ _GOLDEN ^ base)
    return torch.stack([k0, k1], dim=-1)


def _stream_words(keys: torch.Tensor, stream: int) -> torch.Tensor:
    return hash32(hash32(keys[:, 0] ^ hash32(torch.full_like(keys[:, 0], stream))) ^ keys[:, 1])


def uniform(keys: torch.Tensor, stream: int) -> torch.Tensor:
    """One uniform float64 in the open interval (0, 1) per sample, for a named stream.

    Args:
        keys: ``(B, 2)`` from :func:`sample_keys`.
        stream: a small integer naming what the number is for (radius, direction, ...).

    Returns:
        float64 tensor ``(B,)``.
    """
    w = _stream_words(keys, stream)
    return (w.to(torch.float64) + 0.5) / 2.0**32


def normal(keys: torch.Tensor, stream: int) -> torch.Tensor:
    """One standard normal float64 per sample (Box-Muller on two streams ``stream``, ``stream+1``)."""
    u1 = uniform(keys, stream)
    u2 = uniform(keys, stream + 1)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)


def noise_words(keys: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` pseudo-random 32-bit words per sample, as an int32 tensor ``(B, count)``.

    Element ``e`` of sample ``b`` is ``lowbias32(e * m_b + a_b)`` with a per-sample odd
    multiplier ``m_b`` and offset ``a_b``, so two samples never walk the same counter
    sequence (they would, up to a shift, with ``e + a_b`` alone).
    """
    device = keys.device
    mult = ((keys[:, 0] | 1) & _MASK32)
    add = keys[:, 1]
    mult = torch.where(mult >= 2**31, mult - 2**32, mult).to(torch.int32)
    add = torch.where(add >= 2**31, add - 2**32, add).to(torch.int32)
    counter = torch.arange(count, dtype=torch.int32, device=device)
    x = counter.unsqueeze(0) * mult.unsqueeze(1)
    x += add.unsqueeze(1)
    return _hash32_int32_(x)
