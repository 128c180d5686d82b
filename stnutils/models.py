"""The lab book's classifiers: the What pathway (LeNet) and the spatial-transformer models.

Every model takes ``(N, 1, S, S)`` images in [0, 1] (``S = input_size(name)``) and returns
logits ``(N, 10)``. Each class has a ``name`` and an ``image_size``; each instance a
``config`` dict (its constructor arguments, JSON-serialisable) from which
``build_model(name, **config)`` rebuilds it. Transformer models also keep ``last_theta``
``(N, 2, 3)`` from their last forward (with its graph: the auxiliary location loss of
:meth:`predicted_offset` trains through it) and have ``transform(x) -> (glimpse, theta)``.

Inputs are centred (``2 x - 1``) inside each network, and glimpses are sampled with the
mean grey 0.5 outside the field, so a glimpse that leaves the scene shows no dark frame.

====================  =====  ====================================================================
name                  input  design
====================  =====  ====================================================================
``lenet``             28     What pathway: conv 20@5 - pool - conv 50@5 - pool - fc 500 - fc 10
``stn28``             28     affine STN (localisation of the PyTorch STN tutorial) -> 28 -> LeNet
``stn128``            128    affine STN, one more localisation conv -> 128 -> LeNet + 2 convs
``atn``               128    zoom + translation STN, localisation CNN on the full scene -> 28
``polo_atn``          128    translation STN, MLP on the 768-value log-polar retina -> 28
``fast_atn``          128    as ``atn``, localisation CNN on the scene average-pooled by 4 -> 28
``tps_stn``           28     thin-plate-spline STN, 4 x 4 control points -> 28 -> LeNet
====================  =====  ====================================================================
"""
from __future__ import annotations

import inspect
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from ._validate import check_choice, check_positive_int, check_range
from .retina import PolarLogRetina
from .transformer import SpatialTransformer, TPSGrid, grid_sample_fill, theta_to_offset, tps_control_points

__all__ = [
    "MODEL_NAMES",
    "LeNet",
    "Classifier128",
    "STN28",
    "STN60",
    "STN128",
    "ATN",
    "PoloATN",
    "FastATN",
    "TPSSTN",
    "build_model",
    "input_size",
]

GLIMPSE = 28  # the What pathway's input size
ATTENTION_SCALE = 28 / 128  # a 28-pixel glimpse of a 128 field at full resolution


def _check_images(x, size: int) -> None:
    """Raise ``ValueError`` unless ``x`` is a float ``(N, 1, size, size)`` tensor."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (1, size, size):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"images must be (N, 1, {size}, {size}), got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"images must be a float tensor in [0, 1], got dtype {x.dtype}")


class _Centre(nn.Module):
    """``[0, 1] -> [-1, 1]``: zero-mean inputs for the first layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x - 1


