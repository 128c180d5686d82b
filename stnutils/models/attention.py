"""The attention models: a localisation net picks where to look, a LeNet classifies the glimpse.

Every model takes ``(N, 1, S, S)`` images in [0, 1] (``S = image_size``) and its
``forward`` returns logits ``(N, 10)``, nothing else. :meth:`~AttentionModel.attend`
returns, from the same single pass, everything the figures and the auxiliary location
loss need as an :class:`Attention`: logits, theta, the sampling grid, the glimpse and the
glimpse centre. The thin-plate-spline model offers the same interface (its theta is the
least-squares affine fit of its grid), so no caller branches on the model.

Glimpses are sampled with the mean grey 0.5 outside the field, so a glimpse that leaves
the scene shows no dark frame.

====================  =====  ====================================================================
name                  input  design
====================  =====  ====================================================================
``stn28``             28     affine STN (localisation of the PyTorch STN tutorial) -> 28 -> LeNet
``stn60``             60     the same on a 60x60 field, downsampled to a 28x28 glimpse
``stn128``            128    affine STN, one more localisation conv -> 128 -> LeNet + 2 convs
``atn``               128    zoom + translation STN, localisation CNN on the full scene -> 28
``polo_atn``          128    translation STN, MLP on the 768-value log-polar retina -> 28
``fast_atn``          128    as ``atn``, localisation CNN on the scene average-pooled by 4 -> 28
``heat_atn``          128    zoom + translation, the centre a soft-argmax over a conv heat map -> 28
``tps_stn``           28     thin-plate-spline STN, 4 x 4 control points -> 28 -> LeNet
====================  =====  ====================================================================
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn

from ..validation import check_positive_int, check_range
from .classifiers import GLIMPSE, Classifier128, LeNet, check_images
from .localisation import (
    RetinaMLP,
    heat_map_net,
    local_soft_argmax,
    pooled_localisation,
    soft_argmax,
    tutorial_localisation,
)
from .retina import PolarLogRetina
from .tps import TPSGrid, tps_control_points
from .transformer import SpatialTransformer, affine_grid, attention_theta, grid_sample_fill, theta_to_offset

__all__ = ["ATTENTION_SCALE", "Attention", "AttentionModel", "STN28", "STN60", "STN128", "ATN", "FastATN",
           "HeatATN", "PoloATN", "TPSSTN"]

ATTENTION_SCALE = 28 / 128  # a 28-pixel glimpse of a 128 field at full resolution


class Attention(NamedTuple):
    """What an attention model computed for a batch, in one pass (:meth:`AttentionModel.attend`).

    Attributes:
        logits: ``(N, 10)``.
        theta: ``(N, 2, 3)`` output-to-input affine map (normalised, ``align_corners=False``).
        grid: ``(N, h, w, 2)`` normalised ``(x, y)`` input position of every glimpse pixel.
        glimpse: ``(N, 1, h, w)``: what the classifier sees.
        offset: ``(N, 2)`` pixel ``(i, j)`` of the glimpse centre from the input centre;
            differentiable (the auxiliary location loss trains through it).
    """

    logits: torch.Tensor
    theta: torch.Tensor
    grid: torch.Tensor
    glimpse: torch.Tensor
    offset: torch.Tensor


class AttentionModel(nn.Module):
    """Localisation -> theta -> glimpse -> classifier; subclasses set ``stn`` and ``classifier``."""

    name = ""
    image_size = 0
    stn: SpatialTransformer
    classifier: nn.Module

    def attend(self, x: torch.Tensor) -> Attention:
        """Classify ``x`` ``(N, 1, S, S)`` and return everything the pass computed."""
        check_images(x, self.image_size)
        glimpse, theta, grid = self.stn(x)
        return Attention(self.classifier(glimpse), theta, grid, glimpse, theta_to_offset(theta, self.image_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1, S, S)`` in [0, 1] -> logits ``(N, 10)``."""
        return self.attend(x).logits

    def parts(self) -> Dict[str, nn.Module]:
        """``{"localisation", "head", "classifier"}``: the modules a parameter count splits into."""
        return {"localisation": self.stn.localisation, "head": self.stn.head, "classifier": self.classifier}


class STN28(AttentionModel):
    """LeNet behind an affine spatial transformer on 28x28 (Jaderberg et al. 2015).

    Example:
        >>> out = STN28().attend(torch.rand(2, 1, 28, 28))
        >>> out.logits.shape, out.theta[0].tolist()
        (torch.Size([2, 10]), [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    """

    name = "stn28"
    image_size = 28

    def __init__(self):
        super().__init__()
        self.config: Dict = {}
        loc, n = tutorial_localisation(28)
        self.stn = SpatialTransformer(loc, n, GLIMPSE, mode="affine")
        self.classifier = LeNet()


class STN60(AttentionModel):
    """Affine transformer that downsamples: a 60x60 scene in, a 28x28 glimpse out, LeNet.

    The PyTorch-tutorial experiment the seed extended (MNIST in a 60x60 field, the
    transformer extracting the 28x28 digit): the glimpse starts as the whole field shrunk
    to 28x28 (identity theta) and must learn to zoom in on the digit.

    Example:
        >>> m = STN60()
        >>> m.attend(torch.rand(2, 1, 60, 60)).glimpse.shape
        torch.Size([2, 1, 28, 28])
    """

    name = "stn60"
    image_size = 60

    def __init__(self):
        super().__init__()
        self.config: Dict = {}
        loc, n = tutorial_localisation(60)
        self.stn = SpatialTransformer(loc, n, GLIMPSE, mode="affine")
        self.classifier = LeNet()


class STN128(AttentionModel):
    """Affine spatial transformer on the 128x128 field, output 128x128, :class:`Classifier128`.

    Example:
        >>> STN128()(torch.rand(1, 1, 128, 128)).shape
        torch.Size([1, 10])
    """

    name = "stn128"
    image_size = 128

    def __init__(self):
        super().__init__()
        self.config: Dict = {}
        loc, n = tutorial_localisation(128, extra_stage=True)
        self.stn = SpatialTransformer(loc, n, 128, mode="affine")
        self.classifier = Classifier128()


class ATN(AttentionModel):
    """Attention transformer: isotropic zoom + translation, a 28x28 glimpse for LeNet.

    The localisation CNN reads the full 128x128 scene (the seed's design; slow on CPU, see
    :class:`FastATN`). ``theta = [[s, 0, tx], [0, s, ty]]`` starts at ``s = init_scale``
    (28/128: the glimpse samples the scene at full resolution) on the centre.

    Args:
        init_scale: initial zoom, in (0, 1].

    Example:
        >>> m = ATN()
        >>> m.attend(torch.rand(1, 1, 128, 128)).glimpse.shape
        torch.Size([1, 1, 28, 28])
    """

    name = "atn"
    image_size = 128

    def __init__(self, init_scale: float = ATTENTION_SCALE):
        super().__init__()
        check_range("init_scale", init_scale, 0, 1, low_open=True)
        self.config = {"init_scale": float(init_scale)}
        loc, n = self._localisation()
        self.stn = SpatialTransformer(loc, n, GLIMPSE, mode="attention", init_scale=init_scale)
        self.classifier = LeNet()

    def _localisation(self) -> Tuple[nn.Module, int]:
        return tutorial_localisation(128, extra_stage=True)


class FastATN(ATN):
    """:class:`ATN` whose localisation net reads the scene average-pooled by ``pool``.

    The 28x28 glimpse is still sampled from the full-resolution scene; only *where to look*
    is decided on the coarse (32x32 for ``pool=4``) view, where the digit is still a
    7-pixel blob. The localisation then costs less than the LeNet that reads the glimpse
    (about a tenth of a training step), so a step costs little more than the What
    pathway's own: about 8x less CPU time per sample than :class:`ATN` in our (noisy,
    shared 2-core) measurements, a ratio bounded by LeNet's share of the work.

    Args:
        init_scale: initial zoom.
        pool: average-pooling factor (divides 128, leaves at least 20x20).

    Example:
        >>> FastATN()(torch.rand(2, 1, 128, 128)).shape
        torch.Size([2, 10])
    """

    name = "fast_atn"

    def __init__(self, init_scale: float = ATTENTION_SCALE, pool: int = 4):
        check_positive_int("pool", pool)
        if 128 % pool:
            raise ValueError(f"pool must divide 128, got {pool}")
        self._pool = pool
        super().__init__(init_scale)
        self.config["pool"] = pool

    def _localisation(self) -> Tuple[nn.Module, int]:
        return pooled_localisation(self._pool)


class _LogScale(nn.Module):
    """One learnt zoom, kept as its log (positive whatever the step): ``forward() -> scale``."""

    def __init__(self, scale: float):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(float(scale)).log())

    def forward(self) -> torch.Tensor:
        return self.log_scale.exp()


