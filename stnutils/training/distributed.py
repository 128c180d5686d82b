"""Data-parallel training under ``torchrun``: process group, batch shards, metric sums.

:func:`stnutils.training.loop.fit` runs unchanged in one process or under
``torchrun --nproc_per_node=N -m stnutils train ...``. Each process ("rank") generates
its own contiguous shard of every global batch, so the global batch, and with
DistributedDataParallel's gradient averaging the update, are those of a single-process
run. Only rank 0 writes files and draws progress bars.

Example:
    >>> ctx = DistributedContext()          # what a plain (single-process) run gets
    >>> ctx.world_size, ctx.is_main
    (1, True)
    >>> shard(torch.arange(8), ctx).tolist()
    [0, 1, 2, 3, 4, 5, 6, 7]
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence, Tuple

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistributedContext",
    "env_world",
    "setup",
    "teardown",
    "shard",
    "all_reduce_sum",
    "wrap_model",
    "unwrap_model",
    "barrier",
]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a data-parallel run.

    Attributes:
        rank: this process's index in [0, world_size).
        world_size: number of processes (1: no distribution).
        local_rank: index on this machine (picks the GPU).
        owns_group: whether :func:`setup` created the process group (then
            :func:`teardown` destroys it; a group made by the caller is left alone).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and shows progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def env_world() -> Tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the variables torchrun sets (else ``(0, 1, 0)``).

    Raises:
        ValueError: the variables are not integers or are inconsistent.
    """
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK must be in [0, WORLD_SIZE) and WORLD_SIZE >= 1, got RANK={rank}, WORLD_SIZE={world}")
    return rank, world, local


def setup(device: str) -> Tuple[DistributedContext, str]:
    """Join the process group if torchrun started us; pick this rank's device.

    Uses the group the caller already initialised if there is one; otherwise, when
    ``WORLD_SIZE > 1``, initialises one from the environment (``MASTER_ADDR``,
    ``MASTER_PORT``): NCCL for CUDA, gloo for CPU.

    Args:
        device: the resolved device (``'cpu'``, ``'cuda'`` or ``'cuda:N'``).

    Returns:
        ``(context, device)``; under CUDA each rank gets ``cuda:LOCAL_RANK``.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        ctx = DistributedContext(rank, world, _env_int("LOCAL_RANK", rank), owns_group=False)
    else:
        rank, world, local = env_world()
        if world == 1:
            return DistributedContext(), device
        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
        ctx = DistributedContext(rank, world, local, owns_group=True)
    if torch.device(device).type == "cuda":
        device = f"cuda:{ctx.local_rank}"  # one GPU per process
        torch.cuda.set_device(device)
    if ctx.owns_group:
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=ctx.rank, world_size=ctx.world_size)
    return ctx, device


def teardown(ctx: DistributedContext) -> None:
    """Destroy the process group if :func:`setup` created it."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def shard(indices: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """This rank's contiguous share of a global batch of sample indices.

    Contiguous (not strided) shares keep the pairs ``(2p, 2p + 1)`` that share one
    background FFT in the same process.

    Raises:
        ValueError: the batch does not split evenly (unequal shares would weight the
            ranks' gradients unequally in DDP's average).
    """
    if ctx.world_size == 1:
        return indices
    n = len(indices)
    if n % ctx.world_size:
        raise ValueError(f"batch of {n} samples does not split evenly over {ctx.world_size} processes")
    per = n // ctx.world_size
    return indices[ctx.rank * per : (ctx.rank + 1) * per]


def all_reduce_sum(values: Sequence[float], ctx: DistributedContext, device="cpu") -> list:
    """Sum a few numbers (loss sums, correct counts) over the ranks; a no-op for one process."""
    if ctx.world_size == 1:
        return [float(v) for v in values]
    # float64: exact for counts, and sums of float32 losses lose nothing visible
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def wrap_model(model: nn.Module, ctx: DistributedContext, device: str) -> nn.Module:
    """``DistributedDataParallel(model)`` when distributed, else ``model`` itself."""
    if ctx.world_size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if torch.device(device).type == "cuda":
        return DistributedDataParallel(model, device_ids=[torch.device(device).index])
    return DistributedDataParallel(model)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (its attributes: ``attend``, ``config``)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def barrier(ctx: DistributedContext) -> None:
    if ctx.world_size > 1:
        dist.barrier()
