"""Throughput of the batched 128x128 generator against a per-sample reference pipeline.

The reference is written the way the What/Where code builds a scene: one image at a time
with numpy and the MotionClouds package (envelope, random cloud, rectification, placement
at an eccentricity, contrast, composite, circular mask). Both run in this process with the
same torch/numpy thread count, interleaved round by round so that a noisy machine slows
both alike; the reported rates are medians over rounds and ``ratio`` is the median of the
per-round ratios.

The headline (``batched_samples_per_s``, ``ratio``) is at batch 256 with a fresh output
tensor per batch; ``by_batch_size`` adds 100 (the training batch), 256 and 512, and the
largest again writing into one reused output (``batch(..., out=)``). A fresh 32 MiB output
(512 scenes) is beyond glibc's largest mmap threshold, so every call maps new pages and
faults them in one by one as they are written.

Usage: python benchmarks/data_throughput.py [--rounds 5] [--threads 2] [--batch 256]
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import stnutils as stn  # noqa: E402
from stnutils.provenance import describe_device, git_commit  # noqa: E402


def reference_scene(digit: np.ndarray, rng: np.random.Generator, size=128, ecc_std=15.0, ecc_max=40.0,
                    contrast=(0.3, 0.7), noise=0.75, sf_0=0.1, B_sf=0.1) -> np.ndarray:
    """One scene, per sample, with numpy + MotionClouds (the What/Where way)."""
    import MotionClouds as mc

    radius = min(abs(rng.normal(0, ecc_std)), ecc_max)
    angle = rng.uniform(0, 2 * np.pi)
    i, j = int(radius * np.cos(angle)), int(radius * np.sin(angle))
    c = rng.uniform(*contrast)
    field = np.zeros((size, size))
    corner = (size - 28) // 2
    field[corner + i : corner + i + 28, corner + j : corner + j + 28] = digit
    field = (field - field.min()) / (field.max() - field.min())
    field = (2 * field - 1) * c / 2 + 0.5
    fx, fy, ft = mc.get_grids(size, size, 1)
    env = mc.envelope_gabor(fx, fy, ft, sf_0=sf_0, B_sf=B_sf, B_theta=np.inf, V_X=0.0, V_Y=0.0, B_V=0, alpha=0.0)
    cloud = mc.rectif(mc.random_cloud(env, seed=int(rng.integers(2**31))), contrast=1.0, method="Michelson")[:, :, 0]
    background = (2 * cloud - 1) * noise / 2 + 0.5
    field[field <= 0.5] = -np.inf
    field = np.clip(np.maximum(field, background), 0, 1)
    field = (field - field.min()) / (field.max() - field.min())
    x, y = np.mgrid[-1 : 1 : 1j * size, -1 : 1 : 1j * size]
    return (field - 0.5) * (np.sqrt(x**2 + y**2) < 1) + 0.5


def time_reference(digits: np.ndarray, n: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for k in range(n):
        reference_scene(digits[k % len(digits)], rng)
    return n / (time.perf_counter() - start)


def time_batched(ds, n: int, batch: int, offset: int, reuse_output: bool = False) -> float:
    """Scenes/s over ``n`` scenes in batches of ``batch``; each batch is dropped, as a
    training step drops it, or written into one reused tensor (``batch(..., out=)``)."""
    out = torch.empty(batch, 1, ds.size, ds.size, device=ds.device) if reuse_output else None
    if ds.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for first in range(offset, offset + n, batch):
        ds.batch(torch.arange(first, first + batch, device=ds.device), out=out)
    if ds.device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch/numpy threads (default 2)")
    parser.add_argument("--batch", type=int, default=256, help="batch size of the headline figure (default 256)")
    parser.add_argument("--batch-sizes", default="100,256,512",
                        help="also time these batch sizes (comma-separated; '' for none)")
    parser.add_argument("--reference-samples", type=int, default=200, help="reference scenes per round")
    parser.add_argument("--batched-samples", type=int, default=8192, help="batched scenes per round")
    parser.add_argument("--cuda-samples", type=int, default=1 << 20, help="scenes per round on CUDA")
    parser.add_argument("--data-root", default=None, help="MNIST root (default: STNUTILS_DATA, else ./data)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    ds = stn.data.NoisyMNIST128(args.data_root, train=True, length=10**9)
    digits = ds._digits[:1000].numpy().astype(np.float64)
    # (batch size, reuse the output tensor): the headline first, then the table
    cases = [(args.batch, False)] + [(int(b), False) for b in args.batch_sizes.split(",") if b.strip()]
    cases = list(dict.fromkeys(cases + [(max(b for b, _ in cases), True)]))
    time_reference(digits, 5, 0)  # warm-up: imports, caches
    for batch, reuse in cases:
        time_batched(ds, batch, batch, 0, reuse)
    ref, rates = [], {case: [] for case in cases}
    offset = 0
    for r in range(args.rounds):
        ref.append(time_reference(digits, args.reference_samples, r))
        for case in cases:
            n = max(args.batched_samples // case[0], 1) * case[0]
            rates[case].append(time_batched(ds, n, case[0], offset, case[1]))
            offset += n

    def summary(case):
        ratios = [b / a for a, b in zip(ref, rates[case])]
        return round(statistics.median(rates[case]), 1), round(statistics.median(ratios), 2)

    headline = summary(cases[0])
    result = {
        "benchmark": "data_throughput",
        "scene": "128x128, eccentricity |N(0,15)| <= 40, contrast U[0.3,0.7], MotionCloud noise 0.75, mask",
        "threads": args.threads,
        "batch_size": args.batch,
        "rounds": args.rounds,
        "batched_samples_per_s": headline[0],
        "reference_samples_per_s": round(statistics.median(ref), 1),
        "ratio": headline[1],
        "batched_samples_per_s_rounds": [round(v, 1) for v in rates[cases[0]]],
        "reference_samples_per_s_rounds": [round(v, 1) for v in ref],
        "target_ratio": 30,
        "by_batch_size": [
            dict(batch_size=b, output="reused (out=)" if reuse else "fresh",
                 samples_per_s=summary((b, reuse))[0], ratio=summary((b, reuse))[1])
            for b, reuse in cases[1:]
        ],
    }
    if torch.cuda.is_available():
        gpu = stn.data.NoisyMNIST128(args.data_root, train=True, length=10**9, device="cuda")
        big = min(args.cuda_samples, 1 << 16)
        time_batched(gpu, big, big, 0)
        rates = [time_batched(gpu, args.cuda_samples, big, (r + 1) * args.cuda_samples) for r in range(3)]
        result["cuda_samples_per_s"] = round(statistics.median(rates), 1)
        result["cuda_batch_size"] = big
        result["cuda_target_samples_per_s"] = 1_000_000
    result.update(
        device=describe_device(torch.device("cuda" if torch.cuda.is_available() else "cpu")),
        git_commit=git_commit(),
        torch=torch.__version__,
    )
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
