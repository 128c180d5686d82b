import os
import pickle

import pytest
import torch
import torch.nn.functional as F

from stnutils.models import MODEL_NAMES, build_model, input_size
from stnutils.training.checkpoint import FORMAT, load_checkpoint, load_model, save_model


def _perturbed(name):
    """A model whose weights differ from a fresh one, so the round trip has something to prove."""
    torch.manual_seed(1)
    m = build_model(name)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return m


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_round_trip_every_model(tmp_path, name):
    m = _perturbed(name).eval()
    path = save_model(tmp_path / f"{name}.pt", m, extra={"epoch": 2, "history": [{"loss": 1.5}]})
    loaded = load_model(path)
    assert type(loaded) is type(m) and not loaded.training
    assert loaded.config == m.config
    s = input_size(name)
    x = torch.rand(2, 1, s, s)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), m(x), rtol=0, atol=0)
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.pt"]  # no temporary file left


def test_round_trip_with_config_and_optimizer(tmp_path):
    m = build_model("polo_atn", scale=0.25, hidden=[32, 16])
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.rand(2, 1, 128, 128), torch.tensor([1, 2])
    F.cross_entropy(m(x), y).backward()
    opt.step()
    save_model(tmp_path / "c.pt", m, optimizer=opt, extra={"epoch": 1})
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt["format"] == FORMAT and ckpt["model_name"] == "polo_atn"
    assert ckpt["model_config"] == {"scale": 0.25, "hidden": [32, 16]} and ckpt["extra"] == {"epoch": 1}
    opt2 = torch.optim.SGD(build_model("polo_atn", **ckpt["model_config"]).parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(ckpt["optimizer"])
    assert opt2.state_dict()["param_groups"][0]["momentum"] == 0.9
    assert load_model(tmp_path / "c.pt").stn.init_scale == 0.25


def test_overwrite_is_atomic_and_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "sub" / "m.pt"
    save_model(path, build_model("lenet"), extra={"epoch": 1})
    save_model(path, build_model("lenet"), extra={"epoch": 2})
    assert load_checkpoint(path)["extra"] == {"epoch": 2}
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        save_model(path, build_model("lenet"), extra={"bad": lambda: 0})  # cannot be pickled
    assert load_checkpoint(path)["extra"] == {"epoch": 2}
    assert os.listdir(path.parent) == ["m.pt"]


def test_errors(tmp_path):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        load_model(missing)
    bad_name = tmp_path / "bad.pt"
    torch.save({"format": FORMAT, "model_name": "resnet", "model_config": {}, "state_dict": {}, "optimizer": None,
                "extra": {}}, bad_name)
    with pytest.raises(ValueError, match=r"model_name must be one of \['lenet'"):
        load_model(bad_name)
    not_ckpt = tmp_path / "weights.pt"
    torch.save(build_model("lenet").state_dict(), not_ckpt)
    with pytest.raises(ValueError, match="not a stnutils checkpoint"):
        load_model(not_ckpt)
    wrong = tmp_path / "wrong.pt"
    ckpt = {"format": FORMAT, "model_name": "atn", "model_config": {}, "state_dict": build_model("lenet").state_dict(),
            "optimizer": None, "extra": {}}
    torch.save(ckpt, wrong)
    with pytest.raises(ValueError, match="weights do not fit"):
        load_model(wrong)
    with pytest.raises(ValueError, match="model must be one of"):
        save_model(tmp_path / "x.pt", torch.nn.Linear(2, 2))


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_load_refuses_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "model_name": "lenet", "model_config": {}, "state_dict": {}, "optimizer": None,
                "extra": _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(path)
