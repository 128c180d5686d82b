"""Log-polar retinas: banks of log-Gabor filters on a log-polar grid of positions.

A retina is a fixed linear map from a ``(S, S)`` scene to ``n_filters`` values, stored as
one ``(n_filters, S * S)`` matrix: ``encode`` is a single matmul, on the scene's device.
Filters are built in the Fourier domain, vectorised over orientations and azimuths, and
cached per parameter set, so a second retina with the same parameters costs nothing.

Geometry (as in Daucé, Albiges & Perrinet 2020, their ``vectorization``): eccentricity
``k`` (0 = innermost) sits at ``ecc_k = ecc_max * rho ** -(n_eccentricities - k)`` of the
half-diagonal ``S / sqrt 2``; its filters have peak frequency ``sf_0 = 0.015 / ecc_k``
cycles/pixel (the receptive fields grow with eccentricity); azimuths are evenly spaced and
shifted by half a step on odd eccentricities (a hexagonal-like tiling); orientation
``theta_ref + psi`` is taken relative to the azimuth ``psi``, so the retina is the same
seen from every direction. Angles are counted counter-clockwise on screen (rows down):
position ``(row, col) = centre + r (-sin psi, cos psi)``.

Each filter is real (the real part of the complex log-Gabor for phase 0, the imaginary
part for phase pi/2), zero-mean and of unit L2 norm: unit norm (rather than the reference's
unit maximum) gives every filter the same response variance to white noise, so the code
entries have comparable scales for a downstream network.

Bank row order: ``(orientation, azimuth, eccentricity, phase)``, C order.

Options for the reference's own bank (the What/Where model of :mod:`stnutils.models.whatwhere`
uses them; the defaults keep this project's bank): ``centre=size / 2`` (the reference centres
its filters on pixel 64 of a 128 field, not on the field's middle 63.5), ``sf_max=0.45`` (its
cap on the peak frequency of the innermost ring), ``norm="maxabs"`` (unit maximum absolute
value instead of unit L2 norm) and ``band="slip"`` (the SLIP package's frequency mask
``f_mask``, applied twice as the reference does, instead of the smooth disc).

Filters are made in the Fourier domain, hence periodic: the widest ones (outer rings, tens
of pixels across) wrap around the opposite border, as in the reference implementation,
which built them the same way.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..validation import check_positive_int, check_range, check_tensor

__all__ = [
    "log_gabor_bank",
    "whitening_filter",
    "whiten",
    "retina_positions",
    "Retina",
    "PolarLogRetina",
    "WhatWhereRetina",
    "REFERENCE_OPTIONS",
    "code_energy",
    "clear_cache",
]

_BANKS: Dict[tuple, torch.Tensor] = {}  # parameters -> (n_filters, S^2) float32 bank, CPU
_PINVS: Dict[tuple, torch.Tensor] = {}  # parameters -> Cholesky factor of the Gram matrix


def clear_cache() -> None:
    """Forget the cached filter banks (the 2880-filter bank holds 189 MB)."""
    _BANKS.clear()
    _PINVS.clear()


def _freqs(size: int, dtype=torch.float64) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unshifted FFT frequency grids (cycles/pixel): ``f_row``, ``f_col``, radius ``f``."""
    f1 = torch.fft.fftfreq(size, dtype=dtype)
    f_row, f_col = torch.meshgrid(f1, f1, indexing="ij")
    return f_row, f_col, torch.sqrt(f_row**2 + f_col**2)


