"""Training: a typed config, the seed's named schedules, and one loop read top to bottom.

A run is a :class:`TrainConfig` (usually from :func:`get_config`) and a folder::

    cfg = get_config("atn", "quick")
    history = fit(cfg, "runs/atn-quick")         # or: python -m stnutils train --model atn ...

Every epoch draws ``samples_per_epoch`` fresh scenes at the difficulty of its curriculum
stage (the stage is a pure function of the epoch index, :func:`stage_of`), takes SGD or
Adam steps, evaluates a fixed test set at the same difficulty, appends one dict to the
history and writes ``history.json`` and ``checkpoint.pt`` (atomically). At the end
``model.pt`` holds the weights for :func:`stnutils.checkpoint.load_model`.

Everything random derives from ``(seed, epoch)``: scenes, their order, and torch's
generator (dropout) are re-seeded at each epoch, so a resumed run ends with exactly the
weights of an uninterrupted one, and ``torchrun --nproc_per_node=N`` sees the same global
batches as one process (see :mod:`stnutils.distributed`).

Example:
    >>> cfg = get_config("stn128", "full")
    >>> cfg.epochs, cfg.lr, stage_of(cfg, 95)
    (110, 0.01, {'stage': 8, 'std': 40.0, 'contrast': (0.3, 0.7)})
    >>> get_lr(cfg, 0), get_lr(cfg, 30)
    (0.01, 0.001)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import distributed
from ._validate import check_choice, check_positive_int, check_range
from .provenance import check_profile, provenance, resolve_device

__all__ = [
    "MODEL_TASKS",
    "SCHEDULES",
    "TrainConfig",
    "get_config",
    "schedule_table",
    "stage_of",
    "get_lr",
    "location_loss",
    "fit",
    "load_history",
    "load_snapshots",
]

# The task each model is trained on: "28" = NoisyMNIST28 (the What task), "128" = NoisyMNIST128.
MODEL_TASKS = {
    "lenet": "28",
    "stn28": "28",
    "tps_stn": "28",
    "stn60": "60",
    "stn128": "128",
    "atn": "128",
    "polo_atn": "128",
    "fast_atn": "128",
}
TASKS = ("28", "60", "128")
OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("step", "constant")
_CURRICULUM_KEY = {"28": "shift_std", "60": "eccentricity_std", "128": "eccentricity_std"}
_SCENE_SIZE = {"28": 28, "60": 60, "128": 128}
# A resumed run must train the same thing; only these may differ from the saved config.
_MAY_CHANGE_ON_RESUME = ("epochs", "device", "data_root")
_EVAL_BATCH = 250
_MNIST_TRAIN = 60_000  # digits in the training split


@dataclass
class TrainConfig:
    """Everything that defines a training run (JSON round trip: :meth:`to_dict`, :meth:`from_dict`).

    The curriculum has one stage per ``epochs_per_stage`` epochs; after the last stage
    the difficulty stays there. The last ``final_contrast_epochs`` epochs draw the digit
    contrast uniformly from ``final_contrast``; the epochs before use ``contrast``.
    Invalid values raise ``ValueError`` naming the field and what it allows.
    """

    # --- what is trained, on what
    model: str = "stn28"  # a name in MODEL_TASKS (built with stnutils.models.build_model)
    model_config: dict = field(default_factory=dict)  # keyword arguments for build_model
    task: Optional[str] = None  # "28" or "128"; None: the model's own task
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
    lr_schedule: str = "step"  # "step": lr * lr_gamma ** (epoch // lr_step_size); "constant"
    lr_step_size: int = 30  # epochs
    lr_gamma: float = 0.1
    # --- curriculum and scenes
    curriculum: List[float] = field(default_factory=lambda: [float(s) for s in range(16)])
    # ^ shift_std (task 28) or eccentricity_std (task 128) of each stage, pixels
    epochs_per_stage: int = 1
    contrast: float = 0.7  # fixed digit contrast during the curriculum
    final_contrast_epochs: int = 0  # the last epochs draw the contrast from final_contrast
    final_contrast: Tuple[float, float] = (0.3, 0.7)
    noise: float = 0.75  # MotionCloud background amplitude
    rotation: float = 0.0  # task 28 only: digits turned uniformly in ±rotation degrees
    # --- extras
    aux_location_weight: float = 0.0  # > 0: also regress predicted_offset() on the true offset
    test_samples: int = 1000  # fixed test scenes (MNIST test split) evaluated every epoch
    stage_snapshots: bool = False  # also keep the weights at the start and after every stage
    seed: int = 0  # weights, scenes, order and dropout all derive from it
    device: str = "cpu"  # cpu | cuda | cuda:N | auto
    data_root: Optional[str] = None  # folder holding MNIST/raw (default: $STNUTILS_DATA, ./data)

    def __post_init__(self):
        check_choice("model", self.model, list(MODEL_TASKS))
        if not isinstance(self.model_config, dict):
            raise ValueError(f"model_config must be a dict of build_model arguments, got {self.model_config!r}")
        if self.task is None:
            self.task = MODEL_TASKS[self.model]
        self.task = str(self.task)
        check_choice("task", self.task, TASKS)
        if self.task != MODEL_TASKS[self.model]:
            raise ValueError(
                f"task must be {MODEL_TASKS[self.model]!r} for model {self.model!r} "
                f"(its input size), got {self.task!r}"
            )
        check_profile(self.profile)
        for name in ("epochs", "samples_per_epoch", "batch_size", "epochs_per_stage", "lr_step_size", "test_samples"):
            check_positive_int(name, getattr(self, name))
        if self.samples_per_epoch % self.batch_size:
            raise ValueError(
                f"samples_per_epoch must be a multiple of batch_size={self.batch_size}, got {self.samples_per_epoch}"
            )
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        self.lr = float(check_range("lr", self.lr, 0, None, low_open=True))
        self.momentum = float(check_range("momentum", self.momentum, 0, 1, high_open=True))
        self.weight_decay = float(check_range("weight_decay", self.weight_decay, 0, None))
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        self.lr_gamma = float(check_range("lr_gamma", self.lr_gamma, 0, 1, low_open=True))
        if not isinstance(self.curriculum, (list, tuple)) or len(self.curriculum) == 0:
            raise ValueError(f"curriculum must be a non-empty list of stds (pixels), got {self.curriculum!r}")
        self.curriculum = [float(check_range(f"curriculum[{k}]", s, 0, None)) for k, s in enumerate(self.curriculum)]
        self.contrast = float(check_range("contrast", self.contrast, 0, 1, low_open=True))
        if isinstance(self.final_contrast_epochs, bool) or not isinstance(self.final_contrast_epochs, int):
            raise ValueError(f"final_contrast_epochs must be an integer, got {self.final_contrast_epochs!r}")
        check_range("final_contrast_epochs", self.final_contrast_epochs, 0, self.epochs)
        if not isinstance(self.final_contrast, (list, tuple)) or len(self.final_contrast) != 2:
            raise ValueError(f"final_contrast must be a (c_min, c_max) pair, got {self.final_contrast!r}")
        lo, hi = (float(check_range("final_contrast", c, 0, 1, low_open=True)) for c in self.final_contrast)
        if lo > hi:
            raise ValueError(f"final_contrast must have c_min <= c_max, got {self.final_contrast!r}")
        self.final_contrast = (lo, hi)
        self.noise = float(check_range("noise", self.noise, 0, 1))
        self.rotation = float(check_range("rotation", self.rotation, 0, 180))
        if not isinstance(self.stage_snapshots, bool):
            raise ValueError(f"stage_snapshots must be True or False, got {self.stage_snapshots!r}")
        if self.rotation > 0 and self.task != "28":
            raise ValueError(f"rotation is only for task '28' (NoisyMNIST28), got rotation={self.rotation} "
                             f"with task {self.task!r}")
        self.aux_location_weight = float(check_range("aux_location_weight", self.aux_location_weight, 0, None))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {self.device!r}")
        if self.data_root is not None:
            self.data_root = os.fspath(self.data_root)

    @property
    def curriculum_key(self) -> str:
        """``'shift_std'`` (task 28) or ``'eccentricity_std'`` (task 128)."""
        return _CURRICULUM_KEY[self.task]

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["final_contrast"] = list(self.final_contrast)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error (a typo must not pass silently)."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; valid fields: {names}")
        return cls(**d)


# --------------------------------------------------------------------------------------
# Named schedules: the seed's, at full size ("full"); "quick" and "smoke" shrink them.

_SHIFTS = [float(s) for s in range(16)]  # shift_std 0, 1, ..., 15 px, +1 per stage (the seed)
# eccentricity_std 4.44, 8.89, ..., 40 px: the benchmark's nine eccentricities. Not from 0:
# a stage with every digit at the centre teaches the localisation net a constant theta
# (under Adam its features die) and it never learns to look later, even when given the
# true offsets (fast_atn_aux at std 20 after a std-0 epoch: test 0.44; after 4.44: 0.83).
_ECCENTRICITIES = [40.0 * k / 9 for k in range(1, 10)]
_28 = dict(curriculum=_SHIFTS, lr=0.01, lr_schedule="constant")
# 60x60 field (the downsampling experiment): eccentricity std 2, 4, ..., 16 px (16 = the edge)
_ECC60 = [2.0 * k for k in range(1, 9)]
# Rotation: no shift, digits turned in ±90°; eight stages only to give the run its length
_ROT = dict(curriculum=[0.0] * 8, rotation=90.0, lr=0.01, lr_schedule="constant")
_128 = dict(curriculum=_ECCENTRICITIES, final_contrast_epochs=20)

SCHEDULES = {
    # What pathway and STN 28x28: SGD, shift_std raised by 1 every 20 epochs from 0 to 15
    "lenet": dict(_28, model="lenet"),
    "stn28": dict(_28, model="stn28", stage_snapshots=True),
    "tps_stn": dict(_28, model="tps_stn"),
    # the seed's failure: Adam at lr 1e-2 collapses to chance on the shift curriculum
    "stn28_adam": dict(_28, model="stn28", optimizer="adam", stage_snapshots=True),
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
    task = MODEL_TASKS[base["model"]]
    full = dict(base)
    full.update(_SIZES[(task, "full")])
    sizes = dict(_SIZES[(task, profile)])
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
                lr_steps=("constant" if c.lr_schedule == "constant" else f"x{c.lr_gamma:g}/{c.lr_step_size}ep"),
                stages=f"{c.curriculum_key}={c.curriculum[0]:g}..{c.curriculum[-1]:g},{c.epochs_per_stage}ep/stage",
                final_contrast_epochs=c.final_contrast_epochs,
            ))
    return rows


# --------------------------------------------------------------------------------------
# Small pure helpers (nanoGPT's get_lr style)


def stage_of(cfg: TrainConfig, epoch: int) -> dict:
    """The curriculum stage of 0-based ``epoch``: ``{stage, std, contrast}``.

    ``contrast`` is a float, or a ``(c_min, c_max)`` tuple in the final contrast phase.

    Example:
        >>> cfg = get_config("stn28", "full")
        >>> [stage_of(cfg, e)["std"] for e in (0, 19, 20, 319)]
        [0.0, 0.0, 1.0, 15.0]
    """
    stage = min(epoch // cfg.epochs_per_stage, len(cfg.curriculum) - 1)
    final = epoch >= cfg.epochs - cfg.final_contrast_epochs
    contrast = tuple(cfg.final_contrast) if final else cfg.contrast
    return {"stage": stage, "std": cfg.curriculum[stage], "contrast": contrast}


def get_lr(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of 0-based ``epoch`` (a step schedule as a pure function: nothing to save)."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    return cfg.lr * cfg.lr_gamma ** (epoch // cfg.lr_step_size)


def location_loss(predicted: torch.Tensor, offsets: torch.Tensor, size: int) -> torch.Tensor:
    """Smooth-L1 between predicted and true ``(i, j)`` offsets ``(N, 2)``, in scene half-sizes.

    Dividing by ``size / 2`` puts both in [-1, 1], the glimpse's normalised coordinates.

    Example:
        >>> location_loss(torch.tensor([[64.0, 0.0]]), torch.tensor([[0, 0]]), 128)
        tensor(0.2500)
    """
    half = size / 2
    return F.smooth_l1_loss(predicted / half, offsets.to(predicted.dtype) / half)


def _derive_seed(*parts) -> int:
    """A 63-bit seed from ints and strings; stable across processes and runs (unlike ``hash``)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _make_dataset(cfg: TrainConfig, train: bool, seed: int, std: float, contrast, device, length=None):
    from .datasets import NoisyMNIST28, NoisyMNIST128

    common = dict(root=cfg.data_root, train=train, seed=seed, contrast=contrast, noise=cfg.noise,
                  length=length, device=device)
    if cfg.task == "28":
        return NoisyMNIST28(shift_std=std, rotation=cfg.rotation, **common)
    size = _SCENE_SIZE[cfg.task]
    return NoisyMNIST128(size=size, eccentricity_std=std, eccentricity_max=min(40.0, (size - 28) / 2), **common)


