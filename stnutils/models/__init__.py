"""Models: the transformer functional core, retinas, the classifiers and the attention models.

- :mod:`~stnutils.models.transformer`: pure tensor functions (sampling, building and reading
  theta) and the thin :class:`~stnutils.models.transformer.SpatialTransformer` module.
- :mod:`~stnutils.models.tps`: thin-plate-spline sampling grids.
- :mod:`~stnutils.models.retina`: log-Gabor retinas on a log-polar grid (encode = one matmul).
- :mod:`~stnutils.models.classifiers`: LeNet (the What pathway) and its 128x128 variant.
- :mod:`~stnutils.models.localisation`: the networks that decide where to look.
- :mod:`~stnutils.models.attention`: the spatial-transformer models and their
  :class:`~stnutils.models.attention.Attention` result.
- :mod:`~stnutils.models.colliculus`, :mod:`~stnutils.models.whatwhere`: the What/Where saccade
  model (collicular map, saccades, the ``WhatWhere`` module).
- :mod:`~stnutils.models.registry`: one entry per architecture; ``build_model``, ``input_size``.

Every model's ``forward`` returns logits ``(N, 10)``; attention models also have
``attend(x) -> Attention`` (logits, theta, grid, glimpse, offset) from the same pass.
"""
from . import attention, classifiers, colliculus, localisation, registry, retina, tps, transformer, whatwhere
from .attention import ATN, STN28, STN60, STN128, TPSSTN, Attention, AttentionModel, FastATN, HeatATN, PoloATN
from .classifiers import LeNet
from .registry import (
    MODEL_NAMES,
    REGISTRY,
    ModelSpec,
    build_model,
    input_size,
    model_device,
    model_spec,
    parameter_counts,
)
from .retina import PolarLogRetina, WhatWhereRetina, code_energy
from .transformer import (
    SpatialTransformer,
    affine_sample,
    attention_theta,
    offset_to_theta,
    rotation_theta,
    theta_angle,
    theta_corners,
    theta_to_offset,
    translation_theta,
)
from .whatwhere import WhatWhere

__all__ = [
    "attention", "classifiers", "colliculus", "localisation", "registry", "retina", "tps", "transformer", "whatwhere",
    "WhatWhere",
    "ATN", "STN28", "STN60", "STN128", "TPSSTN", "Attention", "AttentionModel", "FastATN", "HeatATN", "PoloATN",
    "LeNet",
    "MODEL_NAMES", "REGISTRY", "ModelSpec", "build_model", "input_size", "model_device", "model_spec",
    "parameter_counts", "PolarLogRetina", "WhatWhereRetina", "code_energy",
    "SpatialTransformer", "affine_sample", "attention_theta", "offset_to_theta", "rotation_theta", "theta_angle",
    "theta_corners", "theta_to_offset", "translation_theta",
]
