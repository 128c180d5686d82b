"""The named schedules: the seed's training recipes ("full") and their CPU-sized versions.

A schedule is a model, a curriculum, an optimiser and a learning rate; the profile sets
how many scenes it sees: ``full`` reproduces the seed (60,000 scenes an epoch, 20 or 10
epochs a curriculum stage), ``quick`` is sized for minutes on a 2-core CPU, ``smoke`` for
seconds. :func:`get_config` turns a (schedule, profile) into a :class:`TrainConfig`.

Example:
    >>> cfg = get_config("stn128", "full")
    >>> cfg.epochs, cfg.lr, stage_of(cfg, 95)
    (110, 0.01, {'stage': 8, 'std': 40.0, 'contrast': (0.3, 0.7)})
    >>> get_lr(cfg, 0), get_lr(cfg, 30)
    (0.01, 0.001)
    >>> schedules_for("stn28")
    ['stn28', 'stn28_adam', 'stn28_loc', 'stn28_loc_long', 'stn28_loc_longer', 'stn28_loc_wide', 'stn28_rot']
"""
from __future__ import annotations

import math
from typing import List, Optional

from ..models.registry import model_spec
from ..provenance import check_profile
from ..validation import check_choice
from .config import TrainConfig

__all__ = ["SCHEDULES", "get_config", "schedule_table", "schedules_for", "seed_counterpart", "stage_of", "get_lr"]

_SHIFTS = [float(s) for s in range(16)]  # shift_std 0, 1, ..., 15 px, +1 per stage (the seed)
# eccentricity_std 4.44, 8.89, ..., 40 px: the benchmark's nine eccentricities. Not from 0:
# a stage with every digit at the centre teaches the localisation net a constant theta
# (under Adam its features die) and it never learns to look later, even when given the
# true offsets (fast_atn_aux at std 20 after a std-0 epoch: test 0.44; after 4.44: 0.83).
_ECCENTRICITIES = [40.0 * k / 9 for k in range(1, 10)]
_28 = dict(curriculum=_SHIFTS, lr=0.01, lr_schedule="constant")
# this book's STN 28x28 recipe (week 11; see "stn28_loc" below)
_28_LOC = dict(_28, model="stn28", optimizer="adam", lr=1e-3, lr_schedule="cosine", aux_location_weight=100.0)
# 60x60 field (the downsampling experiment): eccentricity std 2, 4, ..., 16 px (16 = the edge)
_ECC60 = [2.0 * k for k in range(1, 9)]
# Rotation: no shift, digits turned in ±90°; eight stages only to give the run its length
_ROT = dict(curriculum=[0.0] * 8, rotation=90.0, lr=0.01, lr_schedule="constant")
_128 = dict(curriculum=_ECCENTRICITIES, final_contrast_epochs=20)


def _cpu_sizes(quick_samples: int) -> dict:
    """Per-profile sizes of a CPU recipe: no final contrast phase (the contrast is a range throughout)."""
    return {"smoke": dict(final_contrast_epochs=0), "full": dict(final_contrast_epochs=0),
            "quick": dict(final_contrast_epochs=0, samples_per_epoch=quick_samples)}


_CPU_RECIPE = dict(curriculum=_ECCENTRICITIES, contrast=(0.3, 0.7), final_contrast_epochs=0, optimizer="adam", lr=1e-3,
                   lr_schedule="cosine", aux_location_weight=100.0)

# The issue-14 heat-map recipe (lab notes, weeks 10 and 11); see "heat_atn" below.
_HEAT = dict(model="heat_atn", curriculum=[40.0], eccentricity_dist="uniform", contrast=(0.3, 0.7), optimizer="adam",
             lr=1e-3, lr_schedule="cosine", aux_location_weight=100.0)
_WIDE = dict(_HEAT, curriculum=[46.0], eccentricity_max=46.0, model_config={"window": 2})
_FINE = dict(_WIDE, model_config={"window": 2, "pool": 2, "jitter": 2.0})


