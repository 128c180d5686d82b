"""The What/Where saccade model (Daucé, Albiges & Perrinet, J. Vision 2020), batched.

Two pathways on a 128x128 scene:

- **What**: a LeNet (:class:`~stnutils.models.classifiers.LeNet`) classifies the 28x28
  fovea around the fixation. Trained separately on the 28x28 task; its accuracy map over
  shifts ``(i, j)`` is the Where pathway's target.
- **Where**: the scene around the fixation, whitened (+0.5, clipped to [0, 1]), goes
  through the 2880-filter log-Gabor retina (one matmul) and an MLP 2880 -> 1000 -> 1000 ->
  240 that predicts, in logits, the What accuracy map seen from each of the 240 collicular
  cells (:mod:`~stnutils.models.colliculus`). A saccade goes to the arg-max cell, i.e. to
  the arg-max pixel of that cell's kernel, clipped to ±50 px on each axis.

``k`` saccades run in sequence, each re-encoding the scene around the new fixation
(0.5 outside the field); ``k = 0`` classifies the centre. Everything is batched: no
Python loop over samples, one loop over the ``k`` saccades.

Pure tensor functions first (:func:`extract_patches`, :func:`saccade_step`,
:func:`encode_views`), then the thin :class:`WhereNet` and :class:`WhatWhere` modules.

Example:
    >>> scene = torch.arange(16.0).view(1, 1, 4, 4)
    >>> extract_patches(scene, torch.tensor([[1, -1]]), 2)[0, 0].tolist()
    [[8.0, 9.0], [12.0, 13.0]]
    >>> extract_patches(scene, torch.tensor([[2, 2]]), 2)[0, 0].tolist()  # off the field: 0.5
    [[15.0, 0.5], [0.5, 0.5]]
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_choice, check_range, check_tensor
from .attention import Attention
from .classifiers import GLIMPSE, LeNet, check_images
from .colliculus import (
    MAP_RADIUS,
    collicular_kernels,
    collicular_targets,
    full_accuracy_map,
    kernel_offsets,
    target_table,
)
from .retina import REFERENCE_OPTIONS, WhatWhereRetina, whitening_filter
from .transformer import affine_grid, offset_to_theta

__all__ = ["RETINAS", "extract_patches", "saccade_step", "encode_views", "WhereNet", "WhatWhere"]

#: The retinas the model can use: the reference's bank (centre S/2, sf_0 cap, max-abs
#: norm, SLIP mask) or this project's (centre (S-1)/2, unit norm, smooth disc).
RETINAS = ("reference", "project")
_KERNELS: Dict[tuple, Tuple[torch.Tensor, torch.Tensor]] = {}  # retina key -> (kernels, cell offsets), CPU


def extract_patches(scenes: torch.Tensor, fixations: torch.Tensor, size: int, fill: float = 0.5) -> torch.Tensor:
    """The ``size x size`` patch of each scene centred on its fixation; ``fill`` outside the field.

    The patch at fixation ``(i, j)`` is rows ``(S - size) // 2 + i ..`` and columns
    ``(S - size) // 2 + j ..`` of the ``S x S`` scene: the fovea (``size = 28``) at
    fixation 0 is the central crop, at fixation ``s`` it holds a digit placed at offset
    ``s`` exactly. With ``size = S`` it is the whole scene seen from the fixation.
    Integer indexing: no interpolation, gradients flow to the scene only.

    Args:
        scenes: ``(N, 1, S, S)``.
        fixations: ``(N, 2)`` integer ``(i, j)`` pixels from the centre.
        size: side of the patch, pixels.
        fill: value where the patch leaves the field.

    Returns:
        ``(N, 1, size, size)``, the scenes' dtype.
    """
    check_tensor("scenes", scenes, (None, 1, None, None))
    check_tensor("fixations", fixations, (len(scenes), 2))
    n, s = len(scenes), scenes.shape[-1]
    fix = fixations.to(device=scenes.device, dtype=torch.long)
    base = (s - size) // 2 + torch.arange(size, device=scenes.device)
    rows, cols = base + fix[:, :1], base + fix[:, 1:]  # (N, size) each
    inside = ((rows >= 0) & (rows < s))[:, :, None] & ((cols >= 0) & (cols < s))[:, None, :]
    batch = torch.arange(n, device=scenes.device)[:, None, None]
    patch = scenes[:, 0][batch, rows.clamp(0, s - 1)[:, :, None], cols.clamp(0, s - 1)[:, None, :]]
    return torch.where(inside, patch, patch.new_full((), fill))[:, None]


def saccade_step(fixations: torch.Tensor, cells: torch.Tensor, cell_offsets: torch.Tensor, limit: int) -> torch.Tensor:
    """The fixations after a saccade to ``cells``: ``clamp(fixation + cell_offsets[cell], ±limit)`` per axis.

    Example:
        >>> saccade_step(torch.tensor([[40, 0]]), torch.tensor([1]), torch.tensor([[0, 3], [20, -5]]), 50).tolist()
        [[50, -5]]
    """
    check_tensor("fixations", fixations, (None, 2))
    return (fixations + cell_offsets[cells]).clamp(-limit, limit)


def encode_views(scenes: torch.Tensor, fixations: Optional[torch.Tensor], bank: torch.Tensor,
                 white: torch.Tensor) -> torch.Tensor:
    """Retina codes of the scenes seen from the fixations: shift, whiten, +0.5, clip to [0, 1], one matmul.

    Args:
        scenes: ``(N, 1, S, S)`` un-whitened scenes in [0, 1].
        fixations: ``(N, 2)`` integer fixations, or None for the centre (no shift).
        bank: ``(n_filters, S * S)`` plain filters.
        white: ``(S, S)`` Fourier whitening filter (unshifted layout, :func:`~stnutils.models.retina.whitening_filter`).

    Returns:
        ``(N, n_filters)`` in the scenes' dtype.
    """
    views = scenes if fixations is None else extract_patches(scenes, fixations, scenes.shape[-1])
    whitened = torch.fft.ifft2(torch.fft.fft2(views[:, 0].to(torch.float32)) * white).real
    retinal = (whitened + 0.5).clamp_(0.0, 1.0).to(scenes.dtype)
    return retinal.flatten(1) @ bank.to(scenes.dtype).T


class WhereNet(nn.Module):
    """The Where MLP: ``n_inputs -> hidden... -> n_cells`` logits (ReLU, optional batch norm after it, dropout last).

    As the reference: Linear -> ReLU [-> BatchNorm] per hidden layer, dropout before the
    output layer only.

    Example:
        >>> WhereNet(16, [8, 8], 4)(torch.rand(3, 16)).shape
        torch.Size([3, 4])
    """

    def __init__(self, n_inputs: int, hidden: Sequence[int], n_cells: int, dropout: float = 0.5,
                 batch_norm: bool = False):
        super().__init__()
        layers, width = [], n_inputs
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)] + ([nn.BatchNorm1d(h)] if batch_norm else [])
            width = h
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(width, n_cells))
        self.net = nn.Sequential(*layers)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.net(codes)


class WhatWhere(nn.Module):
    """The What/Where model: a Where MLP on a log-polar retina picks saccades, a LeNet reads the fovea.

    ``forward`` returns the What logits after ``n_saccades`` saccades; :meth:`attend` also
    returns where the fovea ended (an :class:`~stnutils.models.attention.Attention`, as
    the transformers'); :meth:`saccade_path` every fixation; :meth:`saccade_logits` the
    logits at every fixation of the path; :meth:`classify_at` the logits at given fixations
    (the oracle and random bounds). :meth:`training_loss` is the Where pathway's objective
    (BCE-with-logits on the collicular targets); only the Where parameters require grad.

    The state dict holds the What weights, the What accuracy map (``what_map``, a buffer)
    and the Where weights; the retina, the collicular kernels and the target table are
    rebuilt from the config. Build one from trained parts with :meth:`load_what`.

    Args:
        n_saccades: saccades before the What pathway reads the fovea (>= 0; 0: the centre).
        size: side of the scene, pixels (even, >= 56).
        retina: ``"reference"`` (the reference's filter bank) or ``"project"``.
        n_orientations, n_azimuths, n_eccentricities, n_phases: the retina's geometry
            (the collicular map has ``n_azimuths x n_eccentricities`` cells).
        hidden: widths of the Where MLP's hidden layers.
        dropout: dropout before the Where output layer, in [0, 1).
        batch_norm: batch norm after each hidden ReLU.
        baseline: accuracy outside the What map (chance), in [0, 1].

    Example:
        >>> m = WhatWhere(size=64, n_orientations=2, n_azimuths=6, n_eccentricities=3, hidden=[16])
        >>> m(torch.rand(2, 1, 64, 64)).shape, m.saccade_path(torch.rand(2, 1, 64, 64), 2).shape
        (torch.Size([2, 10]), torch.Size([2, 3, 2]))
    """

    name = "whatwhere"
    image_size = 128

    def __init__(self, n_saccades: int = 1, size: int = 128, retina: str = "reference", n_orientations: int = 6,
                 n_azimuths: int = 24, n_eccentricities: int = 10, n_phases: int = 2,
                 hidden: Sequence[int] = (1000, 1000), dropout: float = 0.5, batch_norm: bool = False,
                 baseline: float = 0.1):
        super().__init__()
        _check_saccades(n_saccades)
        if isinstance(size, bool) or not isinstance(size, int) or size % 2 or not 2 * GLIMPSE <= size <= 512:
            raise ValueError(f"size must be an even integer in [{2 * GLIMPSE}, 512] (the scene side, pixels; "
                             f"the retina is built for it), got {size!r}")
        check_choice("retina", retina, RETINAS)
        hidden = [int(h) for h in hidden]
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty list of positive widths, got {hidden!r}")
        check_range("dropout", dropout, 0, 1, high_open=True)
        if not isinstance(batch_norm, bool):
            raise ValueError(f"batch_norm must be True or False, got {batch_norm!r}")
        check_range("baseline", baseline, 0, 1)
        self.config = dict(n_saccades=n_saccades, size=size, retina=retina, n_orientations=n_orientations,
                           n_azimuths=n_azimuths, n_eccentricities=n_eccentricities, n_phases=n_phases,
                           hidden=hidden, dropout=float(dropout), batch_norm=batch_norm, baseline=float(baseline))
        self.n_saccades, self.image_size, self.baseline = n_saccades, size, float(baseline)
        self.limit = size // 2 - GLIMPSE // 2  # fixations stay within ±50 px: the fovea never leaves the field
        options = dict(REFERENCE_OPTIONS, centre=size / 2) if retina == "reference" else {}
        self.retina = WhatWhereRetina(size, n_orientations, n_azimuths, n_eccentricities, n_phases,
                                      whitened=False, **options)
        kernels, offsets = _kernels(self.retina)
        self.register_buffer("kernels", kernels, persistent=False)
        self.register_buffer("cell_offsets", offsets, persistent=False)
        self.register_buffer("white", whitening_filter(size), persistent=False)
        self.register_buffer("what_map", torch.full((2 * MAP_RADIUS + 1,) * 2, float(baseline)))
        self.what = LeNet().requires_grad_(False)
        self.where = WhereNet(self.retina.n_filters, hidden, len(kernels), dropout, batch_norm)
        self._table: Optional[Tuple[tuple, torch.Tensor]] = None

    # --- building from trained parts ------------------------------------------------------
    def load_what(self, what: nn.Module, accuracy_map, offsets: Optional[Sequence[int]] = None) -> "WhatWhere":
        """Copy a trained What net and its accuracy map into the model (in place); returns the model.

        Args:
            what: a 28x28 classifier with LeNet's weights (``image_size`` 28).
            accuracy_map: the What net's accuracy map: the result dict of
                :func:`stnutils.evaluation.metrics.accuracy_map`, or a ``(n, n)`` array
                measured at ``offsets``; interpolated to every shift in ±27.
            offsets: the shifts of a bare array (default: every integer in ±27).

        Raises:
            ValueError: a What net of another input size or architecture, or a bad map.
        """
        if getattr(what, "image_size", None) != GLIMPSE:
            raise ValueError(f"what must be a What net of input size {GLIMPSE} (the fovea, 28x28 images), "
                             f"got {type(what).__name__} with image_size {getattr(what, 'image_size', None)!r}")
        if isinstance(accuracy_map, dict):
            grid, offsets = accuracy_map["map"], accuracy_map["offsets"]
        else:
            grid = accuracy_map
            offsets = list(range(-MAP_RADIUS, MAP_RADIUS + 1)) if offsets is None else list(offsets)
        full = full_accuracy_map(grid, offsets, MAP_RADIUS)
        check_range("accuracy_map", float(full.min()), 0, 1)
        check_range("accuracy_map", float(full.max()), 0, 1)
        try:
            self.what.load_state_dict(what.state_dict())
        except RuntimeError as err:
            raise ValueError(f"what must have the LeNet architecture of the What pathway: {err}") from None
        with torch.no_grad():
            self.what_map.copy_(full)
        return self

    # --- the Where pathway ----------------------------------------------------------------
    def encode(self, x: torch.Tensor, fixations: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Retina codes ``(N, n_filters)`` of the scenes ``(N, 1, S, S)`` seen from ``fixations`` (default: centre)."""
        check_images(x, self.image_size)
        if fixations is not None and not bool(fixations.any()):
            fixations = None  # the centre: no shift to make
        return encode_views(x, fixations, self.retina.bank, self.white)

    def where_logits(self, x: torch.Tensor, fixations: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The Where pathway's ``(N, C)`` logits from ``fixations``; sigmoid = predicted accuracy per cell."""
        return self.where(self.encode(x, fixations))

    def target_table(self) -> torch.Tensor:
        """``(C, 2M + 1, 2M + 1)`` targets for every digit offset within ±``limit`` (cached per map and device)."""
        key = (self.what_map.device, self.what_map.data_ptr(), self.what_map._version)
        if self._table is None or self._table[0] != key:
            table = target_table(self.kernels, self.what_map, self.image_size, self.limit, self.baseline)
            self._table = (key, table)
        return self._table[1]

    def collicular_target(self, offsets: torch.Tensor) -> torch.Tensor:
        """The Where targets ``(N, C)`` of digits at ``offsets`` ``(N, 2)`` seen from the centre."""
        return collicular_targets(self.target_table(), offsets)

    def training_loss(self, images: torch.Tensor, labels: torch.Tensor, offsets: torch.Tensor):
        """The Where objective: ``(BCE-with-logits of the collicular logits vs targets, What logits)``.

        The What logits (after one saccade chosen by these Where logits, without gradient)
        let the training loop report an accuracy.
        """
        logits = self.where_logits(images)
        loss = F.binary_cross_entropy_with_logits(logits, self.collicular_target(offsets.to(logits.device)))
        with torch.no_grad():
            fixations = saccade_step(torch.zeros_like(offsets, device=logits.device).long(), logits.argmax(1),
                                     self.cell_offsets, self.limit)
            what_logits = self.classify_at(images, fixations)
        return loss, what_logits

    # --- saccades -------------------------------------------------------------------------
    def _saccades(self, n_saccades: Optional[int]) -> int:
        return self.n_saccades if n_saccades is None else _check_saccades(n_saccades)

    def saccade_path(self, x: torch.Tensor, n_saccades: Optional[int] = None) -> torch.Tensor:
        """Fixations ``(N, k + 1, 2)`` (int64 pixels from the centre): the start (0, 0), then after each saccade."""
        check_images(x, self.image_size)
        fix = torch.zeros(len(x), 2, dtype=torch.long, device=x.device)
        path = [fix]
        for _ in range(self._saccades(n_saccades)):
            fix = saccade_step(fix, self.where_logits(x, fix).argmax(1), self.cell_offsets, self.limit)
            path.append(fix)
        return torch.stack(path, dim=1)

    def foveas(self, x: torch.Tensor, fixations: torch.Tensor) -> torch.Tensor:
        """The ``(N, 1, 28, 28)`` foveas at ``fixations`` (0.5 where one leaves the field)."""
        return extract_patches(x, fixations, GLIMPSE)

    def classify_at(self, x: torch.Tensor, fixations: torch.Tensor) -> torch.Tensor:
        """What logits ``(N, 10)`` of the foveas at ``fixations`` ``(N, 2)`` (e.g. the true offsets: the oracle)."""
        check_images(x, self.image_size)
        return self.what(self.foveas(x, fixations))

    def saccade_logits(self, x: torch.Tensor, n_saccades: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """What logits at every fixation of the path: ``(N, k + 1, 10)`` and the path ``(N, k + 1, 2)``."""
        path = self.saccade_path(x, n_saccades)
        n, steps = path.shape[:2]
        foveas = torch.cat([self.foveas(x, path[:, t]) for t in range(steps)])  # step-major, one What pass
        return self.what(foveas).view(steps, n, -1).transpose(0, 1), path

    def attend(self, x: torch.Tensor, n_saccades: Optional[int] = None) -> Attention:
        """Classify after the saccades and return where the fovea ended, as a transformer's :class:`Attention`.

        ``theta`` is the 28x28 fovea box at the final fixation (scale 28/S, normalised,
        ``align_corners=False``), ``grid`` its sampling grid, ``glimpse`` the fovea and
        ``offset`` the final fixation (float pixels).
        """
        fix = self.saccade_path(x, n_saccades)[:, -1]
        fovea = self.foveas(x, fix)
        theta = offset_to_theta(fix.to(x.dtype), self.image_size, GLIMPSE / self.image_size)
        return Attention(self.what(fovea), theta, affine_grid(theta, GLIMPSE, x.dtype), fovea, fix.to(x.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1, S, S)`` scenes in [0, 1] -> What logits ``(N, 10)`` after ``n_saccades`` saccades."""
        return self.classify_at(x, self.saccade_path(x)[:, -1])

    def extra_repr(self) -> str:
        return (f"n_saccades={self.n_saccades}, size={self.image_size}, retina={self.config['retina']!r}, "
                f"cells={len(self.kernels)}, limit=±{self.limit} px")


def _check_saccades(n_saccades) -> int:
    if isinstance(n_saccades, bool) or not isinstance(n_saccades, int) or n_saccades < 0:
        raise ValueError(f"n_saccades must be an integer >= 0 (0: classify the centre), got {n_saccades!r}")
    return n_saccades


def _kernels(retina: WhatWhereRetina) -> Tuple[torch.Tensor, torch.Tensor]:
    """The retina's collicular kernels and cell offsets, computed once per retina (CPU cache)."""
    found = _KERNELS.get(retina._key)
    if found is None:
        kernels = collicular_kernels(retina.bank, retina.code_shape)
        found = _KERNELS[retina._key] = (kernels, kernel_offsets(kernels, retina.size))
    return found
