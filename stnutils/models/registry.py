"""The model registry: one entry per architecture, from which everything about it is derived.

A :class:`ModelSpec` names the class, the input size (hence the task it trains on) and
the seed lab book's counterpart of the model, if any. ``build_model(name, **config)``
rebuilds a model from the ``config`` dict every model keeps (its constructor arguments),
which is what checkpoints store. Adding a model = writing its class and one line in
:data:`REGISTRY`.

Example:
    >>> model_spec("atn").input_size, model_spec("atn").task, model_spec("atn").seed_benchmark
    (128, '128', 'atn')
    >>> m = build_model("fast_atn", pool=4)
    >>> m.name, m.config["pool"], parameter_counts(m)["total"] == sum(p.numel() for p in m.parameters())
    ('fast_atn', 4, True)
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from ..validation import check_choice
from .attention import ATN, STN28, STN60, STN128, TPSSTN, FastATN, HeatATN, PoloATN
from .classifiers import LeNet
from .whatwhere import WhatWhere

__all__ = ["ModelSpec", "REGISTRY", "MODEL_NAMES", "model_spec", "input_size", "build_model", "model_device",
           "parameter_counts"]


@dataclass(frozen=True)
class ModelSpec:
    """What the package knows about an architecture.

    Attributes:
        name: the registry key (also the model's ``name`` and the checkpoint's ``model_name``).
        cls: the ``nn.Module`` class; ``cls(**config)`` builds it.
        input_size: side of the square images it takes (28, 60 or 128).
        seed_benchmark: the seed's model on the 128x128 benchmark that it reproduces (a key
            of ``seed_benchmark.json``), or None.
        seed_accuracy_map: the seed's 28x28 accuracy-map entry it reproduces, or None.
    """

    name: str
    cls: type
    input_size: int
    seed_benchmark: Optional[str] = None
    seed_accuracy_map: Optional[str] = None

    @property
    def task(self) -> str:
        """The task it trains on: ``"28"`` (NoisyMNIST28), ``"60"`` or ``"128"`` (NoisyMNIST128 of that size)."""
        return str(self.input_size)


REGISTRY: Dict[str, ModelSpec] = {spec.name: spec for spec in (
    # the What pathway alone on the central patch is the What/Where model with 0 saccades
    ModelSpec("lenet", LeNet, 28, seed_benchmark="what_where_0_saccades", seed_accuracy_map="what_pathway"),
    ModelSpec("stn28", STN28, 28, seed_accuracy_map="stn_28x28"),
    ModelSpec("stn60", STN60, 60),
    ModelSpec("stn128", STN128, 128, seed_benchmark="stn_128x128"),
    ModelSpec("atn", ATN, 128, seed_benchmark="atn"),
    ModelSpec("polo_atn", PoloATN, 128, seed_benchmark="polo_atn_95"),
    ModelSpec("fast_atn", FastATN, 128),
    ModelSpec("heat_atn", HeatATN, 128),
    ModelSpec("tps_stn", TPSSTN, 28),
    # the What/Where saccade model (What LeNet + Where MLP on the log-polar retina), 1 saccade by default
    ModelSpec("whatwhere", WhatWhere, 128, seed_benchmark="what_where_1_saccades"),
)}
MODEL_NAMES: Tuple[str, ...] = tuple(REGISTRY)


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``.

    Raises:
        ValueError: an unknown name (the message lists :data:`MODEL_NAMES`).
    """
    check_choice("name", name, MODEL_NAMES)
    return REGISTRY[name]


def input_size(name: str) -> int:
    """Side of the square images model ``name`` takes (28, 60 or 128).

    Example:
        >>> input_size("atn"), input_size("tps_stn")
        (128, 28)
    """
    return model_spec(name).input_size


def build_model(name: str, **config) -> nn.Module:
    """A fresh model ``name`` built with ``config`` (``model.config`` rebuilds the same one).

    Raises:
        ValueError: unknown name (the message lists :data:`MODEL_NAMES`) or config key.

    Example:
        >>> build_model("stn28").name
        'stn28'
    """
    cls = model_spec(name).cls
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValueError(f"config for model {name!r} takes {allowed}, got unknown keys {unknown}")
    return cls(**config)


def model_device(model: nn.Module, default="cpu") -> torch.device:
    """The device of ``model``'s first parameter (or buffer); ``default`` for a model with neither."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device(default)


def parameter_counts(model: nn.Module) -> Dict[str, int]:
    """Trainable parameters of ``model``: ``{"total"}`` and, for attention models, per part.

    Returns:
        ``{"localisation", "head", "classifier", "total"}`` for a model with ``parts()``
        (the attention models), ``{"total"}`` otherwise.
    """
    counts = {}
    parts = getattr(model, "parts", None)
    if callable(parts):
        counts = {name: sum(p.numel() for p in part.parameters()) for name, part in parts().items()}
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts
