"""Noisy-MNIST datasets generated on the fly, deterministic per (seed, index).

Sample ``k`` of a dataset with seed ``s`` is a pure function of ``(s, k)`` and the
constructor arguments: the same whatever the batch it is drawn in, the DataLoader workers,
the order of access, or the device (CPU and CUDA agree to float tolerance).
"""
from __future__ import annotations

import copy
import math
import os
from typing import Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..validation import check_choice, check_finite, check_positive_int, check_range
from . import rng
from ._checks import (
    MAX_LENGTH,
    MAX_SIZE,
    DatasetIndexError,
    _as_indices,
    _check_device,
    _check_offset,
    _whole,
)
from .mnist import load_mnist, resolve_data_root
from .motioncloud import cloud_fields_into
from .scenes import (
    DIGIT_SIZE,
    apply_contrast,
    compose_scenes_,
    polar_offsets,
    rotate_digits,
    shift_digits,
)

__all__ = ["NoisyMNIST28", "NoisyMNIST128", "iterate_batches", "check_contrast", "DatasetIndexError",
           "ECCENTRICITY_DISTS"]

#: How NoisyMNIST128 draws the eccentricity: |N(0, std)| clipped (the seed's), or U(0, reach)
ECCENTRICITY_DISTS = ("halfnormal", "uniform")

Contrast = Union[float, Tuple[float, float]]
Batch = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]

# stream ids: one independent random number per (sample, purpose)
_S_RADIUS, _S_DIRECTION, _S_CONTRAST, _S_SHIFT_I, _S_SHIFT_J, _S_ROTATION = 1, 3, 4, 5, 7, 9
# every per-sample draw of a batch, hashed in one go (a normal uses its stream and the next)
_STREAMS = (_S_RADIUS, _S_RADIUS + 1, _S_DIRECTION, _S_CONTRAST, _S_SHIFT_I, _S_SHIFT_I + 1,
            _S_SHIFT_J, _S_SHIFT_J + 1, _S_ROTATION)
def _normal(draws: dict, stream: int) -> torch.Tensor:
    """``rng.normal(keys, stream)`` from the batch's draws."""
    return rng.box_muller(draws[stream], draws[stream + 1])


def check_contrast(contrast: Contrast) -> Union[float, Tuple[float, float]]:
    """A contrast in (0, 1] as a float, or a ``(c_min, c_max)`` range as a pair of floats.

    Raises:
        ValueError: naming ``contrast`` (or its ``c_min``/``c_max``) and the range (0, 1].
    """
    if isinstance(contrast, (tuple, list)):
        if len(contrast) != 2:
            raise ValueError(f"contrast must be a number in (0, 1] or a (c_min, c_max) pair, got {contrast!r}")
        lo = float(check_range("contrast c_min", contrast[0], 0, 1, low_open=True))
        hi = float(check_range("contrast c_max", contrast[1], 0, 1, low_open=True))
        if lo > hi:
            raise ValueError(f"contrast must have c_min <= c_max, got {contrast!r}")
        return (lo, hi)
    return float(check_range("contrast", contrast, 0, 1, low_open=True))


def _pairs_aligned(index: torch.Tensor) -> bool:
    """Whether ``index`` is a run of whole pairs ``(2p, 2p + 1)``, which share one FFT."""
    return (len(index) % 2 == 0 and bool((index[0::2] % 2 == 0).all())
            and bool((index[1::2] == index[0::2] + 1).all()))


