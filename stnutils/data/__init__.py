"""Data: MNIST on disk, counter-based random numbers, MotionCloud backgrounds, scenes, datasets.

Everything a noisy-MNIST sample is made of, generated on the fly and deterministic per
``(seed, index)``. The parts, lowest first:

- :mod:`~stnutils.data.mnist`: where MNIST lives (``root``, ``$STNUTILS_DATA``, ``./data``).
- :mod:`~stnutils.data.rng`: counter-based random numbers (sample ``k`` depends on ``(seed, k)`` only).
- :mod:`~stnutils.data.motioncloud`: batched MotionCloud backgrounds (the spectrum of ``MotionClouds``).
- :mod:`~stnutils.data.scenes`: pure tensor functions that compose a scene (shift, contrast, disc).
- :mod:`~stnutils.data.datasets`: :class:`NoisyMNIST28` and :class:`NoisyMNIST128`.

This package imports nothing else of :mod:`stnutils` but :mod:`stnutils.validation`.
"""
from . import datasets, mnist, motioncloud, rng, scenes
from .datasets import NoisyMNIST28, NoisyMNIST128, iterate_batches
from .mnist import MNIST_FILES, MNISTNotFoundError, load_mnist, resolve_data_root
from .motioncloud import motioncloud_background, motioncloud_envelope, motioncloud_pairs, rectify_michelson

__all__ = [
    "datasets", "mnist", "motioncloud", "rng", "scenes",
    "NoisyMNIST28", "NoisyMNIST128", "iterate_batches",
    "MNIST_FILES", "MNISTNotFoundError", "load_mnist", "resolve_data_root",
    "motioncloud_background", "motioncloud_envelope", "motioncloud_pairs", "rectify_michelson",
]
