"""stnutils.io: files are replaced whole or not at all; JSON of numpy and torch values."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from stnutils.io import TMP_PREFIX, atomic_write, json_default, read_json, write_json


def _names(folder: Path):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "deeper" / "data.bin"  # folders are created
    with atomic_write(path) as f:
        f.write(b"first")
    assert path.read_bytes() == b"first"
    with atomic_write(path, "wb") as f:
        f.write(b"second")
    assert path.read_bytes() == b"second"
    with atomic_write(path, "w") as f:
        f.write("é text\n")
    assert path.read_text(encoding="utf-8") == "é text\n"
    assert _names(path.parent) == ["data.bin"]


def test_the_temporary_file_is_beside_the_destination_until_the_block_ends(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text("old")
    with atomic_write(path, "w") as f:
        f.write("new")
        f.flush()
        (tmp,) = [p for p in tmp_path.iterdir() if p.name != "rows.json"]
        assert tmp.name.startswith(f"{TMP_PREFIX}rows.json.") and tmp.suffix == ".tmp"
        assert tmp.read_text() == "new"
        assert path.read_text() == "old"  # nothing replaced yet
    assert path.read_text() == "new" and not tmp.exists()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_an_exception_inside_the_block_leaves_the_previous_file_and_no_temporary(tmp_path, error):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"previous contents")
    with pytest.raises(type(error)):
        with atomic_write(path) as f:
            f.write(b"half of the new")
            f.flush()
            raise error
    assert path.read_bytes() == b"previous contents"
    assert _names(tmp_path) == ["checkpoint.pt"]


def test_an_exception_on_a_new_file_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="stop"):
        with atomic_write(tmp_path / "new.json", "w") as f:
            f.write("{")
            raise ValueError("stop")
    assert _names(tmp_path) == []


def test_a_failing_rename_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "history.json"
    path.write_text("[1]")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_json([1, 2], path)
    monkeypatch.undo()
    assert path.read_text() == "[1]" and _names(tmp_path) == ["history.json"]


def test_atomic_write_rejects_other_modes(tmp_path):
    for mode in ("a", "r", "w+", "ab"):
        with pytest.raises(ValueError, match=r"mode must be one of \['wb', 'w'\]"):
            with atomic_write(tmp_path / "x", mode):
                pass
    assert _names(tmp_path) == []


def test_write_json_round_trips_numpy_and_tensor_values(tmp_path):
    value = {
        "f32": np.float32(0.5),
        "i64": np.int64(7),
        "bool": np.bool_(True),
        "array": np.arange(3, dtype=np.int32),
        "matrix": np.array([[0.25, 0.5], [1.0, 2.0]]),
        "tensor": torch.tensor([[1.5, -2.0]]),
        "scalar_tensor": torch.tensor(3),
        "tuple": (1, 2),
        "range": range(3),
        "path": tmp_path / "x",
        "nested": [{"acc": np.float64(0.125)}],
    }
    path = write_json(value, tmp_path / "out.json")
    assert path == tmp_path / "out.json"
    back = read_json(path)
    assert back == {
        "f32": 0.5, "i64": 7, "bool": True, "array": [0, 1, 2], "matrix": [[0.25, 0.5], [1.0, 2.0]],
        "tensor": [[1.5, -2.0]], "scalar_tensor": 3, "tuple": [1, 2], "range": [0, 1, 2],
        "path": str(tmp_path / "x"), "nested": [{"acc": 0.125}],
    }
    assert type(back["i64"]) is int and type(back["f32"]) is float
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and json.loads(text) == back
    assert _names(tmp_path) == ["out.json"]


def test_write_json_of_an_unserialisable_value_keeps_the_previous_file(tmp_path):
    path = tmp_path / "rows.json"
    write_json([1], path)
    with pytest.raises(TypeError, match="cannot write object as JSON"):
        write_json({"x": object()}, path)
    assert read_json(path) == [1] and _names(tmp_path) == ["rows.json"]
    with pytest.raises(TypeError, match="cannot write"):
        json_default(object())
    assert json_default(np.float32(0.25)) == 0.25 and json_default({1}) == [1]
