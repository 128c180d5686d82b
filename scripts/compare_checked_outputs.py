#!/usr/bin/env python
"""Compare the checked cells (``# NBVAL_CHECK_OUTPUT``) of two sets of executed notebooks.

The checked cells print values that do not depend on the profile, so the fresh smoke
run (``_build/nbval/``) must print what the book's published notebooks (``book/``, run
at any profile) print. A difference means the published notebook is stale (re-run
``make book``) or the data changed. Notebooks missing from the reference folder are
skipped. Outputs are sanitised with the same patterns as nbval.

Usage:
    python scripts/compare_checked_outputs.py book _build/nbval
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

MARK = "# NBVAL_CHECK_OUTPUT"


def load_patterns(path: Path) -> list:
    text = path.read_text()
    return re.findall(r"^regex: (.*)$\n^replace: (.*)$", text, flags=re.M)


def checked_cells(path: Path, patterns: list) -> list:
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.lstrip().startswith(MARK):
            continue
        parts = []
        previous_stream = None
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                # Jupyter splits one stream into chunks as timing dictates: compare the text,
                # labelled once per run of the same stream, not the chunking.
                label = "" if out.name == previous_stream else f"[{out.name}] "
                parts.append(label + out.text)
                previous_stream = out.name
            else:
                previous_stream = None
                if out.output_type in ("execute_result", "display_data"):
                    parts.append(out.get("data", {}).get("text/plain", ""))
                elif out.output_type == "error":
                    parts.append(f"[error] {out.ename}: {out.evalue}")
        text = "".join(parts)
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        cells.append((cell.source, text))
    return cells


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", type=Path, help="folder of published notebooks (book/)")
    parser.add_argument("fresh", type=Path, help="folder of freshly executed notebooks")
    parser.add_argument("--sanitize-with", type=Path,
                        default=Path(__file__).resolve().parent.parent / "tests" / "nbval_sanitize.cfg")
    args = parser.parse_args(argv)
    patterns = load_patterns(args.sanitize_with)
    fresh = sorted(args.fresh.glob("*.ipynb"))
    if not fresh:
        print(f"error: no notebooks in {args.fresh}", file=sys.stderr)
        return 1
    failures = 0
    for path in fresh:
        ref = args.reference / path.name
        if not ref.exists():
            print(f"{path.name}: no published copy in {args.reference}/, skipped")
            continue
        new, old = checked_cells(path, patterns), checked_cells(ref, patterns)
        if not new:
            print(f"{path.name}: no '{MARK}' cells", file=sys.stderr)
            failures += 1
            continue
        if [s for s, _ in new] != [s for s, _ in old]:
            print(f"{path.name}: the checked cells' code differs from {ref}: re-run `make book`", file=sys.stderr)
            failures += 1
            continue
        bad = [k for k, ((_, a), (_, b)) in enumerate(zip(new, old)) if a != b]
        for k in bad:
            print(f"{path.name}: checked cell {k + 1} of {len(new)} differs from {ref}:\n"
                  f"--- {ref}\n{old[k][1]}--- {path}\n{new[k][1]}", file=sys.stderr)
        if bad:
            failures += 1
        else:
            print(f"{path.name}: {len(new)} checked cells match {ref}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
