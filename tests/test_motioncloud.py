import math

import MotionClouds as mc
import numpy as np
import pytest
import torch

from stnutils.data import rng
from stnutils.data.motioncloud import motioncloud_background, motioncloud_envelope, motioncloud_pairs, rectify_michelson

N = 128


def reference_envelope(size, **kw):
    fx, fy, ft = mc.get_grids(size, size, 1)
    params = dict(sf_0=0.1, B_sf=0.1, B_theta=np.inf, V_X=0.0, V_Y=0.0, B_V=0, alpha=0.0)
    params.update(kw)
    return mc.envelope_gabor(fx, fy, ft, **params)[:, :, 0]


@pytest.mark.parametrize(
    "size, params",
    [
        (128, {}),
        (28, {}),
        (64, {"sf_0": 0.2, "B_sf": 0.05}),
        (128, {"alpha": 1.0}),
        (64, {"theta": math.pi / 4, "B_theta": math.pi / 8}),
    ],
)
def test_envelope_equals_motionclouds(size, params):
    ours = motioncloud_envelope(size, **params).numpy()
    ref = reference_envelope(size, **params)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6 * max(1.0, ref.max()))


def test_envelope_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"sf_0 must be in \(0, 0.5\]"):
        motioncloud_envelope(64, sf_0=0.0)
    with pytest.raises(ValueError, match="B_sf"):
        motioncloud_envelope(64, B_sf=-1)
    with pytest.raises(ValueError, match="size"):
        motioncloud_envelope(1)


def test_rectify_matches_motionclouds():
    z = np.random.default_rng(0).normal(size=(3, 32, 32))
    ours = rectify_michelson(torch.from_numpy(z)).numpy()
    ref = np.stack([mc.rectif(zz, contrast=1.0, method="Michelson") for zz in z])
    np.testing.assert_allclose(ours, ref, atol=1e-12)


@pytest.fixture(scope="module")
def samples():
    env = reference_envelope(N)[:, :, None]
    ref = np.stack([mc.rectif(mc.random_cloud(env, seed=s), contrast=1.0, method="Michelson")[:, :, 0]
                    for s in range(300)])
    ours = (0.5 + 0.5 * motioncloud_pairs(rng.sample_keys(7, torch.arange(150)), N).reshape(-1, N, N)).numpy()
    return ref, ours


def radial_profile(x):
    power = (np.abs(np.fft.fft2(x - x.mean(axis=(1, 2), keepdims=True))) ** 2).mean(0)
    f = np.fft.fftfreq(N)
    fr = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2).ravel()
    edges = np.linspace(0, 0.5, 26)
    idx = np.digitize(fr, edges)
    prof = np.array([power.ravel()[idx == k].mean() for k in range(1, 26)])
    return prof / prof.sum()


def test_pixel_statistics_match_motionclouds(samples):
    ref, ours = samples
    assert ours.shape == (300, N, N)
    assert 0 <= ours.min() and ours.max() <= 1
    assert abs(ours.mean() - ref.mean()) < 0.003
    assert abs(ours.std() / ref.std() - 1) < 0.03
    h_ref, _ = np.histogram(ref, bins=20, range=(0, 1), density=True)
    h_ours, _ = np.histogram(ours, bins=20, range=(0, 1), density=True)
    assert np.abs(h_ref - h_ours).mean() < 0.03


def test_radial_power_spectrum_matches_motionclouds(samples):
    ref, ours = samples
    p_ref, p_ours = radial_profile(ref), radial_profile(ours)
    band = p_ref > 0.05 * p_ref.max()
    assert band.sum() >= 8
    np.testing.assert_allclose(p_ours[band], p_ref[band], rtol=0.05)


def test_spectrum_follows_the_envelope_not_white_noise(samples):
    # the same comparison must fail for a wrong envelope (guards the test above)
    _, ours = samples
    wrong = (0.5 + 0.5 * motioncloud_pairs(rng.sample_keys(7, torch.arange(50)), N, sf_0=0.2).reshape(-1, N, N)).numpy()
    p_ours, p_wrong = radial_profile(ours), radial_profile(wrong)
    band = p_ours > 0.05 * p_ours.max()
    assert np.abs(p_wrong[band] / p_ours[band] - 1).max() > 0.3


def test_real_and_imaginary_clouds_are_uncorrelated():
    pairs = motioncloud_pairs(rng.sample_keys(3, torch.arange(200)), N).numpy()
    corr = [np.corrcoef(p[0].ravel(), p[1].ravel())[0, 1] for p in pairs]
    assert abs(np.mean(corr)) < 0.01
    # each field is zero-mean with max |z| exactly 1
    flat = pairs.reshape(400, -1)
    np.testing.assert_allclose(np.abs(flat).max(1), 1, rtol=1e-6)
    np.testing.assert_allclose(flat.mean(1), 0, atol=1e-5)


def test_background_is_deterministic_per_key_and_chunking():
    keys = rng.sample_keys(11, torch.arange(10))
    a = motioncloud_background(keys, 64)
    b = motioncloud_background(keys[3:5], 64, chunk=1)
    torch.testing.assert_close(a[3:5], b)


@pytest.mark.parametrize("fused", [True, False])
def test_cloud_fields_report_their_extremes_and_do_not_depend_on_the_chunking(fused, monkeypatch):
    from stnutils.data import _kernels
    from stnutils.data.motioncloud import cloud_fields_into

    if fused and not _kernels.AVAILABLE:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(_kernels, "AVAILABLE", fused)

    keys = rng.sample_keys(4, torch.arange(5))
    one = torch.empty(5, 2, 64, 64)
    top, bottom = cloud_fields_into(keys, one, chunk=1)
    assert torch.equal(top, one.amax(dim=(2, 3))) and torch.equal(bottom, one.amin(dim=(2, 3)))
    assert (top > 0).all() and (bottom < 0).all()
    many = torch.empty(5, 2, 64, 64)
    cloud_fields_into(keys, many, chunk=3)
    assert torch.equal(one, many)
    # motioncloud_pairs is these fields scaled to max |z| = 1
    pairs = motioncloud_pairs(keys, 64)
    torch.testing.assert_close(pairs, one / torch.maximum(top, -bottom)[:, :, None, None], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match=r"out must be a contiguous float32 tensor of shape \(5, 2, 64, 64\)"):
        cloud_fields_into(keys, torch.empty(5, 2, 64, 64, dtype=torch.float64))
