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
from typing import Optional

import torch

__all__ = ["hash32", "sample_keys", "uniform", "uniforms", "normal", "box_muller", "noise_words"]

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


def _hash32_int32_(x: torch.Tensor, scratch: Optional[torch.Tensor] = None) -> torch.Tensor:
    """In-place lowbias32 on an int32 tensor (the same bits as :func:`hash32`), for big tensors.

    ``scratch``, a tensor like ``x``, holds the shifted words; without it each shift allocates.
    """
    if scratch is None:
        scratch = torch.empty_like(x)
    for shift, mult in ((16, _M1), (15, _M2), (16, None)):
        # ``>>`` on int32 is arithmetic: masking the sign-extended bits makes it a logical shift
        torch.bitwise_right_shift(x, shift, out=scratch)
        scratch &= (1 << (32 - shift)) - 1
        x ^= scratch
        if mult is not None:
            x *= _to_int32(mult)
    return x


def _hash32_int(value: int) -> int:
    """:func:`hash32` of one Python int (for constants: the seed, the stream ids)."""
    x = value & _MASK32
    x ^= x >> 16
    x = (x * _M1) & _MASK32
    x ^= x >> 15
    x = (x * _M2) & _MASK32
    return x ^ (x >> 16)


def sample_keys(seed: int, index: torch.Tensor) -> torch.Tensor:
    """Two independent 32-bit keys per sample from (seed, index).

    Args:
        seed: the dataset seed (any Python int).
        index: sample indices, shape ``(B,)``, integer.

    Returns:
        int64 tensor ``(B, 2)`` with values in [0, 2**32).
    """
    index = index.to(torch.int64)
    # the seed's part is a constant: hash it in Python, not once per call on the device
    s0, s1 = _hash32_int(seed & _MASK32), _hash32_int((seed >> 32) & _MASK32)
    base = _hash32_int(s0 ^ _hash32_int(s1 + _GOLDEN))
    k0 = hash32(hash32((index & _MASK32) ^ base) + (index >> 32))
    k1 = hash32(k0 ^ (_GOLDEN ^ base))
    return torch.stack([k0, k1], dim=-1)


def uniforms(keys: torch.Tensor, streams) -> torch.Tensor:
    """Uniform float64 numbers in (0, 1), one per sample and stream: ``(B, len(streams))``.

    Column ``n`` equals ``uniform(keys, streams[n])``; drawing several streams at once
    costs one set of tensor operations instead of one per stream.
    """
    consts = torch.tensor([_hash32_int(s) for s in streams], dtype=torch.int64, device=keys.device)
    w = hash32(hash32(keys[:, :1] ^ consts) ^ keys[:, 1:])
    return (w.to(torch.float64) + 0.5) / 2.0**32


def uniform(keys: torch.Tensor, stream: int) -> torch.Tensor:
    """One uniform float64 in the open interval (0, 1) per sample, for a named stream.

    Args:
        keys: ``(B, 2)`` from :func:`sample_keys`.
        stream: a small integer naming what the number is for (radius, direction, ...).

    Returns:
        float64 tensor ``(B,)``.
    """
    return uniforms(keys, [stream])[:, 0]


def normal(keys: torch.Tensor, stream: int) -> torch.Tensor:
    """One standard normal float64 per sample (Box-Muller on two streams ``stream``, ``stream+1``)."""
    u = uniforms(keys, [stream, stream + 1])
    return box_muller(u[:, 0], u[:, 1])


def box_muller(u1: torch.Tensor, u2: torch.Tensor) -> torch.Tensor:
    """A standard normal from two independent uniforms in (0, 1) (the cosine branch)."""
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)


def noise_words(
    keys: torch.Tensor, count: int, out: Optional[torch.Tensor] = None, scratch: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """``count`` pseudo-random 32-bit words per sample, as an int32 tensor ``(B, count)``.

    Element ``e`` of sample ``b`` is ``lowbias32(e * m_b + a_b)`` with a per-sample odd
    multiplier ``m_b`` and offset ``a_b``, so two samples never walk the same counter
    sequence (they would, up to a shift, with ``e + a_b`` alone).

    ``out`` and ``scratch`` (int32 ``(B, count)``, optional) are written instead of fresh
    tensors: a caller that reuses them spares the allocator, which matters on CPU where
    fresh multi-megabyte tensors are fresh pages.
    """
    mult, add = noise_word_params(keys)
    return noise_words_from(mult, add, count, out, scratch)


def noise_word_params(keys: torch.Tensor):
    """Each sample's odd multiplier and offset for :func:`noise_words`, as int32 ``(B, 1)`` tensors."""
    params = torch.stack([(keys[:, 0] | 1) & _MASK32, keys[:, 1]], dim=1)
    params = torch.where(params >= 2**31, params - 2**32, params).to(torch.int32)
    return params[:, :1], params[:, 1:]


_COUNTERS: dict = {}


def noise_words_from(mult: torch.Tensor, add: torch.Tensor, count: int, out=None, scratch=None) -> torch.Tensor:
    """:func:`noise_words` from :func:`noise_word_params` (a caller looping over blocks computes them once)."""
    key = (count, str(mult.device))
    counter = _COUNTERS.get(key)
    if counter is None:
        counter = _COUNTERS[key] = torch.arange(count, dtype=torch.int32, device=mult.device)
    if out is None:
        out = torch.empty(len(mult), count, dtype=torch.int32, device=mult.device)
    torch.mul(counter, mult, out=out)
    out += add
    return _hash32_int32_(out, scratch)
