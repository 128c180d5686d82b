"""Fused CPU loops for the memory-bound stages of the scene generator (numba, optional).

Each stage of a scene is one pass over its pixels at most: the noise words become the
spectrum in one loop, the FFT output is de-interleaved while its extremes are taken, and
the digits, the normalisation and the disc are applied in one pass per scene while that
scene is in cache. The same stages written as torch operations (``motioncloud`` and
``scenes``) cost 13, 3 and 8 passes; they remain the path on CUDA and wherever numba is
missing, and the tests compare both.

The loops are spread over the cores by numba (``parallel``, as many threads as torch uses).
Its OpenMP runtime cannot be used again in a process forked after it started (a DataLoader
worker), so such a process takes the torch path: the results are the same.

The arithmetic is the torch path's, operation by operation, in float32: the spectrum
uses one rounding of ``half + byte * env`` as torch's (fused) ``addcmul`` does, computed
exactly in float64 first (the byte times a float32 fits in 32 significant bits); the other
stages round after each operation, as separate torch operations do. Set
``STNUTILS_NUMBA=0`` to use the torch path on CPU too.
"""
from __future__ import annotations

import os

import numpy as np

try:  # numba is optional: the GPU machine and minimal installs go without it
    import numba
    from numba import njit, prange
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None

AVAILABLE = numba is not None and os.environ.get("STNUTILS_NUMBA", "1") != "0"

__all__ = ["AVAILABLE", "usable", "spectrum_into", "deinterleave_extremes", "compose_into"]


_OWNER_PID = None  # the process whose threads the kernels have started


def usable() -> bool:
    """Whether the fused kernels can run in this process (numba present, not a forked child)."""
    global _OWNER_PID
    if not AVAILABLE:
        return False
    if _OWNER_PID is None:
        _OWNER_PID = os.getpid()
    return _OWNER_PID == os.getpid()


def _use_threads() -> None:
    """As many numba threads as torch uses (the caller's setting)."""
    import torch

    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


if AVAILABLE:
    _M1, _M2 = np.uint32(0x7FEB352D), np.uint32(0x846CA68B)
    _HALF = np.float32(0.5)

    @njit(parallel=True, nogil=True, cache=True)
    def _spectrum(mult, add, env, half, out):  # pragma: no cover - compiled
        n_words = out.shape[1] // 4
        for p in prange(out.shape[0]):
            m, a = mult[p], add[p]
            for e in range(n_words):
                x = np.uint32(np.uint32(e) * m + a)  # lowbias32, as rng.noise_words
                x ^= x >> np.uint32(16)
                x = np.uint32(x * _M1)
                x ^= x >> np.uint32(15)
                x = np.uint32(x * _M2)
                x ^= x >> np.uint32(16)
                for k in range(4):  # the word's bytes, little-endian, as signed int8
                    byte = np.float64(np.int8(np.uint8((x >> np.uint32(8 * k)) & np.uint32(0xFF))))
                    i = 4 * e + k
                    out[p, i] = np.float32(np.float64(half[i]) + byte * np.float64(env[i]))

    @njit(parallel=True, nogil=True, cache=True)
    def _deinterleave(field, out, top, bottom):  # pragma: no cover - compiled
        n_pixels = out.shape[2]
        for p in prange(out.shape[0]):
            hi_re, lo_re = field[p, 0], field[p, 0]
            hi_im, lo_im = field[p, 1], field[p, 1]
            for i in range(n_pixels):
                re, im = field[p, 2 * i], field[p, 2 * i + 1]
                out[p, 0, i] = re
                out[p, 1, i] = im
                hi_re, lo_re = max(hi_re, re), min(lo_re, re)
                hi_im, lo_im = max(hi_im, im), min(lo_im, im)
            top[p, 0], top[p, 1] = hi_re, hi_im
            bottom[p, 0], bottom[p, 1] = lo_re, lo_im

    @njit(parallel=True, nogil=True, cache=True)
    def _compose(fields, field_max, gain, digit, patch, disc, mask):  # pragma: no cover - compiled
        n_pixels, n_patch = fields.shape[1], patch.shape[1]
        for b in prange(fields.shape[0]):
            z, g = fields[b], gain[b]
            if not mask:  # background 0.5 + g z, then the strokes brighter than it
                for i in range(n_pixels):
                    z[i] = z[i] * g + _HALF
                for j in range(n_patch):
                    i = patch[b, j]
                    d = digit[b, j]
                    mixed = max(d, z[i]) if d > _HALF else z[i]
                    z[i] = min(max(mixed, np.float32(0.0)), np.float32(1.0))
                continue
            patch_hi = -np.inf
            for j in range(n_patch):  # strokes in field units, where brighter than the field
                i = patch[b, j]
                d = digit[b, j]
                v = z[i]
                if d > _HALF:
                    v = max(v, (d - _HALF) / g)
                z[i] = v
                patch_hi = max(patch_hi, v)
            z_lo = z[0]
            for i in range(n_pixels):
                z_lo = min(z_lo, z[i])
            z_hi = max(np.float32(field_max[b]), np.float32(patch_hi))
            span = z_hi - z_lo
            if not span > 0:
                span = np.float32(1.0)
            for i in range(n_pixels):
                z[i] = (z[i] - z_lo) / span if disc[i] else _HALF


