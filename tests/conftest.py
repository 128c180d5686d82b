import importlib.util
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

# Tests and CI read MNIST from ../shared/data unless STNUTILS_DATA says otherwise.
if not os.environ.get("STNUTILS_DATA"):
    shared = REPO.parent / "shared" / "data"
    if shared.exists():
        os.environ["STNUTILS_DATA"] = str(shared)

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def data_root():
    root = os.environ.get("STNUTILS_DATA")
    if not root or not (Path(root) / "MNIST" / "raw").exists():
        pytest.fail("MNIST not found: set STNUTILS_DATA to a folder holding MNIST/raw")
    return root


@pytest.fixture(scope="module")
def runner():
    """scripts/run_notebooks.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("run_notebooks", REPO / "scripts" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