def _heat_sizes(full_epochs: int) -> dict:
    """Epochs per profile of a heat-map recipe (60,000 scenes an epoch at full, 20,000 at quick)."""
    return {"full": dict(epochs=full_epochs), "quick": dict(epochs=11), "smoke": dict(epochs=2)}


SCHEDULES = {
    # What pathway and STN 28x28: SGD, shift_std raised by 1 every 20 epochs from 0 to 15
    "lenet": dict(_28, model="lenet"),
    "stn28": dict(_28, model="stn28", stage_snapshots=True),
    "tps_stn": dict(_28, model="tps_stn"),
    # the seed's failure: Adam at lr 1e-2 collapses to chance on the shift curriculum
    "stn28_adam": dict(_28, model="stn28", optimizer="adam", stage_snapshots=True),
    # Not in the seed (week 11): the STN 28x28 with this book's recipe, the digit's shift as a
    # location target for the sampled region's centre, Adam 1e-3 with a cosine decay (Adam at
    # 1e-2 without the target is the seed's collapse, stn28_adam)
    "stn28_loc": dict(_28_LOC),
    # the same, six times longer at quick (16 stages x 60,000 = 960,000 scenes, week 12): does
    # the general accuracy of the 28x28 map grow with training?
    "stn28_loc_long": dict(_28_LOC, profiles={"quick": dict(samples_per_epoch=60_000)}),
    # twice as long again at quick (2 epochs a stage, 1,920,000 scenes, week 13): the only lever
    # that has moved the general accuracy so far is the length of training
    "stn28_loc_longer": dict(_28_LOC, profiles={"quick": dict(samples_per_epoch=60_000, epochs_per_stage=2)}),
    # the same length, the shift std raised to 20 px instead of 15 (week 13): the map's grid is
    # uniform over ±27 px, and at std 15 only 18 % of the training shifts reach beyond 20 px
    "stn28_loc_wide": dict(_28_LOC, curriculum=[20.0 * k / 15 for k in range(16)],
                           profiles={"quick": dict(samples_per_epoch=60_000)}),
    # rotated digits (no shift): does the transformer turn them upright? affine vs thin-plate spline
    "stn28_rot": dict(_ROT, model="stn28"),
    "tps_rot": dict(_ROT, model="tps_stn"),
    # 60x60 -> 28x28 downsampling, SGD 0.02: constant vs x0.7 at every eccentricity stage
    # ("decay_per_stage": the same number of halvings in every profile)
    "stn60": dict(curriculum=_ECC60, model="stn60", lr=0.02, lr_gamma=0.7, decay_per_stage=True,
                  stage_snapshots=True),
    "stn60_constant": dict(curriculum=_ECC60, model="stn60", lr=0.02, lr_schedule="constant", stage_snapshots=True),
    # 128x128: 110 epochs, eccentricity std raised every 10, last 20 with contrast in [0.3, 0.7]
    "stn128": dict(_128, model="stn128", lr=0.01, lr_step_size=30, lr_gamma=0.1),
    "atn": dict(_128, model="atn", lr=0.01, lr_step_size=10, lr_gamma=0.5),
    "polo_atn": dict(_128, model="polo_atn", lr=0.005, lr_step_size=10, lr_gamma=0.5),
    # Not in the seed: the ATN's curriculum and halvings, but Adam at 1e-3 (the SPEC's CPU
    # prototype). On a quick run SGD at 0.01 (momentum 0.9) learnt slowly, then collapsed to
    # chance at eccentricity std 10; Adam reached 0.94 / 0.82 / 0.69 at std 0 / 5 / 10.
    "fast_atn": dict(_128, model="fast_atn", optimizer="adam", lr=1e-3, lr_step_size=10, lr_gamma=0.5),
    # the same, with the true offset as an auxiliary target for the localisation net
    # The weight: a location error of 0.25 half-sizes (16 px) costs 0.03 before weighting,
    # and weights 1 and 10 left the localisation untrained under the classification loss.
    "fast_atn_aux": dict(_128, model="fast_atn", optimizer="adam", lr=1e-3, lr_step_size=10, lr_gamma=0.5,
                         aux_location_weight=100.0),
    # Not in the seed: the issue-14 recipe (lab note, week 10). The glimpse centre from a soft-argmax
    # heat map, the auxiliary location target, no curriculum (eccentricity uniform in 0..40 px
    # from the first step), contrast U(0.3, 0.7) throughout, Adam 1e-3 with a cosine decay.
    # full: 11 x 60,000 = 660,000 scenes, a tenth of the seed's STN 128x128 schedule (6.6M).
    "heat_atn": dict(_HEAT, profiles=_heat_sizes(full_epochs=11)),
    # heat_atn with the two week-11 levers against the pull toward the centre at 40 px (the
    # benchmark's outermost ring was the edge of the training radii, and diffuse far heat moved
    # the soft-argmax inward, 7 px at contrast 0.3): radii uniform in 0..46 px, and in eval
    # mode the soft-argmax over the 5x5 cells around the peak (HeatATN(window=2)).
    "heat_atn_wide": dict(_WIDE, profiles=_heat_sizes(full_epochs=11)),
    # the same for the CPU target (at most 30 minutes of a 2-core CPU, no scene cap): full is
    # 25 x 60,000 = 1.5M scenes, about 24 minutes there (week 11)
    "heat_atn_long": dict(_WIDE, profiles=_heat_sizes(full_epochs=25)),
    # heat_atn_wide with a finer heat map (week 12): the scene average-pooled by 2, not 4, so the
    # map has 32 x 32 cells of 4 px (the 5 x 5 eval window is then 20 px wide), and at test time
    # the class log-probabilities averaged over 9 glimpses 2 px apart around the centre
    # (HeatATN(jitter=2)). Training is about 1.8 times slower than heat_atn_wide's.
    "heat_atn_fine": dict(_FINE, profiles=_heat_sizes(full_epochs=11)),
    # The seed's three architectures trained this book's way (issue 14: they learn nothing in a CPU
    # budget with the seed's recipe): the location target, Adam 1e-3 with a cosine decay, contrast
    # U(0.3, 0.7) throughout, the seed's eccentricity curriculum (one epoch a stage at quick).
    # quick sizes: what their CPU cost allows (stn128 ~30, atn ~60, polo_atn ~1,000 scenes/s).
    "stn128_cpu": dict(_CPU_RECIPE, model="stn128", profiles=_cpu_sizes(600)),
    "atn_cpu": dict(_CPU_RECIPE, model="atn", profiles=_cpu_sizes(1_500)),
    "polo_atn_cpu": dict(_CPU_RECIPE, model="polo_atn", profiles=_cpu_sizes(6_000)),
    # The What/Where model (Daucé et al. 2020), two stages (stnutils.training.whatwhere): the What
    # pathway's own recipe (Adam 0.005, contrast U(0.3, 0.7) throughout, shift std 0..15 with 5
    # epochs a stage), then the Where pathway (Adam 1e-4, the run behind the published figures:
    # eccentricity std 30 px clipped to 40, contrast 0.7, 60 epochs). "profiles": per-profile sizes.
    "what_pathway": dict(_28, model="lenet", optimizer="adam", lr=0.005, final_contrast_epochs=80, profiles={
        "full": dict(epochs_per_stage=5, epochs=80, final_contrast_epochs=80),
        "quick": dict(epochs_per_stage=1, epochs=16, final_contrast_epochs=16, samples_per_epoch=20_000),
        "smoke": dict(final_contrast_epochs=2)}),
    "whatwhere": dict(model="whatwhere", curriculum=[30.0], optimizer="adam", lr=1e-4, lr_schedule="constant",
                      contrast=0.7, profiles={
                          "full": dict(epochs_per_stage=60),
                          # quick: batch 25 (4x the Adam steps per scene; the Where net is step-limited)
                          "quick": dict(epochs_per_stage=4, samples_per_epoch=25_000, batch_size=25,
                                        test_samples=500)}),
}

