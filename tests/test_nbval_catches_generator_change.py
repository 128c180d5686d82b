"""nbval must notice when the data generator changes.

The week-1 chapter is executed at the smoke profile, then nbval re-runs it twice: with the
package as it is (must pass) and with a copy of the package whose random-number hash has
one constant changed (must fail on the checked cells). The copy is put first on the
kernel's ``PYTHONPATH``, so the installed package is left alone.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "week01_noisy_mnist.ipynb"
ORIGINAL = "_GOLDEN = 0x9E3779B9"
MUTANT = "_GOLDEN = 0x9E3779BB"  # a one-bit change to the counter hash: every sample changes


def _kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return "stnutils" if "stnutils" in KernelSpecManager().find_kernel_specs() else "python3"


def _nbval(notebook: Path, env: dict) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
           "--nbval-sanitize-with", str(REPO / "tests" / "nbval_sanitize.cfg"), str(notebook)]
    return subprocess.run(cmd, cwd=notebook.parent, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def executed(tmp_path_factory, data_root):
    import papermill as pm

    out = tmp_path_factory.mktemp("nbval") / NOTEBOOK.name
    pm.execute_notebook(str(NOTEBOOK), str(out), parameters={"profile": "smoke", "data_root": data_root},
                        kernel_name=_kernel(), cwd=str(REPO), progress_bar=False)
    return out


def test_nbval_passes_unchanged_and_fails_after_a_generator_change(executed, tmp_path, data_root):
    env = dict(os.environ, STNUTILS_DATA=data_root)
    env.pop("PYTHONPATH", None)
    passed = _nbval(executed, env)
    assert passed.returncode == 0, passed.stdout[-3000:]

    mutant_root = tmp_path / "mutant"
    shutil.copytree(REPO / "stnutils", mutant_root / "stnutils", ignore=shutil.ignore_patterns("__pycache__"))
    rng_py = mutant_root / "stnutils" / "data" / "rng.py"
    source = rng_py.read_text()
    assert source.count(ORIGINAL) == 1, "the constant this test mutates has moved: update the test"
    rng_py.write_text(source.replace(ORIGINAL, MUTANT))
    failed = _nbval(executed, dict(env, PYTHONPATH=str(mutant_root)))
    report = failed.stdout
    assert failed.returncode == 1, report[-3000:]
    # every checked cell fails on its printed values, not on an error from a broken kernel
    import nbformat

    checked = sum(c.cell_type == "code" and c.source.startswith("# NBVAL_CHECK_OUTPUT")
                  for c in nbformat.read(executed, as_version=4).cells)
    assert checked >= 3
    # (a CI environment makes pytest repeat each failure in its summary: count at least once each)
    assert report.count("mismatch 'stdout'") >= checked, report[-3000:]
    assert f"{checked} failed" in report.splitlines()[-1]
    assert "Error" not in report.split("short test summary info")[-1].replace("AssertionError", "")
