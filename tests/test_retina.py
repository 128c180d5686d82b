import math
import time

import pytest
import torch

from stnutils.models.retina import (
    PolarLogRetina,
    Retina,
    WhatWhereRetina,
    log_gabor_bank,
    retina_positions,
    whiten,
    whitening_filter,
)


@pytest.fixture(scope="module")
def polo():
    return PolarLogRetina()


@pytest.fixture(scope="module")
def small_what_where():
    """The What/Where geometry on a 64 field: same filters, a quarter of the pixels."""
    return WhatWhereRetina(size=64)


def _blob(size, row, col, sigma):
    axis = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.exp(-((yy - row) ** 2 + (xx - col) ** 2) / (2 * sigma**2))[None, None]


def _corr(a, b):
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float(a @ b / (a.norm() * b.norm()))


def test_polar_log_shapes_and_compression(polo):
    assert polo.n_filters == 768 == 8 * 6 * 16
    assert polo.compression == pytest.approx(1 - 768 / 16384) and round(polo.compression, 3) == 0.953
    code = polo.encode(torch.rand(3, 1, 128, 128))
    assert code.shape == (3, 768) and code.dtype == torch.float32
    assert code.view(3, *polo.code_shape).shape == (3, 8, 16, 6, 1)


def test_what_where_full_size_shapes_and_compression():
    r = WhatWhereRetina()
    assert r.n_filters == 2880 == 6 * 24 * 10 * 2
    assert round(r.compression, 3) == 0.824
    assert r.encode(torch.rand(2, 1, 128, 128)).shape == (2, 2880)


def test_banks_are_cached(polo):
    t = time.perf_counter()
    again = PolarLogRetina()
    assert time.perf_counter() - t < 0.5
    assert again.bank.data_ptr() == polo.bank.data_ptr()
    assert PolarLogRetina(size=64).bank.shape == (768, 64 * 64)


@pytest.mark.parametrize("row, col, sigma", [(63.5, 63.5, 6.0), (40.0, 85.0, 8.0), (95.0, 30.0, 5.0)])
def test_polar_log_decode_of_a_blob_correlates(polo, row, col, sigma):
    blob = _blob(128, row, col, sigma)
    rec = polo.decode(polo.encode(blob))
    assert rec.shape == blob.shape
    assert _corr(rec, blob) > 0.5


@pytest.mark.parametrize("row, col, sigma", [(31.5, 31.5, 3.0), (20.0, 42.0, 4.0)])
def test_what_where_decode_of_a_blob_correlates(small_what_where, row, col, sigma):
    blob = _blob(64, row, col, sigma)
    assert _corr(small_what_where.decode(small_what_where.encode(blob)), blob) > 0.5


def test_decode_of_noise_is_the_projection(polo):
    # decode(encode(.)) is a projection (up to the small ridge): applying it twice changes little
    x = torch.rand(1, 1, 128, 128)
    once = polo.decode(polo.encode(x))
    twice = polo.decode(polo.encode(once))
    assert _corr(once, twice) > 0.99


def test_filters_are_zero_mean_unit_norm_and_sit_at_their_positions():
    bank = log_gabor_bank(64, n_orientations=2, n_azimuths=8, n_eccentricities=4, n_phases=2)
    torch.testing.assert_close(bank.mean(1), torch.zeros(len(bank)), atol=1e-6, rtol=0)
    torch.testing.assert_close(bank.norm(dim=1), torch.ones(len(bank)), atol=1e-5, rtol=0)
    positions, _, _ = retina_positions(64, 8, 4)
    energy = bank.view(2, 8, 4, 2, 64, 64).pow(2)[:, :, :2].sum((0, 3))  # inner rings: no wrap-around
    coords = torch.arange(64, dtype=torch.float32)
    rows = (energy.sum(-1) * coords).sum(-1) / energy.sum((-2, -1))
    cols = (energy.sum(-2) * coords).sum(-1) / energy.sum((-2, -1))
    torch.testing.assert_close(torch.stack([rows, cols], -1), positions[:, :2].float(), atol=1.0, rtol=0)


