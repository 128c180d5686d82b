"""Hostile and damaged checkpoints (issue 13): refused by load_model and by ``evaluate``, naming the file.

Before the fix a truncated file ended in ``PytorchStreamReader failed ...``, an empty one in
a bare ``EOFError``, random bytes and hostile pickles in an ``UnpicklingError`` advising to
set ``weights_only=False`` (which would run the hostile code); ``evaluate`` reported an
accuracy for NaN weights and filed results of a mixed folder under the config's name.
"""
import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from stnutils.cli import _run_name, main
from stnutils.models import build_model
from stnutils.training import checkpoint as ck
from stnutils.training.checkpoint import FORMAT, load_model, save_model

ADVICE = ("weights_only", "PytorchStreamReader", "miniz")  # torch's words, never ours


class _Marker:
    """Unpickling this creates a file: the proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


class _System:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _payload(extra=None, **kw):
    d = {"format": FORMAT, "model_name": "lenet", "model_config": {}, "state_dict": build_model("lenet").state_dict(),
         "optimizer": None, "extra": {} if extra is None else extra}
    d.update(kw)
    return d


def _hostile_files(folder: Path, marker: Path):
    """Checkpoints crafted to run code when unpickled: torch's zip format and bare pickles."""
    files = {}
    files["zip_extra"] = folder / "zip_extra.pt"
    torch.save(_payload(extra={"note": _Marker(marker)}), files["zip_extra"])
    files["zip_top"] = folder / "zip_top.pt"
    torch.save(_System(marker), files["zip_top"])
    files["pickle2"] = folder / "pickle2.pt"
    files["pickle2"].write_bytes(pickle.dumps(_System(marker), protocol=2))
    return files


def _run_evaluate(run_dir, capsys):
    try:
        status = main(["evaluate", str(run_dir), "--n", "1", "--device", "cpu", "--accuracy-map"])
    except SystemExit as exc:
        status = exc.code
    return status, capsys.readouterr()


def test_a_hostile_checkpoint_is_refused_and_its_code_never_runs(tmp_path, capsys):
    marker = tmp_path / "code_ran"
    for kind, path in _hostile_files(tmp_path, marker).items():
        with pytest.raises(ck.UnsafeCheckpointError) as err:
            load_model(path)
        text = str(err.value)
        assert str(path) in text and "refused to load" in text and "nothing in it was run" in text, kind
        assert not any(word in text for word in ADVICE), text
        assert isinstance(err.value, pickle.UnpicklingError) and isinstance(err.value, ValueError)
        assert err.value.__cause__ is None and err.value.__suppress_context__  # torch's advice not chained
        assert not marker.exists(), f"{kind}: the checkpoint's code ran"
        # evaluate refuses the same file
        run = tmp_path / f"run_{kind}"
        run.mkdir()
        (run / "model.pt").write_bytes(path.read_bytes())
        status, cap = _run_evaluate(run, capsys)
        assert status == 1 and "refused to load" in cap.err and str(run / "model.pt") in cap.err
        assert not any(word in cap.err for word in ADVICE) and "Traceback" not in cap.err
        assert not marker.exists()