# Sizes per task and profile. full: the seed (60,000 scenes an epoch, 20 or 10 epochs a
# stage); quick: one epoch a stage, sized for minutes on a 2-core CPU; smoke: seconds.
_SIZES = {
    ("28", "full"): dict(epochs_per_stage=20, samples_per_epoch=60_000, batch_size=100, test_samples=10_000),
    ("128", "full"): dict(epochs_per_stage=10, samples_per_epoch=60_000, batch_size=100, test_samples=10_000),
    ("60", "full"): dict(epochs_per_stage=5, samples_per_epoch=60_000, batch_size=100, test_samples=10_000),
    ("60", "quick"): dict(epochs_per_stage=1, samples_per_epoch=10_000, batch_size=100, test_samples=2_000),
    ("60", "smoke"): dict(epochs=2, epochs_per_stage=1, samples_per_epoch=64, batch_size=32, test_samples=64),
    ("28", "quick"): dict(epochs_per_stage=1, samples_per_epoch=10_000, batch_size=100, test_samples=2_000),
    ("128", "quick"): dict(epochs_per_stage=1, samples_per_epoch=20_000, batch_size=100, test_samples=1_000,
                           final_contrast_epochs=2),
    ("28", "smoke"): dict(epochs=2, epochs_per_stage=1, samples_per_epoch=64, batch_size=32, test_samples=64),
    ("128", "smoke"): dict(epochs=2, epochs_per_stage=1, samples_per_epoch=64, batch_size=32, test_samples=64,
                           final_contrast_epochs=1),
}
# quick: models much slower per scene on a CPU (training throughput measured on 2 cores:
# fast_atn, polo_atn ~1,200 scenes/s; atn ~150/s; stn128 ~20-50/s; 28x28 models ~2,000-3,000/s)
_QUICK_SAMPLES = {"atn": 3_000, "stn128": 500}


