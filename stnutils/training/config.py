"""The training configuration: one typed dataclass that defines a run (nanoGPT's style).

Example:
    >>> cfg = TrainConfig(model="lenet", epochs=2, samples_per_epoch=200)
    >>> cfg.task, cfg.curriculum_key, TrainConfig.from_dict(cfg.to_dict()) == cfg
    ('28', 'shift_std', True)
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple, Union

from ..data.datasets import ECCENTRICITY_DISTS
from ..models.registry import MODEL_NAMES, model_spec
from ..provenance import check_profile
from ..validation import check_choice, check_finite, check_positive_int, check_range

__all__ = ["TASKS", "OPTIMIZERS", "LR_SCHEDULES", "SCENE_SIZE", "TrainConfig"]

TASKS = ("28", "60", "128")
OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("step", "constant", "cosine")
_CURRICULUM_KEY = {"28": "shift_std", "60": "eccentricity_std", "128": "eccentricity_std"}
#: Side of the scenes of each task, pixels.
SCENE_SIZE = {"28": 28, "60": 60, "128": 128}
#: The largest learning rate accepted: beyond it SGD and Adam only diverge (the loss goes NaN).
MAX_LR = 10.0
#: Upper bounds of the counts (a typo of a few zeros must not allocate terabytes or run for years).
_MAX_COUNT = {"epochs": 100_000, "samples_per_epoch": 10_000_000, "batch_size": 100_000, "epochs_per_stage": 100_000,
              "lr_step_size": 100_000, "test_samples": 1_000_000}




def _contrast(name: str, value, pair_only: bool):
    """A contrast in (0, 1], or a ``(c_min, c_max)`` pair of them (``pair_only``: only a pair)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{name} must be a (c_min, c_max) pair, got {value!r}")
        lo, hi = (float(check_range(name, c, 0, 1, low_open=True)) for c in value)
        if lo > hi:
            raise ValueError(f"{name} must have c_min <= c_max, got {value!r}")
        return (lo, hi)
    if pair_only:
        raise ValueError(f"{name} must be a (c_min, c_max) pair, got {value!r}")
    return float(check_range(name, value, 0, 1, low_open=True))