def _check(name: str, array, shape, dtype, contiguous: bool = True) -> None:
    """Refuse anything but the layout a loop expects: the loops index raw memory without bounds checks.

    ``shape`` entries of None match any size.
    """
    import torch

    ok = (isinstance(array, torch.Tensor) and array.device.type == "cpu" and array.dtype == dtype
          and (array.is_contiguous() or not contiguous) and array.dim() == len(shape)
          and all(s is None or s == n for s, n in zip(shape, array.shape)))
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        got = (f"{tuple(array.shape)} {array.dtype} on {array.device}"
               f"{'' if array.is_contiguous() else ', not contiguous'}" if isinstance(array, torch.Tensor)
               else type(array).__name__)
        raise ValueError(f"{name} must be a{' contiguous' if contiguous else ''} CPU {dtype} tensor of shape "
                         f"{want}, got {got}")


def spectrum_into(mult, add, env, half, out) -> None:
    """``out[p] = half + byte * env`` over the bytes of key ``p``'s noise words.

    Args:
        mult, add: int32 ``(P, 1)`` from :func:`stnutils.data.rng.noise_word_params`.
        env, half: float32 ``(S, S, 2)`` envelope and half envelope, contiguous.
        out: float32 ``(P, S, S, 2)`` contiguous.

    Raises:
        ValueError: an argument of another shape, dtype or layout (the loop would run past it).
    """
    import torch

    _check("out", out, (None, None, None, 2), torch.float32)
    for name, array in (("mult", mult), ("add", add)):
        _check(name, array, (len(out), 1), torch.int32, contiguous=False)
    for name, array in (("env", env), ("half", half)):
        _check(name, array, tuple(out.shape[1:]), torch.float32)
    _use_threads()
    _spectrum(mult.numpy().reshape(-1).view(np.uint32), add.numpy().reshape(-1).view(np.uint32),
              env.numpy().reshape(-1), half.numpy().reshape(-1), out.numpy().reshape(len(out), -1))


def deinterleave_extremes(field, out, top, bottom) -> None:
    """Real and imaginary parts of ``field`` ``(P, S, S)`` complex64 into ``out`` ``(P, 2, S, S)``,
    and the maximum and minimum of each part into ``top`` and ``bottom`` ``(P, 2)``.

    Raises:
        ValueError: an argument of another shape, dtype or layout.
    """
    import torch

    _check("out", out, (None, 2, None, None), torch.float32)
    p = len(out)
    _check("field", field, (p, *out.shape[2:]), torch.complex64)
    for name, array in (("top", top), ("bottom", bottom)):
        _check(name, array, (p, 2), torch.float32)
    _use_threads()
    _deinterleave(field.view(out.dtype).numpy().reshape(p, -1), out.numpy().reshape(p, 2, -1),
                  top.numpy(), bottom.numpy())


def compose_into(fields, field_max, gain, digit, patch, disc, mask: bool) -> None:
    """:func:`stnutils.data.scenes.compose_scenes_`'s arithmetic in one pass per scene (CPU, gain > 0).

    Raises:
        ValueError: an argument of another shape, dtype or layout, or a patch index outside
            the scene (the loop writes ``fields`` at those indices without bounds checks).
    """
    import torch

    _check("fields", fields, (None, None, None), torch.float32)
    b, n_pixels = len(fields), fields.shape[1] * fields.shape[2]
    for name, array in (("field_max", field_max), ("gain", gain)):
        _check(name, array, (b,), torch.float32)
    _check("patch", patch, (b, None), torch.int64)
    _check("digit", digit, (b, None, None), torch.float32)
    if digit.shape[1] * digit.shape[2] != patch.shape[1]:
        raise ValueError(f"digit must hold one pixel per patch index ({patch.shape[1]} a scene), "
                         f"got {tuple(digit.shape)}")
    _check("disc", disc, (n_pixels,), torch.float32)
    if patch.numel() and (int(patch.min()) < 0 or int(patch.max()) >= n_pixels):
        raise ValueError(f"patch indices must be in [0, {n_pixels}) (inside the scene), got indices from "
                         f"{int(patch.min())} to {int(patch.max())}")
    _use_threads()
    _compose(fields.numpy().reshape(b, -1), field_max.numpy(), gain.numpy(), digit.numpy().reshape(b, -1),
             patch.numpy(), disc.numpy(), mask)
