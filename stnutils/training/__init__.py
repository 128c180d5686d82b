"""Training: the config and named schedules, the loop, checkpoints, distributed helpers, shared runs.

- :mod:`~stnutils.training.config`: :class:`TrainConfig`, one typed dataclass per run.
- :mod:`~stnutils.training.schedules`: the seed's named schedules sized per profile (``get_config``).
- :mod:`~stnutils.training.loop`: :func:`fit`, resumable, data-parallel under torchrun.
- :mod:`~stnutils.training.checkpoint`: ``save_model`` / ``load_model`` (atomic, ``weights_only``).
- :mod:`~stnutils.training.distributed`: process group, batch shards, metric sums.
- :mod:`~stnutils.training.runs`: ``trained_model``, one run folder per (profile, schedule, seed).
- :mod:`~stnutils.training.whatwhere`: the What/Where model's two stages (What, accuracy map, Where).
- :mod:`~stnutils.training.seed_sweep`: ``sweep`` and ``map_sweep``, several training seeds into one results file.
"""
from . import checkpoint, config, distributed, loop, runs, schedules, seed_sweep, whatwhere
from .checkpoint import load_checkpoint, load_model, save_model
from .config import TrainConfig
from .loop import fit, load_history, load_snapshots, location_loss, stage_ends
from .runs import trained_model
from .schedules import SCHEDULES, get_config, get_lr, schedule_table, schedules_for, seed_counterpart, stage_of
from .seed_sweep import map_sweep, sweep
from .whatwhere import fit_two_stage, whatwhere_rows

__all__ = [
    "checkpoint", "config", "distributed", "loop", "runs", "schedules", "seed_sweep", "whatwhere", "sweep", "map_sweep",
    "load_checkpoint", "load_model", "save_model", "TrainConfig", "fit", "load_history", "load_snapshots",
    "location_loss", "stage_ends", "trained_model", "SCHEDULES", "get_config", "get_lr", "schedule_table",
    "schedules_for", "seed_counterpart", "stage_of", "fit_two_stage", "whatwhere_rows",
]