def get_config(name: str, profile: str = "quick", **overrides) -> TrainConfig:
    """The named schedule ``name`` sized for ``profile``, with optional field overrides.

    The quick and smoke profiles keep the shape of the full schedule: the same stages,
    one epoch each (fewer scenes an epoch), and the same learning rate per scene seen (a
    step every ``lr_step_size`` x 60,000 scenes, so a quick run never reaches the first).

    Args:
        name: one of :data:`SCHEDULES` (``'stn28'``, ``'atn'``, ``'fast_atn_aux'``, ...).
        profile: ``'smoke'``, ``'quick'`` or ``'full'``.
        **overrides: :class:`TrainConfig` fields to change (validated).

    Example:
        >>> cfg = get_config("stn28", "full")
        >>> cfg.epochs, cfg.samples_per_epoch, cfg.curriculum[-1]
        (320, 60000, 15.0)
        >>> get_config("atn", "quick", seed=3).seed
        3
    """
    check_choice("schedule", name, list(SCHEDULES))
    check_profile(profile)
    base = dict(SCHEDULES[name])
    decay_per_stage = base.pop("decay_per_stage", False)
    own_sizes = base.pop("profiles", {})  # a schedule's own sizes per profile, over the task's
    task = model_spec(base["model"]).task
    full = dict(base)
    full.update(_SIZES[(task, "full")], **own_sizes.get("full", {}))
    sizes = dict(_SIZES[(task, profile)], **own_sizes.get(profile, {}))
    if profile == "quick" and name in _QUICK_SAMPLES:
        sizes["samples_per_epoch"] = _QUICK_SAMPLES[name]
    cfg = dict(full, **sizes, schedule=name, profile=profile)
    if "final_contrast_epochs" not in base:  # no final contrast phase in this schedule
        cfg["final_contrast_epochs"] = 0
    if "epochs" not in sizes:
        cfg["epochs"] = len(cfg["curriculum"]) * cfg["epochs_per_stage"] + cfg["final_contrast_epochs"]
    if decay_per_stage:
        cfg["lr_step_size"] = cfg["epochs_per_stage"]
    elif "lr_step_size" in base:
        # The learning rate follows the full schedule per scene seen: a step every
        # lr_step_size x 60,000 scenes. Scaling it per epoch instead decays a quick run's
        # rate 1000-fold before it has seen enough scenes to learn anything.
        scenes_per_step = base["lr_step_size"] * full["samples_per_epoch"]
        cfg["lr_step_size"] = max(1, round(scenes_per_step / cfg["samples_per_epoch"]))
    cfg.update(overrides)
    return TrainConfig.from_dict(cfg)