def whitening_filter(size: int, f_0: float = 0.4, alpha: float = 1.4, steepness: float = 4.0) -> torch.Tensor:
    """Fourier-domain whitening filter ``K(f) = f^alpha exp(-(f / f_0)^steepness)``, mean 1.

    The defaults are those of the SLIP/LogGabor packages the What/Where retina used
    (``white_alpha = 1.4``, ``white_f_0 = 0.4``, ``white_steepness = 4``, ``white_N_0 = 0``):
    the inverse square root of a ``1/f^(2 alpha)`` natural-image power spectrum, flattening
    it, with a sharp low-pass near Nyquist so that pixel noise is not amplified. It is real
    and even, so whitening is a symmetric linear operator.

    Returns:
        ``(size, size)`` float32, unshifted FFT layout (DC at ``[0, 0]``, where K = 0).

    Example:
        >>> K = whitening_filter(64)
        >>> K.shape, float(K[0, 0]), round(float(K.mean()), 4)
        (torch.Size([64, 64]), 0.0, 1.0)
    """
    check_positive_int("size", size)
    check_range("f_0", f_0, 0, None, low_open=True)
    _, _, f = _freqs(size)
    k = f**alpha * torch.exp(-((f / f_0) ** steepness))
    return (k / k.mean()).to(torch.float32)


def whiten(images: torch.Tensor, **kwargs) -> torch.Tensor:
    """Whiten ``(N, C, S, S)`` images with :func:`whitening_filter` (circular convolution).

    Example:
        >>> whiten(torch.rand(2, 1, 32, 32)).shape
        torch.Size([2, 1, 32, 32])
    """
    if images.dim() != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be (N, C, S, S), got {tuple(images.shape)}")
    k = whitening_filter(images.shape[-1], **kwargs).to(images.device)
    spectrum = torch.fft.fft2(images.to(torch.float32)) * k
    return torch.fft.ifft2(spectrum).real.to(images.dtype)


def retina_positions(size: int, n_azimuths: int, n_eccentricities: int, rho: float = 1.41, ecc_max: float = 0.8,
                     centre: Optional[float] = None):
    """Filter centres and eccentricities of the log-polar grid.

    Args:
        centre: the pixel coordinate (row and column) of the grid's centre; default
            ``(S - 1) / 2``, the middle of the field (the reference used ``S / 2``).

    Returns:
        ``positions`` ``(n_azimuths, n_eccentricities, 2)`` float64 (row, col) pixel
        coordinates around ``(centre, centre)``; ``psi``
        ``(n_azimuths, n_eccentricities)`` azimuths in radians and ``ecc``
        ``(n_eccentricities,)`` relative eccentricities.

    Example:
        >>> pos, psi, ecc = retina_positions(128, 24, 10)
        >>> pos.shape, round(float(ecc[-1]), 3)
        (torch.Size([24, 10, 2]), 0.567)
    """
    k = torch.arange(n_eccentricities, dtype=torch.float64)
    ecc = ecc_max * (1.0 / rho) ** (n_eccentricities - k)
    radius = math.sqrt(2) * size / 2 * ecc  # pixels: ecc is relative to the half-diagonal
    az = torch.arange(n_azimuths, dtype=torch.float64)[:, None]
    psi = (az + 0.5 * (k % 2)[None, :]) * (2 * math.pi / n_azimuths)
    centre = (size - 1) / 2 if centre is None else float(centre)
    rows = centre - radius[None, :] * torch.sin(psi)
    cols = centre + radius[None, :] * torch.cos(psi)
    return torch.stack([rows, cols], dim=-1), psi, ecc


