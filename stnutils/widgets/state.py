"""Slider values -> scene -> what each model does with it: the plain function behind every explorer.

The three explorers of the book (live ipywidgets sliders, the pre-rendered slider of the
static page, the models run in the reader's browser) all show the same thing for a set
of :class:`Controls`: the scene that :class:`~stnutils.data.NoisyMNIST128` generates for
them, and, for each model, where it looks (its theta and the corners of the sampled
region), the glimpse its classifier sees and its class probabilities. This module
computes that, with no widget and no browser, so that it can be tested.

The scene is the package's own: sample ``digit`` of ``NoisyMNIST128(train=False,
seed=seed, offset=(i, j), contrast=contrast, noise=noise)``, so its background is the
MotionCloud of that test index at that seed. A 28x28 model (``lenet``) is shown the
central 28x28 patch of the scene (:class:`CentralPatch`), which is where the digit sits
at offset (0, 0): the What/Where model's "0 saccades" baseline.

Example:
    >>> Controls.polar(10, 180).offset            # 10 px up (direction 0 = down, 90 = right)
    (-10, 0)
    >>> Controls(i=60)
    Traceback (most recent call last):
    ...
    ValueError: i must be in [-50, 50], got 60
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn

from ..data import NoisyMNIST128, rng
from ..data.motioncloud import cloud_fields_into
from ..data.scenes import DIGIT_SIZE, disc_mask, polar_offsets
from ..evaluation.loop import predictions
from ..evaluation.metrics import center_crop
from ..models.attention import Attention
from ..models.classifiers import check_images
from ..models.transformer import attention_theta, theta_corners, theta_to_offset
from ..validation import check_range

__all__ = ["SCENE_SIZE", "REACH", "TEST_DIGITS", "Controls", "CentralPatch", "explorable", "ModelView",
           "ExplorerState", "SceneGrid", "explorer_states", "explorer_state", "raw_field", "background"]

SCENE_SIZE = 128
#: how far the digit's patch can move from the centre of the scene, pixels
REACH = (SCENE_SIZE - DIGIT_SIZE) // 2
#: the MNIST test split's size (``digit`` is an index into it)
TEST_DIGITS = 10_000


def _int_in(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(check_range(name, value, low, high))


@dataclass(frozen=True)
class Controls:
    """One position of the sliders.

    Attributes:
        digit: index of the MNIST test digit, in [0, 9999]; also picks the background (the
            MotionCloud of sample ``digit`` at ``seed``).
        i, j: row (down) and column (right) offset of the digit from the centre, pixels, in [-50, 50].
        contrast: the digit's contrast, in (0, 1].
        noise: the background's amplitude around 0.5, in [0, 1] (0.75 in training).
        seed: the dataset seed (which background each index gets), a non-negative integer.
    """

    digit: int = 0
    i: int = 0
    j: int = 0
    contrast: float = 0.7
    noise: float = 0.75
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "digit", _int_in("digit", self.digit, 0, TEST_DIGITS - 1))
        object.__setattr__(self, "i", _int_in("i", self.i, -REACH, REACH))
        object.__setattr__(self, "j", _int_in("j", self.j, -REACH, REACH))
        object.__setattr__(self, "contrast", float(check_range("contrast", self.contrast, 0, 1, low_open=True)))
        object.__setattr__(self, "noise", float(check_range("noise", self.noise, 0, 1)))
        object.__setattr__(self, "seed", _int_in("seed", self.seed, 0, 2**62))

    @classmethod
    def polar(cls, eccentricity: float, direction: float, **others) -> "Controls":
        """The controls with the digit ``eccentricity`` px from the centre in ``direction`` degrees.

        Direction 0 is down the rows, 90 to the right (the datasets' convention, in degrees);
        the offset is ``NoisyMNIST128``'s own ``(int(r cos a), int(r sin a))``, truncated
        toward zero, so a digit may sit up to about 1 px nearer the centre than ``eccentricity``.

        Args:
            eccentricity: pixels, in [0, 50].
            direction: degrees (any value; taken modulo 360).
            **others: the other fields of :class:`Controls`.
        """
        r = float(check_range("eccentricity", eccentricity, 0, REACH))
        a = math.radians(float(check_range("direction", direction, -math.inf, math.inf)))
        i, j = polar_offsets(torch.tensor([r], dtype=torch.float64), torch.tensor([a], dtype=torch.float64))[0].tolist()
        return cls(i=i, j=j, **others)

    @property
    def offset(self) -> Tuple[int, int]:
        """``(i, j)``."""
        return self.i, self.j

    def replace(self, **changes) -> "Controls":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


class CentralPatch(nn.Module):
    """A model for small inputs (28x28) shown the central patch of a 128x128 scene.

    It behaves as an attention model on the scene: :meth:`attend` returns the inner
    model's answer with theta, grid and offset in the scene's coordinates. A model without
    ``attend`` (LeNet) looks at the fixed central patch: theta is ``attention_theta(28/128,
    0, 0)`` and the glimpse is the patch itself. A model with ``attend`` (an STN 28x28)
    transforms the patch; its theta is scaled into the scene's frame (the patch is centred,
    so the map from patch to scene coordinates is a pure zoom).

    Args:
        model: a model whose ``image_size`` is smaller than the scene.
        scene_size: side of the scenes it is given.

    Example:
        >>> from stnutils.models import LeNet
        >>> out = CentralPatch(LeNet()).attend(torch.rand(2, 1, 128, 128))
        >>> out.glimpse.shape, theta_corners(out.theta, 128)[0, 0].tolist()
        (torch.Size([2, 1, 28, 28]), [49.5, 49.5])
    """

    def __init__(self, model: nn.Module, scene_size: int = SCENE_SIZE):
        super().__init__()
        patch = getattr(model, "image_size", None)
        if not isinstance(patch, int) or not 0 < patch < scene_size:
            raise ValueError(f"model.image_size must be an integer in (0, {scene_size}), got {patch!r}")
        self.model = model
        self.name = getattr(model, "name", type(model).__name__)
        self.patch = patch
        self.image_size = scene_size
        self.train(model.training)  # predictions() restores this mode: keep the inner model's

    def attend(self, x: torch.Tensor) -> Attention:
        """``(N, 1, S, S)`` scenes -> :class:`~stnutils.models.attention.Attention` in scene coordinates."""
        check_images(x, self.image_size)
        crop = center_crop(x, self.patch)
        scale = self.patch / self.image_size
        if callable(getattr(self.model, "attend", None)):
            inner = self.model.attend(crop)
            logits, theta, grid, glimpse = inner.logits, inner.theta * scale, inner.grid * scale, inner.glimpse
        else:
            logits, glimpse = self.model(crop), crop
            # built for one scene, then expanded: nothing here depends on the batch size (ONNX export)
            theta = attention_theta(scale, 0.0, 0.0).to(x)
            grid = torch.nn.functional.affine_grid(theta, [1, 1, *crop.shape[-2:]], align_corners=False)
            theta, grid = theta.expand(len(x), 2, 3), grid.expand(len(x), *grid.shape[1:])
        return Attention(logits, theta, grid, glimpse, theta_to_offset(theta, self.image_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attend(x).logits


def explorable(model: nn.Module, scene_size: int = SCENE_SIZE) -> nn.Module:
    """``model`` itself if it reads whole scenes and has ``attend``; a :class:`CentralPatch` if it is smaller.

    Raises:
        ValueError: a model for scenes of this size without ``attend`` (nothing to draw), or
            one for larger scenes.
    """
    size = getattr(model, "image_size", None)
    if size == scene_size:
        if not callable(getattr(model, "attend", None)):
            raise ValueError(f"model must have attend() to be explored on {scene_size}x{scene_size} scenes, "
                             f"got {type(model).__name__}")
        return model
    return CentralPatch(model, scene_size)


class ModelView(NamedTuple):
    """What one model made of one scene.

    Attributes:
        logits: ``(10,)``.
        probs: ``(10,)`` softmax of the logits.
        theta: ``(2, 3)`` output-to-scene affine map (normalised coordinates).
        corners: ``(4, 2)`` ``(x, y)`` pixel corners of the sampled region in the scene
            (:func:`~stnutils.models.transformer.theta_corners`): top-left, top-right,
            bottom-right, bottom-left.
        glimpse: ``(h, w)`` what the classifier sees.
        offset: ``(2,)`` pixel ``(i, j)`` of the glimpse centre from the scene centre.
    """

    logits: torch.Tensor
    probs: torch.Tensor
    theta: torch.Tensor
    corners: torch.Tensor
    glimpse: torch.Tensor
    offset: torch.Tensor

    @property
    def prediction(self) -> int:
        return int(self.probs.argmax())


class ExplorerState(NamedTuple):
    """The scene of one :class:`Controls` and every model's :class:`ModelView` of it.

    Attributes:
        controls: the slider values.
        scene: ``(128, 128)`` float32 in [0, 1].
        label: the digit's class.
        offset: ``(i, j)`` where the generator put it (equal to ``controls.offset``).
        views: ``{model name: ModelView}``.
    """

    controls: Controls
    scene: torch.Tensor
    label: int
    offset: Tuple[int, int]
    views: Dict[str, ModelView]


class SceneGrid:
    """The scenes of a list of :class:`Controls`, as a dataset for :func:`~stnutils.evaluation.predictions`.

    ``batch(indices)`` returns the scenes, labels and offsets of those controls, each made by
    ``NoisyMNIST128(data_root, train=False, seed=c.seed, offset=c.offset,
    contrast=c.contrast, noise=c.noise).batch([c.digit])``.

    Args:
        controls: the slider positions, one scene each.
        data_root: folder holding ``MNIST/raw`` (default ``$STNUTILS_DATA``).
        device: where the scenes are made.
    """

    def __init__(self, controls: Sequence[Controls], data_root=None, device="cpu"):
        self.controls = list(controls)
        if not self.controls or not all(isinstance(c, Controls) for c in self.controls):
            raise ValueError(f"controls must be a non-empty sequence of Controls, got {controls!r}")
        self.data_root = data_root
        self.device = torch.device(device)
        self._datasets: Dict[tuple, NoisyMNIST128] = {}
        self._made: Dict[int, tuple] = {}

    def __len__(self) -> int:
        return len(self.controls)

    def dataset(self, c: Controls) -> NoisyMNIST128:
        """The generator of the scene of ``c`` (one per seed, offset, contrast and noise, cached)."""
        key = (c.seed, c.offset, c.contrast, c.noise)
        if key not in self._datasets:
            self._datasets[key] = NoisyMNIST128(self.data_root, train=False, seed=c.seed, offset=c.offset,
                                                contrast=c.contrast, noise=c.noise, device=self.device)
        return self._datasets[key]

    def batch(self, indices) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(images (B, 1, 128, 128), labels (B,), offsets (B, 2))`` of positions ``indices`` (each made once)."""
        parts = []
        for k in torch.as_tensor(indices).reshape(-1).tolist():
            if k not in self._made:  # every model of explorer_states reads the same scenes
                c = self.controls[k]
                self._made[k] = self.dataset(c).batch([c.digit])
            parts.append(self._made[k])
        return tuple(torch.cat(p) for p in zip(*parts))


