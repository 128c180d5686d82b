"""Evaluation: the one evaluation loop, metrics, the benchmark, results and the chapters' measurements.

- :mod:`~stnutils.evaluation.loop`: ``eval_mode``, the batched predictor ``predictions`` and ``evaluate``.
- :mod:`~stnutils.evaluation.metrics`: accuracy maps (28x28), the 128x128 benchmark grid.
- :mod:`~stnutils.evaluation.results`: results files, ``group_rows`` (one rounding rule).
- :mod:`~stnutils.evaluation.tables`: the benchmark tables beside the seed's numbers.
- :mod:`~stnutils.evaluation.reference`: the seed lab book's published numbers.
- :mod:`~stnutils.evaluation.localisation`: where a model looks (glimpse errors, directions).
- :mod:`~stnutils.evaluation.rotation`: does a transformer upright rotated digits.
- :mod:`~stnutils.evaluation.spectra`: radial power spectra of fields.
- :mod:`~stnutils.evaluation.saccades`: the What/Where model after 0..k saccades, oracle and random.

Measurements return numbers and arrays; the figures that draw them are in :mod:`stnutils.viz`.
"""
from . import localisation, loop, metrics, reference, results, rotation, saccades, spectra, tables
from .loop import Batch, eval_mode, evaluate, predictions
from .metrics import (
    ACCURACY_MAP_OFFSETS,
    BENCHMARK_CONTRASTS,
    BENCHMARK_ECCENTRICITIES,
    accuracy_map,
    benchmark,
    center_crop,
    inside_fraction,
)
from .results import (
    aggregate_seeds,
    group_rows,
    load_results,
    read_results,
    results_path,
    rows_provenance,
    with_training,
    write_results,
)
from .saccades import gap_table, published_gaps, saccade_benchmark
from .tables import results_table, summary_table

__all__ = [
    "localisation", "loop", "metrics", "reference", "results", "rotation", "saccades", "spectra", "tables",
    "gap_table", "published_gaps", "saccade_benchmark",
    "Batch", "eval_mode", "evaluate", "predictions",
    "ACCURACY_MAP_OFFSETS", "BENCHMARK_CONTRASTS", "BENCHMARK_ECCENTRICITIES", "accuracy_map", "benchmark",
    "center_crop", "inside_fraction",
    "aggregate_seeds", "group_rows", "load_results", "read_results", "results_path", "rows_provenance",
    "with_training", "write_results",
    "results_table", "summary_table",
]
