"""The training loop, read top to bottom: :func:`fit` trains a :class:`TrainConfig` into a folder.

A run is a :class:`~stnutils.training.config.TrainConfig` (usually from
:func:`~stnutils.training.schedules.get_config`) and a folder::

    cfg = get_config("atn", "quick")
    history = fit(cfg, "runs/atn-quick")         # or: python -m stnutils train --schedule atn ...

Every epoch draws ``samples_per_epoch`` fresh scenes at the difficulty of its curriculum
stage (a pure function of the epoch index, :func:`~stnutils.training.schedules.stage_of`),
takes SGD or Adam steps, evaluates a fixed test set at the same difficulty (with the one
evaluation loop, :func:`stnutils.evaluation.loop.predictions`), appends one dict to the
history and writes ``history.json`` and ``checkpoint.pt`` (atomically). At the end
``model.pt`` holds the weights for :func:`stnutils.training.checkpoint.load_model`.

What a run survives: a second training into the same folder is refused while the first
holds the folder's lock (:mod:`stnutils.training.lock`); a run killed at any point leaves
the previous complete ``checkpoint.pt``, and ``resume`` removes the temporary files the
kill left; a NaN or infinite loss stops the run (:class:`TrainingDivergedError`) before
anything of that epoch is written.

Everything random derives from ``(seed, epoch)``: scenes, their order, and torch's
generator (dropout) are re-seeded at each epoch, so a resumed run ends with exactly the
weights of an uninterrupted one, and ``torchrun --nproc_per_node=N`` sees the same global
batches as one process (see :mod:`stnutils.training.distributed`).

Example:
    >>> location_loss(torch.tensor([[64.0, 0.0]]), torch.tensor([[0, 0]]), 128)
    tensor(0.2500)
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..data import NoisyMNIST28, NoisyMNIST128
from ..evaluation.loop import predictions
from ..io import read_json, remove_stale_temporaries, write_json
from ..models.registry import build_model
from ..provenance import provenance, resolve_device
from . import distributed
from .checkpoint import load_checkpoint, load_model, save_model
from .config import SCENE_SIZE, TrainConfig
from .lock import run_lock
from .progress import RunProgress
from .schedules import get_lr, stage_of

__all__ = ["location_loss", "make_dataset", "fit", "load_history", "load_snapshots", "stage_ends",
           "TrainingDivergedError"]

# A resumed run must train the same thing; only these may differ from the saved config.
_MAY_CHANGE_ON_RESUME = ("epochs", "device", "data_root")
_EVAL_BATCH = 250
_MNIST_TRAIN = 60_000  # digits in the training split
_CHECK_EVERY = {"cpu": 1, "cuda": 25}  # steps between two finiteness checks of the loss (a sync on CUDA)


class TrainingDivergedError(FloatingPointError):
    """The loss (or the weights) became NaN or infinite: the run stopped before writing that epoch."""


def location_loss(predicted: torch.Tensor, offsets: torch.Tensor, size: int) -> torch.Tensor:
    """Smooth-L1 between predicted and true ``(i, j)`` offsets ``(N, 2)``, in scene half-sizes.

    Dividing by ``size / 2`` puts both in [-1, 1], the glimpse's normalised coordinates.
    """
    half = size / 2
    return F.smooth_l1_loss(predicted / half, offsets.to(predicted.dtype) / half)


def _derive_seed(*parts) -> int:
    """A 63-bit seed from ints and strings; stable across processes and runs (unlike ``hash``)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def make_dataset(cfg: TrainConfig, train: bool, seed: int, std: float, contrast, device, length=None):
    """The dataset of ``cfg``'s task at curriculum std ``std`` (shift or eccentricity) and ``contrast``."""
    common = dict(root=cfg.data_root, train=train, seed=seed, contrast=contrast, noise=cfg.noise,
                  length=length, device=device)
    if cfg.task == "28":
        return NoisyMNIST28(shift_std=std, rotation=cfg.rotation, **common)
    size = SCENE_SIZE[cfg.task]
    reach = min(40.0, (size - 28) / 2) if cfg.eccentricity_max is None else cfg.eccentricity_max
    return NoisyMNIST128(size=size, eccentricity_std=std, eccentricity_max=reach,
                         eccentricity_dist=cfg.eccentricity_dist, **common)


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


def load_history(run_dir: Union[str, os.PathLike]) -> List[dict]:
    """The list of per-epoch dicts a run wrote to ``run_dir/history.json``."""
    return read_json(Path(run_dir) / "history.json")


