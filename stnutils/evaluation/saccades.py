"""Measurements of the What/Where model: accuracy after 0..k saccades, the oracle and random bounds.

:func:`saccade_benchmark` runs the model on the benchmark grid (the test scenes every other
model sees, ``NoisyMNIST128(train=False, radius=e, contrast=c, seed=seed)``) and returns
rows in the standard format (:data:`stnutils.evaluation.results.ROW_KEYS`, plus
``schedule``) with one model name per variant:

- ``whatwhere_<k>``: the What pathway's answer on the fovea after ``k`` saccades
  (``k = 0``: the central 28x28 patch), all ``k`` from one saccade path per scene;
- ``whatwhere_oracle``: the fovea placed on the digit's true offset (the Where pathway
  replaced by the truth: an upper bound);
- ``whatwhere_random``: one saccade to a collicular cell drawn uniformly (a lower bound).

:func:`published_gaps` puts every cell beside the published What/Where numbers
(:func:`stnutils.evaluation.reference.seed_rows`); :func:`collicular_maps` gives the
predicted and true collicular maps of scenes for the figures.

Example:
    >>> saccade_model_names("whatwhere", 2)
    ['whatwhere_0', 'whatwhere_1', 'whatwhere_2', 'whatwhere_oracle', 'whatwhere_random']
    >>> SACCADE_COUNTERPARTS["whatwhere_1"]
    'what_where_1_saccades'
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from ..data import NoisyMNIST128, rng
from ..provenance import check_profile, describe_device, git_commit, resolve_device
from ..validation import check_positive_int, check_range
from .loop import eval_mode, predictions
from .metrics import BENCHMARK_CONTRASTS, BENCHMARK_ECCENTRICITIES, _progress
from .reference import seed_rows
from .results import contrast_key, eccentricity_key, group_rows

__all__ = ["SACCADE_COUNTERPARTS", "MAX_PUBLISHED_SACCADES", "saccade_model_names", "random_fixations",
           "saccade_accuracy", "saccade_benchmark", "collicular_maps", "published_gaps", "gap_table"]

#: The seed file holds the published What/Where curves for 0..5 saccades.
MAX_PUBLISHED_SACCADES = 5
#: This book's What/Where rows and the published curve each one is compared with.
SACCADE_COUNTERPARTS: Dict[str, str] = {f"whatwhere_{k}": f"what_where_{k}_saccades"
                                        for k in range(MAX_PUBLISHED_SACCADES + 1)}
_S_RANDOM_CELL = 101  # the random-saccade stream (the datasets use streams 1..10)


def saccade_model_names(prefix: str, max_saccades: int) -> List[str]:
    """The row names of a What/Where model: ``prefix_0 .. prefix_<max>``, ``prefix_oracle``, ``prefix_random``."""
    return [f"{prefix}_{k}" for k in range(max_saccades + 1)] + [f"{prefix}_oracle", f"{prefix}_random"]


def random_fixations(model: nn.Module, indices: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Fixations ``(B, 2)`` after one saccade to a uniformly drawn cell, a pure function of ``(seed, index)``."""
    keys = rng.sample_keys(seed, torch.as_tensor(indices).reshape(-1).cpu())
    n_cells = len(model.cell_offsets)
    cells = (rng.uniform(keys, _S_RANDOM_CELL) * n_cells).long().clamp_max(n_cells - 1)
    return model.cell_offsets.cpu()[cells].clamp(-model.limit, model.limit).to(model.cell_offsets.device)


class _AllSaccades(nn.Module):
    """The What logits after 0..k saccades side by side, ``(B, (k + 1) * 10)``: one path, one pass."""

    def __init__(self, model: nn.Module, max_saccades: int):
        super().__init__()
        self.model, self.max_saccades = model, max_saccades

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.saccade_logits(x, self.max_saccades)[0].flatten(1)


