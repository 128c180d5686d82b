import torch

from stnutils import rng
from stnutils.rng import _hash32_int32_


def lowbias32(x: int) -> int:
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


VALUES = [0, 1, 2, 12345, 2**31 - 1, 2**31, 2**32 - 1, 0xDEADBEEF]


def test_hash32_matches_reference_implementation():
    assert hash32_list(VALUES) == [lowbias32(v) for v in VALUES]


def hash32_list(values):
    return rng.hash32(torch.tensor(values, dtype=torch.int64)).tolist()


def test_int32_inplace_hash_has_the_same_bits():
    t = torch.tensor(VALUES, dtype=torch.int64)
    signed = torch.where(t >= 2**31, t - 2**32, t).to(torch.int32)
    out = _hash32_int32_(signed.clone()).to(torch.int64) % 2**32
    assert out.tolist() == [lowbias32(v) for v in VALUES]


def test_keys_depend_only_on_seed_and_index():
    a = rng.sample_keys(3, torch.tensor([5, 9, 1000]))
    b = rng.sample_keys(3, torch.tensor([1000, 5]))
    assert torch.equal(a[0], b[1]) and torch.equal(a[2], b[0])
    assert not torch.equal(rng.sample_keys(4, torch.tensor([5])), a[:1])
    keys = rng.sample_keys(0, torch.arange(10_000))
    assert len(set(keys[:, 0].tolist())) == 10_000


def test_uniform_and_normal_moments():
    keys = rng.sample_keys(1, torch.arange(200_000))
    u = rng.uniform(keys, 1)
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 0.003
    n = rng.normal(keys, 3)
    assert abs(n.mean().item()) < 0.01 and abs(n.std().item() - 1) < 0.01
    # different streams are not the same numbers
    assert torch.corrcoef(torch.stack([u, rng.uniform(keys, 2)]))[0, 1].abs() < 0.01


def test_noise_words_bytes_are_uniform_and_per_sample():
    keys = rng.sample_keys(0, torch.arange(64))
    words = rng.noise_words(keys, 4096)
    bytes_ = words.view(torch.int8).to(torch.int64) + 128
    counts = torch.bincount(bytes_.flatten(), minlength=256).double()
    expected = bytes_.numel() / 256
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 400  # 255 degrees of freedom: p ~ 1e-8 above 400
    again = rng.noise_words(keys[10:12], 4096)
    assert torch.equal(again, words[10:12])