def stage_ends(history: List[dict]) -> Dict[float, dict]:
    """The last epoch of each curriculum stage: ``{stage std (shift or eccentricity, px): entry}``.

    Example:
        >>> h = [dict(epoch=1, shift_std=0.0), dict(epoch=2, shift_std=0.0), dict(epoch=3, shift_std=1.0)]
        >>> {s: e["epoch"] for s, e in stage_ends(h).items()}
        {0.0: 2, 1.0: 3}
    """
    key = next((k for k in ("shift_std", "eccentricity_std") if history and k in history[0]), None)
    if key is None:
        raise ValueError("history must hold entries with 'shift_std' or 'eccentricity_std' (as fit writes them)")
    return {float(entry[key]): entry for entry in history}


def _test_pass(model: nn.Module, dataset, ctx, device) -> Tuple[float, float]:
    """Mean cross-entropy and accuracy on the whole ``dataset`` (each rank takes a share)."""
    share = torch.tensor_split(torch.arange(len(dataset)), ctx.world_size)[ctx.rank]
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    for batch in predictions(model, dataset, batch_size=_EVAL_BATCH, indices=share):
        loss_sum += F.cross_entropy(batch.logits, batch.labels, reduction="sum")
        correct += batch.correct.sum()
    loss_sum, correct = distributed.all_reduce_sum([loss_sum.item(), correct.item()], ctx, device)
    return loss_sum / len(dataset), correct / len(dataset)


class _Step(nn.Module):
    """One training forward, as DDP sees it (a single call): ``(loss to minimise, loss, aux loss, logits)``.

    Three objectives: the model's own ``training_loss(images, labels, offsets) -> (loss,
    logits)`` when it defines one (a model trained on another target than the label, e.g.
    the What/Where model's Where pathway); cross-entropy plus ``aux_weight`` times the
    location loss on ``attend``'s glimpse centre; or plain cross-entropy.
    """

    def __init__(self, model: nn.Module, aux_weight: float, size: int):
        super().__init__()
        self.model, self.aux_weight, self.size = model, aux_weight, size

    def forward(self, images: torch.Tensor, labels: torch.Tensor, offsets: torch.Tensor):
        if callable(getattr(self.model, "training_loss", None)):
            loss, logits = self.model.training_loss(images, labels, offsets)
            return loss, loss, torch.zeros_like(loss), logits
        if self.aux_weight > 0:
            out = self.model.attend(images)
            loss, aux = F.cross_entropy(out.logits, labels), location_loss(out.offset, offsets, self.size)
            return loss + self.aux_weight * aux, loss, aux, out.logits
        logits = self.model(images)
        loss = F.cross_entropy(logits, labels)
        return loss, loss, torch.zeros_like(loss), logits


def _diverged(cfg: TrainConfig, epoch: int, where: str, value) -> TrainingDivergedError:
    kept = f"checkpoint.pt keeps epoch {epoch}, the last finite state" if epoch else "no checkpoint was written"
    return TrainingDivergedError(
        f"training diverged: {where} is {value} at epoch {epoch + 1}/{cfg.epochs} (lr {cfg.lr:g}, "
        f"{cfg.optimizer}); stopped before writing anything of this epoch ({kept}). Lower the learning rate "
        f"(--set lr=...) and start again with --overwrite, or check the data.")


def _train_epoch(cfg, step, optimizer, dataset, indices, ctx, device, epoch: int, meter: RunProgress) -> dict:
    """One pass over ``indices`` in global batches of ``cfg.batch_size``; returns epoch means.

    Raises:
        TrainingDivergedError: a NaN or infinite loss (checked every step on CPU, every
            ``_CHECK_EVERY["cuda"]`` steps on CUDA, and on the epoch's sums under torchrun).
    """
    step.train()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, aux loss, correct, count
    n_batches = len(indices) // cfg.batch_size
    every = _CHECK_EVERY.get(torch.device(device).type, 25) if ctx.world_size == 1 else 0  # ranks stop together
    for b in meter.batches(epoch, n_batches, cfg.batch_size):
        if cfg.lr_schedule == "cosine":  # the only schedule that moves within an epoch
            for group in optimizer.param_groups:
                group["lr"] = get_lr(cfg, epoch, b / n_batches)
        local = distributed.shard(indices[b * cfg.batch_size : (b + 1) * cfg.batch_size], ctx)
        images, labels, offsets = dataset.batch(local)
        total, loss, aux, logits = step(images, labels, offsets)
        if every and b % every == 0 and not bool(torch.isfinite(total.detach())):
            raise _diverged(cfg, epoch, f"the loss of batch {b + 1}/{n_batches}", total.item())
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        # accumulate on the device: no GPU sync per step
        n = len(labels)
        sums[0] += loss.detach() * n
        sums[1] += aux.detach() * n
        sums[2] += (logits.argmax(1) == labels).sum()
        sums[3] += n
    loss_sum, aux_sum, correct, count = distributed.all_reduce_sum(sums.tolist(), ctx, device)
    if not (math.isfinite(loss_sum) and math.isfinite(aux_sum)):
        raise _diverged(cfg, epoch, "the epoch's mean loss", loss_sum / count)
    return {"loss": loss_sum / count, "aux_loss": aux_sum / count, "train_acc": correct / count}


