"""stnutils: Spatial Transformer Networks and the What/Where model on noisy MNIST."""
from .datasets import NoisyMNIST28, NoisyMNIST128, iterate_batches
from .mnist import MNISTNotFoundError, load_mnist, resolve_data_root
from .motioncloud import motioncloud_background, motioncloud_envelope, motioncloud_pairs, rectify_michelson

__version__ = "0.1.0"
__all__ = [
    "NoisyMNIST28",
    "NoisyMNIST128",
    "iterate_batches",
    "MNISTNotFoundError",
    "load_mnist",
    "resolve_data_root",
    "motioncloud_background",
    "motioncloud_envelope",
    "motioncloud_pairs",
    "rectify_michelson",
]
from . import plotting, provenance  # modules: stn.plotting.show_examples, stn.provenance.start

__all__ += ["plotting", "provenance"]
from . import checkpoint, metrics, models, reference, retina, transformer  # noqa: E402
from .checkpoint import load_checkpoint, load_model, save_model  # noqa: E402
from .models import MODEL_NAMES, build_model, input_size  # noqa: E402
from .retina import PolarLogRetina, WhatWhereRetina  # noqa: E402
from .transformer import (  # noqa: E402
    SpatialTransformer,
    affine_sample,
    attention_theta,
    offset_to_theta,
    rotation_theta,
    theta_corners,
    theta_to_offset,
    translation_theta,
)

__all__ += [
    "checkpoint", "metrics", "models", "reference", "retina", "transformer",
    "load_checkpoint", "load_model", "save_model",
    "MODEL_NAMES", "build_model", "input_size",
    "PolarLogRetina", "WhatWhereRetina",
    "SpatialTransformer", "affine_sample", "attention_theta", "offset_to_theta", "rotation_theta",
    "theta_corners", "theta_to_offset", "translation_theta",
]
from . import distributed, runs, train  # noqa: E402
from .train import TrainConfig, fit, get_config  # noqa: E402

__all__ += ["distributed", "runs", "train", "TrainConfig", "fit", "get_config"]
from . import results  # noqa: E402  (results files of the benchmark, week 7 and the results page)

__all__ += ["results"]
