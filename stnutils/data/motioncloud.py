"""Static MotionCloud backgrounds as batched torch operations.

The reference is the ``MotionClouds`` package (Leon, Vanzetta, Masson & Perrinet 2012):
``envelope_gabor`` builds a spectral envelope, ``random_cloud`` multiplies it by random
phases times Gaussian amplitudes and keeps the real part of the inverse FFT, and ``rectif``
maps the field to [0, 1] at Michelson contrast 1. Here the same law is drawn for a whole
batch at once. The real part of an inverse FFT only depends on the Hermitian part of the
spectrum, so we draw that half spectrum directly and use ``irfft2``: half the random numbers
and half the FFT work, the same spectrum and pixel statistics (tested against the package).
"""
from __future__ import annotations

import math
import threading
from typing import Optional

import torch

from ..validation import check_range
from . import _kernels, rng

__all__ = [
    "motioncloud_envelope", "motioncloud_pairs", "motioncloud_background", "cloud_fields_into", "rectify_michelson",
]

_ENVELOPE_CACHE: dict = {}
_WORKSPACE = threading.local()


def _workspace(name: str, shape, dtype, device) -> torch.Tensor:
    """A per-thread scratch tensor reused across calls on CPU.

    Fresh multi-megabyte CPU tensors are fresh pages from the OS, and faulting them in cost
    more than the FFT itself; reusing a buffer keeps them mapped (and warm in cache).
    """
    cache = _WORKSPACE.__dict__
    key = (name, tuple(shape), dtype, str(device))
    buf = cache.get(key)
    if buf is None:
        buf = cache[key] = torch.empty(shape, dtype=dtype, device=device)
    return buf


def motioncloud_envelope(
    size: int,
    sf_0: float = 0.1,
    B_sf: float = 0.1,
    alpha: float = 0.0,
    theta: float = 0.0,
    B_theta: float = math.inf,
    *,
    dtype: torch.dtype = torch.float64,
    device=None,
) -> torch.Tensor:
    """The static MotionCloud envelope, laid out as ``MotionClouds.get_grids`` (DC at the centre).

    Equals ``MotionClouds.envelope_gabor(fx, fy, ft, sf_0=sf_0, B_sf=B_sf, alpha=alpha,
    theta=theta, B_theta=B_theta, V_X=0, V_Y=0, B_V=0)[:, :, 0]`` on a ``(size, size, 1)``
    grid (log-Gabor radial envelope).

    Args:
        size: side of the square field in pixels (>= 2).
        sf_0: central spatial frequency, cycles per pixel, in (0, 0.5].
        B_sf: spatial-frequency bandwidth, > 0.
        alpha: colour exponent (0 = white).
        theta, B_theta: orientation and its bandwidth (inf = isotropic).

    Returns:
        ``(size, size)`` tensor; row index is ``fx``, column index ``fy``.

    Example:
        >>> motioncloud_envelope(128).shape
        torch.Size([128, 128])
    """
    if not isinstance(size, int) or size < 2:
        raise ValueError(f"size must be an integer >= 2, got {size!r}")
    check_range("sf_0", sf_0, 0, 0.5, low_open=True)
    check_range("B_sf", B_sf, 0, None, low_open=True)
    check_range("alpha", alpha, 0, None)
    check_range("B_theta", B_theta, 0, None, low_open=True)
    f = torch.arange(-(size // 2), (size - 1) // 2 + 1, dtype=torch.float64, device=device) / size
    fx, fy = torch.meshgrid(f, f, indexing="ij")
    radius = torch.sqrt(fx**2 + fy**2)
    radius_safe = torch.where(radius == 0, torch.ones_like(radius), radius)
    env = torch.ones_like(radius)
    if alpha != 0:
        env = env * radius_safe ** (-alpha)
    if not math.isinf(B_theta):
        angle = torch.atan2(fy, fx)
        env = env * torch.exp(torch.cos(2 * (angle - theta)) / 4 / B_theta**2)
    bandwidth = math.log((sf_0 + B_sf) / sf_0)
    radial = torch.exp(-0.5 * torch.log(radius_safe / sf_0) ** 2 / bandwidth**2) / radius_safe
    env = env * radial
    # MotionClouds divides by an infinite radius at DC, which makes the DC term 0.
    env = torch.where(radius == 0, torch.zeros_like(env), env)
    return env.to(dtype)


def _spectral_envelope(size, sf_0, B_sf, alpha, theta, B_theta, device) -> torch.Tensor:
    """Envelope in ``np.fft`` layout (DC at [0, 0], zeroed), float32, cached per device."""
    key = (size, float(sf_0), float(B_sf), float(alpha), float(theta), float(B_theta), str(device))
    env = _ENVELOPE_CACHE.get(key)
    if env is None:
        full = motioncloud_envelope(size, sf_0, B_sf, alpha, theta, B_theta, device=device)
        env = torch.fft.ifftshift(full).to(torch.float32).contiguous()
        env[0, 0] = 0.0
        _ENVELOPE_CACHE[key] = env
    return env


def _interleaved_envelope(size, sf_0, B_sf, alpha, theta, B_theta, device):
    """``(envelope, 0.5 * envelope)``, each repeated over a trailing (re, im) axis: ``(S, S, 2)``."""
    key = ("interleaved", size, float(sf_0), float(B_sf), float(alpha), float(theta), float(B_theta), str(device))
    pair = _ENVELOPE_CACHE.get(key)
    if pair is None:
        env = _spectral_envelope(size, sf_0, B_sf, alpha, theta, B_theta, device)
        env_ri = env[:, :, None].expand(size, size, 2).contiguous()
        pair = _ENVELOPE_CACHE[key] = (env_ri, 0.5 * env_ri)
    return pair


def rectify_michelson(z: torch.Tensor, contrast: float = 1.0) -> torch.Tensor:
    """``MotionClouds.rectif(z, contrast, 'Michelson')`` per image: zero mean, max |z| to 0.5·contrast.

    Args:
        z: ``(B, H, W)`` real fields.

    Returns:
        ``(B, H, W)`` in [0.5 - contrast/2, 0.5 + contrast/2].
    """
    z = z - z.mean(dim=(-2, -1), keepdim=True)
    peak = z.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(z.dtype).tiny)
    return 0.5 + 0.5 * contrast * z / peak


def motioncloud_pairs(
    keys: torch.Tensor,
    size: int,
    sf_0: float = 0.1,
    B_sf: float = 0.1,
    alpha: float = 0.0,
    theta: float = 0.0,
    B_theta: float = math.inf,
    chunk: Optional[int] = None,
    out: Optional[torch.Tensor] = None,
    scale: float = 1.0,
    offset: float = 0.0,
) -> torch.Tensor:
    """Two independent static MotionClouds per key, zero-mean and scaled to max |z| = 1.

    ``0.5 + 0.5 * z`` is ``MotionClouds.rectif(random_cloud(env), 1, 'Michelson')``;
    ``offset + scale * z`` is returned when they are given.

    MotionClouds multiplies the envelope by white complex noise and keeps the real part of
    the inverse FFT. The imaginary part of the same transform is a second field with the
    same spectrum, uncorrelated with the first (hence independent: both are Gaussian), so
    one complex FFT yields two clouds; on CPU the complex FFT is also faster than ``irfft2``.

    The noise: only its second-order statistics survive the transform (zero mean, constant
    E|c|^2, E[c^2] = 0, independence across frequencies: together they set the power
    spectrum to the envelope squared), and the pixels are Gaussian by the central limit
    theorem over the 16,384 frequencies whatever the coefficients' own law. So instead of
    MotionClouds' uniform phase times Gaussian amplitude we use the cheapest noise with those
    properties: real and imaginary parts are independent centred bytes (``int8 + 0.5``) cut
    from the counter-based hash words, four per word, with no transcendental function. The
    tests check envelope, mean, std, histogram and radial power spectrum against the package.

    Args:
        keys: ``(P, 2)`` keys from :func:`stnutils.data.rng.sample_keys`; generated on their device.
        size: side of the square field in pixels.
        chunk: keys per FFT call on CPU (default: see :func:`cloud_fields_into`).
        out: optional float32 ``(P, 2, size, size)`` contiguous tensor to write into.

    Returns:
        float32 tensor ``(P, 2, size, size)``: the real and imaginary clouds of each key.

    Example:
        >>> from stnutils.data.rng import sample_keys
        >>> motioncloud_pairs(sample_keys(0, torch.arange(3)), 32).shape
        torch.Size([3, 2, 32, 32])
    """
    if size % 2:
        raise ValueError(f"size must be even, got {size}")
    if out is None:
        out = torch.empty(keys.shape[0], 2, size, size, dtype=torch.float32, device=keys.device)
    field_max, field_min = cloud_fields_into(keys, out, sf_0, B_sf, alpha, theta, B_theta, chunk=chunk)
    # The DC term is zero, so each field's mean is already 0 (MotionClouds subtracts it).
    peak = torch.maximum(field_max, -field_min).clamp_min_(1e-30)
    out.mul_((scale / peak)[:, :, None, None])
    if offset:
        out.add_(offset)
    return out


def cloud_fields_into(
    keys: torch.Tensor,
    out: torch.Tensor,
    sf_0: float = 0.1,
    B_sf: float = 0.1,
    alpha: float = 0.0,
    theta: float = 0.0,
    B_theta: float = math.inf,
    chunk: Optional[int] = None,
):
    """The raw fields of :func:`motioncloud_pairs`, before rectification, written into ``out``.

    Each field is the real or imaginary part of one inverse FFT: zero-mean, any scale.
    Rectifying is left to the caller, who can fold it into its own pass over the pixels,
    so it gets each field's extremes, taken while the field is still in cache.

    Args:
        keys: ``(P, 2)`` keys from :func:`stnutils.data.rng.sample_keys`.
        out: float32 contiguous ``(P, 2, S, S)`` on the keys' device, ``S`` even.
        chunk: keys per FFT call on CPU; by default as many as fill 2 MB (16 keys of
            128x128), which keeps the buffers in cache and MKL's scratch small enough to be
            reused. Larger transforms cost more per pair; far smaller ones, more calls.

    Returns:
        ``(field_max, field_min)``, each ``(P, 2)``.
    """
    p, size = keys.shape[0], out.shape[-1]
    if out.shape != (p, 2, size, size) or out.dtype != torch.float32 or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous float32 tensor of shape {(p, 2, size, size)}, got "
                         f"{tuple(out.shape)} {out.dtype}")
    env, half_env = _interleaved_envelope(size, sf_0, B_sf, alpha, theta, B_theta, keys.device)
    n_words = size * size // 2  # two complex coefficients (four bytes) per 32-bit word
    on_cpu = keys.device.type == "cpu"
    if chunk is None:
        chunk = max(1, (2 << 20) // (8 * size * size))
    step = max(chunk, 1) if on_cpu else max(p, 1)
    field_max = torch.empty(p, 2, device=keys.device)
    field_min = torch.empty(p, 2, device=keys.device)
    mult, add = rng.noise_word_params(keys)
    fused = on_cpu and _kernels.usable()
    for start in range(0, p, step):
        m, a = mult[start : start + step], add[start : start + step]
        n = len(m)
        block = out[start : start + step]
        if fused:  # noise words to spectrum in one loop, FFT, de-interleave with extremes
            parts = _workspace("parts", (n, size, size, 2), torch.float32, keys.device)
            _kernels.spectrum_into(m, a, env, half_env, parts)
            field = torch.fft.ifft2(torch.view_as_complex(parts),
                                    out=_workspace("field", (n, size, size), torch.complex64, keys.device))
            _kernels.deinterleave_extremes(field, block, field_max[start : start + step],
                                           field_min[start : start + step])
            continue
        if on_cpu:  # reused per-thread buffers: fresh ones cost a page fault per 4 kB
            words = rng.noise_words_from(m, a, n_words, out=_workspace("words", (n, n_words), torch.int32, keys.device),
                                         scratch=_workspace("scratch", (n, n_words), torch.int32, keys.device))
            bytes_ = words.view(torch.int8).view(n, size, size, 2)
            parts = _workspace("parts", bytes_.shape, torch.float32, keys.device).copy_(bytes_)
        else:
            bytes_ = rng.noise_words_from(m, a, n_words).view(torch.int8).view(n, size, size, 2)
            parts = bytes_.to(torch.float32)
        # (byte + 0.5) * envelope: centred bytes, 256 levels. Float-only operands laid out
        # like ``parts`` keep addcmul on its vectorised path (a broadcast over the re/im axis
        # falls off it and costs 7x more).
        torch.addcmul(half_env, parts, env, out=parts)
        spectrum = torch.view_as_complex(parts)
        if on_cpu:
            field = torch.fft.ifft2(spectrum, out=_workspace("field", spectrum.shape, torch.complex64, keys.device))
        else:
            field = torch.fft.ifft2(spectrum)
        block.copy_(torch.view_as_real(field).permute(0, 3, 1, 2))  # de-interleave re/im: one pass
        # Reductions over the interleaved layout are strided and ~20x slower: take them here.
        flat = block.view(n, 2, size * size)
        torch.amax(flat, dim=2, out=field_max[start : start + step])
        torch.amin(flat, dim=2, out=field_min[start : start + step])
    return field_max, field_min


def motioncloud_background(keys: torch.Tensor, size: int, **envelope) -> torch.Tensor:
    """One cloud per key (the real part of each pair), ``(B, size, size)``; see :func:`motioncloud_pairs`."""
    return motioncloud_pairs(keys, size, **envelope)[:, 0]