def _views(attention: Attention, size: int) -> List[ModelView]:
    probs = torch.softmax(attention.logits.float(), dim=1)
    corners = theta_corners(attention.theta, size)
    return [ModelView(attention.logits[k], probs[k], attention.theta[k], corners[k], attention.glimpse[k, 0],
                      attention.offset[k]) for k in range(len(probs))]


def explorer_states(
    models: Mapping[str, nn.Module],
    controls: Sequence[Controls],
    data_root=None,
    device="cpu",
    batch_size: int = 64,
) -> List[ExplorerState]:
    """The scene of every slider position and what every model does with it.

    Args:
        models: ``{name: model}``; 28x28 models see the central patch (:func:`explorable`).
        controls: slider positions.
        data_root: folder holding ``MNIST/raw`` (default ``$STNUTILS_DATA``).
        device: where the scenes are made (the models stay where they are).
        batch_size: scenes per forward pass.

    Returns:
        one :class:`ExplorerState` per position, in order.
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError(f"models must be a non-empty {{name: model}} mapping, got {type(models).__name__}")
    grid = SceneGrid(controls, data_root, device)
    scenes, labels, offsets = [], [], []
    views: Dict[str, List[ModelView]] = {name: [] for name in models}
    for n, (name, model) in enumerate(models.items()):
        for batch in predictions(explorable(model), grid, batch_size=batch_size, attend=True):
            views[name] += _views(batch.attention, SCENE_SIZE)
            if n == 0:
                scenes.append(batch.images[:, 0].cpu())
                labels += batch.labels.tolist()
                offsets += [tuple(o) for o in batch.offsets.tolist()]
    scenes = torch.cat(scenes)
    return [ExplorerState(c, scenes[k], labels[k], offsets[k], {name: views[name][k] for name in models})
            for k, c in enumerate(grid.controls)]


def explorer_state(models: Mapping[str, nn.Module], controls: Optional[Controls] = None, data_root=None,
                   device="cpu") -> ExplorerState:
    """:func:`explorer_states` for one slider position (default :class:`Controls`): one update of a slider."""
    return explorer_states(models, [controls if controls is not None else Controls()], data_root, device)[0]


def raw_field(seed: int, index: int, sf_0: float = 0.1, B_sf: float = 0.1) -> Tuple[torch.Tensor, float, float]:
    """The raw MotionCloud field of sample ``index`` at ``seed`` (the generator's, before gain and mask).

    Samples ``2p`` and ``2p + 1`` are the real and imaginary parts of pair ``p``'s inverse FFT,
    keyed by ``(seed, p)``: :class:`~stnutils.data.NoisyMNIST128` computes exactly this.

    Returns:
        ``(field (128, 128) float32, field minimum, field maximum)``.
    """
    keys = rng.sample_keys(seed, torch.tensor([index // 2]))
    fields = torch.empty(1, 2, SCENE_SIZE, SCENE_SIZE)
    field_max, field_min = cloud_fields_into(keys, fields, sf_0=sf_0, B_sf=B_sf)
    part = index % 2
    return fields[0, part].clone(), float(field_min[0, part]), float(field_max[0, part])


def background(seed: int, digit: int, noise: float = 0.75) -> torch.Tensor:
    """The scene of sample ``digit`` at ``seed`` without its digit, normalised by the field's own extremes.

    Wherever a digit leaves the field's minimum and maximum as they are (its strokes neither
    cover the darkest pixel nor rise above the brightest), the generator's scene equals this
    outside the digit's 28x28 patch, to the bit: ``(z - min) / (max - min)`` in float32 inside
    the disc, 0.5 outside. With ``noise == 0`` the field is flat: 0 inside the disc.

    Returns:
        ``(128, 128)`` float32.
    """
    c = Controls(digit=digit, seed=seed, noise=noise)
    disc = disc_mask(SCENE_SIZE)
    if c.noise == 0:
        return torch.where(disc > 0, torch.zeros(()), torch.full((), 0.5))
    field, lo, hi = raw_field(c.seed, c.digit)
    z_lo = torch.tensor(lo, dtype=torch.float32)
    span = torch.tensor(hi, dtype=torch.float32) - z_lo
    inside = (field - z_lo) / span
    return torch.addcmul(0.5 * (1 - disc), inside, disc)
