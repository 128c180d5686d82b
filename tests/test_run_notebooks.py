"""scripts/run_notebooks.py: a failing notebook stops the build, names the cell, keeps the old copy."""
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]



def _notebook(path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "quick"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_the_notebook_list_exists_in_dependency_order(runner):
    for nb in runner.NOTEBOOKS:
        assert (REPO / nb).is_file(), f"{nb} is listed in run_notebooks.NOTEBOOKS but missing"
    names = [Path(nb).stem for nb in runner.NOTEBOOKS]
    assert names[0] == "week01_noisy_mnist" and names.index("week07_benchmark") < names.index("results")
    assert runner.select(["results", "week01_noisy_mnist"]) == [runner.NOTEBOOKS[0], runner.NOTEBOOKS[-1]]
    with pytest.raises(SystemExit, match="is not one of"):
        runner.select(["week99"])


def test_a_failing_notebook_keeps_the_published_copy_and_names_the_cell(runner, tmp_path, capsys):
    source = _notebook(tmp_path / "chapter.ipynb", 'print("about to fail")\nraise ValueError("the deliberate error")')
    out_dir = tmp_path / "book"
    out_dir.mkdir()
    published = out_dir / "chapter.ipynb"
    published.write_text("the previous good copy")
    ok, _ = runner.run_one(source, out_dir, {"profile": "smoke"}, "python3")
    err = capsys.readouterr().err
    assert not ok
    assert published.read_text() == "the previous good copy"
    # [4]: the execution count, papermill's injected-parameters cell included
    assert "FAILED: chapter.ipynb, cell [4]" in err and 'print("about to fail")' in err
    assert "ValueError: the deliberate error" in err
    failed = REPO / "_build" / "failed" / "chapter.ipynb"
    assert failed.is_file() and "the deliberate error" in failed.read_text()
    assert not list(out_dir.glob("*.partial.ipynb"))  # no half-written notebook left behind
    failed.unlink()


def test_a_successful_run_replaces_the_copy_with_the_parameters_injected(runner, tmp_path):
    source = _notebook(tmp_path / "chapter.ipynb", "print(profile * 2)")
    out_dir = tmp_path / "book"
    ok, seconds = runner.run_one(source, out_dir, {"profile": "smoke"}, "python3")
    assert ok and seconds > 0
    nb = nbformat.read(out_dir / "chapter.ipynb", as_version=4)
    assert nb.cells[-1].outputs[0]["text"] == "smokesmoke\n"
    assert nb.metadata.papermill["parameters"] == {"profile": "smoke"}
    assert nb.metadata.papermill["output_path"].endswith("chapter.ipynb")


def test_main_stops_at_the_first_failure(runner, tmp_path, monkeypatch):
    calls = []

    def fake_run_one(source, out_dir, parameters, kernel):
        calls.append(Path(source).stem)
        return (len(calls) < 2), 0.1

    monkeypatch.setattr(runner, "run_one", fake_run_one)
    monkeypatch.setattr(runner, "kernel_name", lambda requested: "python3")
    assert runner.main(["--profile", "smoke", "--out-dir", str(tmp_path)]) == 1
    assert calls == [Path(nb).stem for nb in runner.NOTEBOOKS[:2]]
    with pytest.raises(SystemExit):
        runner.main(["--profile", "medium"])
    sys.stdout.flush()