class HeatATN(AttentionModel):
    """Attention glimpse centred by a soft-argmax over a heat map of the coarse scene.

    Not in the seed (this book's issue-14 recipe search). Where :class:`FastATN` regresses
    the glimpse centre from a flattened feature vector, here a fully convolutional net
    (:func:`~stnutils.models.localisation.heat_map_net`) scores every cell of a 16x16 map
    (``pool=4``) and the centre is the softmax-weighted mean cell
    (:func:`~stnutils.models.localisation.soft_argmax`): the same filters find the digit
    wherever it is, which a regression head must learn position by position. The zoom is
    one learnt scalar, starting at ``init_scale``.

    Args:
        init_scale: initial zoom, in (0, 1].
        pool: average pooling before the heat-map net (``128 / (2 pool)`` cells a side).
        width: channels of the heat-map net's second conv.
        gain: the heat-map logits are multiplied by it. From a zero last conv, a softmax over
            256 cells only peaks once logits differ by about 10; without a gain, Adam needs
            thousands of steps to get there.
        window: None (default), or in eval mode only, the soft-argmax over the ``(2 window + 1)^2``
            cells around the peak (:func:`~stnutils.models.localisation.local_soft_argmax`):
            without the pull of diffuse far heat toward the centre (week 11). Training keeps the
            global soft-argmax, whose gradient reaches every cell.
        jitter: None (default), or in eval mode only, the logits are the mean log-probabilities
            of 9 glimpses: the centre and the 8 points around it at ``jitter`` pixels of the
            scene along each axis (week 12: a test-time average over the residual error of
            the glimpse centre). ``theta``, ``grid``, ``glimpse`` and ``offset`` stay the
            centre glimpse's.

    Example:
        >>> m = HeatATN()
        >>> out = m.attend(torch.rand(2, 1, 128, 128))
        >>> out.glimpse.shape, float(out.offset.abs().max()) < 1e-4  # untrained: the centre
        (torch.Size([2, 1, 28, 28]), True)
    """

    name = "heat_atn"
    image_size = 128

    def __init__(self, init_scale: float = ATTENTION_SCALE, pool: int = 4, width: int = 16, gain: float = 20.0,
                 window: Optional[int] = None, jitter: Optional[float] = None):
        super().__init__()
        check_range("init_scale", init_scale, 0, 1, low_open=True)
        check_positive_int("pool", pool)
        if 128 % (2 * pool):
            raise ValueError(f"pool must divide 64 (the map has 128 / (2 pool) cells a side), got {pool}")
        check_range("gain", gain, 0, None, low_open=True)
        if window is not None:
            check_positive_int("window", window)
        if jitter is not None:
            check_range("jitter", jitter, 0, 14, low_open=True)
        # "window" and "jitter" are absent from the configs of older runs: they build with None, as they were
        self.config = {"init_scale": float(init_scale), "pool": pool, "width": width, "gain": float(gain),
                       "window": None if window is None else int(window),
                       "jitter": None if jitter is None else float(jitter)}
        self.heat = heat_map_net(pool, width)
        self.zoom = _LogScale(init_scale)
        self.classifier = LeNet()

    def attend(self, x: torch.Tensor) -> Attention:
        check_images(x, self.image_size)
        logits = self.heat(x)[:, 0] * self.config["gain"]
        window = self.config["window"]
        centre = soft_argmax(logits) if window is None or self.training else local_soft_argmax(logits, window)
        scale = self.zoom().expand(len(x))
        theta = attention_theta(scale, centre[:, 0], centre[:, 1])
        grid = affine_grid(theta, GLIMPSE, x.dtype)
        glimpse = grid_sample_fill(x, grid, fill=0.5)
        jitter = self.config.get("jitter")
        if jitter is None or self.training:
            logits = self.classifier(glimpse)
        else:
            logits = self._jittered_logits(x, scale, centre, jitter)
        return Attention(logits, theta, grid, glimpse, theta_to_offset(theta, self.image_size))

    def _jittered_logits(self, x: torch.Tensor, scale: torch.Tensor, centre: torch.Tensor,
                         jitter: float) -> torch.Tensor:
        """Mean log-softmax of the 3 x 3 glimpses around ``centre`` (``(N, 2)``, normalised), ``jitter`` px apart."""
        n = len(x)
        step = 2.0 * jitter / self.image_size  # pixels -> normalised units
        d = torch.tensor([-step, 0.0, step], dtype=x.dtype, device=x.device)
        dx, dy = d.repeat(3), d.repeat_interleave(3)  # (9,): the centre is index 4
        cx = (centre[:, 0:1] + dx).reshape(-1)
        cy = (centre[:, 1:2] + dy).reshape(-1)
        theta = attention_theta(scale.repeat_interleave(9), cx, cy)
        scenes = x.repeat_interleave(9, dim=0)
        glimpses = grid_sample_fill(scenes, affine_grid(theta, GLIMPSE, x.dtype), fill=0.5)
        logp = torch.log_softmax(self.classifier(glimpses), dim=1).view(n, 9, -1)
        return logp.mean(1)

    def parts(self) -> Dict[str, nn.Module]:
        """``{"localisation", "head", "classifier"}``: the heat map's convs and the zoom, its last conv, LeNet."""
        return {"localisation": nn.ModuleList([self.heat[:-1], self.zoom]), "head": self.heat[-1],
                "classifier": self.classifier}


