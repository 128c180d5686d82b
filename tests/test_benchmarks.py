"""Every benchmark script runs at a tiny size and prints its JSON, so none can break unseen.

The sizes here measure nothing (one round, a few scenes); the point is that each script
still builds what it times (every model, every task) and reports in the format the README
quotes. A new script in benchmarks/ must get its tiny arguments in TINY_ARGS.
"""
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"

# script -> (tiny arguments, keys its JSON must hold)
TINY_ARGS = {
    "data_throughput.py": (
        ["--rounds", "1", "--threads", "1", "--batch", "8", "--batch-sizes", "8", "--reference-samples", "2",
         "--batched-samples", "16", "--cuda-samples", "16"],
        ["batched_samples_per_s", "reference_samples_per_s", "ratio", "by_batch_size", "git_commit"],
    ),
    "train_throughput.py": (
        ["--rounds", "1", "--threads", "1", "--batch", "4", "--min-time", "0.05"],
        ["per_round", "skipped", "git_commit"],
    ),
    "widget_update.py": (
        ["--rounds", "1", "--warmup", "0", "--models", "fast_atn,lenet"],
        ["models", "target_ms", "commit"],
    ),
}


def _scripts():
    """The benchmark files that run as scripts (``if __name__ == "__main__"``)."""
    found = []
    for path in sorted(BENCHMARKS.glob("*.py")):
        tree = ast.parse(path.read_text())
        if any(isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body):
            found.append(path.name)
    return found


def test_every_benchmark_script_has_tiny_arguments():
    assert _scripts(), "no benchmark scripts found"
    missing = [name for name in _scripts() if name not in TINY_ARGS]
    assert not missing, f"benchmarks without tiny arguments in TINY_ARGS (they would run unseen): {missing}"


@pytest.mark.parametrize("name", sorted(TINY_ARGS))
def test_benchmark_runs_tiny_and_prints_json(name, data_root):
    args, keys = TINY_ARGS[name]
    env = dict(os.environ, STNUTILS_DATA=data_root)
    done = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{name} failed:\n{done.stderr[-3000:]}"
    result = json.loads(done.stdout)
    assert isinstance(result, dict)
    for key in keys:
        assert key in result, f"{name}: JSON lacks {key!r}; has {sorted(result)}"
    if name == "train_throughput.py":
        # every registered model was built and timed (a task that cannot be built shows up here)
        assert result["skipped"] == {}, result["skipped"]
        from stnutils.models import MODEL_NAMES

        timed = {key.split(":", 1)[1] for key in result["per_round"] if key.startswith("model:")}
        assert timed == set(MODEL_NAMES)
