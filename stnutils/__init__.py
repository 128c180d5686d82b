"""stnutils: Spatial Transformer Networks and the What/Where model on noisy MNIST.

The package is arranged by what things are; imports run one way, left to right::

    data  ->  models  ->  evaluation  ->  training  ->  viz  ->  widgets, cli (and the notebooks)

- :mod:`stnutils.data`: MNIST, counter-based random numbers, MotionCloud backgrounds, scenes, datasets.
- :mod:`stnutils.models`: the transformer functional core, retinas, classifiers, the attention
  models, the What/Where model and the model registry.
- :mod:`stnutils.evaluation`: the evaluation loop, metrics, the benchmark, results files and
  tables, the seed's published numbers, and the chapters' measurements.
- :mod:`stnutils.training`: configs and named schedules, the training loop, checkpoints,
  distributed helpers and the shared trained runs.
- :mod:`stnutils.viz`: every figure.
- :mod:`stnutils.widgets`: explore the trained models with sliders (Jupyter, the static book, the browser).
- top level: :mod:`~stnutils.validation`, :mod:`~stnutils.io` (the atomic writer),
  :mod:`~stnutils.provenance` and the command line (:mod:`~stnutils.cli`).

Notebooks do ``import stnutils as stn`` and write ``stn.<part>.<name>``.
"""
from . import data, evaluation, io, models, provenance, training, validation, viz, widgets

__version__ = "0.1.0"
__all__ = [
    "data", "models", "evaluation", "training", "viz", "widgets", "io", "provenance", "validation",
]
