"""The book build (issue 13): a failing notebook stops ``make book`` cleanly; training shows itself on the
terminal, not in the notebook; executed notebooks and results name no folder of the machine that ran them.

``make book`` is run in a temporary copy of the repository (the Makefile, scripts/run_notebooks.py, the
venv linked): its chapters are small stand-ins, the failing one a temporary copy of a real chapter with a
failing cell added. The real notebooks are never edited.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]



def _stand_in(text: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "quick"\ndevice = "cpu"\nseed = 0\ndata_root = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(f"print({text!r}, profile)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _repo_copy(tmp_path: Path, runner, failing_cell: str) -> Path:
    """A repository whose second chapter fails, with a previous book and previously executed notebooks."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for name in ("Makefile", "requirements.txt", "pyproject.toml", "scripts/run_notebooks.py"):
        shutil.copy2(REPO / name, root / name)
    os.symlink(REPO / ".venv", root / ".venv")
    (root / "notebooks").mkdir()
    (root / "book").mkdir()
    for k, nb in enumerate(runner.NOTEBOOKS):
        name = Path(nb).name
        if k == 1:  # a temporary copy of the real chapter, failing right after its parameters
            chapter = nbformat.read(REPO / nb, as_version=4)
            at = next(i for i, c in enumerate(chapter.cells) if "parameters" in c.metadata.get("tags", [])) + 1
            chapter.cells.insert(at, nbformat.v4.new_code_cell(failing_cell))
        else:
            chapter = _stand_in(f"chapter {k}")
        nbformat.write(chapter, root / "notebooks" / name)
        nbformat.write(_stand_in(f"previous {k}"), root / "book" / name)
    (root / "_build" / "html").mkdir(parents=True)
    (root / "_build" / "html" / "index.html").write_text("<html>the previously rendered book</html>")
    return root


