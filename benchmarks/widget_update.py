"""Time of one update of the live explorer (stnutils.widgets.explore) for one model.

One update is what a slider move costs in Jupyter, ``stnutils.widgets.live.update``: the
slider values become a :class:`~stnutils.widgets.Controls`, ``explorer_state`` makes the
scene with ``NoisyMNIST128`` and runs the model (``attend``, softmax, the sampled region's
corners), and ``state_html`` draws it (two PNGs, the SVG box, the bars), with one torch
thread (the widget's setting; ``--threads`` changes it). Every round moves the digit
(a new offset and contrast), so no scene is reused. The weights are the architecture's
fresh ones (the cost does not depend on their values). Reported per model: the median,
10th and 90th percentile of wall time and of this process's CPU time, in milliseconds,
after warm-up rounds (the first update loads MNIST and compiles the numba kernels).

The target is 200 ms an update for one model on a 2-core CPU. On a machine other jobs
share, wall time grows with the load; CPU time much less: both are printed, with the load
average before and after.

Usage: python benchmarks/widget_update.py [--models fast_atn,lenet,...] [--rounds 30] [--threads 1]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import stnutils as stn  # noqa: E402
from stnutils.provenance import describe_device, git_commit  # noqa: E402

TARGET_MS = 200.0


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def time_updates(model, rounds: int, warmup: int, threads: int, data_root=None) -> dict:
    models = {model.name: model}
    wall, cpu = [], []
    for k in range(warmup + rounds):
        controls = stn.widgets.Controls.polar(k % 41, (37 * k) % 360, digit=k % 50, contrast=0.3 + 0.05 * (k % 9))
        w0, c0 = time.perf_counter(), time.process_time()
        state, html = stn.widgets.live.update(models, controls, data_root, threads=threads)
        w1, c1 = time.perf_counter(), time.process_time()
        assert html and state.offset == controls.offset
        if k >= warmup:
            wall.append(1000 * (w1 - w0))
            cpu.append(1000 * (c1 - c0))
    return {
        "wall_ms": {"median": round(statistics.median(wall), 1), "p10": round(percentile(wall, 0.1), 1),
                    "p90": round(percentile(wall, 0.9), 1)},
        "cpu_ms": {"median": round(statistics.median(cpu), 1), "p10": round(percentile(cpu, 0.1), 1),
                   "p90": round(percentile(cpu, 0.9), 1)},
        "under_target": statistics.median(wall) < TARGET_MS,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="fast_atn", help="comma-separated registry names (28x28 ones see the "
                        "central patch); default fast_atn")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=stn.widgets.live.UPDATE_THREADS,
                        help="torch threads of an update (default: the widget's own, 1)")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    results = {}
    for name in args.models.split(","):
        model = stn.models.build_model(name).eval()
        results[name] = time_updates(model, args.rounds, args.warmup, args.threads, args.data_root)
    out = {
        "benchmark": "widget_update", "what": "one explorer update (scene, model, HTML) for one model",
        "target_ms": TARGET_MS, "rounds": args.rounds, "threads": args.threads,
        "device": describe_device("cpu"), "cpu_count": os.cpu_count(), "commit": git_commit(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "models": results,
    }
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