def saccade_accuracy(model: nn.Module, dataset, n: int, max_saccades: int = MAX_PUBLISHED_SACCADES, seed: int = 0,
                     batch_size: int = 250) -> Dict[str, float]:
    """Accuracy after 0..``max_saccades`` saccades, with the oracle and a random saccade, on ``n`` samples.

    Args:
        model: a :class:`~stnutils.models.whatwhere.WhatWhere`.
        dataset: with ``batch(indices) -> (images, labels, offsets)`` (offsets: the digit's true ``(i, j)``).
        n: samples ``0 .. n-1``.
        max_saccades: the longest path measured (>= 0).
        seed: seed of the random saccades.
        batch_size: scenes per pass.

    Returns:
        ``{"0": acc, ..., "<max>": acc, "oracle": acc, "random": acc}``.
    """
    check_positive_int("n", n)
    if isinstance(max_saccades, bool) or not isinstance(max_saccades, int) or max_saccades < 0:
        raise ValueError(f"max_saccades must be an integer >= 0, got {max_saccades!r}")
    readout = _AllSaccades(model, max_saccades)
    correct = torch.zeros(max_saccades + 3, dtype=torch.long)
    with eval_mode(model):
        for batch in predictions(readout, dataset, n, batch_size):
            steps = batch.logits.view(len(batch.labels), max_saccades + 1, -1).argmax(-1)
            oracle = model.classify_at(batch.images, batch.offsets.to(batch.images.device)).argmax(-1)
            chance = model.classify_at(batch.images, random_fixations(model, batch.indices, seed)).argmax(-1)
            hits = torch.cat([steps, oracle[:, None], chance[:, None]], dim=1) == batch.labels[:, None]
            correct += hits.sum(0).cpu()
    names = [str(k) for k in range(max_saccades + 1)] + ["oracle", "random"]
    return {name: int(c) / n for name, c in zip(names, correct)}


def saccade_benchmark(
    model: nn.Module,
    model_name: str,
    profile: str,
    n_per_cell: int = 1000,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    data_root: Optional[Union[str, os.PathLike]] = None,
    contrasts: Sequence[float] = BENCHMARK_CONTRASTS,
    eccentricities: Sequence[float] = BENCHMARK_ECCENTRICITIES,
    batch_size: int = 250,
    progress: bool = False,
    max_saccades: int = MAX_PUBLISHED_SACCADES,
    schedule: Optional[str] = None,
) -> List[dict]:
    """The 128x128 benchmark of a What/Where model: one row per variant x contrast x eccentricity.

    Same arguments and test scenes as :func:`stnutils.evaluation.metrics.benchmark`; the
    rows are named :func:`saccade_model_names` of ``model_name`` (``whatwhere_0``, ...).

    Returns:
        rows ``{model, profile, device, commit, contrast, eccentricity, accuracy, n, schedule}``,
        contrasts outer, then eccentricities, then the variants.

    Raises:
        ValueError: as :func:`~stnutils.evaluation.metrics.benchmark`, or a model without saccades.
    """
    if not isinstance(model_name, str) or not model_name:
        raise ValueError(f"model_name must be a non-empty string, got {model_name!r}")
    if not callable(getattr(model, "saccade_logits", None)):
        raise ValueError(f"model must be a What/Where model (with saccade_logits), got {type(model).__name__}")
    check_profile(profile)
    check_positive_int("n_per_cell", n_per_cell)
    contrasts = [float(check_range("contrast", c, 0, 1, low_open=True)) for c in contrasts]
    eccentricities = [float(check_range("eccentricity", e, 0, 50)) for e in eccentricities]
    if not contrasts or not eccentricities:
        raise ValueError("contrasts and eccentricities must each hold at least one value, got an empty sequence")
    device = resolve_device(device)
    device_name, commit = describe_device(device), git_commit()
    size = model.image_size
    rows = []
    cells = [(c, e) for c in contrasts for e in eccentricities]
    for c, e in _progress(cells, progress, f"benchmark {model_name}", len(cells)):
        ds = NoisyMNIST128(data_root, train=False, seed=seed, size=size, radius=e, contrast=c, device=device)
        accuracy = saccade_accuracy(model, ds, n_per_cell, max_saccades, seed, batch_size)
        for variant, acc in accuracy.items():
            rows.append({"model": f"{model_name}_{variant}", "profile": profile, "device": device_name,
                         "commit": commit, "contrast": c, "eccentricity": round(e, 8), "accuracy": acc,
                         "n": n_per_cell, "test_seed": seed,
                         "schedule": schedule if schedule is not None else model_name})
    return rows