def _save_snapshot(out_dir: Path, model: nn.Module, epoch: int) -> None:
    save_model(out_dir / "snapshots" / f"epoch{epoch:04d}.pt", model, extra={"kind": "snapshot", "epoch": epoch})


def load_snapshots(run_dir: Union[str, os.PathLike], device="cpu") -> List[Tuple[int, nn.Module]]:
    """``[(epoch, model), ...]`` saved by a run with ``stage_snapshots`` (epoch 0: the initial
    weights), in epoch order; empty if the run kept none."""
    paths = sorted((Path(run_dir) / "snapshots").glob("epoch*.pt"))
    return [(int(load_checkpoint(p)["extra"]["epoch"]), load_model(p, device)) for p in paths]


def _resume_state(cfg: TrainConfig, ckpt_path: Path, resume: bool, overwrite: bool) -> Optional[dict]:
    """The checkpoint to continue from (``resume``), or None to start afresh; checked before any write."""
    model_path = ckpt_path.parent / "model.pt"
    if not ckpt_path.exists():
        if model_path.exists() and not overwrite:  # a finished model is work too
            raise FileExistsError(f"{model_path} exists but {ckpt_path.name} does not, so there is nothing to "
                                  f"{'resume' if resume else 'continue'}: pass overwrite=True to train "
                                  f"{ckpt_path.parent} again (--overwrite), or choose another folder")
        return None
    if not resume:
        if overwrite:
            return None
        raise FileExistsError(f"{ckpt_path} exists: pass resume=True to continue it (--resume) "
                              f"or overwrite=True to start again (--overwrite)")
    saved = load_checkpoint(ckpt_path)
    current, before = cfg.to_dict(), saved["extra"]["config"]
    differ = [k for k in current if k not in _MAY_CHANGE_ON_RESUME and before.get(k) != current[k]]
    if differ:
        details = ", ".join(f"{k}: saved {before.get(k)!r}, now {current[k]!r}" for k in differ)
        raise ValueError(f"cannot resume: the config differs from the checkpoint's ({details}); "
                         f"only {list(_MAY_CHANGE_ON_RESUME)} may change")
    if saved["extra"]["epoch"] > cfg.epochs:
        raise ValueError(f"cannot resume: {ckpt_path} is at epoch {saved['extra']['epoch']}, "
                         f"beyond epochs={cfg.epochs}")
    return saved


def _prepare_model(cfg: TrainConfig, model: Optional[nn.Module], device) -> nn.Module:
    """The model to train (built from ``cfg`` if None), checked and on ``device``; seeded weights."""
    torch.manual_seed(cfg.seed)  # the same initial weights in every process (and every resume)
    if model is None:
        model = build_model(cfg.model, **cfg.model_config)
    if not isinstance(getattr(model, "name", None), str) or not isinstance(getattr(model, "config", None), dict):
        raise ValueError(f"model must have a 'name' (str) and a 'config' (dict) to be saved; "
                         f"{type(model).__name__} lacks them")
    if cfg.aux_location_weight > 0 and not callable(getattr(model, "attend", None)):
        raise ValueError(f"aux_location_weight > 0 needs an attention model (with attend()); "
                         f"{type(model).__name__} has none")
    return model.to(device)


def _epoch_record(cfg: TrainConfig, epoch: int, stage: dict, lr: float, stats: dict, test: Tuple[float, float],
                  seconds: float, samples: int) -> dict:
    """The history entry of 0-based ``epoch`` (1-based in the record)."""
    contrast = stage["contrast"]
    row = {"epoch": epoch + 1, "stage": stage["stage"], cfg.curriculum_key: stage["std"],
           "contrast": list(contrast) if isinstance(contrast, tuple) else contrast,
           "lr": lr, "loss": stats["loss"], "train_acc": stats["train_acc"], "test_loss": test[0], "test_acc": test[1]}
    if cfg.aux_location_weight > 0:
        row["aux_loss"] = stats["aux_loss"]
    row.update(seconds=round(seconds, 3), samples=samples)
    return row