def log_gabor_bank(
    size: int = 128,
    n_orientations: int = 6,
    n_azimuths: int = 24,
    n_eccentricities: int = 10,
    n_phases: int = 2,
    rho: float = 1.41,
    ecc_max: float = 0.8,
    sf_scale: float = 0.015,
    B_sf: float = 0.4,
    B_theta: float = math.pi / 12,
    whitened: bool = False,
    centre: Optional[float] = None,
    sf_max: Optional[float] = None,
    norm: str = "l2",
    band: str = "disc",
) -> torch.Tensor:
    """Build the ``(n_filters, size * size)`` float32 filter matrix of a log-polar retina.

    Fourier envelope of a filter (LogGabor package): ``1/f exp(-log(f/sf_0)^2 / (2 B_sf^2))``
    times the single-bump von Mises ``exp((cos(angle(f) - theta) - 1) / B_theta^2)`` (a
    complex, quadrature pair in space: real part even, imaginary part odd), times a
    smooth disc ``exp(-(f/0.5)^8)`` that drops the spectrum's corners beyond Nyquist (same
    support at every orientation), times the phase ramp that moves it to its position.
    With ``whitened=True`` each (already normalised) filter is passed through
    :func:`whitening_filter`: ``<filter, whiten(x)> = <whiten(filter), x>`` because the
    whitening is symmetric, so encoding the raw scene with these rows equals encoding the
    whitened scene with the plain filters.

    The reference options: ``centre`` (pixel of the grid's centre, default ``(S - 1) / 2``),
    ``sf_max`` (cap on ``sf_0``, default none), ``norm`` (``"l2"``: zero-mean, unit L2 norm;
    ``"maxabs"``: zero-mean, unit maximum absolute value, as SLIP's ``normalize``) and
    ``band`` (``"disc"``: ``exp(-(f/0.5)^8)``; ``"slip"``: SLIP's ``f_mask`` squared, a
    high-pass at the lowest frequencies times a cut-off at 0.5 cycles/pixel).

    Not cached: see :class:`Retina` for the cached version.

    Example:
        >>> log_gabor_bank(32, 2, 4, 2, 1).shape
        torch.Size([16, 1024])
    """
    for name, v in (("size", size), ("n_orientations", n_orientations), ("n_azimuths", n_azimuths),
                    ("n_eccentricities", n_eccentricities)):
        check_positive_int(name, v)
    if n_phases not in (1, 2):
        raise ValueError(f"n_phases must be 1 or 2, got {n_phases!r}")
    check_range("rho", rho, 1, None, low_open=True)
    check_range("ecc_max", ecc_max, 0, None, low_open=True)
    check_range("B_sf", B_sf, 0, None, low_open=True)
    check_range("B_theta", B_theta, 0, None, low_open=True)
    if sf_max is not None:
        check_range("sf_max", sf_max, 0, 0.5, low_open=True)
    if norm not in ("l2", "maxabs"):
        raise ValueError(f"norm must be one of ['l2', 'maxabs'], got {norm!r}")
    if band not in ("disc", "slip"):
        raise ValueError(f"band must be one of ['disc', 'slip'], got {band!r}")

    # float32 throughout: phases reach 2 pi 0.5 * 128 ~ 400 rad, still 1e-5 rad accurate
    f_row, f_col, f = _freqs(size, torch.float32)
    f_angle = torch.atan2(-f_row, f_col)  # counter-clockwise on screen, like psi
    f_safe = torch.where(f > 0, f, torch.ones_like(f))
    disc = torch.exp(-((f / 0.5) ** 8)) if band == "disc" else _slip_mask(f, size) ** 2
    white = whitening_filter(size) if whitened else None
    positions, psi, ecc = retina_positions(size, n_azimuths, n_eccentricities, rho, ecc_max, centre)
    positions, psi = positions.to(torch.float32), psi.to(torch.float32)
    theta_ref = torch.arange(n_orientations, dtype=torch.float32) * (math.pi / n_orientations)

    bank = torch.empty(n_orientations, n_azimuths, n_eccentricities, n_phases, size * size, dtype=torch.float32)
    for k in range(n_eccentricities):  # one batch of n_orientations * n_azimuths filters per ring
        sf_0 = sf_scale / float(ecc[k]) if sf_max is None else min(sf_scale / float(ecc[k]), sf_max)
        log_gauss = torch.exp(-0.5 * torch.log(f_safe / sf_0) ** 2 / B_sf**2)
        band = torch.where(f > 0, log_gauss / f_safe, torch.zeros_like(f))
        theta = theta_ref[:, None] + psi[None, :, k]  # (O, A)
        angle = torch.exp((torch.cos(f_angle - theta[..., None, None]) - 1) / B_theta**2)  # (O, A, S, S)
        env = angle * (band * disc)
        # the phase ramp exp(-2 pi i f.p) moves the filter from pixel (0, 0) to p
        row, col = positions[:, k, 0], positions[:, k, 1]
        ramp = torch.exp(-2j * math.pi * (f_row * row[:, None, None] + f_col * col[:, None, None]))  # (A, S, S)
        spectrum = env * ramp
        z = torch.fft.ifft2(spectrum)
        parts = [z.real, z.imag][:n_phases]
        zw = torch.fft.ifft2(spectrum * white) if whitened else None
        for p, part in enumerate(parts):
            part = part - part.mean(dim=(-2, -1), keepdim=True)
            scale = part.flatten(2).norm(dim=-1) if norm == "l2" else part.flatten(2).abs().amax(dim=-1)
            scale = scale.clamp_min(1e-12)[..., None, None]
            if whitened:
                part = (zw.real if p == 0 else zw.imag) / scale  # the whitened spectrum has no DC
            else:
                part = part / scale
            bank[:, :, k, p] = part.flatten(2)
    return bank.reshape(-1, size * size)


