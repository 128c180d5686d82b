"""stnutils.provenance: profile and device checks, the provenance dict, the banner."""
import re
import subprocess
import time

import pytest
import torch

from stnutils import provenance as prov


@pytest.mark.parametrize("profile", ["smoke", "quick", "full"])
def test_check_profile_accepts_the_three_profiles(profile):
    assert prov.check_profile(profile) == profile


@pytest.mark.parametrize("bad", ["fast", "", "Quick", None, 1])
def test_check_profile_rejects_others_with_the_list(bad):
    expected = f"profile must be one of ['smoke', 'quick', 'full'], got {bad!r}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        prov.check_profile(bad)


def test_resolve_device():
    assert prov.resolve_device("cpu") == "cpu"
    assert prov.resolve_device(None) == "cpu"
    assert prov.resolve_device(torch.device("cpu")) == "cpu"
    assert prov.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("bad", ["gpu", "tpu:0", "mps", 3.5])
def test_resolve_device_rejects_unknown(bad):
    with pytest.raises(ValueError, match=r"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got"):
        prov.resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_resolve_device_cuda_without_cuda_says_so():
    with pytest.raises(ValueError, match="CUDA is not available"):
        prov.resolve_device("cuda")


def test_provenance_fields():
    info = prov.provenance("quick", "cpu")
    assert set(info) == {"profile", "device", "git_commit", "torch", "python", "timestamp"}
    assert info["profile"] == "quick"
    assert info["device"] == "cpu"
    assert info["torch"] == torch.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", info["python"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", info["timestamp"])
    assert info["git_commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{4,40}(\+dirty)?", info["git_commit"])


def test_provenance_checks_profile():
    with pytest.raises(ValueError, match="profile must be one of"):
        prov.provenance("medium")


def test_provenance_wall_time():
    info = prov.provenance("smoke", start_time=time.time() - 2.0)
    assert 1.9 <= info["wall_time_s"] < 60


def test_git_commit_outside_a_repository(tmp_path):
    assert prov.git_commit(tmp_path) == "unknown"


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_git_commit_clean_and_dirty(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("a")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert prov.git_commit(tmp_path) == head
    # what a book build writes (book/) is its output: not a change to the source
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "week01.ipynb").write_text("{}")
    assert prov.git_commit(tmp_path) == head
    (tmp_path / "sub").mkdir()
    assert prov.git_commit(tmp_path / "sub") == head  # asked from a subfolder: still the whole tree
    (tmp_path / "a.txt").write_text("b")
    assert prov.git_commit(tmp_path / "sub") == head + "+dirty"
    assert prov.git_commit(tmp_path) == head + "+dirty"


def test_banner_states_profile_device_commit_and_wall_time():
    info = {"profile": "smoke", "device": "cpu", "git_commit": "abc1234", "torch": "2.x",
            "python": "3.11.7", "timestamp": "2025-01-01T00:00:00+00:00"}
    text = prov.provenance_banner(info)
    assert text.startswith("```{admonition} Run: profile smoke on cpu")
    assert text.rstrip().endswith("```")
    assert "`abc1234`" in text and "running" in text
    done = prov.provenance_banner(dict(info, wall_time_s=75.0))
    assert "**wall time**: 1 min 15 s" in done and "running" not in done


def test_start_and_finish_outside_ipython(capsys):
    info = prov.start("smoke", "cpu")
    assert info["profile"] == "smoke" and info["device_name"] == "cpu"
    out = capsys.readouterr().out
    assert "profile: smoke" in out and "git_commit:" in out
    done = prov.finish(info)
    assert done["wall_time_s"] >= 0 and "wall_time_s" not in info
    assert "Finished: profile smoke on cpu, wall time" in capsys.readouterr().out


def test_start_rejects_a_bad_profile_before_showing_anything(capsys):
    with pytest.raises(ValueError, match=re.escape("profile must be one of ['smoke', 'quick', 'full'], got 'qiuck'")):
        prov.start("qiuck")
    assert capsys.readouterr().out == ""
