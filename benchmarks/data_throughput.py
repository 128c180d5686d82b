"""Throughput of the batched 128x128 generator against a per-sample reference pipeline.

The reference is written the way the What/Where code builds a scene: one image at a time
with numpy and the MotionClouds package (envelope, random cloud, rectification, placement
at an eccentricity, contrast, composite, circular mask). Both run in this process with the
same torch/numpy thread count, interleaved round by round so that a noisy machine slows
both alike; the reported rates are medians over rounds and ``ratio`` is the median of the
per-round ratios.

Usage: python benchmarks/data_throughput.py [--rounds 5] [--threads 2] [--batch 512]
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import math
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


def time_batched(ds, n: int, batch: int, offset: int) -> float:
    if ds.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for first in range(offset, offset + n, batch):
        ds.batch(torch.arange(first, first + batch, device=ds.device))
    if ds.device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch/numpy threads (default 2)")
    parser.add_argument("--batch", type=int, default=512, help="batch size of the batched generator")
    parser.add_argument("--reference-samples", type=int, default=200, help="reference scenes per round")
    parser.add_argument("--batched-samples", type=int, default=8192, help="batched scenes per round")
    parser.add_argument("--cuda-samples", type=int, default=1 << 20, help="scenes per round on CUDA")
    parser.add_argument("--data-root", default=None, help="MNIST root (default: STNUTILS_DATA, else ./data)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    ds = stn.NoisyMNIST128(args.data_root, train=True, length=10**9)
    digits = ds._digits[:1000].numpy().astype(np.float64)
    time_reference(digits, 5, 0)  # warm-up: imports, caches
    time_batched(ds, args.batch, args.batch, 0)
    ref, bat, ratios = [], [], []
    for r in range(args.rounds):
        ref.append(time_reference(digits, args.reference_samples, r))
        bat.append(time_batched(ds, args.batched_samples, args.batch, (r + 1) * args.batched_samples))
        ratios.append(bat[-1] / ref[-1])
    result = {
        "benchmark": "data_throughput",
        "scene": "128x128, eccentricity |N(0,15)| <= 40, contrast U[0.3,0.7], MotionCloud noise 0.75, mask",
        "threads": args.threads,
        "batch_size": args.batch,
        "rounds": args.rounds,
        "batched_samples_per_s": round(statistics.median(bat), 1),
        "reference_samples_per_s": round(statistics.median(ref), 1),
        "ratio": round(statistics.median(ratios), 2),
        "batched_samples_per_s_rounds": [round(v, 1) for v in bat],
        "reference_samples_per_s_rounds": [round(v, 1) for v in ref],
        "target_ratio": 30,
    }
    if torch.cuda.is_available():
        gpu = stn.NoisyMNIST128(args.data_root, train=True, length=10**9, device="cuda")
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