def _slip_mask(f: torch.Tensor, size: int) -> torch.Tensor:
    """SLIP's ``f_mask``: ``(1 - exp((f - 0.5) / 0.035)) [f < 0.5] (1 - exp(-f^2 / (2 (0.5 / S)^2)))``."""
    low_pass = torch.where(f < 0.5, 1 - torch.exp((f - 0.5) / (0.5 * 0.07)), torch.zeros_like(f))
    return low_pass * (1 - torch.exp(-0.5 * f**2 / (0.5 / size) ** 2))


class Retina(nn.Module):
    """A fixed log-Gabor retina: ``encode`` (one matmul), ``decode`` (pseudo-inverse).

    The filter matrix is a non-persistent buffer (kept out of checkpoints, rebuilt from the
    parameters, moved by ``.to(device)``) shared with a module-level cache.
    """

    def __init__(self, size: int, n_orientations: int, n_azimuths: int, n_eccentricities: int, n_phases: int,
                 whitened: bool, **geometry):
        super().__init__()
        self.size = size
        self.n_orientations = n_orientations
        self.n_azimuths = n_azimuths
        self.n_eccentricities = n_eccentricities
        self.n_phases = n_phases
        self.whitened = whitened
        self.geometry = dict(geometry)
        self._key = (size, n_orientations, n_azimuths, n_eccentricities, n_phases, whitened,
                     tuple(sorted(self.geometry.items())))
        bank = _BANKS.get(self._key)
        if bank is None:
            bank = _BANKS[self._key] = log_gabor_bank(size, n_orientations, n_azimuths, n_eccentricities, n_phases,
                                                      whitened=whitened, **geometry)
        self.register_buffer("bank", bank, persistent=False)

    @property
    def n_filters(self) -> int:
        return self.bank.shape[0]

    @property
    def code_shape(self) -> Tuple[int, int, int, int]:
        """``(n_orientations, n_azimuths, n_eccentricities, n_phases)``: ``code.view(N, *code_shape)``."""
        return (self.n_orientations, self.n_azimuths, self.n_eccentricities, self.n_phases)

    @property
    def compression(self) -> float:
        """``1 - n_filters / S^2``: the fraction of the pixel count saved by the code."""
        return 1.0 - self.n_filters / float(self.size * self.size)

    @property
    def centre(self) -> float:
        """Pixel coordinate (row and column) of the grid's centre: ``(S - 1) / 2`` unless set."""
        centre = self.geometry.get("centre")
        return (self.size - 1) / 2 if centre is None else float(centre)

    def positions(self) -> torch.Tensor:
        """``(n_azimuths, n_eccentricities, 2)`` (row, col) pixel centres of the filters."""
        return retina_positions(self.size, self.n_azimuths, self.n_eccentricities,
                                self.geometry.get("rho", 1.41), self.geometry.get("ecc_max", 0.8), self.centre)[0]

    def ring_radii(self) -> "np.ndarray":
        """``(n_eccentricities,)`` distance (pixels) of each ring of filters from the grid's centre."""
        pos = self.positions().detach().cpu().double().numpy()  # (A, E, 2) row, col
        return np.hypot(pos[0, :, 0] - self.centre, pos[0, :, 1] - self.centre)

    def azimuths(self) -> "np.ndarray":
        """``(n_azimuths, n_eccentricities)`` azimuth (radians, counter-clockwise on screen) of every position."""
        pos = self.positions().detach().cpu().double().numpy()
        return np.arctan2(-(pos[..., 0] - self.centre), pos[..., 1] - self.centre)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 1, S, S)`` -> ``(N, n_filters)``, in the images' dtype, on their device."""
        check_tensor("images", images, (None, 1, self.size, self.size))
        bank = self.bank if self.bank.dtype == images.dtype else self.bank.to(images.dtype)
        return images.flatten(1) @ bank.T

    forward = encode

    def _gram_factor(self) -> torch.Tensor:
        """Cholesky factor of ``B B^T + eps I`` (float64, ``(n_filters, n_filters)``), computed once.

        The pseudo-inverse of the bank ``B`` (wide: fewer filters than pixels) is
        ``B^T (B B^T)^-1``. ``torch.linalg.pinv`` gets it from an SVD of the 2880 x 16384
        matrix, which took 88 s on 2 CPU cores; the Gram form needs one float32 matmul and a
        Cholesky factorisation (a few seconds), then a triangular solve per decode. The
        Gram matrix is singular (rank-deficient rings: the innermost What/Where filters peak
        beyond Nyquist), so a ridge ``eps = 1e-4`` of the mean filter energy keeps the solve
        finite: the result is the pseudo-inverse up to directions the filters barely see.
        """
        factor = _PINVS.get(self._key)
        if factor is None:
            bank = _BANKS[self._key]
            gram = (bank @ bank.T).to(torch.float64)
            gram.diagonal().add_(1e-4 * float(gram.diagonal().mean()))
            factor = _PINVS[self._key] = torch.linalg.cholesky(gram)
        return factor

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Least-norm image with this code (pseudo-inverse, for visualisation): ``(N, n_filters)`` -> ``(N, 1, S, S)``.

        It recovers what the filters see: the band-passed content of the scene, without its
        mean luminance (all filters are zero-mean); the whitened retina's decode is the
        scene itself, as far as the whitened filters span it.
        """
        check_tensor("code", code, (None, self.n_filters))
        factor = self._gram_factor()
        weights = torch.cholesky_solve(code.detach().cpu().to(torch.float64).T, factor).T
        weights = weights.to(device=code.device, dtype=code.dtype)
        bank = self.bank if self.bank.dtype == code.dtype else self.bank.to(code.dtype)
        return (weights @ bank).view(-1, 1, self.size, self.size)

    def extra_repr(self) -> str:
        return (f"size={self.size}, filters={self.n_filters} ({self.n_orientations} orientations x "
                f"{self.n_azimuths} azimuths x {self.n_eccentricities} eccentricities x {self.n_phases} phases), "
                f"whitened={self.whitened}, compression={self.compression:.3f}")


class PolarLogRetina(Retina):
    """The POLO-ATN retina: 8 orientations x 6 eccentricities x 16 azimuths = 768 filters.

    One (even) phase, on the raw scene; same log-polar geometry as :class:`WhatWhereRetina`
    with fewer rings, so the innermost ring sits at 9 px and the outermost at 51 px from the
    centre of a 128 field. 768 values for 16,384 pixels: compression 0.953.

    Example:
        >>> r = PolarLogRetina(size=32, n_orientations=2, n_eccentricities=2, n_azimuths=4)
        >>> r.encode(torch.rand(3, 1, 32, 32)).shape
        torch.Size([3, 16])
    """

    def __init__(self, size: int = 128, n_orientations: int = 8, n_eccentricities: int = 6, n_azimuths: int = 16,
                 whitened: bool = False):
        super().__init__(size, n_orientations, n_azimuths, n_eccentricities, 1, whitened)


class WhatWhereRetina(Retina):
    """The What/Where retina: 6 orientations x 24 azimuths x 10 eccentricities x 2 phases.

    2880 log-Gabor filters applied to the whitened scene (the whitening is folded into
    the filters, see :func:`log_gabor_bank`): compression 1 - 2880/16384 = 0.824.
    ``whitened=False`` keeps the plain filters (for a scene whitened beforehand, and for
    the collicular kernels); ``centre``, ``sf_max``, ``norm`` and ``band`` are the
    reference's options of :func:`log_gabor_bank` (:data:`REFERENCE_OPTIONS`), off by default.

    Example:
        >>> r = WhatWhereRetina(size=32, n_orientations=2, n_azimuths=4, n_eccentricities=2)
        >>> r.encode(torch.rand(1, 1, 32, 32)).shape
        torch.Size([1, 32])
    """

    def __init__(self, size: int = 128, n_orientations: int = 6, n_azimuths: int = 24, n_eccentricities: int = 10,
                 n_phases: int = 2, rho: float = 1.41, ecc_max: float = 0.8, B_sf: float = 0.4,
                 B_theta: float = math.pi / 12, whitened: bool = True, centre: Optional[float] = None,
                 sf_max: Optional[float] = None, norm: str = "l2", band: str = "disc"):
        options = {k: v for k, v in dict(centre=centre, sf_max=sf_max, norm=norm, band=band).items()
                   if v != _DEFAULT_OPTIONS[k]}  # the defaults keep the cache key of the plain retina
        super().__init__(size, n_orientations, n_azimuths, n_eccentricities, n_phases, whitened,
                         rho=rho, ecc_max=ecc_max, B_sf=B_sf, B_theta=B_theta, **options)


_DEFAULT_OPTIONS = dict(centre=None, sf_max=None, norm="l2", band="disc")
#: The reference retina's options (WhereIsMyMNIST's ``Retina``) for a field of side ``S``:
#: ``dict(REFERENCE_OPTIONS, centre=S / 2)``.
REFERENCE_OPTIONS = dict(sf_max=0.45, norm="maxabs", band="slip")


def code_energy(code: torch.Tensor, code_shape: Sequence[int]) -> torch.Tensor:
    """Root of the summed squares over orientations and phases, per filter position.

    Args:
        code: ``(N, n_filters)`` retina code, rows in the bank order
            ``(orientation, azimuth, eccentricity, phase)``.
        code_shape: ``(n_orientations, n_azimuths, n_eccentricities, n_phases)``
            (``Retina.code_shape``).

    Returns:
        ``(N, n_azimuths, n_eccentricities)`` non-negative, same dtype as ``code``.

    Example:
        >>> code_energy(torch.ones(1, 2 * 3 * 4 * 1), (2, 3, 4, 1))[0, 0].tolist()
        [1.4142135381698608, 1.4142135381698608, 1.4142135381698608, 1.4142135381698608]
    """
    shape = tuple(int(s) for s in code_shape)
    if len(shape) != 4 or any(s < 1 for s in shape):
        raise ValueError(f"code_shape must be 4 positive sizes (orientations, azimuths, eccentricities, phases), "
                         f"got {code_shape!r}")
    check_tensor("code", code, (None, math.prod(shape)))
    return code.reshape(-1, *shape).pow(2).sum(dim=(1, 4)).sqrt()