def schedule_table(profiles=("smoke", "quick", "full")) -> List[dict]:
    """One row per (schedule, profile): epochs, samples per epoch, total samples, lr, stages.

    Example:
        >>> row = schedule_table(["full"])[0]
        >>> row["schedule"], row["epochs"], row["samples_per_epoch"]
        ('lenet', 320, 60000)
    """
    rows = []
    for name in SCHEDULES:
        for profile in profiles:
            c = get_config(name, profile)
            rows.append(dict(
                schedule=name, profile=profile, model=c.model, epochs=c.epochs,
                samples_per_epoch=c.samples_per_epoch, total_samples=c.epochs * c.samples_per_epoch,
                optimizer=c.optimizer, lr=c.lr,
                lr_steps=(c.lr_schedule if c.lr_schedule in ("constant", "cosine")
                          else f"x{c.lr_gamma:g}/{c.lr_step_size}ep"),
                stages=f"{c.curriculum_key}={c.curriculum[0]:g}..{c.curriculum[-1]:g},{c.epochs_per_stage}ep/stage",
                final_contrast_epochs=c.final_contrast_epochs,
            ))
    return rows


# --- small pure helpers (nanoGPT's get_lr style) ----------------------------------------
def stage_of(cfg: TrainConfig, epoch: int) -> dict:
    """The curriculum stage of 0-based ``epoch``: ``{stage, std, contrast}``.

    ``contrast`` is a float, or a ``(c_min, c_max)`` tuple (the final contrast phase, or a
    schedule whose ``contrast`` is a range throughout).

    Example:
        >>> cfg = get_config("stn28", "full")
        >>> [stage_of(cfg, e)["std"] for e in (0, 19, 20, 319)]
        [0.0, 0.0, 1.0, 15.0]
    """
    stage = min(epoch // cfg.epochs_per_stage, len(cfg.curriculum) - 1)
    final = epoch >= cfg.epochs - cfg.final_contrast_epochs
    contrast = tuple(cfg.final_contrast) if final else cfg.contrast
    return {"stage": stage, "std": cfg.curriculum[stage], "contrast": contrast}


def get_lr(cfg: TrainConfig, epoch: int, fraction: float = 0.0) -> float:
    """Learning rate of 0-based ``epoch``, ``fraction`` in [0, 1) of the way through it.

    A pure function of the position in the run (nothing to save, resuming needs no state).
    Only ``"cosine"`` changes within an epoch: ``lr (1 + cos(pi t)) / 2`` with ``t`` the
    fraction of the run done, from ``lr`` at the first step to 0 after the last.

    Example:
        >>> cfg = TrainConfig(model="lenet", epochs=4, samples_per_epoch=100, lr=0.1, lr_schedule="cosine")
        >>> [round(get_lr(cfg, e), 4) for e in (0, 2)], round(get_lr(cfg, 3, 0.5), 4)
        ([0.1, 0.05], 0.0038)
    """
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * (epoch + fraction) / cfg.epochs))
    return cfg.lr * cfg.lr_gamma ** (epoch // cfg.lr_step_size)


def schedules_for(model: str) -> List[str]:
    """The names of the schedules that train ``model`` (a registry name), in :data:`SCHEDULES` order."""
    model_spec(model)  # an unknown name is an error naming the valid ones
    return [name for name, s in SCHEDULES.items() if s["model"] == model]


def seed_counterpart(schedule: str) -> Optional[str]:
    """The seed model (a key of ``seed_benchmark.json``) that ``schedule`` reproduces, or None.

    Only the schedule named after its model reproduces the seed's recipe; variants
    (``fast_atn_aux``, ``stn28_adam``, ...) have no counterpart.
    """
    check_choice("schedule", schedule, list(SCHEDULES))
    model = SCHEDULES[schedule]["model"]
    return model_spec(model).seed_benchmark if schedule == model else None