@pytest.mark.parametrize("failing_cell, error", [
    ('raise RuntimeError("a deliberate failure")', "RuntimeError: a deliberate failure"),
    # the kernel dies (a crash, the out-of-memory killer): before, a traceback that named no cell
    ("import os\nos._exit(3)", "DeadKernelError: Kernel died"),
])
def test_make_book_stops_at_a_failing_notebook_and_keeps_the_book(tmp_path, runner, data_root, failing_cell, error):
    root = _repo_copy(tmp_path, runner, failing_cell)
    before = {p.name: p.read_bytes() for p in (root / "book").iterdir()}
    env = dict(os.environ, STNUTILS_DATA=data_root)
    done = subprocess.run(["make", "-o", ".venv/.installed", "book", "PROFILE=smoke"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=900)
    log = done.stdout + done.stderr
    failed = Path(runner.NOTEBOOKS[1]).name
    assert done.returncode != 0, log[-3000:]
    assert f"FAILED: {failed}, " in log and error in log, log[-3000:]
    assert failing_cell.splitlines()[0] in log  # the cell, by its first line
    assert "Traceback" not in done.stderr.split("FAILED:")[0]
    assert "jupyter-book build" not in log  # the build stopped with the notebook
    assert (root / "_build" / "html" / "index.html").read_text() == "<html>the previously rendered book</html>"
    assert (root / "book" / failed).read_bytes() == before[failed]  # the published copy of the failed chapter
    first = nbformat.read(root / "book" / Path(runner.NOTEBOOKS[0]).name, as_version=4)
    assert "chapter 0 smoke" in first.cells[-1].outputs[0]["text"]  # executed before the failure: replaced
    for nb in runner.NOTEBOOKS[2:]:  # after it: untouched
        assert (root / "book" / Path(nb).name).read_bytes() == before[Path(nb).name]
    assert (root / "_build" / "failed" / failed).is_file() and not list((root / "book").glob("*.partial.ipynb"))


TRAINING_CELL = """
import stnutils as stn
cfg = stn.training.TrainConfig(model="lenet", profile="smoke", epochs=2, samples_per_epoch=64, batch_size=32,
                               test_samples=32, curriculum=[0.0], device="cpu")
history = stn.training.fit(cfg, "runs_for_the_test", progress=None, verbose=True)
print("trained", len(history))
"""


def test_training_in_a_notebook_shows_itself_on_the_terminal_not_in_the_notebook(runner, tmp_path, monkeypatch,
                                                                                 capfd, data_root):
    nb = _stand_in("start")
    nb.cells.append(nbformat.v4.new_code_cell(TRAINING_CELL.replace("runs_for_the_test",
                                                                    str(tmp_path / "run").replace("\\", "/"))))
    source = tmp_path / "week99_progress.ipynb"
    nbformat.write(nb, source)
    monkeypatch.setenv("STNUTILS_PROGRESS", "week99_progress")
    monkeypatch.setenv("STNUTILS_DATA", data_root)
    ok, _ = runner.run_one(source, tmp_path / "book", {"profile": "smoke"}, runner.kernel_name(None))
    terminal = capfd.readouterr().err
    assert ok, terminal[-3000:]
    assert re.search(r"\[week99_progress\] lenet \(smoke\) epoch 1/2: 64/64 scenes, [\d,]+ scenes/s, "
                     r"epoch ETA 0 s, run ETA \d+ s", terminal), terminal[-3000:]
    assert re.search(r"\[week99_progress\] lenet \(smoke\) epoch 2/2: 64/64 scenes, [\d,]+ scenes/s, "
                     r"epoch ETA 0 s, run ETA 0 s", terminal), terminal[-3000:]
    executed = (tmp_path / "book" / source.name).read_text()
    assert "trained 2" in executed and "epoch 2/2 stage 0" in executed  # the notebook keeps its own lines
    assert "scenes/s" not in executed and "week99_progress]" not in executed and "it/s" not in executed


def test_the_kernels_get_the_data_root_absolute_and_the_folders_relative(runner, monkeypatch, tmp_path):
    monkeypatch.setenv("STNUTILS_DATA", "relative/data")
    monkeypatch.setenv("STNUTILS_RUNS", str(runner.ROOT / "runs"))
    monkeypatch.setenv("STNUTILS_RESULTS", str(tmp_path / "elsewhere"))
    env = runner.kernel_environment()
    assert env["STNUTILS_DATA"] == str(Path("relative/data").resolve())
    assert env["STNUTILS_RUNS"] == "runs" and env["STNUTILS_RESULTS"] == str(tmp_path / "elsewhere")
    assert env["STNUTILS_PROGRESS"] == "1" and runner.kernel_environment(no_progress=True)["STNUTILS_PROGRESS"] == "0"


# --- portable outputs -------------------------------------------------------------------------------------------


def machine_paths(folder: Path) -> list:
    """``(file, where, path)`` for every absolute path of this machine in the notebooks and JSON files of
    ``folder``: the data root, the runs and results folders, the repository, and anything under /tmp, /root,
    /home or /work. Images (base64) are skipped: their text is not a path."""
    roots = {str(REPO), str(REPO.resolve())}
    for var in ("STNUTILS_DATA", "STNUTILS_RUNS", "STNUTILS_RESULTS"):
        if os.environ.get(var):
            roots.add(str(Path(os.environ[var]).resolve()))
    pattern = re.compile("|".join([re.escape(r) for r in sorted(roots, key=len, reverse=True) if len(r) > 1]
                                  + [r"(?<![\w.~-])/(?:tmp|root|home|work)(?=/|\b)"]))
    found = []

    def scan(name, where, text):
        found.extend((name, where, m.group(0)) for m in pattern.finditer(text))

    for path in sorted(folder.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        scan(path.name, "metadata", json.dumps(nb.metadata))
        for k, cell in enumerate(nb.cells):
            scan(path.name, f"cell {k} source", cell.source)
            for out in cell.get("outputs", []):
                texts = [out.get("text", ""), out.get("evalue", ""), "\n".join(out.get("traceback", []))]
                texts += [v if isinstance(v, str) else "\n".join(v) for key, v in out.get("data", {}).items()
                          if key.startswith("text/") or key.endswith("json")]
                scan(path.name, f"cell {k} output", "\n".join(texts))
    for path in sorted(folder.rglob("*.json")):
        scan(path.name, "file", path.read_text())
    return found


@pytest.mark.parametrize("folder", ["book", "results"])
def test_executed_notebooks_and_results_name_no_folder_of_the_machine(folder):
    path = REPO / folder
    if not path.exists():
        pytest.skip(f"{folder}/ does not exist yet (written by the book build)")
    found = machine_paths(path)
    assert not found, "absolute paths of this machine:\n" + "\n".join(f"  {f} ({w}): {p}" for f, w, p in found[:20])


def test_library_output_is_written_without_the_folders_of_the_machine(runner, monkeypatch):
    monkeypatch.setenv("STNUTILS_DATA", "/data/mnist")
    # under make, STNUTILS_RUNS/RESULTS point into the repository and would be shown by name
    monkeypatch.delenv("STNUTILS_RUNS", raising=False)
    monkeypatch.delenv("STNUTILS_RESULTS", raising=False)
    warning = (f"/tmp/ipykernel_8133/193003911.py:9: RuntimeWarning: Mean of empty slice\n"
               f"{runner.sys.prefix}/lib/site-packages/numpy/_methods.py:142: RuntimeWarning\n"
               f"read {runner.ROOT}/runs/smoke/lenet-seed0 and /data/mnist/MNIST/raw")
    assert runner.portable_text(warning) == ("<cell>:9: RuntimeWarning: Mean of empty slice\n"
                                             "<venv>/lib/site-packages/numpy/_methods.py:142: RuntimeWarning\n"
                                             "read ./runs/smoke/lenet-seed0 and $STNUTILS_DATA/MNIST/raw")


def test_the_scan_finds_the_paths_it_must_find(tmp_path):
    nb = _stand_in("x")
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                   text=f"Loaded lenet (quick) from {REPO}/runs/quick/lenet-seed0\n")]
    nb.cells.append(nbformat.v4.new_code_cell("x = '/tmp/abc'"))
    nbformat.write(nb, tmp_path / "a.ipynb")
    (tmp_path / "rows.json").write_text(json.dumps([{"data": "/home/someone/data"}]))
    found = {(f, w) for f, w, _ in machine_paths(tmp_path)}
    assert found == {("a.ipynb", "cell 1 output"), ("a.ipynb", "cell 2 source"), ("rows.json", "file")}
