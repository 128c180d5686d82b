"""Training throughput of every model against the seed's own architectures, on this CPU.

What is timed: one SGD training step (zero_grad, forward, cross-entropy, backward, step)
on a FIXED batch generated once before timing, so data generation is excluded; the
numbers are the models' own cost. Each model is timed for at least ``--min-time``
seconds per round, every model once per round (the order reversed every other round),
and the seed ATN is timed again between every two models (A X A Y A ...): a model's ratio
to the seed ATN in a round uses the two seed timings around it, seconds apart, so a burst
of load from other processes hits both sides of the ratio alike. ``models`` and
``seed_reference`` are medians over rounds; ``ratio_vs_seed_atn`` medians of the paired
ratios; ``best_of_rounds`` the fastest round (the least disturbed one on a shared machine).

The reference is the seed lab book's own STN 28x28, STN 128x128 and ATN
(``benchmarks/seed_models.py``); the SPEC gives ≈3,700, ≈50 and ≈230 samples/s for them
on a 2-core CPU at batch 100. The candidates are ``stnutils.models.MODEL_NAMES`` built
with their default configuration (skipped, with the reason, if that fails).

Usage: python benchmarks/train_throughput.py [--rounds 5] [--threads 2] [--batch 100]
       [--min-time 1] [--models atn,fast_atn] [--no-seed-stn128]
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_models import SEED_MODELS, SEED_SPEC_SAMPLES_PER_S  # noqa: E402

from stnutils.provenance import git_commit  # noqa: E402

ATTENTION_MODELS = ("atn", "polo_atn", "fast_atn", "heat_atn")


def fixed_batch(size: int, batch: int, seed: int = 0):
    """``batch`` training scenes of side ``size`` (28, 60 or 128), labels, offsets and the source, made once."""
    import stnutils as stn

    try:
        if size == 28:
            ds = stn.data.NoisyMNIST28(train=True, seed=seed, shift_std=5.0)
        else:
            ds = stn.data.NoisyMNIST128(train=True, seed=seed, size=size, eccentricity_max=min(40.0, (size - 28) / 2))
        images, labels, offsets = ds.batch(torch.arange(batch))
        return images, labels, offsets, "noisy MNIST"
    except stn.data.MNISTNotFoundError:  # timing does not depend on the pixel values
        g = torch.Generator().manual_seed(seed)
        return (torch.rand(batch, 1, size, size, generator=g), torch.randint(0, 10, (batch,), generator=g),
                torch.zeros(batch, 2, dtype=torch.int64), "random")


class Runner:
    """A model, its SGD optimiser and its fixed batch: ``rate()`` times training steps.

    The step minimises what training minimises: the model's own ``training_loss`` where it
    has one (the What/Where model's Where pathway), else the cross-entropy of its logits.
    """

    def __init__(self, model, images, labels, offsets=None):
        self.model = model.train()
        self.images, self.labels = images, labels
        self.offsets = torch.zeros(len(labels), 2, dtype=torch.int64) if offsets is None else offsets
        self.opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
        # warm-up (allocations, oneDNN kernel selection): the first steps run slower
        start = time.perf_counter()
        for _ in range(3):
            self.step()
            if time.perf_counter() - start > 0.5:
                break

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        own = getattr(self.model, "training_loss", None)
        if callable(own):
            loss = own(self.images, self.labels, self.offsets)[0]
        else:
            loss = F.cross_entropy(self.model(self.images), self.labels)
        loss.backward()
        self.opt.step()

    def rate(self, min_time: float) -> float:
        start = time.perf_counter()
        steps = 0
        while True:
            self.step()
            steps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                return steps * len(self.labels) / elapsed


def candidates(names):
    """``{name: (model, input side)}`` from stnutils.models, and ``{name: reason}`` skipped."""
    built, skipped = {}, {}
    try:
        from stnutils import models
    except ImportError as exc:
        return built, {"stnutils.models": f"not importable: {exc}"}
    wanted = list(models.MODEL_NAMES) if names is None else names
    for name in wanted:
        try:
            torch.manual_seed(0)
            built[name] = (models.build_model(name), int(models.input_size(name)))
        except Exception as exc:  # report and go on: one broken model must not hide the others
            skipped[name] = f"{type(exc).__name__}: {exc}"
    return built, skipped


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--batch", type=int, default=100, help="batch size (default 100, as the seed)")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per model per round (default 1)")
    parser.add_argument("--models", default=None, help="comma-separated stnutils model names (default: all)")
    parser.add_argument("--no-seed-stn128", action="store_true", help="skip the slow seed STN 128x128")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.batch < 1 or args.threads < 1 or args.min_time < 0:
        parser.error("rounds, batch and threads must be >= 1 and min-time >= 0")
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    batches = {}

    def batch_for(size):
        if size not in batches:
            batches[size] = fixed_batch(size, args.batch)
        return batches[size]

    runners = {}
    for name, (cls, size) in SEED_MODELS.items():
        if args.no_seed_stn128 and name == "stn_128x128":
            continue
        torch.manual_seed(0)
        images, labels, _, _ = batch_for(size)
        runners[("seed", name)] = Runner(cls(), images, labels)
    names = None if args.models is None else [m for m in args.models.split(",") if m]
    built, skipped = candidates(names)
    for name, (model, size) in built.items():
        images, labels, offsets, _ = batch_for(size)
        try:
            runners[("model", name)] = Runner(model, images, labels, offsets)
        except Exception as exc:
            skipped[name] = f"{type(exc).__name__} in a training step: {exc}"

    # Each model is timed between two timings of the seed ATN (A X A Y A ...): its ratio
    # uses the geometric mean of the two, taken seconds apart, so a burst of load from
    # other processes hits both sides of a ratio alike.
    seed_atn = ("seed", "atn")
    others = [key for key in runners if key != seed_atn]
    per_round = {key: [] for key in runners}
    pair_ratios = {key: [] for key in others}
    for r in range(args.rounds):
        before = runners[seed_atn].rate(args.min_time)
        per_round[seed_atn].append(before)
        for key in others if r % 2 == 0 else others[::-1]:
            rate = runners[key].rate(args.min_time)
            after = runners[seed_atn].rate(args.min_time)
            per_round[key].append(rate)
            per_round[seed_atn].append(after)
            pair_ratios[key].append(rate / (before * after) ** 0.5)
            before = after

    def median(key):
        return round(statistics.median(per_round[key]), 1)

    median_ratio = {(kind, name): round(statistics.median(pair_ratios[kind, name]), 2) for kind, name in others}
    ratios = {name: r for (kind, name), r in median_ratio.items() if kind == "model"}
    seed_ratios = {name: r for (kind, name), r in median_ratio.items() if kind == "seed"}
    attention = {n: ratios[n] for n in ATTENTION_MODELS if n in ratios}
    best = max(attention, key=attention.get) if attention else None
    order = list(runners)
    result = {
        "benchmark": "train_throughput",
        "what": "training samples/s: SGD step (forward + cross-entropy + backward + update) on a FIXED "
                "pre-generated batch; data generation excluded",
        "batch": args.batch,
        "threads": args.threads,
        "rounds": args.rounds,
        "min_time_s": args.min_time,
        "data": {str(size): source for size, (_, _, _, source) in batches.items()},
        "models": {name: median(("model", name)) for kind, name in order if kind == "model"},
        "input_size": {name: size for name, (_, size) in built.items()},
        "seed_reference": {name: median(("seed", name)) for kind, name in order if kind == "seed"},
        "seed_reference_spec": dict(SEED_SPEC_SAMPLES_PER_S),
        "best_of_rounds": {f"{kind}:{name}": round(max(per_round[kind, name]), 1) for kind, name in order},
        "ratio_vs_seed_atn": ratios,
        "seed_ratio_vs_seed_atn": seed_ratios,
        "fast_atn_vs_seed_atn": ratios.get("fast_atn"),
        "best_attention_model": best,
        "best_attention_vs_seed_atn": attention.get(best) if best else None,
        "target_10x_met": bool(best and attention[best] >= 10),
        "per_round": {f"{kind}:{name}": [round(v, 1) for v in vals] for (kind, name), vals in per_round.items()},
        "skipped": skipped,
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "torch": torch.__version__,
        "git_commit": git_commit(ROOT),
    }
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
