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
