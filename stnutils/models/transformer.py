"""Spatial transformers: pure tensor functions first, one thin ``nn.Module`` at the end.

Coordinates follow ``torch.nn.functional.affine_grid`` with ``align_corners=False``:
normalised ``x`` runs along columns, ``y`` along rows, ``-1`` and ``+1`` are the outer
*edges* of the border pixels. A ``theta`` ``(N, 2, 3)`` maps output coordinates to the
input coordinates they sample from. Pixel coordinates put pixel centres at integers (the
``imshow`` convention), so an image of width ``W`` spans ``[-0.5, W - 0.5]``.

Offsets ``(i, j)`` are those of the datasets: row and column displacement, in pixels, from
the image centre (``(S - 1) / 2``) to the centre of the region of interest; ``i`` grows
downwards. A translation ``(tx, ty)`` in normalised units is ``(j, i) = (tx W / 2, ty H / 2)``.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_choice, check_positive_int, check_range, check_tensor

__all__ = [
    "MODES",
    "affine_sample",
    "affine_grid",
    "grid_sample_fill",
    "attention_theta",
    "translation_theta",
    "rotation_theta",
    "identity_theta",
    "offset_to_theta",
    "theta_corners",
    "theta_to_offset",
    "theta_angle",
    "params_to_theta",
    "identity_params",
    "SpatialTransformer",
]

Size = Union[int, Sequence[int]]
MODES = ("affine", "attention", "translation")


def _hw(size: Size, name: str = "size") -> Tuple[int, int]:
    """``(h, w)`` from an int or a pair, each a positive integer."""
    if isinstance(size, int) and not isinstance(size, bool):
        check_positive_int(name, size)
        return size, size
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or an (h, w) pair, got {size!r}") from None
    check_positive_int(name, h)
    check_positive_int(name, w)
    return h, w


def _check_theta(theta: torch.Tensor) -> torch.Tensor:
    return check_tensor("theta", theta, (None, 2, 3))


def _as_batch(value, like: Optional[torch.Tensor] = None) -> torch.Tensor:
    """A float tensor of shape ``(N,)`` from a number or a tensor (dtype/device of ``like``)."""
    kwargs = {} if like is None else dict(dtype=like.dtype, device=like.device)
    t = torch.as_tensor(value, **kwargs)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t.reshape(-1)


# ---------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------
def affine_grid(theta: torch.Tensor, out_size: Size, dtype=None) -> torch.Tensor:
    """The sampling grid of ``theta``: ``(N, h, w, 2)`` normalised ``(x, y)``, ``align_corners=False``.

    Example:
        >>> affine_grid(identity_theta(1), 2)[0, 0].tolist()
        [[-0.5, -0.5], [0.5, -0.5]]
    """
    _check_theta(theta)
    h, w = _hw(out_size, "out_size")
    theta = theta if dtype is None else theta.to(dtype)
    return F.affine_grid(theta, [theta.shape[0], 1, h, w], align_corners=False)


def affine_sample(
    images: torch.Tensor, theta: torch.Tensor, out_size: Size, padding_mode: str = "zeros", fill: float = 0.0
) -> torch.Tensor:
    """Sample ``images`` on the affine grid of ``theta`` (bilinear, ``align_corners=False``).

    Args:
        images: ``(N, C, H, W)``.
        theta: ``(N, 2, 3)`` output-to-input map in normalised coordinates.
        out_size: ``h`` or ``(h, w)`` of the output, independent of ``(H, W)``.
        padding_mode: ``grid_sample``'s: "zeros", "border" or "reflection".
        fill: with "zeros", the value seen outside the image (0.5: mid-grey scenes show no
            dark frame around a glimpse that leaves the field).

    Returns:
        ``(N, C, h, w)``; differentiable w.r.t. ``images`` and ``theta``.

    Example:
        >>> x = torch.rand(2, 1, 8, 8)
        >>> torch.allclose(affine_sample(x, identity_theta(2), 8), x, atol=1e-6)
        True
    """
    check_tensor("images", images, ("N", "C", "H", "W"))
    _check_theta(theta)
    if theta.shape[0] != images.shape[0]:
        raise ValueError(f"theta must have one row per image ({images.shape[0]}), got {theta.shape[0]}")
    check_choice("padding_mode", padding_mode, ("zeros", "border", "reflection"))
    return grid_sample_fill(images, affine_grid(theta, out_size, images.dtype), padding_mode, fill)


def grid_sample_fill(images: torch.Tensor, grid: torch.Tensor, padding_mode: str = "zeros", fill: float = 0.0):
    """``grid_sample(images, grid)`` (bilinear, ``align_corners=False``) with ``fill`` outside.

    Equal to ``grid_sample(images - fill, grid) + fill`` without touching every pixel of a
    large input: the bilinear weight that falls inside the image is known in closed form,
    ``clamp(u + 1, 0, 1) * clamp(W - u, 0, 1)`` per axis (``u`` in pixel units), so only the
    ``(h, w)`` output is corrected.

    Example:
        >>> g = F.affine_grid(identity_theta(1) * 4, [1, 1, 2, 2], align_corners=False)
        >>> grid_sample_fill(torch.zeros(1, 1, 2, 2), g, fill=0.5).flatten().tolist()
        [0.5, 0.5, 0.5, 0.5]
    """
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)
    if not fill or padding_mode != "zeros":
        return out
    size = torch.tensor([images.shape[-1], images.shape[-2]], dtype=grid.dtype, device=grid.device)
    u = ((grid + 1) * size - 1) / 2  # (N, h, w, 2) pixel coordinates (x, y)
    inside = ((u + 1).clamp(0, 1) * (size - u).clamp(0, 1)).prod(-1)  # (N, h, w)
    return out + fill * (1 - inside[:, None])


# ---------------------------------------------------------------------------------------------
# building theta
# ---------------------------------------------------------------------------------------------
def attention_theta(scale, tx, ty) -> torch.Tensor:
    """``[[s, 0, tx], [0, s, ty]]``: an isotropic zoom ``s`` centred on ``(tx, ty)``.

    Args:
        scale, tx, ty: numbers or ``(N,)`` tensors (broadcast together); normalised units,
            ``x`` along columns, ``y`` along rows.

    Returns:
        ``(N, 2, 3)``.

    Example:
        >>> attention_theta(torch.tensor([0.5]), torch.tensor([0.1]), torch.tensor([-0.2])).tolist()
        [[[0.5, 0.0, 0.10000000149011612], [0.0, 0.5, -0.20000000298023224]]]
    """
    like = next((v for v in (scale, tx, ty) if isinstance(v, torch.Tensor)), None)
    s, x, y = torch.broadcast_tensors(_as_batch(scale, like), _as_batch(tx, like), _as_batch(ty, like))
    zero = torch.zeros_like(s)
    return torch.stack([torch.stack([s, zero, x], -1), torch.stack([zero, s, y], -1)], -2)


def translation_theta(tx, ty, scale: float) -> torch.Tensor:
    """A glimpse of fixed ``scale`` centred on ``(tx, ty)``: :func:`attention_theta` with ``s`` constant.

    Example:
        >>> translation_theta(torch.zeros(3), torch.zeros(3), 0.25).shape
        torch.Size([3, 2, 3])
    """
    check_range("scale", scale, 0, None, low_open=True)
    like = next((v for v in (tx, ty) if isinstance(v, torch.Tensor)), None)
    x, y = torch.broadcast_tensors(_as_batch(tx, like), _as_batch(ty, like))
    return attention_theta(torch.full_like(x, float(scale)), x, y)


def rotation_theta(angle, scale: float = 1.0, tx=0.0, ty=0.0) -> torch.Tensor:
    """Rotation by ``angle`` radians (then zoom ``scale``, centre ``(tx, ty)``).

    Sampling with it turns the image content counter-clockwise *on screen* (rows down) by
    ``angle``: ``rotation_theta(pi / 2)`` equals ``torch.rot90(x, 1, dims=(-2, -1))``. To
    undo a digit turned by ``a`` counter-clockwise, sample with ``rotation_theta(-a)``.

    Args:
        angle: number or ``(N,)`` tensor, radians.
        scale: zoom (1 = whole image).
        tx, ty: centre of the sampled region, normalised units.

    Returns:
        ``(N, 2, 3)``.

    Example:
        >>> x = torch.arange(16.).reshape(1, 1, 4, 4)
        >>> y = affine_sample(x, rotation_theta(math.pi / 2), 4)
        >>> torch.allclose(y, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5)
        True
    """
    like = next((v for v in (angle, tx, ty) if isinstance(v, torch.Tensor)), None)
    a, x, y = torch.broadcast_tensors(_as_batch(angle, like), _as_batch(tx, like), _as_batch(ty, like))
    c, s = torch.cos(a) * scale, torch.sin(a) * scale
    # output (u, v) samples input R(angle) (u, v): the content turns by -angle in the
    # y-down frame, i.e. counter-clockwise as displayed
    return torch.stack([torch.stack([c, -s, x], -1), torch.stack([s, c, y], -1)], -2)


def identity_theta(n: int = 1, dtype=None, device=None) -> torch.Tensor:
    """``n`` identity transforms ``(n, 2, 3)``.

    Example:
        >>> identity_theta(1).tolist()
        [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]
    """
    eye = torch.eye(2, 3, dtype=dtype, device=device)
    return eye.expand(n, 2, 3).clone()


def offset_to_theta(offsets: torch.Tensor, in_size: Size, scale: float = 1.0) -> torch.Tensor:
    """The glimpse of zoom ``scale`` centred ``offsets`` ``(N, 2)`` pixels ``(i, j)`` from the centre.

    Inverse of :func:`theta_to_offset`.

    Example:
        >>> offset_to_theta(torch.tensor([[32, -64]]), 128, 0.5).tolist()
        [[[0.5, 0.0, -1.0], [0.0, 0.5, 0.5]]]
    """
    h, w = _hw(in_size, "in_size")
    off = torch.as_tensor(offsets)
    if off.dim() != 2 or off.shape[1] != 2:
        raise ValueError(f"offsets must be an (N, 2) tensor of (i, j), got {tuple(off.shape)}")
    off = off.to(torch.get_default_dtype()) if not off.is_floating_point() else off
    return translation_theta(off[:, 1] * (2.0 / w), off[:, 0] * (2.0 / h), scale)


# ---------------------------------------------------------------------------------------------
# reading theta
# ---------------------------------------------------------------------------------------------
def theta_corners(theta: torch.Tensor, in_size: Size) -> torch.Tensor:
    """Pixel corners of the region that ``theta`` samples, for drawing it on the input.

    Args:
        theta: ``(N, 2, 3)``.
        in_size: ``H`` or ``(H, W)`` of the input image.

    Returns:
        ``(N, 4, 2)`` ``(x, y)`` = (column, row) pixel coordinates of the top-left, top-right,
        bottom-right and bottom-left corners, pixel centres at integers: the outer edges of
        the output's border pixels (half an output pixel beyond ``affine_grid``'s outermost
        sample points), as ``align_corners=False`` defines them.

    Example:
        >>> theta_corners(identity_theta(1), 4).tolist()
        [[[-0.5, -0.5], [3.5, -0.5], [3.5, 3.5], [-0.5, 3.5]]]
    """
    _check_theta(theta)
    h, w = _hw(in_size, "in_size")
    unit = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=theta.dtype, device=theta.device)
    norm = unit @ theta[:, :, :2].transpose(1, 2) + theta[:, None, :, 2]  # (N, 4, 2)
    size = torch.tensor([w, h], dtype=theta.dtype, device=theta.device)
    return ((norm + 1) * size - 1) / 2


def theta_to_offset(theta: torch.Tensor, in_size: Size) -> torch.Tensor:
    """Pixel offset ``(i, j)`` of the sampled region's centre from the image centre.

    The centre of the output maps to the translation column of ``theta``, whatever the
    linear part: ``(i, j) = (ty H / 2, tx W / 2)``. Differentiable (auxiliary location loss).

    Args:
        theta: ``(N, 2, 3)``.
        in_size: ``H`` or ``(H, W)``.

    Returns:
        ``(N, 2)`` float (row, column), the datasets' ``offsets`` convention.

    Example:
        >>> theta_to_offset(attention_theta(0.2, 0.5, -0.25), 128).tolist()
        [[-16.0, 32.0]]
    """
    _check_theta(theta)
    h, w = _hw(in_size, "in_size")
    return torch.stack([theta[:, 1, 2] * (h / 2.0), theta[:, 0, 2] * (w / 2.0)], dim=1)


def theta_angle(theta: torch.Tensor) -> torch.Tensor:
    """The rotation (radians) of ``theta``'s linear part, as :func:`rotation_theta` defines it.

    For ``theta = rotation_theta(a, scale)`` it returns ``a``; for a general affine map, the
    angle of its first column (the direction the output's x axis samples along). A glimpse
    sampled with angle ``a`` shows the content turned counter-clockwise by ``a``, so a
    transformer that uprights a digit turned by ``alpha`` learns ``a ≈ -alpha``.

    Args:
        theta: ``(N, 2, 3)``.

    Returns:
        ``(N,)`` in (-π, π].

    Example:
        >>> round(theta_angle(rotation_theta(0.5, scale=0.3)).item(), 6)
        0.5
    """
    _check_theta(theta)
    return torch.atan2(theta[:, 1, 0], theta[:, 0, 0])


# ---------------------------------------------------------------------------------------------
# localisation outputs -> theta
# ---------------------------------------------------------------------------------------------
_N_PARAMS = {"affine": 6, "attention": 3, "translation": 2}


def identity_params(mode: str, init_scale: float = 1.0) -> torch.Tensor:
    """The raw localisation output that :func:`params_to_theta` maps to the initial theta.

    Example:
        >>> identity_params("attention", 1.0).tolist()
        [0.0, 0.0, 0.0]
    """
    check_choice("mode", mode, MODES)
    check_range("init_scale", init_scale, 0, None, low_open=True)
    if mode == "affine":
        return torch.tensor([init_scale, 0.0, 0.0, 0.0, init_scale, 0.0])
    if mode == "attention":
        return torch.tensor([math.log(init_scale), 0.0, 0.0])
    return torch.zeros(2)


def params_to_theta(params: torch.Tensor, mode: str, scale: float = 1.0) -> torch.Tensor:
    """Map raw localisation outputs ``(N, P)`` to ``theta`` ``(N, 2, 3)``.

    - "affine" (P = 6): the six entries of theta, unconstrained (the original STN).
    - "attention" (P = 3): ``(log s, a, b)`` -> ``s = exp(log s)``, ``tx = tanh a``,
      ``ty = tanh b``. The exponential keeps the zoom positive (a negative or zero scale
      would mirror or collapse the glimpse) and makes equal steps multiply the zoom by equal
      factors, so the learning rate means the same at 28/128 as at 1. The tanh keeps the
      glimpse centre inside the field (|t| < 1): an unbounded translation can run off into
      the padding where the gradient is zero and never come back. At 40 px from the centre
      of a 128 field (t = 0.625) tanh still passes 61% of the gradient.
    - "translation" (P = 2): ``(a, b)`` -> ``tanh``, with the fixed zoom ``scale``.

    Example:
        >>> params_to_theta(torch.zeros(1, 2), "translation", 0.25).tolist()
        [[[0.25, 0.0, 0.0], [0.0, 0.25, 0.0]]]
    """
    check_choice("mode", mode, MODES)
    want = _N_PARAMS[mode]
    if params.dim() != 2 or params.shape[1] != want:
        raise ValueError(f"params must be (N, {want}) for mode {mode!r}, got {tuple(params.shape)}")
    if mode == "affine":
        return params.view(-1, 2, 3)
    if mode == "attention":
        return attention_theta(params[:, 0].exp(), torch.tanh(params[:, 1]), torch.tanh(params[:, 2]))
    return translation_theta(torch.tanh(params[:, 0]), torch.tanh(params[:, 1]), scale)


# ---------------------------------------------------------------------------------------------
# the module
# ---------------------------------------------------------------------------------------------
class SpatialTransformer(nn.Module):
    """Localisation net -> ``theta`` -> :func:`affine_sample`, identity-initialised.

    The localisation net maps the input (or ``loc_input``) to ``(N, n_features)``; a final
    ``nn.Linear(n_features, P)`` (``self.head``) gives the raw parameters that
    :func:`params_to_theta` turns into ``theta``. The head starts with zero weights and the
    bias of :func:`identity_params`, so every input first gets the initial theta (identity
    for "affine"; zoom ``init_scale`` on the centre for "attention" and "translation"), as
    Jaderberg et al. prescribe, and the gradient reaches the head from the first step.

    Args:
        localisation: module ``(N, ...) -> (N, n_features)``.
        n_features: width of its output.
        out_size: output ``h`` or ``(h, w)``, independent of the input size.
        mode: "affine", "attention" or "translation".
        init_scale: initial zoom (the fixed one in "translation" mode).
        fill: value outside the input (0.5 = mean grey of the scenes).

    Example:
        >>> loc = nn.Sequential(nn.Flatten(), nn.Linear(64, 8))
        >>> stn = SpatialTransformer(loc, 8, out_size=4, mode="attention", init_scale=0.5)
        >>> out, theta, grid = stn(torch.rand(2, 1, 8, 8))
        >>> out.shape, theta[0].tolist()
        (torch.Size([2, 1, 4, 4]), [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])
    """

    def __init__(
        self,
        localisation: nn.Module,
        n_features: int,
        out_size: Size,
        mode: str = "affine",
        init_scale: float = 1.0,
        fill: float = 0.5,
    ):
        super().__init__()
        check_choice("mode", mode, MODES)
        check_positive_int("n_features", n_features)
        check_range("init_scale", init_scale, 0, None, low_open=True)
        self.localisation = localisation
        self.mode = mode
        self.init_scale = float(init_scale)
        self.out_size = _hw(out_size, "out_size")
        self.fill = float(fill)
        self.head = nn.Linear(n_features, _N_PARAMS[mode])
        self.reset_head()

    def reset_head(self) -> None:
        """Zero weights, identity bias: the initial theta whatever the input."""
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.copy_(identity_params(self.mode, self.init_scale))

    def theta(self, x: torch.Tensor, loc_input: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``(N, 2, 3)`` predicted for ``x`` (the localisation net reads ``loc_input`` if given)."""
        features = self.localisation(x if loc_input is None else loc_input)
        return params_to_theta(self.head(features), self.mode, self.init_scale)

    def forward(self, x: torch.Tensor, loc_input: Optional[torch.Tensor] = None):
        """Return ``(output (N, C, h, w), theta (N, 2, 3), grid (N, h, w, 2))``."""
        theta = self.theta(x, loc_input)
        grid = affine_grid(theta, self.out_size, x.dtype)
        return grid_sample_fill(x, grid, fill=self.fill), theta, grid

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, out_size={self.out_size}, init_scale={self.init_scale:.4g}"
