#!/usr/bin/env python
"""Execute the lab book's notebooks with papermill, in dependency order.

Each notebook in ``NOTEBOOKS`` is run with the parameters ``profile``, ``device``,
``seed`` and ``data_root`` in the repository root, written to a temporary file beside
its destination and moved into ``<out-dir>/<name>.ipynb`` only when every cell
succeeded: a failing notebook (an exception in a cell, a kernel that dies, a timeout)
stops the run with the notebook, the cell and the error, leaves the previous good copy
in place (the failed run is kept in ``_build/failed/`` for inspection) and exits 1.

The executed notebooks name no folder of this machine: the data root reaches the
kernels through ``$STNUTILS_DATA`` (the ``data_root`` parameter stays None), and the runs
and results folders are given to them relative to the repository root, where they run.
While a notebook trains, status lines (chapter, model, epoch, scenes/s, ETA) go to this
terminal through ``$STNUTILS_PROGRESS`` (see ``stnutils.training.progress``), not into
the notebook; ``--no-progress`` turns them off.

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
    # trains whatwhere (What run, accuracy map, Where run), loads weeks 3-5; before week 7, which reads its run
    "notebooks/week09_whatwhere.ipynb",
    "notebooks/week07_benchmark.ipynb",  # evaluates the 128x128 models, writes results/
    "notebooks/explore_models.ipynb",  # sliders over the models of weeks 2-5 (loads their runs)
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
    parser.add_argument("--no-progress", action="store_true",
                        help="no training status lines on the terminal while a notebook trains")
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
    """``$STNUTILS_DATA`` made absolute (every kernel finds it), or None."""
    env = os.environ.get("STNUTILS_DATA")
    return str(Path(env).resolve()) if env else None


def kernel_environment(no_progress: bool = False) -> dict:
    """The variables the kernels inherit: the data root absolute, the runs and results folders
    relative to the repository root when inside it (the kernels run there, and the paths they
    print stay portable), the training status lines on or off."""
    env = {}
    if data_root():
        env["STNUTILS_DATA"] = data_root()
    for name, default in (("STNUTILS_RUNS", ROOT / "runs"), ("STNUTILS_RESULTS", ROOT / "results")):
        path = Path(os.environ.get(name) or default).resolve()
        try:
            env[name] = str(path.relative_to(ROOT)) or "."
        except ValueError:
            env[name] = str(path)
    env["STNUTILS_PROGRESS"] = "0" if no_progress else "1"
    return env


def machine_folders() -> list:
    """``(absolute folder, how an executed notebook shows it)``, longest first: the folders of this machine
    that third-party output (a warning's file name, a traceback) may print."""
    import re

    pairs = {sys.prefix: "<venv>", sys.base_prefix: "<python>", str(ROOT): "."}
    for name in ("STNUTILS_DATA", "STNUTILS_RUNS", "STNUTILS_RESULTS"):
        if os.environ.get(name):
            pairs[str(Path(os.environ[name]).resolve())] = f"${name}"
    pairs[str(Path.home())] = "~"
    folders = [(re.escape(k), v) for k, v in pairs.items() if len(k) > 1]
    folders.append((r"/tmp/ipykernel_\d+/\d+\.py", "<cell>"))  # the file IPython compiles a cell into
    return sorted(folders, key=lambda kv: -len(kv[0]))


def portable_text(text: str, folders=None) -> str:
    """``text`` with the folders of :func:`machine_folders` replaced by their placeholders."""
    import re

    for pattern, shown in machine_folders() if folders is None else folders:
        text = re.sub(pattern, lambda _m, shown=shown: shown, text)
    return text


def _record_paths(notebook: Path, source: Path, dest: Path) -> None:
    """Record the repository-relative input and final output paths, not the temporary file, and write
    the outputs with no folder of this machine in them (the warnings of libraries print file names)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key, path in (("input_path", source), ("output_path", dest)):
        try:
            meta[key] = str(path.resolve().relative_to(ROOT))
        except ValueError:  # outside the repository: the name only, never a folder of this machine
            meta[key] = path.name
    folders = machine_folders()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = portable_text(out["text"], folders)
            if "traceback" in out:
                out["traceback"] = [portable_text(line, folders) for line in out["traceback"]]
            for kind, value in out.get("data", {}).items():
                if kind.startswith("text/") and isinstance(value, str):
                    out["data"][kind] = portable_text(value, folders)
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


def _running_cell(notebook: Path) -> str:
    """Where a run that ended without a cell error stopped: the last cell papermill started, as text."""
    import nbformat

    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception:
        return "before its first cell (the notebook could not be read back)"
    started = [(k, c) for k, c in enumerate(nb.cells)
               if c.cell_type == "code" and c.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not started:
        return "before its first cell"
    index, cell = started[-1]
    count = cell.get("execution_count")
    label = f"cell [{count}]" if count is not None else "a cell"
    return f"{label} (index {index} in the executed notebook): {(cell.source.strip().splitlines() or [''])[0]}"


def _fail(source: Path, tmp: str, dest: Path, where: str, error: str) -> None:
    """Keep the failed run in _build/failed/ and say what failed, where, and what was kept."""
    failed = ROOT / "_build" / "failed" / source.name
    failed.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(tmp, failed)
    print(f"\nFAILED: {source.name}, {where}", file=sys.stderr)
    print(error, file=sys.stderr)
    try:
        shown = failed.relative_to(ROOT)
    except ValueError:
        shown = failed
    print(f"The failed run is in {shown}; {dest} was left as it was.", file=sys.stderr)


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
        where = (f"cell [{err.exec_count}] (index {err.cell_index} in the executed notebook, which has "
                 f"papermill's injected-parameters cell): {_first_line(Path(tmp), err.exec_count)}")
        _fail(source, tmp, dest, where, f"{err.ename}: {err.evalue}")
        return False, time.time() - t0
    except Exception as err:  # the kernel died (a crash, out of memory), a timeout, a broken notebook
        _fail(source, tmp, dest, _running_cell(Path(tmp)), f"{type(err).__name__}: {err}".strip())
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
    # data_root None: the kernels read $STNUTILS_DATA, so no notebook holds this machine's data folder
    parameters = {"profile": args.profile, "device": args.device, "seed": args.seed, "data_root": None}
    # trained runs are shared by the chapters (stnutils.runs), the benchmark's rows go from week 7 to the
    # results page: both relative to the repository root, where every kernel runs
    env = kernel_environment(args.no_progress)
    os.environ.update(env)
    print(f"Running {len(notebooks)} notebook(s) with {parameters}, kernel {kernel!r}, into {out_dir}; "
          f"data {env.get('STNUTILS_DATA', './data')}, runs {env['STNUTILS_RUNS']}, results {env['STNUTILS_RESULTS']}")
    for k, nb in enumerate(notebooks, 1):
        print(f"[{k}/{len(notebooks)}] {nb}", flush=True)
        if not args.no_progress:  # the chapter's name labels the status lines
            os.environ["STNUTILS_PROGRESS"] = Path(nb).stem
        ok, seconds = run_one(ROOT / nb, out_dir, parameters, kernel)
        if not ok:
            return 1
        print(f"[{k}/{len(notebooks)}] {nb}: done in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