@pytest.mark.parametrize("damage, found", [
    (lambda data: data[: len(data) // 2], "is a truncated or damaged torch file"),
    (lambda data: data[: len(data) - 5], "is a truncated or damaged torch file"),
    (lambda data: b"", "is empty: not a checkpoint"),
    (lambda data: os.urandom(4096), "is not a torch checkpoint"),
    (lambda data: b"PK\x03\x04" + os.urandom(4096), "is a truncated or damaged torch file"),
    (lambda data: json.dumps({"model": "lenet"}).encode(), "is not a torch checkpoint"),
])
def test_a_damaged_checkpoint_names_the_file_and_what_is_wrong(tmp_path, capsys, damage, found):
    good = save_model(tmp_path / "good.pt", build_model("lenet"))
    run = tmp_path / "run"
    run.mkdir()
    path = run / "model.pt"
    path.write_bytes(damage(good.read_bytes()))
    with pytest.raises(ck.CheckpointError) as err:
        load_model(path)
    text = str(err.value)
    assert str(path) in text and found in text and "bytes" in text, text
    assert not any(word in text for word in ADVICE), text
    status, cap = _run_evaluate(run, capsys)
    assert status == 1 and found in cap.err and "Traceback" not in cap.err


@pytest.mark.parametrize("payload, found", [
    (_payload(model_name="atn"), r"weights do not fit model 'atn' \(missing .*unexpected net.1.bias"),
    (_payload(state_dict=dict(build_model("lenet").state_dict(), **{"net.1.weight": torch.zeros(3, 3)})),
     r"wrong shape net.1.weight: \(3, 3\) instead of \(20, 1, 5, 5\)"),
    (_payload(model_name="resnet"), r"model_name must be one of \['lenet'"),
    (_payload(model_name="fast_atn", model_config={"pool": 0}, state_dict={}),
     r"cannot be built from its model_config \{'pool': 0\}: pool must be a positive integer"),
    (_payload(model_config=[1]), r"model_config must be a dict, got list"),
    (_payload(state_dict=dict(build_model("lenet").state_dict(), **{"net.1.weight": "weights"})),
     r"weight 'net.1.weight' of model 'lenet' is a str, not a tensor"),
    ({"state_dict": {}}, r"is not a stnutils checkpoint: expected keys"),
])
def test_a_checkpoint_of_another_model_or_shape_names_the_file_and_the_problem(tmp_path, payload, found):
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    with pytest.raises(ck.CheckpointError, match=found) as err:
        load_model(path)
    assert str(path) in str(err.value)


def test_nan_weights_are_refused_by_load_model_and_evaluate(tmp_path, capsys):
    model = build_model("lenet")
    with torch.no_grad():
        model.net[1].weight[0, 0, 0, 0] = float("nan")
    run = tmp_path / "run"
    save_model(run / "model.pt", model, extra={"config": {"model": "lenet", "schedule": "lenet", "profile": "smoke"}})
    with pytest.raises(ck.CheckpointError, match=r"weight 'net.1.weight' of model 'lenet' holds 1 non-finite"):
        load_model(run / "model.pt")
    status, cap = _run_evaluate(run, capsys)
    assert status == 1 and "non-finite" in cap.err and "accuracy map" not in cap.out


def test_evaluate_refuses_a_folder_that_mixes_two_runs(tmp_path, capsys):
    run = tmp_path / "run"
    config = {"model": "lenet", "schedule": "lenet", "profile": "smoke", "seed": 0}
    save_model(run / "model.pt", build_model("stn28"), extra={"config": dict(config, model="stn28", schedule="stn28")})
    (run / "config.json").write_text(json.dumps(config))
    status, cap = _run_evaluate(run, capsys)
    assert status == 2 and "mixes two runs" in cap.err
    assert "model 'lenet' in config.json, 'stn28' in model.pt" in cap.err
    assert not list(tmp_path.rglob("*.json"))[1:]  # no results written


def test_results_are_named_after_the_checkpoint_not_a_swapped_schedule():
    lenet = build_model("lenet")
    ckpt = {"model_name": "lenet", "extra": {"config": {"schedule": "fast_atn", "model": "lenet"}}}
    assert _run_name(ckpt, lenet) == "lenet"  # --schedule fast_atn --set model=lenet trains a lenet
    ckpt = {"model_name": "lenet", "extra": {"config": {"schedule": "lenet", "model": "lenet"}}}
    assert _run_name(ckpt, lenet) == "lenet"
    ckpt = {"model_name": "fast_atn", "extra": {"config": {"schedule": "fast_atn_aux", "model": "fast_atn"}}}
    assert _run_name(ckpt, build_model("fast_atn")) == "fast_atn_aux"
