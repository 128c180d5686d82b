"""Pure tensor functions that build noisy-MNIST scenes (the recipe of SPEC, section Data).

Every function takes and returns batched tensors on any device; randomness comes in from
the caller (see :mod:`stnutils.data.rng`), so these functions are deterministic.
Coordinates: ``i`` is the row offset (down is positive), ``j`` the column offset.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import _kernels

__all__ = [
    "DIGIT_SIZE",
    "shift_digits",
    "rotate_digits",
    "apply_contrast",
    "composite_digits_",
    "compose_scenes_",
    "disc_mask",
    "apply_disc_mask",
    "polar_offsets",
]

DIGIT_SIZE = 28


def shift_digits(digits: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Shift each digit by integer ``(i, j)`` inside its own frame; pixels that leave are lost.

    Args:
        digits: ``(B, H, W)`` images.
        offsets: ``(B, 2)`` integer row/column shifts.

    Returns:
        ``(B, H, W)``, zero where no source pixel lands.

    Example:
        >>> x = torch.zeros(1, 4, 4); x[0, 0, 0] = 1
        >>> shift_digits(x, torch.tensor([[1, 2]]))[0].nonzero().tolist()
        [[1, 2]]
    """
    b, h, w = digits.shape
    offsets = offsets.to(device=digits.device, dtype=torch.long)
    pad = max(h, w)
    canvas = digits.new_zeros(b, h + 2 * pad, w + 2 * pad)
    rows = (pad + offsets[:, 0, None] + torch.arange(h, device=digits.device)).clamp(0, h + 2 * pad - 1)
    cols = (pad + offsets[:, 1, None] + torch.arange(w, device=digits.device)).clamp(0, w + 2 * pad - 1)
    batch = torch.arange(b, device=digits.device)[:, None, None]
    canvas[batch, rows[:, :, None], cols[:, None, :]] = digits
    return canvas[:, pad : pad + h, pad : pad + w]


def rotate_digits(digits: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Turn each digit counter-clockwise (as displayed) by ``degrees`` about its frame's centre.

    Bilinear, zero outside the frame; corners that leave the frame are lost.

    Args:
        digits: ``(B, H, W)`` float images.
        degrees: ``(B,)`` angles in degrees, counter-clockwise on screen.

    Returns:
        ``(B, H, W)``.

    Example:
        >>> x = torch.zeros(1, 5, 5); x[0, 0, 2] = 1            # a dot above the centre
        >>> rotate_digits(x, torch.tensor([90.0]))[0].argmax().item() == 2 * 5 + 0   # now left of it
        True
    """
    # The rotation matrix of stnutils.models.transformer.rotation_theta, written here so
    # that the data layer does not import the models (the same bits: float64 angle, cast).
    angle = degrees.to(device=digits.device, dtype=torch.float64) * (math.pi / 180.0)
    c, s, zero = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle)
    theta = torch.stack([torch.stack([c, -s, zero], -1), torch.stack([s, c, zero], -1)], -2).to(digits.dtype)
    grid = F.affine_grid(theta, [len(digits), 1, *digits.shape[1:]], align_corners=False)
    return F.grid_sample(digits[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0]


def apply_contrast(layer: torch.Tensor, contrast: torch.Tensor, floor_zero: bool = False) -> torch.Tensor:
    """Rescale each digit layer to [-1, 1], multiply by its contrast, map back to [0, 1].

    The min/max are those of the whole frame the digit sits in: pass ``floor_zero=True``
    when the frame is larger than ``layer`` (its other pixels are 0). A blank frame gives
    ``0.5 - c/2`` everywhere (no digit).

    Args:
        layer: ``(B, h, w)`` digit intensities (any scale).
        contrast: ``(B,)`` values in (0, 1].

    Returns:
        ``(B, h, w)`` in [0.5 - c/2, 0.5 + c/2].
    """
    flat = layer.flatten(1)
    lo = flat.amin(dim=1)
    if floor_zero:
        lo = lo.clamp_max(0)
    hi = flat.amax(dim=1)
    span = hi - lo
    scale = torch.where(span > 0, 1.0 / span.clamp_min(1e-12), torch.zeros_like(span))
    # 0.5 + c ((x - lo) scale - 0.5) as one multiply-add over the pixels
    c = contrast.to(layer.dtype)
    gain = c * scale
    bias = 0.5 - 0.5 * c - gain * lo
    return torch.addcmul(bias[:, None, None], layer, gain[:, None, None])


def composite_digits_(scene: torch.Tensor, digit: torch.Tensor, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """Composite contrast-adjusted digits over the scene, in place, patch by patch.

    Where the digit is <= 0.5 the background shows, elsewhere ``max(digit, background)``;
    the result is clipped to [0, 1]. Only the ``(h, w)`` patch at ``(top, left)`` is touched.

    Args:
        scene: ``(B, S, S)`` backgrounds, modified in place.
        digit: ``(B, h, w)`` from :func:`apply_contrast`.
        top, left: ``(B,)`` integer corner of each patch; the patch must lie inside.

    Returns:
        ``scene``.
    """
    b, s, _ = scene.shape
    flat_index = _patch_index(top.to(scene.device), left.to(scene.device), *digit.shape[-2:], s)
    flat = scene.view(b, -1)
    under = flat.gather(1, flat_index)
    d = digit.reshape(b, -1).to(scene.dtype)
    mixed = torch.where(d > 0.5, torch.maximum(d, under), under).clamp_(0.0, 1.0)
    flat.scatter_(1, flat_index, mixed)
    return scene


_PATCH_CACHE: dict = {}


def _patch_index(top: torch.Tensor, left: torch.Tensor, h: int, w: int, size: int) -> torch.Tensor:
    """Flat pixel indices ``(B, h * w)`` of each ``(h, w)`` patch at ``(top, left)`` in a ``size``-wide scene."""
    key = (h, w, size, str(top.device))
    base = _PATCH_CACHE.get(key)
    if base is None:  # the patch at (0, 0)
        rows = torch.arange(h, device=top.device)[:, None] * size
        base = _PATCH_CACHE[key] = (rows + torch.arange(w, device=top.device)).reshape(1, -1)
    return base + (top.to(torch.long) * size + left.to(torch.long))[:, None]


def compose_scenes_(
    fields: torch.Tensor,
    field_max: torch.Tensor,
    gain: torch.Tensor,
    digit: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    mask: bool,
) -> torch.Tensor:
    """Turn raw background fields into finished scenes, in place, in few passes.

    The result equals (to float rounding) building the background ``0.5 + gain * field``,
    then :func:`composite_digits_`, then :func:`apply_disc_mask` when ``mask`` is set: six
    passes over the pixels. Here the digits are written into the field in its own units,
    so that normalising needs only the field's minimum (one pass) and its maximum (known
    from ``field_max`` and the patches), then a subtraction and a division (which keep the
    extremes exactly 0 and 1) and the disc.

    Args:
        fields: ``(B, S, S)`` raw zero-mean fields, overwritten by the scenes.
        field_max: ``(B,)`` maximum of each field.
        gain: ``(B,)`` background gain, ``gain * max|field| <= 0.5``.
        digit, top, left: as for :func:`composite_digits_`.
        mask: normalise each scene to [0, 1] and set the outside of the disc to 0.5.

    Returns:
        ``fields``, now ``(B, S, S)`` scenes.
    """
    b, s, _ = fields.shape
    flat = fields.view(b, -1)
    g = gain.to(fields.dtype)[:, None]
    if mask and not bool((g > 0).all()):  # a flat background has no field units
        flat.mul_(g).add_(0.5)
        return apply_disc_mask(composite_digits_(fields, digit, top, left))
    patch = _patch_index(top.to(fields.device), left.to(fields.device), *digit.shape[-2:], s)
    if fields.device.type == "cpu" and _kernels.usable() and fields.dtype == torch.float32 and fields.is_contiguous():
        disc = _disc_terms(s, fields.device, fields.dtype)[0]
        _kernels.compose_into(fields, field_max.to(fields.dtype).contiguous(), g.reshape(-1).contiguous(),
                              digit.to(fields.dtype).contiguous(), patch, disc, mask)
        return fields
    under_z = flat.gather(1, patch)
    d = digit.reshape(b, -1).to(fields.dtype)
    if not mask:
        under = under_z * g + 0.5
        mixed = torch.where(d > 0.5, torch.maximum(d, under), under).clamp_(0.0, 1.0)
        flat.mul_(g).add_(0.5)
        return flat.scatter_(1, patch, mixed).view(b, s, s)
    # A stroke (d > 0.5) brighter than the background replaces it; in field units it is
    # (d - 0.5) / g. Elsewhere the field keeps its own value, so its extremes stay exact.
    stroke_z = torch.where(d > 0.5, d - 0.5, torch.tensor(-math.inf, dtype=d.dtype, device=d.device)).div_(g)
    patch_z = torch.maximum(under_z, stroke_z, out=under_z)
    flat.scatter_(1, patch, patch_z)
    # The maximum is known, but a stroke may have covered the minimum: look for it.
    z_lo = flat.amin(dim=1, keepdim=True)
    z_hi = torch.maximum(field_max.to(fields.dtype)[:, None], patch_z.amax(dim=1, keepdim=True))
    z_span = z_hi - z_lo
    flat.sub_(z_lo).div_(torch.where(z_span > 0, z_span, torch.ones_like(z_span)))
    # x * disc + 0.5 * (1 - disc): exact, and a vectorised, multi-threaded pass (3x faster
    # than index_fill_ of the ~3,500 corner pixels)
    disc, outside_half = _disc_terms(s, fields.device, fields.dtype)
    return torch.addcmul(outside_half, flat, disc, out=flat).view(b, s, s)


def disc_mask(size: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """The disc ``R < 1`` on a ``linspace(-1, 1, size)`` grid, as 0/1 values ``(size, size)``."""
    axis = torch.linspace(-1.0, 1.0, size, dtype=torch.float64, device=device)
    r = torch.sqrt(axis[:, None] ** 2 + axis[None, :] ** 2)
    return (r < 1).to(dtype)


def apply_disc_mask(scene: torch.Tensor) -> torch.Tensor:
    """Normalise each scene to [0, 1], centre it at 0, multiply by the disc, back to [0, 1].

    Inside the disc that is ``(x - min) / (max - min)``; outside it is exactly 0.5.
    In place on ``scene`` ``(B, S, S)``.
    """
    b, s, _ = scene.shape
    flat = scene.view(b, -1)
    lo = flat.amin(dim=1, keepdim=True)
    span = flat.amax(dim=1, keepdim=True) - lo
    # a blank scene has span 0: it becomes 0 inside the disc (as x - min), not nan
    flat.sub_(lo).div_(torch.where(span > 0, span, torch.ones_like(span)))
    # writing the ~3,500 corner pixels by index beats a pass over a 16,384-pixel mask
    flat.index_fill_(1, _outside_disc_index(s, scene.device), 0.5)
    return scene


_OUTSIDE_CACHE: dict = {}


def _disc_terms(size: int, device, dtype):
    """``(disc, 0.5 * (1 - disc))``, flattened, cached: the mask as a multiply-add."""
    key = ("terms", size, str(device), dtype)
    if key not in _OUTSIDE_CACHE:
        disc = disc_mask(size, device, dtype).flatten()
        _OUTSIDE_CACHE[key] = (disc, 0.5 * (1 - disc))
    return _OUTSIDE_CACHE[key]


def _outside_disc_index(size: int, device) -> torch.Tensor:
    key = (size, str(device))
    if key not in _OUTSIDE_CACHE:
        _OUTSIDE_CACHE[key] = (disc_mask(size, device) == 0).flatten().nonzero().flatten()
    return _OUTSIDE_CACHE[key]


def polar_offsets(radius: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Integer ``(i, j) = (int(r cos a), int(r sin a))``, truncated toward zero as ``int()`` does.

    Args:
        radius, direction: ``(B,)`` float (pixels, radians); pass float64 directions, as
            float32 cannot hold π closely enough for ``int(10 cos π) == -10``.

    Returns:
        ``(B, 2)`` int64.

    Example:
        >>> polar_offsets(torch.tensor([10.0]), torch.tensor([math.pi], dtype=torch.float64)).tolist()
        [[-10, 0]]
    """
    r = radius.to(torch.float64)
    a = direction.to(torch.float64)
    return torch.stack([torch.trunc(r * torch.cos(a)), torch.trunc(r * torch.sin(a))], dim=1).to(torch.int64)
