import math

import pytest
import torch

import stnutils as stn
from stnutils.data.mnist import MNIST_FILES, load_mnist
from stnutils.data.scenes import disc_mask, shift_digits


@pytest.fixture(scope="module")
def mnist(data_root):
    return load_mnist(data_root, train=False)


def test_shapes_ranges_and_types(data_root):
    ds = stn.data.NoisyMNIST128(data_root, train=False, seed=0)
    x, y, o = ds.batch(range(6))
    assert x.shape == (6, 1, 128, 128) and x.dtype == torch.float32
    assert y.shape == (6,) and y.dtype == torch.int64
    assert o.shape == (6, 2) and o.dtype == torch.int64
    assert 0 <= x.min() and x.max() <= 1
    assert len(ds) == 10_000
    img, label, offset = ds[3]
    assert img.shape == (1, 128, 128) and label.ndim == 0 and offset.shape == (2,)
    d28 = stn.data.NoisyMNIST28(data_root, train=True, shift_std=3, length=100)
    x, y, o = d28.batch(range(4))
    assert x.shape == (4, 1, 28, 28) and len(d28) == 100
    assert "NoisyMNIST128" in repr(ds) and "Number of datapoints: 10000" in repr(ds) and "Split: Test" in repr(ds)
    assert "Shift: N(0, 3)" in repr(d28)


@pytest.mark.parametrize("cls", [stn.data.NoisyMNIST28, stn.data.NoisyMNIST128])
def test_sample_is_independent_of_batch_and_order(data_root, cls):
    kw = {"shift_std": 6} if cls is stn.data.NoisyMNIST28 else {}
    ds = cls(data_root, train=False, seed=5, **kw)
    full = ds.batch(range(12))
    odd_batch = ds.batch([7, 3, 11, 0])  # unaligned pairs, shuffled
    for k, pos in zip([7, 3, 11, 0], range(4)):
        torch.testing.assert_close(odd_batch[0][pos], full[0][k], rtol=0, atol=0)
        assert odd_batch[1][pos] == full[1][k] and torch.equal(odd_batch[2][pos], full[2][k])
    single = ds[9]
    torch.testing.assert_close(single[0], full[0][9], rtol=0, atol=0)
    other_seed = cls(data_root, train=False, seed=6, **kw).batch(range(12))
    assert not torch.equal(other_seed[0], full[0])


def test_dataloader_workers_and_shuffling_give_the_same_samples(data_root):
    ds = stn.data.NoisyMNIST128(data_root, train=False, seed=2, length=24)
    reference = ds.batch(range(24))[0]
    loader = torch.utils.data.DataLoader(ds, batch_size=5, num_workers=2, shuffle=False)
    got = torch.cat([images for images, _, _ in loader])
    torch.testing.assert_close(got, reference, rtol=0, atol=0)
    seen = {}
    for images, _labels, _offsets in stn.data.iterate_batches(ds, 6, shuffle=True, seed=1):
        assert images.shape[0] == 6
        for img in images:
            seen[len(seen)] = img
    assert len(seen) == 24
    order = torch.cat([b[1] for b in stn.data.iterate_batches(ds, 6, shuffle=True, seed=1)])
    assert sorted(order.tolist()) == sorted(ds.batch(range(24))[1].tolist())


def centre_of_mass(img):
    h, w = img.shape
    rows = torch.arange(h, dtype=torch.float64)[:, None]
    cols = torch.arange(w, dtype=torch.float64)[None, :]
    m = img.double().sum()
    return ((img * rows).sum() / m).item(), ((img * cols).sum() / m).item()


def test_digit_lands_at_the_requested_offset(data_root, mnist):
    digits, _ = mnist
    ds = stn.data.NoisyMNIST128(data_root, train=False, noise=0.0, contrast=1.0, mask=False, eccentricity_std=25)
    x, _, offsets = ds.batch(range(40))
    assert (offsets != 0).any()
    for k in range(40):
        layer = (x[k, 0] - 0.5).clamp_min(0)  # the digit, background removed
        ci, cj = centre_of_mass(layer)
        d = digits[k].double() / digits[k].max()
        di, dj = centre_of_mass((d - 0.5).clamp_min(0))
        assert abs(ci - (50 + di + offsets[k, 0].item())) < 1e-6
        assert abs(cj - (50 + dj + offsets[k, 1].item())) < 1e-6