def test_orientation_and_azimuth_conventions():
    """Azimuth 0 is to the right of the centre, pi/2 above; orientation 0 at azimuth 0 is a vertical edge."""
    positions, psi, _ = retina_positions(128, 4, 1)
    c = 63.5
    assert positions[0, 0, 0] == pytest.approx(c) and positions[0, 0, 1] > c  # right
    assert positions[1, 0, 0] < c and positions[1, 0, 1] == pytest.approx(c)  # up
    bank = log_gabor_bank(128, n_orientations=2, n_azimuths=4, n_eccentricities=3, n_phases=1)
    filt = bank.view(2, 4, 3, 1, 128, 128)
    row, col = (float(v) for v in retina_positions(128, 4, 3)[0][0, 2])
    sf = 0.015 / float(retina_positions(128, 4, 3)[2][2])
    yy, xx = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    vertical_stripes = torch.cos(2 * math.pi * sf * (xx - col))  # varies along columns
    horizontal_stripes = torch.cos(2 * math.pi * sf * (yy - row))
    f0, f90 = filt[0, 0, 2, 0], filt[1, 0, 2, 0]
    assert (f0 * vertical_stripes).sum().abs() > 5 * (f0 * horizontal_stripes).sum().abs()
    assert (f90 * horizontal_stripes).sum().abs() > 5 * (f90 * vertical_stripes).sum().abs()


def test_whitening():
    k = whitening_filter(32)
    assert k[0, 0] == 0 and k.mean().item() == pytest.approx(1.0)
    torch.testing.assert_close(k, torch.roll(k.flip(0, 1), (1, 1), (0, 1)))  # even: K(f) = K(-f)
    flat = whiten(torch.full((1, 1, 32, 32), 0.7))
    torch.testing.assert_close(flat, torch.zeros_like(flat), atol=1e-5, rtol=0)


def test_what_where_encodes_the_whitened_scene():
    small = dict(n_orientations=2, n_azimuths=6, n_eccentricities=4)
    white = WhatWhereRetina(size=64, **small)
    plain = Retina(64, n_phases=2, whitened=False, rho=1.41, ecc_max=0.8, B_sf=0.4, B_theta=math.pi / 12, **small)
    x = torch.rand(2, 1, 64, 64)
    torch.testing.assert_close(white.encode(x), plain.encode(whiten(x)), atol=2e-3, rtol=2e-3)


def test_dtype_device_and_checkpoint_handling(polo):
    x = torch.rand(2, 1, 128, 128)
    code32 = polo.encode(x)
    code64 = polo.encode(x.double())
    assert code64.dtype == torch.float64
    torch.testing.assert_close(code64.float(), code32, atol=1e-4, rtol=1e-4)
    assert polo.decode(code64).dtype == torch.float64
    assert "bank" not in polo.state_dict()  # rebuilt from the parameters, never saved
    moved = PolarLogRetina().to(torch.float64)
    assert moved.bank.dtype == torch.float64 and polo.bank.dtype == torch.float32  # the cache is untouched
    if torch.cuda.is_available():
        gpu = PolarLogRetina().to("cuda")
        torch.testing.assert_close(gpu.encode(x.cuda()).cpu(), code32, atol=1e-4, rtol=1e-4)
        assert gpu.decode(gpu.encode(x.cuda())).device.type == "cuda"


def test_bad_inputs(polo):
    with pytest.raises(ValueError, match=r"images must be an \(N, 1, 128, 128\) tensor, got \(2, 1, 64, 64\)"):
        polo.encode(torch.rand(2, 1, 64, 64))
    with pytest.raises(ValueError, match="code"):
        polo.decode(torch.rand(2, 700))
    with pytest.raises(ValueError, match="n_phases"):
        log_gabor_bank(32, n_phases=3)
    with pytest.raises(ValueError, match="n_azimuths"):
        PolarLogRetina(n_azimuths=0)