def _conv_stack(*channels_kernels: Tuple[int, int, int], pool_first: bool = False) -> list:
    """conv -> relu -> maxpool 2 per ``(in, out, kernel)`` (or conv -> pool -> relu)."""
    layers = []
    for c_in, c_out, k in channels_kernels:
        if pool_first:  # the PyTorch STN tutorial's order; same result, relu on 4x fewer values
            layers += [nn.Conv2d(c_in, c_out, k), nn.MaxPool2d(2), nn.ReLU(inplace=True)]
        else:
            layers += [nn.Conv2d(c_in, c_out, k), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    return layers


# ---------------------------------------------------------------------------------------------
# classifiers
# ---------------------------------------------------------------------------------------------
def _lenet_net(*convs: Tuple[int, int, int]) -> nn.Sequential:
    """Centring, conv/relu/pool stages, then LeNet's fc 800 -> 500 -> 10 head (50 maps of 4x4)."""
    return nn.Sequential(
        _Centre(),
        *_conv_stack(*convs),
        nn.Flatten(),
        nn.Linear(50 * 4 * 4, 500),
        nn.ReLU(inplace=True),
        nn.Linear(500, 10),
    )


class LeNet(nn.Module):
    """The What pathway: conv 20@5x5 - relu - pool - conv 50@5x5 - relu - pool - fc 800->500 - relu - fc 10.

    Example:
        >>> LeNet()(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    name = "lenet"
    image_size = 28

    def __init__(self):
        super().__init__()
        self.config: Dict = {}
        self.net = _lenet_net((1, 20, 5), (20, 50, 5))  # 28 -> 24 -> 12 -> 8 -> 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1, 28, 28)`` in [0, 1] -> logits ``(N, 10)``."""
        _check_images(x, self.image_size)
        return self.net(x)


class Classifier128(nn.Module):
    """LeNet for 128x128 inputs: two more conv/pool stages keep the fc input at 800.

    conv 20@5 - pool - conv 50@5 - pool - conv 50@5 - pool - conv 50@5 - pool - fc 500 - fc 10
    (128 -> 124 -> 62 -> 58 -> 29 -> 25 -> 12 -> 8 -> 4), as the seed added two conv layers
    to the What network for the full field.
    """

    image_size = 128

    def __init__(self):
        super().__init__()
        self.net = _lenet_net((1, 20, 5), (20, 50, 5), (50, 50, 5), (50, 50, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.image_size)
        return self.net(x)


# ---------------------------------------------------------------------------------------------
# localisation networks: (N, 1, S, S) in [0, 1] -> (N, features)
# ---------------------------------------------------------------------------------------------
def _localisation28() -> Tuple[nn.Module, int]:
    """PyTorch STN tutorial: conv 8@7 - pool - relu - conv 10@5 - pool - relu - fc 90->32 - relu."""
    net = nn.Sequential(
        _Centre(),
        *_conv_stack((1, 8, 7), (8, 10, 5), pool_first=True),  # 28 -> 22 -> 11 -> 7 -> 3
        nn.Flatten(),
        nn.Linear(10 * 3 * 3, 32),
        nn.ReLU(inplace=True),
    )
    return net, 32


def _localisation60() -> Tuple[nn.Module, int]:
    """The tutorial's net on a 60x60 field: conv 8@7 - pool - relu - conv 10@5 - pool - relu - fc 32."""
    net = nn.Sequential(
        _Centre(),
        *_conv_stack((1, 8, 7), (8, 10, 5), pool_first=True),  # 60 -> 54 -> 27 -> 23 -> 11
        nn.Flatten(),
        nn.Linear(10 * 11 * 11, 32),
        nn.ReLU(inplace=True),
    )
    return net, 32


def _localisation128() -> Tuple[nn.Module, int]:
    """The tutorial's net plus one conv/pool stage for the 128 field (the seed's change)."""
    net = nn.Sequential(
        _Centre(),
        *_conv_stack((1, 8, 7), (8, 10, 5), (10, 10, 5), pool_first=True),  # 128->122->61->57->28->24->12
        nn.Flatten(),
        nn.Linear(10 * 12 * 12, 32),
        nn.ReLU(inplace=True),
    )
    return net, 32


def _localisation_pooled(pool: int, size: int = 128) -> Tuple[nn.Module, int]:
    """Average-pool by ``pool``, then conv 8@5 stride 2 - relu - conv 16@5 stride 2 - relu - fc 64 - relu.

    Strided convolutions instead of conv + max-pool: on a 2-core CPU the max-pool and its
    backward cost more than these small convolutions themselves.
    """
    side = size // pool
    after = ((side - 5) // 2 + 1 - 5) // 2 + 1  # two valid 5x5 convolutions of stride 2
    if after < 1:
        raise ValueError(f"pool must leave at least a 13x13 scene for the localisation net, got pool={pool}")
    net = nn.Sequential(
        nn.AvgPool2d(pool),
        _Centre(),
        nn.Conv2d(1, 8, 5, stride=2),  # 32 -> 14
        nn.ReLU(inplace=True),
        nn.Conv2d(8, 16, 5, stride=2),  # 14 -> 5
        nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(16 * after * after, 64),
        nn.ReLU(inplace=True),
    )
    return net, 64


class _RetinaMLP(nn.Module):
    """Log-polar retina code -> MLP (the POLO-ATN's localisation)."""

    def __init__(self, retina: nn.Module, hidden: Sequence[int]):
        super().__init__()
        self.retina = retina
        layers, width = [], retina.n_filters
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        self.mlp = nn.Sequential(*layers)
        self.n_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # filters are zero-mean: the code does not see the mean grey, no centring needed
        return self.mlp(self.retina.encode(x))


# ---------------------------------------------------------------------------------------------
# transformer models
# ---------------------------------------------------------------------------------------------
class _TransformerModel(nn.Module):
    """Shared forward: localisation -> theta -> glimpse -> classifier; keeps ``last_theta``."""

    name = ""
    image_size = 0
    stn: SpatialTransformer
    classifier: nn.Module

    _TRANSIENT = ("last_theta", "last_grid", "_last_displacements")

    def __init__(self):
        super().__init__()
        self.last_theta: Optional[torch.Tensor] = None

    def __getstate__(self):
        # the last forward's tensors carry their graph, which copy.deepcopy and pickle refuse
        state = self.__dict__.copy()
        for key in self._TRANSIENT:
            if isinstance(state.get(key), torch.Tensor):
                state[key] = state[key].detach()
        return state

    def transform(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(glimpse (N, 1, h, w), theta (N, 2, 3))`` for ``x``; does not touch ``last_theta``."""
        _check_images(x, self.image_size)
        return self.stn(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1, S, S)`` in [0, 1] -> logits ``(N, 10)``; sets ``last_theta``."""
        glimpse, self.last_theta = self.transform(x)
        return self.classifier(glimpse)

    def predicted_offset(self) -> torch.Tensor:
        """``(N, 2)`` pixel ``(i, j)`` of the glimpse centre from the field centre, last forward.

        Differentiable: ``mse(model.predicted_offset(), offsets.float())`` trains the
        localisation net towards the known digit position (the auxiliary location loss).
        """
        if self.last_theta is None:
            raise RuntimeError("predicted_offset() needs a forward pass first")
        return theta_to_offset(self.last_theta, self.image_size)


class STN28(_TransformerModel):
    """LeNet behind an affine spatial transformer on 28x28 (Jaderberg et al. 2015).

    Example:
        >>> m = STN28()
        >>> m(torch.rand(2, 1, 28, 28)).shape, m.last_theta[0].tolist()
        (torch.Size([2, 10]), [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    """

    name = "stn28"
    image_size = 28

    def __init__(self):
        super().__init__()
        self.config: Dict = {}
        loc, n = _localisation28()
        self.stn = SpatialTransformer(loc, n, GLIMPSE, mode="affine")
        self.classifier = LeNet()


class STN60(_TransformerModel):
    """Affine transformer that downsamples: a 60x60 scene in, a 28x28 glimpse out, LeNet.

    The PyTorch-tutorial experiment the seed extended (MNIST in a 60x60 field, the
    transformer extracting the 28x28 digit): the glimpse starts as the whole field shrunk
    to 28x28 (identity theta) and must learn to zoom in on the digit.

    Example:
        >>> m = STN60()
        >>> m.transform(torch.rand(2, 1, 60, 60))[0].shape
        torch.Size([2, 1, 28, 28])
    """

    name = "stn60"
    image_size = 60

    def __init__(self):
        super().__init__()
        self.config: Dict = {}
        loc, n = _localisation60()
        self.stn = SpatialTransformer(loc, n, GLIMPSE, mode="affine")
        self.classifier = LeNet()


class STN128(_TransformerModel):
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
        loc, n = _localisation128()
        self.stn = SpatialTransformer(loc, n, 128, mode="affine")
        self.classifier = Classifier128()


class ATN(_TransformerModel):
    """Attention transformer: isotropic zoom + translation, a 28x28 glimpse for LeNet.

    The localisation CNN reads the full 128x128 scene (the seed's design; slow on CPU, see
    :class:`FastATN`). ``theta = [[s, 0, tx], [0, s, ty]]`` starts at ``s = init_scale``
    (28/128: the glimpse samples the scene at full resolution) on the centre.

    Args:
        init_scale: initial zoom, in (0, 1].

    Example:
        >>> m = ATN()
        >>> m.transform(torch.rand(1, 1, 128, 128))[0].shape
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
        return _localisation128()


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
        return _localisation_pooled(self._pool)


class PoloATN(_TransformerModel):
    """POLO-ATN: translation-only glimpse, localisation MLP on the log-polar retina code.

    The scene is encoded by :class:`~stnutils.retina.PolarLogRetina` (768 filters, 95%
    compression); an MLP predicts the glimpse centre; the zoom is fixed at ``scale``.

    Args:
        scale: fixed zoom of the 28x28 glimpse.
        hidden: widths of the MLP's hidden layers.

    Example:
        >>> m = PoloATN()
        >>> m(torch.rand(2, 1, 128, 128)).shape, m.predicted_offset().tolist()
        (torch.Size([2, 10]), [[0.0, 0.0], [0.0, 0.0]])
    """

    name = "polo_atn"
    image_size = 128

    def __init__(self, scale: float = ATTENTION_SCALE, hidden: Sequence[int] = (512, 128)):
        super().__init__()
        check_range("scale", scale, 0, 1, low_open=True)
        hidden = [check_positive_int("hidden", h) for h in hidden]
        self.config = {"scale": float(scale), "hidden": list(hidden)}
        loc = _RetinaMLP(PolarLogRetina(size=128), hidden)
        self.stn = SpatialTransformer(loc, loc.n_features, GLIMPSE, mode="translation", init_scale=scale)
        self.classifier = LeNet()

    @property
    def retina(self) -> PolarLogRetina:
        return self.stn.localisation.retina


class TPSSTN(_TransformerModel):
    """Thin-plate-spline transformer on 28x28: a ``grid_size^2`` lattice of control points.

    The localisation net (as :class:`STN28`'s) predicts the displacement of every control
    point, zero at initialisation (identity warp); :class:`~stnutils.transformer.TPSGrid`
    interpolates them into a dense sampling grid with one precomputed matmul. We do not use
    ``kornia.geometry.transform.warp_image_tps``: it solves the spline's linear system for
    every batch although the control points never move in output space, and it does not
    return the sampling grid, which the figures draw (``last_grid``).

    ``last_theta`` (and the ``theta`` of :meth:`transform`) is the least-squares affine fit
    of the grid, for boxes drawn on the input; :meth:`predicted_offset` is exact (the
    spline at the output centre).

    Args:
        grid_size: control points per side (>= 2).

    Example:
        >>> m = TPSSTN()
        >>> _ = m(torch.rand(2, 1, 28, 28))
        >>> m.last_grid.shape, m.last_theta.shape
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
        self.localisation, n = _localisation28()
        self.head = nn.Linear(n, 2 * self.n_control)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.tps = TPSGrid(tps_control_points(grid_size), GLIMPSE)
        # least-squares affine fit of a grid: theta^T = pinv([x, y, 1]) @ grid, fixed matrix
        design = torch.cat([self.tps.pixels, torch.ones(len(self.tps.pixels), 1)], 1)
        self.register_buffer("_affine_fit", torch.linalg.pinv(design.double()).float(), persistent=False)
        self.classifier = LeNet()
        self.last_grid: Optional[torch.Tensor] = None
        self._last_displacements: Optional[torch.Tensor] = None

    def displacements(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, K, 2)`` control-point displacements (normalised units) predicted for ``x``."""
        return self.head(self.localisation(x)).view(-1, self.n_control, 2)

    def sampling_grid(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(glimpse (N, 1, 28, 28), grid (N, 28, 28, 2), displacements (N, K, 2))``."""
        _check_images(x, self.image_size)
        d = self.displacements(x)
        grid = self.tps(d)
        glimpse = grid_sample_fill(x, grid, fill=0.5)
        return glimpse, grid, d

    def _fit_theta(self, grid: torch.Tensor) -> torch.Tensor:
        fit = self._affine_fit.to(grid.dtype)  # (3, HW)
        return torch.einsum("pm,nmc->ncp", fit, grid.flatten(1, 2))  # (N, 2, 3)

    def transform(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(glimpse, theta)`` with ``theta`` the affine fit of the spline grid."""
        glimpse, grid, _ = self.sampling_grid(x)
        return glimpse, self._fit_theta(grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        glimpse, grid, d = self.sampling_grid(x)
        self.last_grid, self._last_displacements = grid, d
        self.last_theta = self._fit_theta(grid)
        return self.classifier(glimpse)

    def predicted_offset(self) -> torch.Tensor:
        if self._last_displacements is None:
            raise RuntimeError("predicted_offset() needs a forward pass first")
        xy = self.tps.centre(self._last_displacements)  # (N, 2) normalised (x, y)
        return torch.stack([xy[:, 1], xy[:, 0]], 1) * (self.image_size / 2.0)


# ---------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------
_MODELS = {cls.name: cls for cls in (LeNet, STN28, STN60, STN128, ATN, PoloATN, FastATN, TPSSTN)}
MODEL_NAMES: Tuple[str, ...] = tuple(_MODELS)


def input_size(name: str) -> int:
    """Side of the square images model ``name`` takes (28, 60 or 128).

    Example:
        >>> input_size("atn"), input_size("tps_stn")
        (128, 28)
    """
    check_choice("name", name, MODEL_NAMES)
    return _MODELS[name].image_size


def build_model(name: str, **config) -> nn.Module:
    """A fresh model ``name`` built with ``config`` (``model.config`` rebuilds the same one).

    Raises:
        ValueError: unknown name (the message lists :data:`MODEL_NAMES`) or config key.

    Example:
        >>> m = build_model("fast_atn", pool=4)
        >>> m.name, m.config["pool"]
        ('fast_atn', 4)
    """
    check_choice("name", name, MODEL_NAMES)
    cls = _MODELS[name]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValueError(f"config for model {name!r} takes {allowed}, got unknown keys {unknown}")
    return cls(**config)
