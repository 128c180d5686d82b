"""Faults of the data layer (issue 13): unchecked offsets reaching the fused kernels, corrupt MNIST files.

Each test reproduces one fault of the issue as it was on the code before the fix (noted
per test) and checks what happens now.
"""
import os
from pathlib import Path

import pytest
import torch

import stnutils as stn
from stnutils.data import _kernels, mnist
from stnutils.data.mnist import MNIST_FILES, MNISTNotFoundError

FIX_WORDS = ("STNUTILS_DATA", "./data")


@pytest.fixture(params=["fused", "torch"])
def generator_path(request, monkeypatch):
    """Both paths of the generator: the numba kernels (where numba is installed) and the torch operations."""
    if request.param == "fused" and not _kernels.AVAILABLE:
        pytest.skip("numba is not installed: only the torch path exists here")
    if request.param == "torch":
        monkeypatch.setattr(_kernels, "AVAILABLE", False)
    return request.param


# --- offsets: the fused kernel wrote outside `out` (before: offsets of -2**63, 111 pixels of the next scene) ---


def test_an_infinite_direction_is_refused_by_name(data_root, generator_path):
    with pytest.raises(ValueError, match=r"direction must be a finite number in \(-inf, inf\), got inf"):
        stn.data.NoisyMNIST128(data_root, direction=float("inf"), radius=10, length=4)
    with pytest.raises(ValueError, match=r"direction must be a number in \[-inf, inf\], got nan"):
        stn.data.NoisyMNIST128(data_root, direction=float("nan"), radius=10, length=4)


def test_offsets_outside_the_scene_never_reach_memory_beyond_out(data_root, generator_path):
    """Even when the checks of the constructor are bypassed, batch() refuses, and the next scene stays as it was."""
    ds = stn.data.NoisyMNIST128(data_root, radius=10, direction=0.0, length=4)
    ds.direction = float("inf")  # as if a parameter had slipped through
    buffer = torch.full((2, 1, 128, 128), 7.0)
    with pytest.raises(ValueError, match=r"offsets .*within ±50"):
        ds.batch([0], out=buffer[0:1])
    assert bool((buffer[1] == 7.0).all()), "a pixel outside out was written"


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
def test_the_fused_kernel_refuses_patch_indices_outside_the_scene():
    b, s = 2, 32
    fields = torch.zeros(b, s, s)
    guard = torch.zeros(3, s, s)  # the memory around the one scene the kernel is given
    view = guard[1:2]
    for patch in (torch.full((1, 4), -5, dtype=torch.int64), torch.full((1, 4), s * s, dtype=torch.int64)):
        with pytest.raises(ValueError, match=rf"patch indices must be in \[0, {s * s}\)"):
            _kernels.compose_into(view, torch.ones(1), torch.ones(1), torch.ones(1, 2, 2), patch,
                                  torch.ones(s * s), True)
    assert bool((guard == 0).all())
    with pytest.raises(ValueError, match=r"digit must hold one pixel per patch index"):
        _kernels.compose_into(fields, torch.ones(b), torch.ones(b), torch.ones(b, 3, 3),
                              torch.zeros(b, 4, dtype=torch.int64), torch.ones(s * s), True)
    with pytest.raises(ValueError, match=r"fields must be a contiguous CPU torch.float32 tensor"):
        _kernels.compose_into(fields.double(), torch.ones(b), torch.ones(b), torch.ones(b, 2, 2),
                              torch.zeros(b, 4, dtype=torch.int64), torch.ones(s * s), True)
    with pytest.raises(ValueError, match=r"env must be a contiguous CPU torch.float32 tensor of shape \(8, 8, 2\)"):
        _kernels.spectrum_into(torch.zeros(1, 1, dtype=torch.int32), torch.zeros(1, 1, dtype=torch.int32),
                               torch.zeros(4, 4, 2), torch.zeros(4, 4, 2), torch.zeros(1, 8, 8, 2))
    with pytest.raises(ValueError, match=r"field must be a contiguous CPU torch.complex64 tensor of shape \(1, 8, 8\)"):
        _kernels.deinterleave_extremes(torch.zeros(1, 4, 4, dtype=torch.complex64), torch.zeros(1, 2, 8, 8),
                                       torch.zeros(1, 2), torch.zeros(1, 2))


# --- MNIST files: raw torchvision errors that named neither the file nor the fix -----------------------------