class _NoisyMNIST(torch.utils.data.Dataset):
    """Shared machinery: MNIST source, seeds, contrast, background, batching."""

    size: int

    def __init__(self, root, train, seed, contrast, noise, sf_0, B_sf, mask, length, device, download):
        self.root = resolve_data_root(root)[0]
        # how the root was given, for the repr: a printed dataset names no folder of this machine
        self._root_label = (os.fspath(root) if root is not None
                            else "$STNUTILS_DATA" if os.environ.get("STNUTILS_DATA") else os.fspath(self.root))
        self.train = bool(train)
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        checked = check_contrast(contrast)
        self.contrast = checked if isinstance(checked, tuple) else (checked, checked)
        self.noise = float(check_range("noise", noise, 0, 1))
        self.sf_0 = float(check_range("sf_0", sf_0, 0, 0.5, low_open=True))
        self.B_sf = check_finite("B_sf", B_sf, 0, None, low_open=True)
        self.mask = bool(mask)
        self.device = _check_device(device)
        if length is not None and (isinstance(length, bool) or not isinstance(length, (int, np.integer))
                                   or not 1 <= length <= MAX_LENGTH):
            raise ValueError(f"length must be a positive integer (at most 2**62), got {length!r}")
        digits, labels = load_mnist(root, train=train, download=download)
        self._digits = digits.to(self.device)
        self._labels = labels.to(self.device)
        self.length = len(labels) if length is None else int(length)

    # --- what the subclasses define -------------------------------------------------------
    def _offsets(self, draws: dict) -> torch.Tensor:  # (B, 2) int64 from {stream: (B,) uniforms}
        raise NotImplementedError

    def _digit_layer(self, digits: torch.Tensor, offsets: torch.Tensor, draws: dict):
        """Return (layer (B, h, w), top (B,), left (B,), frame_larger_than_layer)."""
        raise NotImplementedError

    # --- generation -----------------------------------------------------------------------
    def __len__(self) -> int:
        return self.length

    def _check_indices(self, index) -> torch.Tensor:
        index = _as_indices(index, self.length)
        return torch.where(index < 0, index + self.length, index)

    def batch(self, indices: Union[Sequence[int], torch.Tensor], out: Optional[torch.Tensor] = None) -> Batch:
        """Generate samples ``indices`` at once on ``self.device``.

        Args:
            indices: ``B`` sample indices (negative ones count from the end).
            out: optional contiguous float32 ``(B, 1, S, S)`` tensor on ``self.device`` to
                write the images into. A loop that reuses one spares the allocator: a
                fresh CPU tensor of 32 MiB or more (512 scenes of 128x128) is new memory
                from the system every time, faulted in page by page as it is written.

        Returns:
            images ``(B, 1, S, S)`` float32 in [0, 1] (``out`` when given), labels ``(B,)``
            int64 and offsets ``(B, 2)`` int64 (row, column displacement of the digit
            from the centre).
        """
        index = self._check_indices(indices).to(self.device)
        shape = (len(index), 1, self.size, self.size)
        if out is not None and not (isinstance(out, torch.Tensor) and tuple(out.shape) == shape
                                    and out.dtype == torch.float32 and out.device == self.device
                                    and out.is_contiguous()):
            got = (f"{tuple(out.shape)} {out.dtype} on {out.device}" if isinstance(out, torch.Tensor)
                   else type(out).__name__)
            raise ValueError(f"out must be a contiguous float32 tensor of shape {shape} on {self.device}, got {got}")
        if not len(index):  # no scene: nothing to draw (the rotation's affine_grid refuses an empty batch)
            return ((torch.empty(shape, device=self.device) if out is None else out), self._labels[:0],
                    torch.empty(0, 2, dtype=torch.int64, device=self.device))
        source = index % len(self._labels)
        keys = rng.sample_keys(self.seed, index)
        draws = dict(zip(_STREAMS, rng.uniforms(keys, _STREAMS).unbind(1)))
        offsets = self._offsets(draws)
        lo, hi = self.contrast
        if hi > lo:
            c = lo + (hi - lo) * draws[_S_CONTRAST]
        else:
            c = torch.full(index.shape, lo, dtype=torch.float64, device=self.device)
        layer, top, left, floor_zero = self._digit_layer(self._digits[source].to(torch.float32), offsets, draws)
        digit = apply_contrast(layer, c, floor_zero=floor_zero)
        images = torch.empty(shape, device=self.device) if out is None else out
        scenes = images[:, 0]
        pair_keys = None
        if self.noise > 0 and _pairs_aligned(index):  # the common case (iterate_batches)
            pair_keys = rng.sample_keys(self.seed, index[0::2] // 2)
        # On CPU, blocks of about 8 MB (128 scenes of 128x128) go through every stage while
        # they are in cache; each operation uses torch's intra-op threads. (Splitting a
        # batch over Python threads instead serialises on the GIL between the operations.)
        # Blocks are even, so an aligned batch stays aligned block by block.
        step = len(index) if self.device.type != "cpu" else max(2, self._BLOCK_BYTES // (4 * self.size**2) // 2 * 2)
        for a in range(0, len(index), max(step, 1)):
            b = min(a + step, len(index))
            scene = scenes[a:b]
            if self.noise > 0:  # the background: 0.5 + noise * (rectified cloud - 0.5)
                keys_ab = None if pair_keys is None else pair_keys[a // 2 : b // 2]
                field_min, field_max = self._fields_into(index[a:b], scene, keys_ab)
                gain = (0.5 * self.noise) / torch.maximum(field_max, -field_min).clamp_min(1e-30)
            else:
                scene.zero_()
                field_max = gain = scene.new_zeros(b - a)
            compose_scenes_(scene, field_max, gain, digit[a:b], top[a:b], left[a:b], self.mask)
        return images, self._labels[source], offsets

    _BLOCK_BYTES = 8 << 20

    def _fields_into(self, index: torch.Tensor, scene: torch.Tensor, pair_keys: Optional[torch.Tensor] = None):
        """Write the raw background field of each sample of ``index`` into ``scene`` ``(b, S, S)``.

        Samples 2p and 2p+1 are the real and imaginary parts of pair p's complex FFT.
        ``pair_keys``, given when ``index`` is a run of whole pairs, are their keys.
        Returns each field's minimum and maximum, ``(b,)`` each.
        """
        b, s = len(index), self.size
        envelope = dict(sf_0=self.sf_0, B_sf=self.B_sf)
        if pair_keys is not None:  # no waste, no copy
            field_max, field_min = cloud_fields_into(pair_keys, scene.view(b // 2, 2, s, s), **envelope)
            return field_min.view(-1), field_max.view(-1)
        pair, part = index // 2, index % 2
        unique, where = torch.unique(pair, return_inverse=True)
        fields = torch.empty(len(unique), 2, s, s, device=scene.device)
        field_max, field_min = cloud_fields_into(rng.sample_keys(self.seed, unique), fields, **envelope)
        scene.copy_(fields[where, part])
        return field_min[where, part], field_max[where, part]

    def __getitem__(self, k: int) -> Batch:
        images, labels, offsets = self.batch([k])
        return images[0], labels[0], offsets[0]

    def __getitems__(self, indices: Sequence[int]):
        # DataLoader's batched fetch: one vectorised generation per batch
        images, labels, offsets = self.batch(indices)
        return list(zip(images, labels, offsets))

    def with_seed(self, seed: int) -> "_NoisyMNIST":
        """A copy drawing from another seed (e.g. one per epoch), sharing the MNIST tensors."""
        other = copy.copy(self)
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        other.seed = int(seed)
        return other

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [
            f"Number of datapoints: {self.length}",
            f"Root location: {self._root_label}",
            f"Split: {'Train' if self.train else 'Test'}",
            f"Seed: {self.seed}",
            f"Size: {self.size}x{self.size}",
            f"Contrast: {self.contrast[0]:g}" if self.contrast[0] == self.contrast[1]
            else f"Contrast: uniform in [{self.contrast[0]:g}, {self.contrast[1]:g}]",
            f"Noise: {self.noise:g} (MotionCloud sf_0={self.sf_0:g}, B_sf={self.B_sf:g})",
            f"Mask: {self.mask}",
            f"Device: {self.device}",
        ] + [line for line in self.extra_repr().splitlines() if line]
        return f"{type(self).__name__}\n" + "\n".join("    " + line for line in lines)


class NoisyMNIST28(_NoisyMNIST):
    """The "What" task: a 28x28 digit shifted inside its own frame, over a MotionCloud.

    Args:
        root: folder holding ``MNIST/raw`` (default: ``$STNUTILS_DATA``, else ``./data``).
        train: training split (60,000 digits) or test split (10,000).
        seed: the dataset seed; sample ``k`` depends only on ``(seed, k)``.
        shift_std: std of the integer shifts ``i, j ~ N(0, shift_std)``, pixels, >= 0.
        shift_max: shifts are clipped to ``±shift_max``, in [0, 27].
        offset: a fixed ``(i, j)`` shift instead of random ones, each in [-27, 27].
        rotation: each digit is turned by an angle drawn uniformly in ``±rotation`` degrees
            (counter-clockwise positive, before the shift), in [0, 180]; 0: upright digits.
            :meth:`rotations` gives the angles.
        contrast: a fixed contrast in (0, 1] or a ``(c_min, c_max)`` range drawn uniformly.
        noise: background amplitude around 0.5, in [0, 1].
        sf_0, B_sf: MotionCloud central frequency (cycles/pixel) and bandwidth.
        mask: apply the circular mask (off for this task by default).
        length: number of samples (default: the split's size; index k uses digit k mod N).
        device: where the samples are generated.
        download: allow torchvision to download MNIST (default: only into ``./data``).

    Example:
        >>> ds = NoisyMNIST28(shift_std=2)   # doctest: +SKIP
        >>> image, label, offset = ds[0]     # doctest: +SKIP
    """

    size = DIGIT_SIZE

    def __init__(
        self,
        root: Optional[Union[str, os.PathLike]] = None,
        train: bool = True,
        *,
        seed: int = 0,
        shift_std: float = 0.0,
        shift_max: int = 25,
        offset: Optional[Tuple[int, int]] = None,
        rotation: float = 0.0,
        contrast: Contrast = (0.3, 0.7),
        noise: float = 0.75,
        sf_0: float = 0.1,
        B_sf: float = 0.1,
        mask: bool = False,
        length: Optional[int] = None,
        device: Union[str, torch.device] = "cpu",
        download: Optional[bool] = None,
    ):
        self.shift_std = check_finite("shift_std", shift_std, 0, None)
        self.shift_max = _whole("shift_max", shift_max, 0, DIGIT_SIZE - 1)
        self.offset = _check_offset(offset, DIGIT_SIZE - 1)
        self.rotation = float(check_range("rotation", rotation, 0, 180))
        super().__init__(root, train, seed, contrast, noise, sf_0, B_sf, mask, length, device, download)

    def rotations(self, indices: Union[Sequence[int], torch.Tensor]) -> torch.Tensor:
        """The angle (degrees, counter-clockwise) each digit of ``indices`` is turned by, ``(B,)`` float64."""
        index = self._check_indices(indices).to(self.device)
        if self.rotation == 0:
            return torch.zeros(index.shape, dtype=torch.float64, device=self.device)
        return self.rotation * (2 * rng.uniform(rng.sample_keys(self.seed, index), _S_ROTATION) - 1)

    def _offsets(self, draws):
        u = draws[_S_SHIFT_I]
        if self.offset is not None:
            return torch.tensor(self.offset, device=u.device).expand(len(u), 2).clone()
        shifts = torch.stack([_normal(draws, _S_SHIFT_I), _normal(draws, _S_SHIFT_J)], dim=1)
        shifts = (shifts * self.shift_std).clamp(-self.shift_max, self.shift_max)
        return torch.trunc(shifts).to(torch.int64)

    def _digit_layer(self, digits, offsets, draws):
        if self.rotation > 0:
            degrees = self.rotation * (2 * draws[_S_ROTATION] - 1)
            digits = rotate_digits(digits, degrees)
        zeros = torch.zeros(len(digits), dtype=torch.int64, device=digits.device)
        return shift_digits(digits, offsets), zeros, zeros, False

    def extra_repr(self) -> str:
        rotation = f"\nRotation: uniform in ±{self.rotation:g}°" if self.rotation > 0 else ""
        if self.offset is not None:
            return f"Shift: fixed (i, j) = {self.offset}" + rotation
        return f"Shift: N(0, {self.shift_std:g}) clipped to ±{self.shift_max}" + rotation


class NoisyMNIST128(_NoisyMNIST):
    """The "Where" task: a digit at some eccentricity in a 128x128 MotionCloud scene.

    By default the eccentricity is ``r = |N(0, eccentricity_std)|`` clipped to
    ``eccentricity_max`` (``eccentricity_dist="uniform"``: ``r ~ U(0, min(eccentricity_std,
    eccentricity_max))``, every eccentricity as often), the direction uniform in [0, 2π), and the offsets
    ``(i, j) = (int(r cos a), int(r sin a))``. ``radius`` and/or ``direction`` fix either
    one; ``offset`` fixes ``(i, j)`` directly.

    Args:
        root, train, seed, contrast, noise, sf_0, B_sf, length, device, download:
            as for :class:`NoisyMNIST28`.
        size: side of the scene in pixels (even, >= 28).
        eccentricity_std: std of the eccentricity, pixels, >= 0.
        eccentricity_max: clip of the eccentricity, pixels, in [0, (size - 28) / 2].
        eccentricity_dist: ``"halfnormal"`` (the seed's) or ``"uniform"`` (see above).
        radius: a fixed eccentricity (pixels) in [0, (size - 28) / 2].
        direction: a fixed direction (radians, 0 = down the rows, π/2 = right).
        offset: a fixed ``(i, j)``, each in [-(size - 28) / 2, (size - 28) / 2].
        mask: apply the circular mask (on by default).
    """

    def __init__(
        self,
        root: Optional[Union[str, os.PathLike]] = None,
        train: bool = True,
        *,
        seed: int = 0,
        size: int = 128,
        eccentricity_std: float = 15.0,
        eccentricity_max: float = 40.0,
        eccentricity_dist: str = "halfnormal",
        radius: Optional[float] = None,
        direction: Optional[float] = None,
        offset: Optional[Tuple[int, int]] = None,
        contrast: Contrast = (0.3, 0.7),
        noise: float = 0.75,
        sf_0: float = 0.1,
        B_sf: float = 0.1,
        mask: bool = True,
        length: Optional[int] = None,
        device: Union[str, torch.device] = "cpu",
        download: Optional[bool] = None,
    ):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < DIGIT_SIZE or size % 2:
            raise ValueError(f"size must be an even integer >= {DIGIT_SIZE}, got {size!r}")
        if size > MAX_SIZE:
            raise ValueError(f"size must be an even integer in [{DIGIT_SIZE}, {MAX_SIZE}], got {size!r}")
        self.size = size = int(size)
        reach = (size - DIGIT_SIZE) // 2
        self.eccentricity_std = check_finite("eccentricity_std", eccentricity_std, 0, None)
        try:  # the digit must stay inside the scene
            self.eccentricity_max = float(check_range("eccentricity_max", eccentricity_max, 0, reach))
            self.radius = None if radius is None else float(check_range("radius", radius, 0, reach))
        except ValueError as err:
            raise ValueError(f"{err} (for size={size}: a digit stays inside the scene up to (size - 28) / 2 = "
                             f"{reach} px from its centre)") from None
        self.eccentricity_dist = check_choice("eccentricity_dist", eccentricity_dist, ECCENTRICITY_DISTS)
        # an infinite angle has no cos or sin: the offsets became -2**63 (issue 13)
        self.direction = None if direction is None else check_finite("direction", direction)
        self.offset = _check_offset(offset, reach)
        super().__init__(root, train, seed, contrast, noise, sf_0, B_sf, mask, length, device, download)

    def _offsets(self, draws):
        u = draws[_S_RADIUS]
        b, device = len(u), u.device
        if self.offset is not None:
            return torch.tensor(self.offset, device=device).expand(b, 2).clone()
        if self.radius is not None:
            radius = torch.full((b,), self.radius, dtype=torch.float64, device=device)
        elif self.eccentricity_dist == "uniform":
            radius = u * min(self.eccentricity_std, self.eccentricity_max)
        else:
            radius = (_normal(draws, _S_RADIUS).abs() * self.eccentricity_std).clamp_max(self.eccentricity_max)
        if self.direction is not None:
            direction = torch.full((b,), self.direction, dtype=torch.float64, device=device)
        else:
            direction = 2 * math.pi * draws[_S_DIRECTION]
        return polar_offsets(radius, direction)

    def _digit_layer(self, digits, offsets, draws=None):
        centre = (self.size - DIGIT_SIZE) // 2
        outside = ((offsets < -centre) | (offsets > centre)).any(1)  # (abs() of -2**63 is -2**63)
        if bool(outside.any()):  # the patch must lie inside the scene
            raise ValueError(f"offsets must lie within ±{centre} px of the centre of a {self.size}x{self.size} "
                             f"scene, got {offsets[outside][0].tolist()} (check radius, direction and offset)")
        return digits, centre + offsets[:, 0], centre + offsets[:, 1], True

    def extra_repr(self) -> str:
        if self.offset is not None:
            return f"Offset: fixed (i, j) = {self.offset}"
        if self.radius is not None:
            r = f"fixed {self.radius:g} px"
        elif self.eccentricity_dist == "uniform":
            r = f"U(0, {min(self.eccentricity_std, self.eccentricity_max):g}) px"
        else:
            r = f"|N(0, {self.eccentricity_std:g})| clipped to {self.eccentricity_max:g} px"
        a = f"fixed {self.direction:g} rad" if self.direction is not None else "uniform in [0, 2π)"
        return f"Eccentricity: {r}\nDirection: {a}"


def iterate_batches(
    dataset: _NoisyMNIST,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    indices: Optional[torch.Tensor] = None,
) -> Iterator[Batch]:
    """Yield ``dataset.batch(...)`` over the dataset (or ``indices``), optionally shuffled.

    Faster than a ``DataLoader`` for these datasets: no per-sample collation, generation
    stays on the dataset's device. Shuffling permutes pairs ``(2p, 2p + 1)``, which share one
    background FFT, so no transform is wasted. The order depends only on ``seed``.
    """
    check_positive_int("batch_size", batch_size)
    if indices is None:
        indices = torch.arange(len(dataset))
    else:
        indices = dataset._check_indices(indices)
    if shuffle:
        g = torch.Generator().manual_seed(seed)
        if len(indices) % 2 == 0 and bool((indices[1::2] == indices[0::2] + 1).all()):
            pairs = indices.view(-1, 2)
            indices = pairs[torch.randperm(len(pairs), generator=g)].reshape(-1)
        else:
            indices = indices[torch.randperm(len(indices), generator=g)]
    for start in range(0, len(indices), batch_size):
        yield dataset.batch(indices[start : start + batch_size])
