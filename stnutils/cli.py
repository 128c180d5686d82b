"""Command line: ``python -m stnutils train ...`` and ``python -m stnutils evaluate ...``.

Examples::

    python -m stnutils train --schedule atn --profile quick --out runs/atn-quick
    python -m stnutils train --schedule stn28 --profile smoke --out runs/s --set lr=0.02 --set seed=1
    torchrun --nproc_per_node=2 -m stnutils train --schedule stn128 --profile full --out runs/stn128
    python -m stnutils evaluate runs/atn-quick --benchmark --out results/atn-quick.json
    python -m stnutils schedules          # the named schedules and their sizes per profile
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from torch import nn

from .evaluation.metrics import accuracy_map, benchmark
from .evaluation.results import write_results
from .evaluation.saccades import saccade_benchmark
from .io import write_json
from .provenance import PROFILES, resolve_device
from .training.checkpoint import CheckpointError, load_checkpoint, load_model
from .training.distributed import env_world
from .training.loop import TrainingDivergedError, fit
from .training.schedules import SCHEDULES, get_config, schedule_table
from .training.seed_sweep import map_sweep, sweep
from .training.whatwhere import fit_two_stage, is_two_stage

__all__ = ["main", "build_parser"]


class CLIError(Exception):
    """A user error: reported as ``error: ...`` with exit status 2, without a traceback."""


def _parse_set(items: List[str]) -> dict:
    """``["lr=0.02", "curriculum=[0,5]"]`` -> ``{"lr": 0.02, "curriculum": [0, 5]}`` (JSON, else a string)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value  # a bare string, e.g. optimizer=adam
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stnutils",
        description="Train and evaluate the lab book's models (STN, ATN, POLO-ATN, What pathway) on noisy MNIST.",
        epilog="MNIST is read from --data-root, else $STNUTILS_DATA, else ./data. "
               "Under torchrun (--nproc_per_node=N) training runs data-parallel with the same global batch.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    t = sub.add_parser("train", help="train a named schedule into a run folder",
                       description="Train a named schedule (model + curriculum + optimiser) sized for a "
                                   "profile; writes config.json, run.json, history.json, checkpoint.pt "
                                   "(every epoch) and model.pt (at the end) into --out.")
    t.add_argument("--schedule", "--model", dest="schedule", required=True, choices=list(SCHEDULES), metavar="NAME",
                   help=f"named schedule (--model is an alias): {', '.join(SCHEDULES)}")
    t.add_argument("--profile", required=True, choices=PROFILES,
                   help="smoke (seconds, CI), quick (minutes on a 2-core CPU), full (the seed's schedules, one GPU)")
    t.add_argument("--out", required=True, type=Path, metavar="DIR", help="run folder to write (created)")
    t.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when available); default auto")
    t.add_argument("--seed", type=int, default=None, help="seed of weights, scenes and order (default 0)")
    t.add_argument("--resume", action="store_true",
                   help="continue from DIR/checkpoint.pt (start afresh if there is none); ends with the "
                        "same weights as an uninterrupted run")
    t.add_argument("--overwrite", action="store_true",
                   help="start afresh even if DIR holds a checkpoint (default: refuse)")
    t.add_argument("--data-root", default=None, metavar="PATH", help="folder holding MNIST/raw")
    t.add_argument("--epochs", type=int, default=None, metavar="N", help="override the schedule's number of epochs")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any TrainConfig field (repeatable); VALUE is JSON, else a string, "
                        "e.g. --set lr=0.02 --set curriculum=[0,5,10]")
    t.add_argument("--quiet", action="store_true", help="no per-epoch lines and no progress bar")

    e = sub.add_parser("evaluate", help="benchmark or accuracy-map a trained run",
                       description="Load RUN_DIR/model.pt and measure it: --benchmark (128x128 task: accuracy "
                                   "per contrast x eccentricity) and/or --accuracy-map (28x28 task: accuracy "
                                   "per fixed shift). Without either flag: the one that fits the model's input.")
    e.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder holding model.pt")
    e.add_argument("--benchmark", action="store_true", help="accuracy at contrasts 0.3/0.5/0.7 x 9 eccentricities")
    e.add_argument("--accuracy-map", action="store_true", help="accuracy for each fixed (i, j) shift (28x28 models)")
    e.add_argument("--profile", choices=PROFILES, default=None,
                   help="profile recorded with the results (default: the run's own)")
    e.add_argument("--n", type=int, default=None, metavar="N", help="test scenes per cell (default: the metric's)")
    e.add_argument("--seed", type=int, default=0, help="seed of the test scenes (default 0)")
    e.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto; default auto")
    e.add_argument("--data-root", default=None, metavar="PATH", help="folder holding MNIST/raw")
    e.add_argument("--out", type=Path, default=None, metavar="PATH",
                   help="write the results as JSON here (e.g. results/NAME.json); default: print only")

    w = sub.add_parser("sweep", help="train several seeds of schedules and benchmark them into one results file",
                       description="For each --schedule and --seeds value: train (or load from the runs "
                                   "folder) and benchmark on the same test scenes; rows merged into --out "
                                   "after every run (atomically). The results page shows their mean ± std.")
    w.add_argument("--schedule", dest="schedules", action="append", required=True, choices=list(SCHEDULES),
                   metavar="NAME", help="a named schedule (repeatable)")
    w.add_argument("--profile", required=True, choices=PROFILES, help="smoke, quick or full")
    w.add_argument("--seeds", type=int, nargs="+", required=True, metavar="SEED", help="training seeds, e.g. 0 1 2")
    w.add_argument("--out", required=True, type=Path, metavar="PATH",
                   help="results file, e.g. results/sweep_quick.json")
    w.add_argument("--n", type=int, default=None, metavar="N",
                   help="test scenes per cell (default: 400 at quick; with --accuracy-map, digits per map cell, "
                        "40 at quick)")
    w.add_argument("--test-seed", type=int, default=0, help="seed of the test scenes, the same for every run")
    w.add_argument("--accuracy-map", action="store_true",
                   help="28x28 schedules: measure each run's accuracy map over every shift of -27..27 px "
                        "(central and general accuracy) instead of the 128x128 benchmark; --n is digits a cell")
    w.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto; default auto")
    w.add_argument("--data-root", default=None, metavar="PATH", help="folder holding MNIST/raw")
    w.add_argument("--runs", type=Path, default=None, metavar="DIR",
                   help="runs folder (default $STNUTILS_RUNS, else ./runs): runs found there are reused")

    sub.add_parser("schedules", help="list the named schedules and their sizes per profile",
                   description="Print epochs, samples per epoch and learning-rate steps of every named "
                               "schedule for each profile.")
    return parser