@pytest.fixture
def raw_copy(tmp_path, data_root):
    """A data root whose MNIST/raw holds links to the real files; a test replaces one with a damaged copy."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        os.symlink(Path(data_root) / "MNIST" / "raw" / name, raw / name)
    mnist._CACHE.clear()
    yield tmp_path
    mnist._CACHE.clear()


def _damage(root: Path, name: str, how) -> Path:
    path = root / "MNIST" / "raw" / name
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(how(data))
    return path


def _load(root, name):
    return mnist.load_mnist(root, train=name.startswith("train"), download=False)


@pytest.mark.parametrize("name, how, found", [
    # before: RuntimeError: shape '[10000, 28, 28]' is invalid for input of size 3919992
    ("t10k-images-idx3-ubyte", lambda d: d[: len(d) // 2], "is 3,920,008 bytes, expected 7,840,016: the file is "
                                                          "truncated"),
    # before: ValueError: invalid literal for int() with base 16: b''
    ("t10k-images-idx3-ubyte", lambda d: b"", "is 0 bytes, expected 7,840,016: the file is empty"),
    ("train-labels-idx1-ubyte", lambda d: b"", "is 0 bytes, expected 60,008: the file is empty"),
    # before: a bare AssertionError
    ("t10k-images-idx3-ubyte", lambda d: (2057).to_bytes(4, "big") + d[4:],
     "has magic number 2057 (0x00000809), expected 2051 (0x00000803)"),
    ("t10k-labels-idx1-ubyte", lambda d: d[: len(d) - 10], "is 9,998 bytes, expected 10,008"),
    # a consistent but smaller file: never a silently smaller dataset
    ("t10k-labels-idx1-ubyte", lambda d: d[:4] + (5000).to_bytes(4, "big") + d[8:5008],
     "is 5,008 bytes, expected 10,008"),
    # one byte changed: only the md5 can tell
    ("t10k-images-idx3-ubyte", lambda d: d[:5000] + bytes([d[5000] ^ 0xFF]) + d[5001:],
     "has md5 "),
    ("t10k-images-idx3-ubyte", lambda d: d[:4] + (5000).to_bytes(4, "big") + d[8:],
     "has a header for shape (5000, 28, 28), expected (10000, 28, 28)"),
])
def test_a_damaged_file_is_named_with_what_is_wrong_and_the_fix(raw_copy, name, how, found):
    path = _damage(raw_copy, name, how)
    with pytest.raises(mnist.MNISTCorruptError) as err:
        _load(raw_copy, name)
    text = str(err.value)
    assert str(path) in text and found in text, text
    assert all(word in text for word in FIX_WORDS), text
    assert isinstance(err.value, MNISTNotFoundError)  # the CLI and callers that expect missing data catch it too


def test_the_dataset_reports_a_damaged_file_not_a_torch_error(raw_copy):
    _damage(raw_copy, "t10k-images-idx3-ubyte", lambda d: d[:-1000])
    with pytest.raises(mnist.MNISTCorruptError, match="t10k-images-idx3-ubyte"):
        stn.data.NoisyMNIST28(raw_copy, train=False, download=False)


def test_a_missing_labels_file_names_the_file_and_the_fix(raw_copy):
    (raw_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(MNISTNotFoundError) as err:
        stn.data.NoisyMNIST128(raw_copy, train=False, download=False)
    text = str(err.value)
    assert "missing t10k-labels-idx1-ubyte" in text and "STNUTILS_DATA" in text and "download=True" in text


def test_files_are_checked_once_per_process(raw_copy, monkeypatch):
    calls = []
    real = mnist.hashlib.md5

    def counting(data):
        calls.append(len(data))
        return real(data)

    monkeypatch.setattr(mnist.hashlib, "md5", counting)
    monkeypatch.setattr(mnist, "_VERIFIED", {})
    for _ in range(2):
        mnist._CACHE.clear()
        images, labels = mnist.load_mnist(raw_copy, train=False, download=False)
    assert sorted(calls) == sorted(mnist.MNIST_SPECS[n].size for n in MNIST_FILES if n.startswith("t10k"))
    assert images.shape == (10000, 28, 28) and labels.dtype == torch.int64
    # a file replaced since it was checked is checked again
    _damage(raw_copy, "t10k-labels-idx1-ubyte", lambda d: d[:-1])
    mnist._CACHE.clear()
    with pytest.raises(mnist.MNISTCorruptError, match="expected 10,008"):
        mnist.load_mnist(raw_copy, train=False, download=False)


def test_the_checked_loader_reads_exactly_what_torchvision_reads(data_root):
    from torchvision.datasets import MNIST

    digits, labels = mnist.load_mnist(data_root, train=False)
    reference = MNIST(data_root, train=False, download=False)
    assert torch.equal(digits, reference.data) and torch.equal(labels, reference.targets)
    assert digits.dtype == torch.uint8 and labels.dtype == torch.int64


def test_a_root_that_is_not_a_path_is_a_type_error():
    with pytest.raises(TypeError, match=r"root must be a folder path"):
        mnist.resolve_data_root(3)