class PoloATN(AttentionModel):
    """POLO-ATN: translation-only glimpse, localisation MLP on the log-polar retina code.

    The scene is encoded by :class:`~stnutils.models.retina.PolarLogRetina` (768 filters, 95%
    compression); an MLP predicts the glimpse centre; the zoom is fixed at ``scale``.

    Args:
        scale: fixed zoom of the 28x28 glimpse.
        hidden: widths of the MLP's hidden layers.

    Example:
        >>> out = PoloATN().attend(torch.rand(2, 1, 128, 128))
        >>> out.logits.shape, out.offset.tolist()
        (torch.Size([2, 10]), [[0.0, 0.0], [0.0, 0.0]])
    """

    name = "polo_atn"
    image_size = 128

    def __init__(self, scale: float = ATTENTION_SCALE, hidden: Sequence[int] = (512, 128)):
        super().__init__()
        check_range("scale", scale, 0, 1, low_open=True)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise ValueError(f"hidden must be a list of positive layer widths, e.g. [512, 128], got {hidden!r}")
        hidden = [check_positive_int("hidden", h) for h in hidden]
        self.config = {"scale": float(scale), "hidden": list(hidden)}
        loc = RetinaMLP(PolarLogRetina(size=128), hidden)
        self.stn = SpatialTransformer(loc, loc.n_features, GLIMPSE, mode="translation", init_scale=scale)
        self.classifier = LeNet()

    @property
    def retina(self) -> PolarLogRetina:
        return self.stn.localisation.retina


class TPSSTN(AttentionModel):
    """Thin-plate-spline transformer on 28x28: a ``grid_size^2`` lattice of control points.

    The localisation net (as :class:`STN28`'s) predicts the displacement of every control
    point, zero at initialisation (identity warp); :class:`~stnutils.models.tps.TPSGrid`
    interpolates them into a dense sampling grid with one precomputed matmul. We do not use
    ``kornia.geometry.transform.warp_image_tps``: it solves the spline's linear system for
    every batch although the control points never move in output space, and it does not
    return the sampling grid, which the figures draw.

    In :meth:`attend`, ``theta`` is the least-squares affine fit of the grid (for boxes
    drawn on the input and angles read off it) and ``offset`` is exact: the spline at the
    output centre.

    Args:
        grid_size: control points per side (>= 2).

    Example:
        >>> out = TPSSTN().attend(torch.rand(2, 1, 28, 28))
        >>> out.grid.shape, out.theta.shape
        (torch.Size([2, 28, 28, 2]), torch.Size([2, 2, 3]))
    """

    name = "tps_stn"
    image_size = 28

    def __init__(self, grid_size: int = 4):
        super().__init__()
        check_positive_int("grid_size", grid_size)
        if grid_size < 2:
            raise ValueError(f"grid_size must be at least 2, got {grid_size}")
        self.config = {"grid_size": grid_size}
        self.n_control = grid_size * grid_size
        self.localisation, n = tutorial_localisation(28)
        self.head = nn.Linear(n, 2 * self.n_control)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.tps = TPSGrid(tps_control_points(grid_size), GLIMPSE)
        # least-squares affine fit of a grid: theta^T = pinv([x, y, 1]) @ grid, fixed matrix
        design = torch.cat([self.tps.pixels, torch.ones(len(self.tps.pixels), 1)], 1)
        self.register_buffer("_affine_fit", torch.linalg.pinv(design.double()).float(), persistent=False)
        self.classifier = LeNet()

    def displacements(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, K, 2)`` control-point displacements (normalised units) predicted for ``x``."""
        return self.head(self.localisation(x)).view(-1, self.n_control, 2)

    def attend(self, x: torch.Tensor) -> Attention:
        check_images(x, self.image_size)
        d = self.displacements(x)
        grid = self.tps(d)
        glimpse = grid_sample_fill(x, grid, fill=0.5)
        fit = self._affine_fit.to(grid.dtype)  # (3, HW)
        theta = torch.einsum("pm,nmc->ncp", fit, grid.flatten(1, 2))  # (N, 2, 3)
        xy = self.tps.centre(d)  # (N, 2) normalised (x, y)
        offset = torch.stack([xy[:, 1], xy[:, 0]], 1) * (self.image_size / 2.0)
        return Attention(self.classifier(glimpse), theta, grid, glimpse, offset)

    def parts(self) -> Dict[str, nn.Module]:
        return {"localisation": self.localisation, "head": self.head, "classifier": self.classifier}
