"""Training: the config and named schedules, the loop, checkpoints, distributed helpers, shared runs.

- :mod:`~stnutils.training.config`: :class:`TrainConfig`, one typed dataclass per run.
- :mod:`~stnutils.training.schedules`: the seed's named schedules sized per profile (``get_config``).
- :mod:`~stnutils.training.loop`: :func:`fit`, resumable, data-parallel under torchrun.
- :mod:`~stnutils.training.checkpoint`: ``save_model`` / ``load_model`` (atomic, ``weights_only``).
- :mod:`~stnutils.training.distributed`: process group, batch shards, metric sums.
- :mod:`~stnutils.training.runs`: ``trained_model``, one run folder per (profile, schedule, seed).
"""
from . import checkpoint, config, distributed, loop, runs, schedules
from .checkpoint import load_checkpoint, load_model, save_model
from .config import TrainConfig
from .loop import fit, load_history, load_snapshots, location_loss, stage_ends
from .runs import trained_model
from .schedules import SCHEDULES, get_config, get_lr, schedule_table, schedules_for, seed_counterpart, stage_of

__all__ = [
    "checkpoint", "config", "distributed", "loop", "runs", "schedules",
    "load_checkpoint", "load_model", "save_model", "TrainConfig", "fit", "load_history", "load_snapshots",
    "location_loss", "stage_ends", "trained_model", "SCHEDULES", "get_config", "get_lr", "schedule_table",
    "schedules_for", "seed_counterpart", "stage_of",
]