def _check_finite(cfg: TrainConfig, model: nn.Module, row: dict) -> None:
    """Refuse to save an epoch whose losses or weights are not finite (it would replace a good checkpoint)."""
    for key in ("loss", "test_loss", "aux_loss"):
        if key in row and not math.isfinite(row[key]):
            raise _diverged(cfg, row["epoch"] - 1, key, row[key])
    for name, value in model.state_dict().items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise _diverged(cfg, row["epoch"] - 1, f"weight {name!r}", "not finite")


def _write_epoch(cfg: TrainConfig, out_dir: Path, model, optimizer, history: List[dict], verbose: bool) -> None:
    """Checkpoint, history and (at a stage's end) snapshot after an epoch; one summary line."""
    row = history[-1]
    _check_finite(cfg, model, row)
    save_model(out_dir / "checkpoint.pt", model, optimizer=optimizer, extra={
        "kind": "train", "epoch": row["epoch"], "config": cfg.to_dict(), "history": history,
        "torch_rng_state": torch.get_rng_state(),  # for the record: each epoch re-seeds
    })
    write_json(history, out_dir / "history.json")
    if cfg.stage_snapshots and (row["epoch"] % cfg.epochs_per_stage == 0 or row["epoch"] == cfg.epochs):
        _save_snapshot(out_dir, model, row["epoch"])
    if verbose:
        tqdm.write(f"epoch {row['epoch']}/{cfg.epochs} stage {row['stage']} {cfg.curriculum_key} "
                   f"{row[cfg.curriculum_key]:g} lr {row['lr']:.3g} loss {row['loss']:.4f} "
                   f"train_acc {row['train_acc']:.3f} test_acc {row['test_acc']:.3f} ({row['seconds']:.1f} s)")


def _start_run(cfg: TrainConfig, out_dir: Path, model, ctx, device, start_epoch: int) -> dict:
    """Check that MNIST loads, then write ``config.json``, ``run.json`` (and snapshot 0); the run record."""
    # both splits now, so missing data fails before any file is written
    make_dataset(cfg, True, cfg.seed, cfg.curriculum[0], cfg.contrast, device)
    make_dataset(cfg, False, cfg.seed, cfg.curriculum[0], cfg.contrast, device, length=cfg.test_samples)
    # through JSON: plain str/float/int only (torch.__version__ is a str subclass that
    # torch.load(weights_only=True) refuses to unpickle)
    run_info = {"provenance": json.loads(json.dumps(provenance(cfg.profile, device))) if ctx.is_main else None,
                "world_size": ctx.world_size, "start_epoch": start_epoch}
    if ctx.is_main:
        if start_epoch == 0:  # a fresh start (no checkpoint, or overwrite): the previous run's files go
            for old in [out_dir / "model.pt", out_dir / "history.json", *(out_dir / "snapshots").glob("epoch*.pt")]:
                old.unlink(missing_ok=True)
        write_json(cfg.to_dict(), out_dir / "config.json")
        write_json(run_info, out_dir / "run.json")
        if cfg.stage_snapshots and start_epoch == 0:
            _save_snapshot(out_dir, model, 0)
    return run_info


