#!/usr/bin/env python
"""Execute the lab book's notebooks with papermill, in dependency order.

Each notebook in ``NOTEBOOKS`` is run with the parameters ``profile``, ``device``,
``seed`` and ``data_root`` in the repository root, written to a temporary file beside
its destination and moved into ``<out-dir>/<name>.ipynb`` only when every cell
succeeded: a failing notebook leaves the previous good copy in place (the failed run is
kept in ``_build/failed/`` for inspection).

Usage:
    python scripts/run_notebooks.py --profile quick
    python scripts/run_notebooks.py --profile smoke --out-dir _build/nbval
    python scripts/run_notebooks.py --profile full --device auto --only week01_noisy_mnist
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# In dependency order: a notebook may read what an earlier one saved (e.g. trained models).
NOTEBOOKS = [
    "notebooks/week01_noisy_mnist.ipynb",
    "notebooks/week02_stn28.ipynb",  # trains lenet, stn28, stn28_adam
    "notebooks/week03_stn128.ipynb",  # trains stn128
    "notebooks/week04_atn.ipynb",  # trains atn, fast_atn, fast_atn_aux, stn60, stn60_constant
    "notebooks/week05_polo_atn.ipynb",  # trains polo_atn
    "notebooks/week06_rotation_tps.ipynb",  # trains stn28_rot, tps_rot
    "notebooks/week07_benchmark.ipynb",  # evaluates the 128x128 models, writes results/
    "notebooks/results.ipynb",  # the benchmark table next to the seed's
]
PROFILES = ("smoke", "quick", "full")
KERNEL = "stnutils"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick",
                        help="smoke (CI, seconds), quick (2-core CPU, minutes) or full (one GPU)")
    parser.add_argument("--device", default="cpu", help="'cpu' (default), 'cuda' or 'auto'")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed passed to every notebook (default 0)")
    parser.add_argument("--only", metavar="NAME", action="append",
                        help="run only this notebook (file name with or without .ipynb); repeatable")
    parser.add_argument("--out-dir", default="book", help="where executed notebooks go (default: book/)")
    parser.add_argument("--kernel", default=None, help=f"Jupyter kernel (default: '{KERNEL}', else 'python3')")
    args = parser.parse_args(argv)
    if args.profile not in PROFILES:
        parser.error(f"--profile must be one of {list(PROFILES)}, got {args.profile!r}")
    if args.device not in ("cpu", "auto") and not args.device.startswith("cuda"):
        parser.error(f"--device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {args.device!r}")
    return args


def select(only) -> list:
    if not only:
        return list(NOTEBOOKS)
    by_name = {Path(nb).stem: nb for nb in NOTEBOOKS}
    chosen = []
    for name in only:
        stem = Path(name).stem
        if stem not in by_name:
            sys.exit(f"error: --only {name!r} is not one of {sorted(by_name)}")
        chosen.append(by_name[stem])
    return [nb for nb in NOTEBOOKS if nb in chosen]  # keep the dependency order


def kernel_name(requested) -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    available = KernelSpecManager().find_kernel_specs()
    if requested:
        if requested not in available:
            sys.exit(f"error: kernel {requested!r} not found; available: {sorted(available)}")
        return requested
    if KERNEL in available:
        return KERNEL
    print(f"warning: kernel {KERNEL!r} is not registered (run `make venv`); using 'python3'", file=sys.stderr)
    return "python3"


def data_root():
    env = os.environ.get("STNUTILS_DATA")
    return str(Path(env).resolve()) if env else None


def _record_paths(notebook: Path, source: Path, dest: Path) -> None:
    """Record the repository-relative input and final output paths, not the temporary file."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key, path in (("input_path", source), ("output_path", dest)):
        try:
            meta[key] = str(path.resolve().relative_to(ROOT))
        except ValueError:
            meta[key] = str(path)
    nbformat.write(nb, notebook)


def _first_line(notebook: Path, exec_count) -> str:
    """The first line of the code cell that ran with ``exec_count`` (for the error message)."""
    import nbformat

    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception:  # the message matters more than this detail
        return "?"
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.get("execution_count") == exec_count:
            return (cell.source.strip().splitlines() or [""])[0]
    return "?"


def run_one(source: Path, out_dir: Path, parameters: dict, kernel: str) -> tuple[bool, float]:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / source.name
    fd, tmp = tempfile.mkstemp(prefix=f".{source.stem}.", suffix=".partial.ipynb", dir=out_dir)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the published copy is not
    t0 = time.time()
    try:
        pm.execute_notebook(
            str(source), tmp, parameters=parameters, kernel_name=kernel, cwd=str(ROOT), progress_bar=True
        )
    except PapermillExecutionError as err:
        failed = ROOT / "_build" / "failed" / source.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp, failed)
        print(f"\nFAILED: {source.name}, cell [{err.exec_count}] (index {err.cell_index} in the executed "
              f"notebook, which has papermill's injected-parameters cell): {_first_line(failed, err.exec_count)}",
              file=sys.stderr)
        print(f"{err.ename}: {err.evalue}", file=sys.stderr)
        print(f"The failed run is in {failed.relative_to(ROOT)}; {dest} was left as it was.", file=sys.stderr)
        return False, time.time() - t0
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _record_paths(Path(tmp), source, dest)
    os.replace(tmp, dest)
    return True, time.time() - t0


def main(argv=None) -> int:
    args = parse_args(argv)
    notebooks = select(args.only)
    kernel = kernel_name(args.kernel)
    out_dir = Path(args.out_dir)
    if not out_dir.is_absolute():
        out_dir = ROOT / out_dir
    parameters = {"profile": args.profile, "device": args.device, "seed": args.seed, "data_root": data_root()}
    # trained runs are shared by the chapters (stnutils.runs); absolute, so nbval's kernels find them too
    os.environ.setdefault("STNUTILS_RUNS", str(ROOT / "runs"))
    os.environ.setdefault("STNUTILS_RESULTS", str(ROOT / "results"))  # the benchmark's rows (week 7 -> results page)
    print(f"Running {len(notebooks)} notebook(s) with {parameters}, kernel {kernel!r}, into {out_dir}")
    for k, nb in enumerate(notebooks, 1):
        print(f"[{k}/{len(notebooks)}] {nb}", flush=True)
        ok, seconds = run_one(ROOT / nb, out_dir, parameters, kernel)
        if not ok:
            return 1
        print(f"[{k}/{len(notebooks)}] {nb}: done in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
