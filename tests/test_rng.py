import torch

from stnutils.data import rng
from stnutils.data.rng import _hash32_int32_


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


def reference_keys(seed: int, index: int):
    """sample_keys written out with Python ints, the way its docstring defines it."""
    golden = 0x9E3779B9
    s0, s1 = lowbias32(seed & 0xFFFFFFFF), lowbias32((seed >> 32) & 0xFFFFFFFF)
    base = lowbias32(s0 ^ lowbias32(s1 + golden))
    k0 = lowbias32(lowbias32((index & 0xFFFFFFFF) ^ base) + (index >> 32))
    return k0, lowbias32(k0 ^ golden ^ base)


def test_sample_keys_and_streams_match_python_ints():
    index = [0, 1, 77, 2**32 - 1, 2**32 + 5, 2**40 + 123]
    for seed in [0, 5, 2**35 + 7]:
        keys = rng.sample_keys(seed, torch.tensor(index))
        assert keys.tolist() == [list(reference_keys(seed, i)) for i in index]
        # a stream word is lowbias32(lowbias32(k0 ^ lowbias32(stream)) ^ k1)
        words = [lowbias32(lowbias32(k0 ^ lowbias32(4)) ^ k1) for k0, k1 in keys.tolist()]
        expected = [(w + 0.5) / 2**32 for w in words]
        assert rng.uniform(keys, 4).tolist() == expected


def test_uniforms_columns_are_the_single_streams():
    keys = rng.sample_keys(9, torch.arange(500))
    both = rng.uniforms(keys, [3, 11, 4])
    for column, stream in enumerate([3, 11, 4]):
        assert torch.equal(both[:, column], rng.uniform(keys, stream))


def test_noise_words_into_reused_buffers_are_the_same_words():
    keys = rng.sample_keys(2, torch.arange(6))
    fresh = rng.noise_words(keys, 1024)
    out = torch.full((6, 1024), 7, dtype=torch.int32)
    scratch = torch.full_like(out, -1)
    assert rng.noise_words(keys, 1024, out=out, scratch=scratch) is out
    assert torch.equal(out, fresh)
    mult, add = rng.noise_word_params(keys)
    assert torch.equal(rng.noise_words_from(mult[2:4], add[2:4], 1024), fresh[2:4])