def _train(args) -> int:
    overrides = _parse_set(args.set)
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.data_root is not None:
        overrides["data_root"] = args.data_root
    overrides["device"] = args.device
    if is_two_stage(args.schedule):  # the What/Where model: What run, accuracy map, Where run
        history = fit_two_stage(args.schedule, args.profile, args.out, resume=args.resume, overwrite=args.overwrite,
                                progress=False if args.quiet else None, verbose=not args.quiet, **overrides)
    else:
        cfg = get_config(args.schedule, args.profile, **overrides)
        history = fit(cfg, args.out, resume=args.resume, overwrite=args.overwrite,
                      progress=False if args.quiet else None, verbose=not args.quiet)
    if history and not args.quiet and env_world()[0] == 0:  # under torchrun: rank 0 reports
        last = history[-1]
        print(f"done: {len(history)} epochs, test_acc {last['test_acc']:.3f}; wrote {args.out}/model.pt")
    return 0


def _run_name(ckpt: dict, model: nn.Module) -> str:
    """The name results are filed under: the schedule the checkpoint was trained with, when that schedule
    trains this very model (not one swapped in with --set model=...), else the checkpoint's own model."""
    schedule = (ckpt.get("extra") or {}).get("config", {}).get("schedule")
    if schedule in SCHEDULES and SCHEDULES[schedule].get("model") == ckpt["model_name"] == model.name:
        return schedule
    return model.name


