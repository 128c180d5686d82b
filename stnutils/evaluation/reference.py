"""The seed lab book's published numbers, shipped with the package.

``seed_benchmark.json`` (package data) holds the accuracy of every seed model on the
128x128 benchmark (contrast x eccentricity) and the 28x28 accuracy-map summaries. The
functions here turn it into rows in the same format as :func:`stnutils.evaluation.metrics.benchmark`,
so the book's tables and figures put the seed next to this project's own results.

Example:
    >>> rows = seed_rows(models=["atn"])
    >>> len(rows), rows[0]["profile"], rows[0]["device"]
    (27, 'seed', 'seed (published)')
    >>> SEED_ACCURACY_MAP["stn_28x28"]
    {'central': 0.88, 'general': 0.43}
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Dict, Iterable, List, Optional

__all__ = [
    "SEED_FILE",
    "SEED_PROFILE",
    "SEED_DEVICE",
    "SEED_ACCURACY_MAP",
    "SEED_LABELS",
    "SEED_TRAINING_SCENES",
    "load_seed_benchmark",
    "seed_rows",
    "seed_label",
]

SEED_FILE = "seed_benchmark.json"
SEED_PROFILE = "seed"
SEED_DEVICE = "seed (published)"

# Readable names for the seed's model keys (legends, tables).
SEED_LABELS: Dict[str, str] = {
    "what_where_0_saccades": "What/Where, 0 saccades",
    "what_where_1_saccades": "What/Where, 1 saccade",
    "what_where_2_saccades": "What/Where, 2 saccades",
    "what_where_3_saccades": "What/Where, 3 saccades",
    "what_where_4_saccades": "What/Where, 4 saccades",
    "what_where_5_saccades": "What/Where, 5 saccades",
    "stn_128x128": "STN 128x128 (seed)",
    "atn": "ATN (seed)",
    "polo_atn_95": "POLO-ATN 95% (seed)",
    "polo_atn_85": "POLO-ATN 85% (seed)",
    "conv_polo_atn_85": "conv POLO-ATN 85% (seed)",
}


#: Training scenes each seed model saw (SPEC's schedules: 110 epochs x 60,000 scenes for
#: STN 128x128, ATN and POLO-ATN; the What/Where model's What pathway saw 80 x 60,000 and
#: its Where pathway 60 x 60,000 scenes for each contrast, per WHATWHERE.md). The
#: What/Where rows count the What pathway plus one Where net.
SEED_TRAINING_SCENES: Dict[str, int] = {
    "stn_128x128": 110 * 60_000,
    "atn": 110 * 60_000,
    "polo_atn_95": 110 * 60_000,
    "polo_atn_85": 110 * 60_000,
    "conv_polo_atn_85": 110 * 60_000,
    **{f"what_where_{k}_saccades": 80 * 60_000 + 60 * 60_000 for k in range(6)},
}


@lru_cache(maxsize=1)
def _load() -> dict:
    text = resources.files(__package__).joinpath(SEED_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def load_seed_benchmark() -> dict:
    """The seed reference file as a dict (a fresh copy each call: safe to modify).

    Returns:
        ``{"description", "eccentricities" (9 floats, px, ascending), "contrasts",
        "chance", "models": {name: {"0.3": [9 accuracies], ...}},
        "mnist_28x28_accuracy_map": {...}}``.

    Example:
        >>> ref = load_seed_benchmark()
        >>> ref["contrasts"], ref["chance"], len(ref["eccentricities"])
        ([0.3, 0.5, 0.7], 0.1, 9)
    """
    return copy.deepcopy(_load())


def _accuracy_map_summary() -> Dict[str, Dict[str, float]]:
    section = _load()["mnist_28x28_accuracy_map"]
    return {k: dict(v) for k, v in section.items() if isinstance(v, dict)}


#: The 28x28 accuracy-map summaries of the seed: ``{model: {"central", "general"}}``.
SEED_ACCURACY_MAP: Dict[str, Dict[str, float]] = _accuracy_map_summary()


def seed_label(model: str) -> str:
    """A readable label for a seed model key (the key itself if unknown)."""
    return SEED_LABELS.get(model, model)


def seed_rows(models: Optional[Iterable[str]] = None) -> List[dict]:
    """The seed's benchmark numbers as rows in :func:`stnutils.evaluation.metrics.benchmark`'s format.

    Args:
        models: seed model keys to keep (default: all, in the file's order).

    Returns:
        one dict per (model, contrast, eccentricity): ``{model, profile: "seed",
        device: "seed (published)", commit: "seed", contrast, eccentricity, accuracy,
        n: None}`` (``n`` is not recorded in the seed). Ordered by model, then contrast
        ascending, then eccentricity ascending.

    Raises:
        ValueError: an unknown model key (the message lists the known ones).

    Example:
        >>> len(seed_rows())  # 11 models x 3 contrasts x 9 eccentricities
        297
    """
    ref = _load()
    known = list(ref["models"])
    if models is None:
        wanted = known
    else:
        wanted = list(models)
        for name in wanted:
            if name not in ref["models"]:
                raise ValueError(f"models must be seed model keys {known}, got {name!r}")
    rows = []
    for name in wanted:
        per_contrast = ref["models"][name]
        for contrast in sorted(per_contrast, key=float):
            values = per_contrast[contrast]
            if len(values) != len(ref["eccentricities"]):
                raise ValueError(
                    f"seed file: {name} at contrast {contrast} has {len(values)} values, "
                    f"expected {len(ref['eccentricities'])}"
                )
            for ecc, acc in zip(ref["eccentricities"], values):
                rows.append(
                    {
                        "model": name,
                        "profile": SEED_PROFILE,
                        "device": SEED_DEVICE,
                        "commit": "seed",
                        "contrast": float(contrast),
                        "eccentricity": float(ecc),
                        "accuracy": float(acc),
                        "n": None,
                    }
                )
    return rows