def _epoch_indices(cfg: TrainConfig, epoch: int, length: int) -> torch.Tensor:
    """The epoch's sample indices: random pairs ``(2p, 2p + 1)`` of ``range(length)``, shuffled.

    Sample k shows digit ``k mod 60000``; drawing pairs (which share one background FFT)
    from the whole split gives every epoch a different subset of the digits.
    """
    g = torch.Generator().manual_seed(_derive_seed(cfg.seed, "order", epoch))
    pairs = torch.randperm(length // 2, generator=g)[: (cfg.samples_per_epoch + 1) // 2]
    return torch.stack([2 * pairs, 2 * pairs + 1], dim=1).reshape(-1)[: cfg.samples_per_epoch]


def _make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _write_json(path: Path, obj) -> None:
    """Write JSON atomically: a reader (or a crash) never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def load_history(run_dir: Union[str, os.PathLike]) -> List[dict]:
    """The list of per-epoch dicts a run wrote to ``run_dir/history.json``."""
    with open(Path(run_dir) / "history.json") as f:
        return json.load(f)


@torch.no_grad()
def _evaluate(model: nn.Module, dataset, ctx, device) -> Tuple[float, float]:
    """Mean cross-entropy and accuracy on the whole ``dataset`` (each rank takes a share)."""
    model.eval()
    share = torch.tensor_split(torch.arange(len(dataset)), ctx.world_size)[ctx.rank]
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    for start in range(0, len(share), _EVAL_BATCH):
        images, labels, _ = dataset.batch(share[start : start + _EVAL_BATCH])
        logits = model(images)
        loss_sum += F.cross_entropy(logits, labels, reduction="sum")
        correct += (logits.argmax(1) == labels).sum()
    loss_sum, correct = distributed.all_reduce_sum([loss_sum.item(), correct.item()], ctx, device)
    return loss_sum / len(dataset), correct / len(dataset)


def _train_epoch(cfg, model, optimizer, dataset, indices, ctx, device, desc: str, progress) -> dict:
    """One pass over ``indices`` in global batches of ``cfg.batch_size``; returns epoch means."""
    model.train()
    size = _SCENE_SIZE[cfg.task]
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, aux loss, correct, count
    n_batches = len(indices) // cfg.batch_size
    bar = tqdm(range(n_batches), desc=desc, unit="batch", leave=False,
               disable=(not ctx.is_main) or (None if progress is None else not progress))
    for b in bar:
        local = distributed.shard(indices[b * cfg.batch_size : (b + 1) * cfg.batch_size], ctx)
        images, labels, offsets = dataset.batch(local)
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
        aux = torch.zeros((), device=device)
        if cfg.aux_location_weight > 0:
            aux = location_loss(distributed.unwrap_model(model).predicted_offset(), offsets, size)
        optimizer.zero_grad(set_to_none=True)
        (loss + cfg.aux_location_weight * aux).backward()
        optimizer.step()
        # accumulate on the device: no GPU sync per step
        n = len(labels)
        sums[0] += loss.detach() * n
        sums[1] += aux.detach() * n
        sums[2] += (logits.argmax(1) == labels).sum()
        sums[3] += n
    loss_sum, aux_sum, correct, count = distributed.all_reduce_sum(sums.tolist(), ctx, device)
    return {"loss": loss_sum / count, "aux_loss": aux_sum / count, "train_acc": correct / count}


def _save(path: Path, model: nn.Module, optimizer, extra: dict) -> None:
    from .checkpoint import save_model  # atomic: tmp file in the same folder + os.replace

    save_model(path, model, optimizer=optimizer, extra=extra)


def _save_snapshot(out_dir: Path, model: nn.Module, epoch: int) -> None:
    _save(out_dir / "snapshots" / f"epoch{epoch:04d}.pt", model, None, extra={"kind": "snapshot", "epoch": epoch})


def load_snapshots(run_dir: Union[str, os.PathLike], device="cpu") -> List[Tuple[int, nn.Module]]:
    """``[(epoch, model), ...]`` saved by a run with ``stage_snapshots`` (epoch 0: the initial
    weights), in epoch order; empty if the run kept none."""
    from .checkpoint import load_checkpoint, load_model

    paths = sorted((Path(run_dir) / "snapshots").glob("epoch*.pt"))
    return [(int(load_checkpoint(p)["extra"]["epoch"]), load_model(p, device)) for p in paths]


def _check_resumable(saved: dict, cfg: TrainConfig) -> None:
    current = cfg.to_dict()
    differ = [k for k in current if k not in _MAY_CHANGE_ON_RESUME and saved.get(k) != current[k]]
    if differ:
        details = ", ".join(f"{k}: saved {saved.get(k)!r}, now {current[k]!r}" for k in differ)
        raise ValueError(f"cannot resume: the config differs from the checkpoint's ({details}); "
                         f"only {list(_MAY_CHANGE_ON_RESUME)} may change")


# --------------------------------------------------------------------------------------


def fit(
    cfg: TrainConfig,
    out_dir: Union[str, os.PathLike],
    resume: bool = False,
    model: Optional[nn.Module] = None,
    *,
    overwrite: bool = False,
    progress: Optional[bool] = None,
    verbose: bool = True,
) -> List[dict]:
    """Train ``cfg.model`` (or ``model``) on its curriculum; write the run into ``out_dir``.

    Files (written by rank 0 only): ``config.json`` and ``run.json`` (provenance: profile,
    device, commit, wall time) at the start; ``history.json`` and ``checkpoint.pt`` after
    every epoch; ``model.pt`` (:func:`stnutils.checkpoint.load_model` reads it) at the end.

    Args:
        cfg: the run's :class:`TrainConfig`.
        out_dir: the run folder (created).
        resume: continue from ``out_dir/checkpoint.pt`` (start afresh if there is none);
            the result is identical to an uninterrupted run. The config must match the
            saved one except for ``epochs``, ``device`` and ``data_root``.
        model: train this module instead of ``build_model(cfg.model, **cfg.model_config)``;
            it needs ``name`` and ``config`` attributes to be saved.
        overwrite: start afresh even if ``out_dir`` holds a checkpoint (replaced only when the
            first new epoch is saved). Without it, or ``resume``, that is an error.
        progress: a progress bar per epoch: None (when writing to a terminal), True, False.
        verbose: print one summary line per epoch.

    Returns:
        the history: one dict per epoch with ``epoch`` (1-based), ``stage``, ``shift_std``
        or ``eccentricity_std``, ``contrast`` (a number or ``[c_min, c_max]``), ``lr``,
        ``loss`` (training cross-entropy), ``train_acc``, ``test_loss``, ``test_acc``,
        ``aux_loss`` (with an auxiliary loss), ``seconds`` (the epoch's wall time) and
        ``samples`` (training samples seen so far).

    Raises:
        FileExistsError: ``out_dir`` holds a checkpoint and neither ``resume`` nor ``overwrite``.
        ValueError: a config that cannot be trained here, or one that differs from the checkpoint.
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    out_dir = Path(out_dir)
    ckpt_path = out_dir / "checkpoint.pt"
    # Decide where to start before anything is written: bad input never costs a checkpoint.
    saved = None
    if ckpt_path.exists():
        if resume:
            from .checkpoint import load_checkpoint

            saved = load_checkpoint(ckpt_path)
            _check_resumable(saved["extra"]["config"], cfg)
            if saved["extra"]["epoch"] > cfg.epochs:
                raise ValueError(f"cannot resume: {ckpt_path} is at epoch {saved['extra']['epoch']}, "
                                 f"beyond epochs={cfg.epochs}")
        elif not overwrite:
            raise FileExistsError(f"{ckpt_path} exists: pass resume=True to continue it (--resume) "
                                  f"or overwrite=True to start again (--overwrite)")
    ctx, device = distributed.setup(resolve_device(cfg.device))  # under torchrun: this rank's GPU
    try:
        if cfg.batch_size % ctx.world_size:
            raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the number of processes "
                             f"({ctx.world_size})")
        # Model and optimiser; the same initial weights in every process (and every resume).
        torch.manual_seed(cfg.seed)
        if model is None:
            from .models import build_model

            model = build_model(cfg.model, **cfg.model_config)
        if not isinstance(getattr(model, "name", None), str) or not isinstance(getattr(model, "config", None), dict):
            raise ValueError(f"model must have a 'name' (str) and a 'config' (dict) to be saved; "
                             f"{type(model).__name__} lacks them")
        if cfg.aux_location_weight > 0 and not hasattr(model, "predicted_offset"):
            raise ValueError(f"aux_location_weight > 0 needs a model with predicted_offset(); "
                             f"{type(model).__name__} has none")
        model.to(device)
        optimizer = _make_optimizer(cfg, model)
        history: List[dict] = []
        start_epoch = 0
        if saved is not None:
            model.load_state_dict(saved["state_dict"])
            optimizer.load_state_dict(saved["optimizer"])  # moves the state to the parameters' device
            history = list(saved["extra"]["history"])
            start_epoch = int(saved["extra"]["epoch"])
        train_model = distributed.wrap_model(model, ctx, device)
        # Load MNIST (both splits) now, so missing data fails before any file is written.
        _make_dataset(cfg, True, cfg.seed, cfg.curriculum[0], cfg.contrast, device)
        _make_dataset(cfg, False, cfg.seed, cfg.curriculum[0], cfg.contrast, device, length=cfg.test_samples)
        t_start = time.time()
        # through JSON: plain str/float/int only (torch.__version__ is a str subclass that
        # torch.load(weights_only=True) refuses to unpickle)
        prov = json.loads(json.dumps(provenance(cfg.profile, device))) if ctx.is_main else None
        run_info = {"provenance": prov,
                    "world_size": ctx.world_size, "start_epoch": start_epoch}
        if ctx.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            _write_json(out_dir / "config.json", cfg.to_dict())
            _write_json(out_dir / "run.json", run_info)
            if cfg.stage_snapshots and start_epoch == 0:
                _save_snapshot(out_dir, model, 0)

        # The test set: fixed scenes (seed, digits), drawn at each epoch's difficulty.
        test_seed = _derive_seed(cfg.seed, "test")
        samples = history[-1]["samples"] if history else 0
        for epoch in range(start_epoch, cfg.epochs):
            t0 = time.time()
            stage = stage_of(cfg, epoch)
            lr = get_lr(cfg, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            # Re-seed torch (dropout) per epoch and rank: resuming needs no saved RNG state.
            torch.manual_seed(_derive_seed(cfg.seed, "torch", epoch, ctx.rank))
            length = max(_MNIST_TRAIN, cfg.samples_per_epoch + 1) // 2 * 2  # whole pairs, >= the epoch
            train_set = _make_dataset(cfg, True, _derive_seed(cfg.seed, "train", epoch), stage["std"],
                                      stage["contrast"], device, length=length)
            indices = _epoch_indices(cfg, epoch, len(train_set))
            desc = f"epoch {epoch + 1}/{cfg.epochs}"
            stats = _train_epoch(cfg, train_model, optimizer, train_set, indices, ctx, device, desc, progress)
            test_set = _make_dataset(cfg, False, test_seed, stage["std"], stage["contrast"], device,
                                     length=cfg.test_samples)
            test_loss, test_acc = _evaluate(model, test_set, ctx, device)
            samples += len(indices)
            row = {"epoch": epoch + 1, "stage": stage["stage"], cfg.curriculum_key: stage["std"],
                   "contrast": list(stage["contrast"]) if isinstance(stage["contrast"], tuple) else stage["contrast"],
                   "lr": lr, "loss": stats["loss"], "train_acc": stats["train_acc"],
                   "test_loss": test_loss, "test_acc": test_acc}
            if cfg.aux_location_weight > 0:
                row["aux_loss"] = stats["aux_loss"]
            row.update(seconds=round(time.time() - t0, 3), samples=samples)
            history.append(row)
            if ctx.is_main:
                _save(ckpt_path, model, optimizer, extra={
                    "kind": "train", "epoch": epoch + 1, "config": cfg.to_dict(), "history": history,
                    "torch_rng_state": torch.get_rng_state(),  # for the record: each epoch re-seeds
                })
                _write_json(out_dir / "history.json", history)
                if cfg.stage_snapshots and ((epoch + 1) % cfg.epochs_per_stage == 0 or epoch + 1 == cfg.epochs):
                    _save_snapshot(out_dir, model, epoch + 1)
                if verbose:
                    tqdm.write(
                        f"{desc} stage {row['stage']} {cfg.curriculum_key} {stage['std']:g} lr {lr:.3g} "
                        f"loss {row['loss']:.4f} train_acc {row['train_acc']:.3f} "
                        f"test_acc {row['test_acc']:.3f} ({row['seconds']:.1f} s)"
                    )

        if ctx.is_main:
            run_info.update(finished_epochs=len(history), wall_time_s=round(time.time() - t_start, 1))
            _write_json(out_dir / "run.json", run_info)
            _save(out_dir / "model.pt", model, None, extra={
                "kind": "model", "config": cfg.to_dict(), "history": history,
                "provenance": run_info["provenance"],
            })
        distributed.barrier(ctx)  # nobody leaves (and tears down) before the files are written
    finally:
        distributed.teardown(ctx)
    model.eval()
    return history