def _run_epoch(cfg: TrainConfig, epoch: int, model, step, optimizer, ctx, device, samples: int,
               meter: RunProgress) -> dict:
    """Train 0-based ``epoch`` at its stage's difficulty, test on the fixed test scenes; its history entry."""
    t0, stage, lr = time.time(), stage_of(cfg, epoch), get_lr(cfg, epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr
    torch.manual_seed(_derive_seed(cfg.seed, "torch", epoch, ctx.rank))  # resuming needs no RNG state
    length = max(_MNIST_TRAIN, cfg.samples_per_epoch + 1) // 2 * 2  # whole pairs, >= the epoch
    train_set = make_dataset(cfg, True, _derive_seed(cfg.seed, "train", epoch), stage["std"], stage["contrast"],
                             device, length=length)
    indices = _epoch_indices(cfg, epoch, len(train_set))
    stats = _train_epoch(cfg, step, optimizer, train_set, indices, ctx, device, epoch, meter)
    # the same test scenes (seed, digits) every epoch, drawn at the epoch's difficulty
    test_set = make_dataset(cfg, False, _derive_seed(cfg.seed, "test"), stage["std"], stage["contrast"], device,
                            length=cfg.test_samples)
    test = _test_pass(model, test_set, ctx, device)
    return _epoch_record(cfg, epoch, stage, lr, stats, test, time.time() - t0, samples + len(indices))


@contextlib.contextmanager
def _claim(out_dir: Path, verbose: bool):
    """Hold ``out_dir``'s lock (the writing process only) and remove what a killed write left there."""
    say = tqdm.write if verbose else None
    main = distributed.env_world()[0] == 0
    with run_lock(out_dir, enabled=main, say=say):
        if main:
            for path in remove_stale_temporaries(out_dir) + remove_stale_temporaries(out_dir / "snapshots"):
                if say:
                    say(f"removed {path.parent.name}/{path.name}, left by an interrupted write")
        yield


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
    every epoch; ``model.pt`` (:func:`~stnutils.training.checkpoint.load_model` reads it) at the end.

    Args:
        cfg: the run's :class:`TrainConfig`.
        out_dir: the run folder (created).
        resume: continue from ``out_dir/checkpoint.pt`` (start afresh if there is none);
            the result is identical to an uninterrupted run. The config must match the
            saved one except for ``epochs``, ``device`` and ``data_root``.
        model: train this module instead of ``build_model(cfg.model, **cfg.model_config)``;
            it needs ``name`` and ``config`` attributes to be saved.
        overwrite: start afresh even if ``out_dir`` holds a checkpoint or a model (the old
            checkpoint is replaced when the first new epoch is saved; the old model.pt, history
            and snapshots go at the start). Without it, or ``resume``, that is an error.
        progress: a progress bar per epoch: None (when writing to a terminal), True, False.
            Status lines go to the terminal when ``$STNUTILS_PROGRESS`` is set
            (:mod:`stnutils.training.progress`).
        verbose: print one summary line per epoch.

    Returns:
        the history: one dict per epoch with ``epoch`` (1-based), ``stage``, ``shift_std``
        or ``eccentricity_std``, ``contrast`` (a number or ``[c_min, c_max]``), ``lr``,
        ``loss`` (training cross-entropy), ``train_acc``, ``test_loss``, ``test_acc``,
        ``aux_loss`` (with an auxiliary loss), ``seconds`` (the epoch's wall time) and
        ``samples`` (training samples seen so far).

    Raises:
        FileExistsError: ``out_dir`` holds a checkpoint (or a model) and neither ``resume`` nor
            ``overwrite``.
        RunLockedError: (a ``FileExistsError``) another process is training into ``out_dir``.
        TrainingDivergedError: the loss became NaN or infinite; the last checkpoint is kept.
        ValueError: a config that cannot be trained here, or one that differs from the checkpoint.
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    out_dir = Path(out_dir)
    with _claim(out_dir, verbose):
        return _fit(cfg, out_dir, resume, model, overwrite, progress, verbose)


def _fit(cfg: TrainConfig, out_dir: Path, resume: bool, model, overwrite: bool, progress, verbose: bool):
    """:func:`fit` once the folder is this process's."""
    saved = _resume_state(cfg, out_dir / "checkpoint.pt", resume, overwrite)  # bad input costs no file
    ctx, device = distributed.setup(resolve_device(cfg.device))  # under torchrun: this rank's GPU
    try:
        if cfg.batch_size % ctx.world_size:
            raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the number of processes "
                             f"({ctx.world_size})")
        model = _prepare_model(cfg, model, device)
        optimizer = _make_optimizer(cfg, model)
        history, start_epoch = [], 0
        if saved is not None:
            model.load_state_dict(saved["state_dict"])
            optimizer.load_state_dict(saved["optimizer"])  # moves the state to the parameters' device
            history, start_epoch = list(saved["extra"]["history"]), int(saved["extra"]["epoch"])
        step = distributed.wrap_model(_Step(model, cfg.aux_location_weight, SCENE_SIZE[cfg.task]), ctx, device)
        run_info, t_start = _start_run(cfg, out_dir, model, ctx, device, start_epoch), time.time()
        meter = RunProgress(cfg.schedule if cfg.schedule != "custom" else cfg.model, cfg.profile, cfg.epochs,
                            progress, ctx.is_main)
        for epoch in range(start_epoch, cfg.epochs):
            samples = history[-1]["samples"] if history else 0
            history.append(_run_epoch(cfg, epoch, model, step, optimizer, ctx, device, samples, meter))
            if ctx.is_main:
                _write_epoch(cfg, out_dir, model, optimizer, history, verbose)
        if ctx.is_main:
            run_info.update(finished_epochs=len(history), wall_time_s=round(time.time() - t_start, 1))
            write_json(run_info, out_dir / "run.json")
            save_model(out_dir / "model.pt", model, extra={"kind": "model", "config": cfg.to_dict(),
                                                           "history": history, "provenance": run_info["provenance"]})
        distributed.barrier(ctx)  # nobody leaves (and tears down) before the files are written
    finally:
        distributed.teardown(ctx)
    model.eval()
    return history