def _check_run_folder(run_dir: Path, ckpt: dict) -> None:
    """Refuse a folder whose config.json describes another run than its model.pt (two runs mixed in one)."""
    saved = (ckpt.get("extra") or {}).get("config") or {}
    if saved.get("model", ckpt["model_name"]) != ckpt["model_name"]:
        raise CLIError(f"{run_dir / 'model.pt'} holds a {ckpt['model_name']!r} model but records the config of "
                       f"a {saved.get('model')!r} run: the file was altered; retrain it")
    config_path = run_dir / "config.json"
    if not config_path.is_file() or not saved:
        return
    try:
        folder = json.loads(config_path.read_text())
    except (OSError, ValueError) as err:
        raise CLIError(f"{config_path} is not readable JSON ({err}): the folder is damaged") from None
    if not isinstance(folder, dict):
        folder = {"model": folder}
    differ = [f"{k} {folder.get(k)!r} in config.json, {saved.get(k)!r} in model.pt"
              for k in ("model", "schedule", "profile", "seed") if folder.get(k) != saved.get(k)]
    if differ:
        raise CLIError(f"{run_dir} mixes two runs ({'; '.join(differ)}): "
                       f"results would be filed under the wrong name. Retrain into it with --overwrite, or "
                       f"evaluate the folder that holds the run you mean")


def _evaluate(args) -> int:
    model_path = args.run_dir / "model.pt"
    if not model_path.exists():
        raise CLIError(f"{model_path} not found: train first (python -m stnutils train ... --out {args.run_dir})")
    if args.n is not None and args.n < 1:
        raise CLIError(f"--n must be a positive integer, got {args.n}")
    device = resolve_device(args.device)
    ckpt = load_checkpoint(model_path)
    _check_run_folder(args.run_dir, ckpt)
    model = load_model(model_path, device=device)
    name = _run_name(ckpt, model)
    profile = args.profile or (ckpt.get("extra") or {}).get("config", {}).get("profile", "quick")
    do_benchmark, do_map = args.benchmark, args.accuracy_map
    if not (do_benchmark or do_map):
        do_benchmark, do_map = (model.image_size == 128), (model.image_size == 28)
    n = {} if args.n is None else {"n_per_cell": args.n}
    results = {}
    if do_benchmark:
        measure = saccade_benchmark if callable(getattr(model, "saccade_logits", None)) else benchmark  # What/Where
        rows = measure(model, name, profile, seed=args.seed, device=device, data_root=args.data_root, **n)
        for r in rows:
            print(f"{r['model']:>14} contrast {r['contrast']:.1f} eccentricity {r['eccentricity']:5.2f}: "
                  f"{r['accuracy']:.3f} (n={r['n']})")
        results["benchmark"] = rows
    if do_map:
        amap = accuracy_map(model, seed=args.seed, device=device, data_root=args.data_root, **n)
        print(f"{name}: accuracy map central {amap['central']:.3f}, general {amap['general']:.3f} (n={amap['n']})")
        results["accuracy_map"] = dict(amap, model=name, profile=profile)
    if args.out is not None:
        if list(results) == ["benchmark"]:
            write_results(results["benchmark"], args.out)  # the results format the book reads
        else:
            write_json(results, args.out)
        print(f"wrote {args.out}")
    return 0


def _sweep(args) -> int:
    if args.accuracy_map:
        map_sweep(args.schedules, args.profile, args.seeds, args.out, device=args.device, data_root=args.data_root,
                  runs_root=args.runs, n_per_cell=args.n, test_seed=args.test_seed)
        return 0
    sweep(args.schedules, args.profile, args.seeds, args.out, device=args.device,
          data_root=args.data_root, runs_root=args.runs, n_per_cell=args.n, test_seed=args.test_seed)
    return 0


def _schedules(args) -> int:
    rows = schedule_table()
    cols = ["schedule", "profile", "model", "epochs", "samples_per_epoch", "total_samples", "optimizer", "lr",
            "lr_steps", "stages", "final_contrast_epochs"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failure, 2 bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = {"train": _train, "evaluate": _evaluate, "sweep": _sweep, "schedules": _schedules}[args.command]
    try:
        return command(args)
    except (CheckpointError, TrainingDivergedError) as err:  # a file or a run that failed, not a usage error
        parser.exit(1, f"{parser.prog} {args.command}: error: {err}\n")
    except (CLIError, ValueError) as err:
        parser.exit(2, f"{parser.prog} {args.command}: error: {err}\n")
    except (FileExistsError, FileNotFoundError) as err:  # includes MNISTNotFoundError
        parser.exit(1, f"{parser.prog} {args.command}: error: {err}\n")
    except KeyboardInterrupt:
        parser.exit(130, "interrupted\n")


if __name__ == "__main__":
    sys.exit(main())
