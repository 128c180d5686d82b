"""Tests of stnutils.training.distributed and of fit under torchrun (2 CPU processes, gloo)."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from stnutils.training import TrainConfig, distributed, fit
from stnutils.training.distributed import DistributedContext, env_world, shard

TESTS = Path(__file__).resolve().parent


class TinyConvNet(nn.Module):
    """No BatchNorm, no dropout: two processes must reproduce one process's updates exactly."""

    name = "lenet"

    def __init__(self):
        super().__init__()
        self.config = {}
        self.net = nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 12 * 12, 10))

    def forward(self, x):
        return self.net(x)


def ddp_config() -> TrainConfig:
    # 2 epochs x 4 global batches of 16; a test set of 30 that does not split evenly over 2 ranks
    return TrainConfig(model="lenet", profile="smoke", epochs=2, samples_per_epoch=64, batch_size=16,
                       test_samples=30, curriculum=[0.0, 2.0], lr=0.05, noise=0.5, seed=7, device="cpu")


SCRIPT = f"""
import json, os, sys, torch
sys.path.insert(0, {str(TESTS)!r})
from test_distributed import TinyConvNet, ddp_config
from stnutils.training import loop as train

# record the sizes of the batches this rank generates: each must be its share only
sizes = []
make_dataset = train.make_dataset
def counting(cfg, is_train, *args, **kwargs):
    ds = make_dataset(cfg, is_train, *args, **kwargs)
    batch = ds.batch
    def counted(indices):
        sizes.append(["train" if is_train else "test", len(indices)])
        return batch(indices)
    ds.batch = counted
    return ds
train.make_dataset = counting

torch.manual_seed(0)
train.fit(ddp_config(), sys.argv[1], model=TinyConvNet(), verbose=False, progress=False)
with open(sys.argv[2] + os.environ["RANK"] + ".json", "w") as f:
    json.dump(sizes, f)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- helpers ---------------------------------------------------------------------------------


def test_single_process_context():
    ctx = DistributedContext()
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.enabled) == (0, 1, True, False)
    idx = torch.arange(10)
    assert torch.equal(shard(idx, ctx), idx)
    assert distributed.all_reduce_sum([1, 2.5], ctx) == [1.0, 2.5]
    model = nn.Linear(2, 2)
    assert distributed.wrap_model(model, ctx, "cpu") is model
    assert distributed.unwrap_model(model) is model


def test_shards_are_contiguous_and_cover_the_batch():
    idx = torch.arange(100, 116)
    parts = [shard(idx, DistributedContext(rank=r, world_size=4)) for r in range(4)]
    assert [p.tolist() for p in parts] == [list(range(100 + 4 * r, 104 + 4 * r)) for r in range(4)]
    with pytest.raises(ValueError, match="batch of 16 samples does not split evenly over 3 processes"):
        shard(idx, DistributedContext(rank=0, world_size=3))


def test_env_world(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert env_world() == (0, 1, 0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert env_world() == (3, 4, 1)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match=r"RANK must be in \[0, WORLD_SIZE\)"):
        env_world()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE must be an integer, got 'two'"):
        env_world()


def test_setup_without_torchrun_is_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx, device = distributed.setup("cpu")
    assert ctx == DistributedContext() and device == "cpu"
    distributed.teardown(ctx)  # nothing to destroy


# --- the real thing --------------------------------------------------------------------------


def test_two_processes_train_the_same_weights_as_one(tmp_path, data_root):
    script = tmp_path / "ddp_fit.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", STNUTILS_DATA=data_root)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(script), str(tmp_path / "ddp"),
           str(tmp_path / "sizes")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    torch.manual_seed(0)
    single = TinyConvNet()
    h_single = fit(ddp_config(), tmp_path / "single", model=single, verbose=False)

    saved = torch.load(tmp_path / "ddp" / "model.pt", map_location="cpu", weights_only=True)
    for k, v in single.state_dict().items():
        torch.testing.assert_close(saved["state_dict"][k], v, atol=1e-5, rtol=1e-5, msg=k)
    torch.manual_seed(0)
    initial = TinyConvNet().state_dict()
    assert not torch.equal(initial["net.3.weight"], single.state_dict()["net.3.weight"])  # it did train
    h_ddp = json.loads((tmp_path / "ddp" / "history.json").read_text())
    assert len(h_ddp) == len(h_single) == 2
    for a, b in zip(h_ddp, h_single):
        assert a["samples"] == b["samples"] == 64 * a["epoch"]  # the global batch, not a rank's share
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert a["test_loss"] == pytest.approx(b["test_loss"], abs=1e-5)
        assert a["train_acc"] == b["train_acc"] and a["test_acc"] == b["test_acc"]
    for rank in (0, 1):  # each rank generated half of every global batch, and half the test set
        sizes = json.loads((tmp_path / f"sizes{rank}.json").read_text())
        assert [n for split, n in sizes if split == "train"] == [8] * 8
        assert sum(n for split, n in sizes if split == "test") == 2 * 15
    run = json.loads((tmp_path / "ddp" / "run.json").read_text())
    assert run["world_size"] == 2
    # rank 1 wrote nothing of its own
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == [
        "checkpoint.pt", "config.json", "history.json", "model.pt", "run.json"]


def test_every_model_gives_every_trainable_parameter_a_gradient():
    # DistributedDataParallel (find_unused_parameters=False) fails on a parameter without one
    from stnutils.models import MODEL_NAMES, build_model, input_size

    for name in MODEL_NAMES:
        torch.manual_seed(0)
        model = build_model(name)
        size = input_size(name)
        x = torch.rand(2, 1, size, size)
        if callable(getattr(model, "training_loss", None)):  # trained on its own objective (_Step calls it)
            loss = model.training_loss(x, torch.zeros(2, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long))[0]
        else:
            loss = model(x).logsumexp(1).sum()
        loss.backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing, (name, missing)