def collicular_maps(model: nn.Module, images: torch.Tensor, offsets: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Predicted and true collicular maps of scenes seen from the centre, ``(N, n_azimuths, n_eccentricities)``.

    Returns:
        ``{"predicted": sigmoid of the Where logits, "target": the training target
        (the What map placed on the digit, projected), "fixation": (N, 2) the first saccade,
        "target_fixation": (N, 2) the saccade to the target's arg-max cell}``, on the CPU.
    """
    with eval_mode(model):
        images = images.to(model.kernels.device)
        logits = model.where_logits(images)
        target = model.collicular_target(offsets.to(model.kernels.device))
    shape = (len(images), model.config["n_azimuths"], model.config["n_eccentricities"])
    step = lambda cells: model.cell_offsets[cells].clamp(-model.limit, model.limit).cpu()  # noqa: E731
    return {"predicted": torch.sigmoid(logits).view(shape).cpu(), "target": target.view(shape).cpu(),
            "fixation": step(logits.argmax(1)), "target_fixation": step(target.argmax(1))}


def published_gaps(rows: Sequence[dict], models: Optional[Sequence[str]] = None,
                   counterparts: Optional[Dict[str, str]] = None) -> List[dict]:
    """Every measured cell beside the published What/Where number: ``gap = this book - published``.

    Args:
        rows: benchmark rows (:func:`saccade_benchmark`); rows without a counterpart are skipped.
        models: the row names to keep (default: all with a counterpart).
        counterparts: ``{row name: seed model}`` (default :data:`SACCADE_COUNTERPARTS`).

    Returns:
        one dict per (model, profile, contrast, eccentricity), in the rows' order:
        ``{model, profile, seed_model, contrast, eccentricity, accuracy, published, gap}``.

    Example:
        >>> r = [dict(model="whatwhere_1", profile="quick", contrast=0.7, eccentricity=40.0, accuracy=0.5)]
        >>> g = published_gaps(r)[0]
        >>> g["published"], round(g["gap"], 3)
        (0.62, -0.12)
    """
    counterparts = SACCADE_COUNTERPARTS if counterparts is None else counterparts
    published = {model: per for (model, _), per in group_rows(seed_rows()).items()}
    out = []
    for (model, profile), per in group_rows(rows).items():
        seed_model = counterparts.get(model)
        if seed_model is None or (models is not None and model not in models):
            continue
        ref = published.get(seed_model, {})
        for c, values in per.items():
            for e, acc in values.items():
                pub = ref.get(contrast_key(c), {}).get(eccentricity_key(e))
                out.append(dict(model=model, profile=profile, seed_model=seed_model, contrast=c, eccentricity=e,
                                accuracy=acc, published=pub, gap=None if pub is None else acc - pub))
    return out


def gap_table(rows: Sequence[dict], contrast: float = 0.7, models: Optional[Sequence[str]] = None,
              digits: int = 3, tolerance: Optional[float] = None) -> str:
    """A Markdown table of :func:`published_gaps` at one contrast: a line per model, a column per eccentricity.

    Each cell reads ``accuracy (gap)``; with ``tolerance``, gaps below ``-tolerance`` are in bold.

    Example:
        >>> r = [dict(model="whatwhere_1", profile="quick", contrast=0.7, eccentricity=40.0, accuracy=0.5)]
        >>> gap_table(r).splitlines()[2]
        '| whatwhere_1 | quick | 0.500 (-0.120) | -0.120 |'
    """
    gaps = [g for g in published_gaps(rows, models) if g["contrast"] == contrast_key(contrast)]
    if not gaps:
        raise ValueError(f"rows must hold What/Where rows at contrast {contrast:g} with a published counterpart, "
                         f"got none")
    eccs = sorted({g["eccentricity"] for g in gaps})
    lines = ["| model | profile | " + " | ".join(f"{e:.1f} px" for e in eccs) + " | mean gap |",
             "|---|---|" + "---:|" * (len(eccs) + 1)]
    by_line: Dict[tuple, Dict[float, dict]] = {}
    for g in gaps:
        by_line.setdefault((g["model"], g["profile"]), {})[g["eccentricity"]] = g

    def cell(g):
        if g is None or g["published"] is None:
            return "–"
        text = f"{g['accuracy']:.{digits}f} ({g['gap']:+.{digits}f})"
        return f"**{text}**" if tolerance is not None and g["gap"] < -tolerance else text

    for (model, profile), per in by_line.items():
        measured = [g["gap"] for g in per.values() if g["gap"] is not None]
        mean = f"{sum(measured) / len(measured):+.{digits}f}" if measured else "–"
        lines.append(f"| {model} | {profile} | " + " | ".join(cell(per.get(e)) for e in eccs) + f" | {mean} |")
    return "\n".join(lines) + "\n"