def test_fixed_radius_direction_and_offset(data_root):
    ds = stn.data.NoisyMNIST128(data_root, train=False, radius=20.0)
    _, _, o = ds.batch(range(200))
    r = o.double().norm(dim=1)
    assert (r <= 20).all() and (r > 20 - math.sqrt(2)).all()
    ds = stn.data.NoisyMNIST128(data_root, train=False, radius=30.0, direction=math.pi / 2)
    assert ds.batch(range(3))[2].tolist() == [[0, 30]] * 3
    ds = stn.data.NoisyMNIST128(data_root, train=False, offset=(-7, 12))
    assert ds.batch(range(2))[2].tolist() == [[-7, 12]] * 2
    ds = stn.data.NoisyMNIST128(data_root, train=False, eccentricity_std=100, eccentricity_max=40)
    r = ds.batch(range(400))[2].double().norm(dim=1)
    assert r.max() <= 40 and r.max() > 38


def test_eccentricity_distribution_is_half_normal(data_root):
    ds = stn.data.NoisyMNIST128(data_root, train=True, eccentricity_std=10, eccentricity_max=50, noise=0.0, length=4000)
    o = ds.batch(range(4000))[2].double()
    # |N(0, 10)| truncated to integers per axis: E[r] ~ 10*sqrt(2/pi) minus ~0.5..1 px of truncation
    mean_r = o.norm(dim=1).mean().item()
    assert 6.7 < mean_r < 8.0
    far = o[o.norm(dim=1) >= 3]  # near the centre, truncation makes the grid angles coarse
    angle = torch.atan2(far[:, 1], far[:, 0])
    assert abs(angle.cos().mean().item()) < 0.06 and abs(angle.sin().mean().item()) < 0.06


def test_shift_distribution_28(data_root):
    ds = stn.data.NoisyMNIST28(data_root, shift_std=5, shift_max=12, noise=0, length=4000)
    o = ds.batch(range(4000))[2].double()
    assert o.abs().max() <= 12
    assert 3.8 < o.std().item() < 5.0  # truncation toward zero shrinks the std a little


def test_shift_loses_pixels_that_leave_the_frame():
    x = torch.arange(16.0).view(1, 4, 4)
    out = shift_digits(x, torch.tensor([[0, 3]]))
    assert out[0, :, 3].tolist() == [0.0, 4.0, 8.0, 12.0] and out[0, :, :3].abs().sum() == 0
    out = shift_digits(x, torch.tensor([[-4, 0]]))
    assert out.abs().sum() == 0


def test_outside_the_disc_is_exactly_half(data_root):
    ds = stn.data.NoisyMNIST128(data_root, train=False, seed=3)
    x = ds.batch(range(8))[0][:, 0]
    outside = disc_mask(128) == 0
    assert outside.sum() > 3000
    assert (x[:, outside] == 0.5).all()
    inside = x[:, ~outside]
    assert inside.min() == 0.0 and inside.max() == 1.0  # normalised to [0, 1] inside


@pytest.mark.parametrize("c", [0.3, 0.5, 0.7, 1.0])
def test_contrast_scales_the_digit(data_root, mnist, c):
    digits, _ = mnist
    ds = stn.data.NoisyMNIST128(data_root, train=False, noise=0.0, contrast=c, mask=False, offset=(0, 0))
    x = ds.batch(range(5))[0][:, 0, 50:78, 50:78]
    norm = digits[:5].double() / digits[:5].double().amax(dim=(1, 2), keepdim=True)
    expected = (0.5 + c * (norm - 0.5)).clamp_min(0.5)  # background 0.5 shows where digit <= 0.5
    torch.testing.assert_close(x.double(), expected, atol=1e-6, rtol=0)


def test_composite_keeps_the_brighter_of_digit_and_background(data_root):
    ds = stn.data.NoisyMNIST128(data_root, train=False, contrast=0.7, mask=False, offset=(0, 0), seed=4)
    bg_only = stn.data.NoisyMNIST128(data_root, train=False, contrast=0.7, mask=False, offset=(0, 0), seed=4,
                                     noise=0.75)
    x = ds.batch([0, 1])[0][:, 0]
    # away from the digit patch the scene is the background: 0.5 + 0.375 * cloud
    border = x[:, :40, :]
    assert border.min() >= 0.125 - 1e-6 and border.max() <= 0.875 + 1e-6
    digit_only = stn.data.NoisyMNIST128(data_root, train=False, contrast=0.7, mask=False, offset=(0, 0),
                                        noise=0.0).batch([0, 1])[0][:, 0]
    stroke = digit_only > 0.5
    assert (x[stroke] >= digit_only[stroke] - 1e-6).all()
    assert torch.equal(bg_only.batch([0, 1])[0], ds.batch([0, 1])[0])