@dataclass
class TrainConfig:
    """Everything that defines a training run (JSON round trip: :meth:`to_dict`, :meth:`from_dict`).

    The curriculum has one stage per ``epochs_per_stage`` epochs; after the last stage
    the difficulty stays there. The last ``final_contrast_epochs`` epochs draw the digit
    contrast uniformly from ``final_contrast``; the epochs before use ``contrast``.
    Invalid values raise ``ValueError`` naming the field and what it allows.
    """

    # --- what is trained, on what
    model: str = "stn28"  # a name of the model registry (built with stnutils.models.build_model)
    model_config: dict = field(default_factory=dict)  # keyword arguments for build_model
    task: Optional[str] = None  # "28", "60" or "128"; None: the model's own task (its input size)
    schedule: str = "custom"  # the named schedule this came from (get_config), for the record
    profile: str = "quick"  # smoke | quick | full: how much compute the sizes below are for
    # --- how much
    epochs: int = 16
    samples_per_epoch: int = 60_000  # fresh scenes per epoch (new data seed each epoch)
    batch_size: int = 100  # the global batch; torchrun splits it over the processes
    # --- optimiser and learning rate
    optimizer: str = "sgd"  # "sgd" or "adam"
    lr: float = 0.01
    momentum: float = 0.9  # SGD only (the seed does not state it; 0.9 is the common choice)
    weight_decay: float = 0.0
    lr_schedule: str = "step"  # "step": lr * lr_gamma ** (epoch // lr_step_size); "constant";
    # "cosine": lr * (1 + cos(pi t)) / 2, t the fraction of the run's steps done (changes every step)
    lr_step_size: int = 30  # epochs
    lr_gamma: float = 0.1
    # --- curriculum and scenes
    curriculum: List[float] = field(default_factory=lambda: [float(s) for s in range(16)])
    # ^ shift_std (task 28) or eccentricity_std (task 128) of each stage, pixels
    epochs_per_stage: int = 1
    contrast: Union[float, Tuple[float, float]] = 0.7  # digit contrast before the final phase: c or (c_min, c_max)
    eccentricity_dist: str = "halfnormal"  # tasks 60/128: "halfnormal" |N(0, std)| or "uniform" U(0, std)
    # tasks 60/128: the largest training radius, pixels (None: the benchmark's 40, or (size - 28) / 2 if smaller);
    # above 40, the benchmark's outermost ring is no longer the edge of what the model saw
    eccentricity_max: Optional[float] = None
    final_contrast_epochs: int = 0  # the last epochs draw the contrast from final_contrast
    final_contrast: Tuple[float, float] = (0.3, 0.7)
    noise: float = 0.75  # MotionCloud background amplitude
    rotation: float = 0.0  # task 28 only: digits turned uniformly in ±rotation degrees
    # --- extras
    aux_location_weight: float = 0.0  # > 0: also regress attend().offset on the true offset
    test_samples: int = 1000  # fixed test scenes (MNIST test split) evaluated every epoch
    stage_snapshots: bool = False  # also keep the weights at the start and after every stage
    seed: int = 0  # weights, scenes, order and dropout all derive from it
    device: str = "cpu"  # cpu | cuda | cuda:N | auto
    data_root: Optional[str] = None  # folder holding MNIST/raw (default: $STNUTILS_DATA, ./data)

    def __post_init__(self):
        check_choice("model", self.model, MODEL_NAMES)
        if not isinstance(self.model_config, dict):
            raise ValueError(f"model_config must be a dict of build_model arguments, got {self.model_config!r}")
        own_task = model_spec(self.model).task
        if self.task is None:
            self.task = own_task
        self.task = str(self.task)
        check_choice("task", self.task, TASKS)
        if self.task != own_task:
            raise ValueError(f"task must be {own_task!r} for model {self.model!r} (its input size), got {self.task!r}")
        check_profile(self.profile)
        if not isinstance(self.schedule, str) or not self.schedule:
            raise ValueError(f"schedule must be a non-empty string (a name of SCHEDULES or 'custom'), "
                             f"got {self.schedule!r}")
        for name, most in _MAX_COUNT.items():
            check_positive_int(name, getattr(self, name))
            if getattr(self, name) > most:
                raise ValueError(f"{name} must be a positive integer <= {most:,}, got {getattr(self, name)!r}")
        if self.samples_per_epoch % self.batch_size:
            raise ValueError(
                f"samples_per_epoch must be a multiple of batch_size={self.batch_size}, got {self.samples_per_epoch}"
            )
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        self.lr = float(check_range("lr", self.lr, 0, MAX_LR, low_open=True))
        self.momentum = float(check_range("momentum", self.momentum, 0, 1, high_open=True))
        self.weight_decay = check_finite("weight_decay", self.weight_decay, 0, None)
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        self.lr_gamma = float(check_range("lr_gamma", self.lr_gamma, 0, 1, low_open=True))
        if not isinstance(self.curriculum, (list, tuple)) or len(self.curriculum) == 0:
            raise ValueError(f"curriculum must be a non-empty list of stds (pixels), got {self.curriculum!r}")
        self.curriculum = [check_finite(f"curriculum[{k}]", s, 0, None) for k, s in enumerate(self.curriculum)]
        self.contrast = _contrast("contrast", self.contrast, pair_only=False)
        check_choice("eccentricity_dist", self.eccentricity_dist, ECCENTRICITY_DISTS)
        if self.eccentricity_dist != "halfnormal" and self.task == "28":
            raise ValueError(f"eccentricity_dist is for tasks '60' and '128' (NoisyMNIST128), got "
                             f"{self.eccentricity_dist!r} with task '28'")
        if self.eccentricity_max is not None:
            if self.task == "28":
                raise ValueError(f"eccentricity_max is for tasks '60' and '128' (NoisyMNIST128), got "
                                 f"{self.eccentricity_max!r} with task '28'")
            reach = (SCENE_SIZE[self.task] - 28) / 2
            self.eccentricity_max = float(check_range("eccentricity_max", self.eccentricity_max, 0, reach))
        if isinstance(self.final_contrast_epochs, bool) or not isinstance(self.final_contrast_epochs, int):
            raise ValueError(f"final_contrast_epochs must be an integer, got {self.final_contrast_epochs!r}")
        check_range("final_contrast_epochs", self.final_contrast_epochs, 0, self.epochs)
        self.final_contrast = _contrast("final_contrast", self.final_contrast, pair_only=True)
        self.noise = float(check_range("noise", self.noise, 0, 1))
        self.rotation = float(check_range("rotation", self.rotation, 0, 180))
        if not isinstance(self.stage_snapshots, bool):
            raise ValueError(f"stage_snapshots must be True or False, got {self.stage_snapshots!r}")
        if self.rotation > 0 and self.task != "28":
            raise ValueError(f"rotation is only for task '28' (NoisyMNIST28), got rotation={self.rotation} "
                             f"with task {self.task!r}")
        self.aux_location_weight = check_finite("aux_location_weight", self.aux_location_weight, 0, None)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")
        if not isinstance(self.device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {self.device!r}")
        if self.data_root is not None:
            if not isinstance(self.data_root, (str, os.PathLike)) or self.data_root == "":
                raise ValueError(f"data_root must be a folder path (str) or None, got {self.data_root!r}")
            self.data_root = os.fspath(self.data_root)

    @property
    def curriculum_key(self) -> str:
        """``'shift_std'`` (task 28) or ``'eccentricity_std'`` (task 128)."""
        return _CURRICULUM_KEY[self.task]

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["final_contrast"] = list(self.final_contrast)
        if isinstance(self.contrast, tuple):
            d["contrast"] = list(self.contrast)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error (a typo must not pass silently)."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; valid fields: {names}")
        return cls(**d)