def test_cpu_and_cuda_agree(data_root):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    cpu = stn.data.NoisyMNIST128(data_root, train=False, seed=1).batch(range(64))
    gpu = stn.data.NoisyMNIST128(data_root, train=False, seed=1, device="cuda").batch(range(64))
    torch.testing.assert_close(gpu[0].cpu(), cpu[0], atol=1e-4, rtol=0)
    assert torch.equal(gpu[2].cpu(), cpu[2])


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (stn.data.NoisyMNIST28, {"shift_std": -1}, r"shift_std must be in \[0, inf\], got -1"),
        (stn.data.NoisyMNIST28, {"shift_max": 30}, r"shift_max must be in \[0, 27\], got 30"),
        (stn.data.NoisyMNIST28, {"offset": (0, 28)}, r"offset j must be in \[-27, 27\], got 28"),
        (stn.data.NoisyMNIST28, {"contrast": 0.0}, r"contrast must be in \(0, 1\], got 0.0"),
        (stn.data.NoisyMNIST28, {"contrast": 1.5}, r"contrast must be in \(0, 1\], got 1.5"),
        (stn.data.NoisyMNIST28, {"contrast": (0.7, 0.3)}, r"c_min <= c_max"),
        (stn.data.NoisyMNIST28, {"noise": -0.1}, r"noise must be in \[0, 1\], got -0.1"),
        (stn.data.NoisyMNIST28, {"sf_0": 0}, r"sf_0 must be in \(0, 0.5\]"),
        (stn.data.NoisyMNIST28, {"length": 0}, r"length must be a positive integer"),
        (stn.data.NoisyMNIST28, {"rotation": -5}, r"rotation must be in \[0, 180\], got -5"),
        (stn.data.NoisyMNIST28, {"rotation": 200}, r"rotation must be in \[0, 180\], got 200"),
        (stn.data.NoisyMNIST128, {"eccentricity_std": -2}, r"eccentricity_std must be in \[0, inf\]"),
        (stn.data.NoisyMNIST128, {"eccentricity_max": 60}, r"eccentricity_max must be in \[0, 50\], got 60"),
        (stn.data.NoisyMNIST128, {"radius": 51}, r"radius must be in \[0, 50\], got 51"),
        (stn.data.NoisyMNIST128, {"offset": (60, 0)}, r"offset i must be in \[-50, 50\], got 60"),
        (stn.data.NoisyMNIST128, {"size": 127}, r"size must be an even integer >= 28, got 127"),
        (stn.data.NoisyMNIST128, {"size": 64, "eccentricity_max": 40}, r"eccentricity_max must be in \[0, 18\]"),
    ],
)
def test_bad_parameters_raise_clear_errors(data_root, cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(data_root, **kwargs)


def test_rotate_digits_turns_counter_clockwise_about_the_centre():
    from stnutils.data.scenes import rotate_digits

    x = torch.zeros(2, 28, 28)
    x[:, 4:10, 13:15] = 1.0  # a bar above the centre
    y = rotate_digits(x, torch.tensor([90.0, 0.0]))
    torch.testing.assert_close(y[1], x[1], atol=1e-6, rtol=0)  # 0 degrees: unchanged
    # 90 degrees counter-clockwise on screen: the bar is now left of the centre, horizontal
    torch.testing.assert_close(y[0], torch.rot90(x[0], 1, dims=(0, 1)), atol=1e-5, rtol=0)
    assert y[0, 13:15, 4:10].mean() > 0.9 and y[0, :, 14:].sum() < 1e-4


def test_rotation_is_deterministic_uniform_and_applied(data_root):
    plain = stn.data.NoisyMNIST28(data_root, train=False, seed=2, contrast=0.7, noise=0.0)
    turned = stn.data.NoisyMNIST28(data_root, train=False, seed=2, contrast=0.7, noise=0.0, rotation=60)
    angles = turned.rotations(range(4000))
    assert angles.abs().max() <= 60 and angles.min() < -55 and angles.max() > 55
    assert abs(angles.mean().item()) < 2.0 and abs(angles.std().item() - 60 / math.sqrt(3)) < 1.0
    torch.testing.assert_close(turned.rotations([5, 1]), angles[[5, 1]], rtol=0, atol=0)
    assert torch.equal(plain.rotations(range(3)), torch.zeros(3, dtype=torch.float64))
    x0, y0, _ = plain.batch(range(8))
    x1, y1, _ = turned.batch(range(8))
    assert torch.equal(y0, y1)
    from stnutils.data.scenes import apply_contrast, rotate_digits

    # without background the scene is the rotated digit at contrast 0.7 (composited over 0.5)
    digits = load_mnist(data_root, train=False)[0][:8].float()
    expected = apply_contrast(rotate_digits(digits, angles[:8]), torch.full((8,), 0.7))
    torch.testing.assert_close(x1[:, 0], torch.maximum(expected, torch.full_like(expected, 0.5)), atol=1e-5, rtol=0)
    assert (x1 - x0).abs().amax(dim=(1, 2, 3)).min() > 0.1  # every digit moved
    assert "Rotation: uniform in ±60°" in repr(turned) and "Rotation" not in repr(plain)


def test_index_out_of_range(data_root):
    ds = stn.data.NoisyMNIST28(data_root, length=10)
    with pytest.raises(IndexError, match="length 10"):
        ds.batch([10])


def test_missing_data_error_names_folder_files_and_variable(tmp_path):
    with pytest.raises(stn.data.MNISTNotFoundError) as err:
        stn.data.NoisyMNIST28(tmp_path, download=False)
    text = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in text
    assert all(name in text for name in MNIST_FILES)
    assert "STNUTILS_DATA" in text


def test_data_root_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("STNUTILS_DATA", str(tmp_path))
    assert stn.data.resolve_data_root(None) == (tmp_path, False)
    assert stn.data.resolve_data_root("elsewhere")[0].name == "elsewhere"
    monkeypatch.delenv("STNUTILS_DATA")
    path, is_default = stn.data.resolve_data_root(None)
    assert path.name == "data" and is_default


def test_samples_across_cpu_blocks_equal_samples_drawn_alone(data_root):
    ds = stn.data.NoisyMNIST128(data_root, train=False, seed=11)
    block = ds._BLOCK_BYTES // (4 * ds.size**2)
    n = 2 * block + 6  # three blocks, the last one short
    images = ds.batch(range(n))[0]
    for k in [0, block - 1, block, 2 * block - 1, 2 * block, n - 1]:
        torch.testing.assert_close(images[k], ds[k][0], rtol=0, atol=0)
    shuffled = torch.randperm(n, generator=torch.Generator().manual_seed(0))  # unaligned pairs
    torch.testing.assert_close(ds.batch(shuffled)[0], images[shuffled], rtol=0, atol=0)


def test_batch_writes_into_out(data_root):
    ds = stn.data.NoisyMNIST128(data_root, train=False, seed=12)
    expected = ds.batch(range(4))[0]
    out = torch.full((4, 1, 128, 128), -1.0)
    images, labels, _ = ds.batch(range(4), out=out)
    assert images is out and torch.equal(out, expected) and labels.shape == (4,)
    for bad in [torch.empty(4, 1, 64, 64), torch.empty(4, 1, 128, 128, dtype=torch.float64),
                torch.empty(4, 1, 128, 256)[..., ::2], "images"]:
        with pytest.raises(ValueError, match=r"out must be a contiguous float32 tensor of shape \(4, 1, 128, 128\)"):
            ds.batch(range(4), out=bad)


@pytest.mark.parametrize("kwargs", [
    dict(cls=stn.data.NoisyMNIST128),
    dict(cls=stn.data.NoisyMNIST128, mask=False, contrast=1.0),
    dict(cls=stn.data.NoisyMNIST128, size=60, eccentricity_max=16),
    dict(cls=stn.data.NoisyMNIST28, shift_std=4, rotation=30),
    dict(cls=stn.data.NoisyMNIST28, mask=True),
])
def test_fused_kernels_and_torch_operations_give_the_same_scenes(data_root, monkeypatch, kwargs):
    from stnutils.data import _kernels

    if not _kernels.AVAILABLE:
        pytest.skip("numba is not installed: only the torch path exists here")
    kwargs = dict(kwargs)
    ds = kwargs.pop("cls")(data_root, train=False, seed=13, **kwargs)
    order = [5, 2, 9, 0, 1, 14, 15, 7]  # aligned pairs and loose samples
    fused = ds.batch(range(16))[0], ds.batch(order)[0]
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    plain = ds.batch(range(16))[0], ds.batch(order)[0]
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
