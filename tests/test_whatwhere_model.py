"""The What/Where model: fovea extraction, saccades, the oracle bound, the Where loss, bad parameters."""
import json

import numpy as np
import pytest
import torch

from stnutils.evaluation.metrics import center_crop
from stnutils.evaluation.saccades import random_fixations, saccade_accuracy
from stnutils.models import STN28, LeNet, build_model
from stnutils.models.classifiers import Classifier128
from stnutils.models.transformer import grid_sample_fill
from stnutils.models.whatwhere import WhatWhere, encode_views, extract_patches, saccade_step
from stnutils.training.checkpoint import load_model, save_model

SMALL = dict(size=64, n_orientations=2, n_azimuths=8, n_eccentricities=4, hidden=[32])


@pytest.fixture(scope="module")
def full():
    torch.manual_seed(0)
    return WhatWhere().eval()


def _small(seed=0, **kw):
    torch.manual_seed(seed)
    return WhatWhere(**dict(SMALL, **kw))


def _peaked_map(sigma=4.0):
    d = torch.arange(-27, 28, dtype=torch.float32)
    return 0.1 + 0.8 * torch.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * sigma**2))


def _numpy_patch(scene, i, j, size, fill=0.5):
    """The patch by padding: rows (S - size) // 2 + i .., 0.5 outside."""
    s = scene.shape[-1]
    pad = s + size
    padded = np.pad(scene.numpy(), pad, constant_values=fill)
    top, left = pad + (s - size) // 2 + i, pad + (s - size) // 2 + j
    return torch.from_numpy(padded[top : top + size, left : left + size])


def test_fovea_extraction_inside_and_at_the_border():
    torch.manual_seed(0)
    scenes = torch.rand(5, 1, 128, 128)
    fix = torch.tensor([[0, 0], [13, -40], [50, 50], [-50, 50], [60, -70]])
    foveas = extract_patches(scenes, fix, 28)
    assert foveas.shape == (5, 1, 28, 28)
    torch.testing.assert_close(foveas[0], center_crop(scenes[:1], 28)[0], atol=0, rtol=0)
    torch.testing.assert_close(foveas[1, 0], scenes[1, 0, 63:91, 10:38], atol=0, rtol=0)
    torch.testing.assert_close(foveas[2, 0], scenes[2, 0, 100:128, 100:128], atol=0, rtol=0)  # the corner
    for n, (i, j) in enumerate(fix.tolist()):
        torch.testing.assert_close(foveas[n, 0], _numpy_patch(scenes[n, 0], i, j, 28), atol=0, rtol=0)
    # fixation (60, -70): rows 110..137, columns -20..7; off the field: 0.5
    assert (foveas[4, 0, :, :20] == 0.5).all() and (foveas[4, 0, 18:] == 0.5).all()
    torch.testing.assert_close(foveas[4, 0, :18, 20:], scenes[4, 0, 110:, :8], atol=0, rtol=0)
    # the whole scene seen from a fixation: the content moves by -fixation, 0.5 comes in
    view = extract_patches(scenes[:1], torch.tensor([[10, -20]]), 128)[0, 0]
    torch.testing.assert_close(view[:118, 20:], scenes[0, 0, 10:, :108], atol=0, rtol=0)
    assert (view[118:] == 0.5).all() and (view[:, :20] == 0.5).all()


def test_a_saccade_to_a_requested_cell_reads_the_fovea_at_its_pixel(full):
    torch.manual_seed(1)
    scenes = torch.rand(240, 1, 128, 128)
    cells = torch.arange(240)
    kernels = full.kernels.view(240, 128, 128).numpy()
    peaks = np.array([np.unravel_index(np.argmax(k), k.shape) for k in kernels]) - 64  # independent arg-max
    assert (full.cell_offsets.numpy() == peaks).all()
    # from the centre
    landing = saccade_step(torch.zeros(240, 2, dtype=torch.long), cells, full.cell_offsets, full.limit)
    torch.testing.assert_close(landing, torch.from_numpy(np.clip(peaks, -50, 50)), atol=0, rtol=0)
    foveas = full.foveas(scenes, landing)
    for c in (0, 37, 119, 179, 239):
        i, j = np.clip(peaks[c], -50, 50)
        torch.testing.assert_close(foveas[c, 0], scenes[c, 0, 50 + i : 78 + i, 50 + j : 78 + j], atol=0, rtol=0)
    # from a fixation near the border: the outer cells push it to ±50 per axis, and the fovea is the edge
    start = torch.tensor([[45, -47]]).expand(240, 2)
    landing = saccade_step(start, cells, full.cell_offsets, full.limit)
    torch.testing.assert_close(landing, (start + torch.from_numpy(peaks)).clamp(-50, 50), atol=0, rtol=0)
    assert (landing.abs() == 50).any(dim=1).sum() > 60
    foveas = full.foveas(scenes, landing)
    for c in landing[:, 0].eq(50).nonzero().flatten()[:3].tolist():
        j = int(landing[c, 1])
        torch.testing.assert_close(foveas[c, 0], scenes[c, 0, 100:128, 50 + j : 78 + j], atol=0, rtol=0)
    # attend() draws that fovea like a transformer's glimpse: the box at the fixation samples it exactly
    with torch.no_grad():
        out = full.attend(scenes[:6])
    torch.testing.assert_close(out.glimpse, grid_sample_fill(scenes[:6], out.grid, fill=0.5), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.offset, full.saccade_path(scenes[:6])[:, -1].float(), atol=0, rtol=0)
    torch.testing.assert_close(out.theta[:, 0, 0], torch.full((6,), 28 / 128), atol=0, rtol=0)


def test_saccades_re_encode_the_scene_around_each_fixation(full):
    torch.manual_seed(2)
    x = torch.rand(3, 1, 128, 128)
    fix = torch.tensor([[0, 0], [20, -30], [-50, 50]])
    codes = full.encode(x, fix)
    for n in range(3):
        view = extract_patches(x[n : n + 1], fix[n : n + 1], 128)
        torch.testing.assert_close(codes[n], encode_views(view, None, full.retina.bank, full.white)[0],
                                   atol=1e-4, rtol=1e-4)
    # the whitened scene is clipped to [0, 1] around 0.5: a constant scene gives a zero code
    assert full.encode(torch.full((1, 1, 128, 128), 0.3)).abs().max() < 1e-3
    with torch.no_grad():
        logits, path = full.saccade_logits(x, 3)
        assert logits.shape == (3, 4, 10) and path.shape == (3, 4, 2) and (path[:, 0] == 0).all()
        for k in range(4):  # one path: the logits after k saccades are the k-saccade model's
            torch.testing.assert_close(logits[:, k], full.attend(x, k).logits)
        torch.testing.assert_close(logits[:, 0], full.what(center_crop(x, 28)))  # k = 0: the centre
        assert (path.abs() <= 50).all()
        # each fixation is the previous one plus the offset of the cell the Where net picks from it
        cells = full.where_logits(x, path[:, 1]).argmax(1)
        torch.testing.assert_close(path[:, 2], saccade_step(path[:, 1], cells, full.cell_offsets, 50))


def test_oracle_equals_what_on_the_same_centred_digits(full, data_root):
    from stnutils.data import NoisyMNIST128

    torch.manual_seed(3)
    what = LeNet().eval()
    model = WhatWhere().eval()
    model.where.load_state_dict(full.where.state_dict())
    model.load_what(what, {"map": _peaked_map().numpy(), "offsets": list(range(-27, 28))})
    ds = NoisyMNIST128(data_root, train=False, seed=0, radius=30.0, contrast=0.7)
    images, labels, offsets = ds.batch(range(40))
    crops = torch.stack([images[n, :, 50 + i : 78 + i, 50 + j : 78 + j] for n, (i, j) in enumerate(offsets.tolist())])
    with torch.no_grad():
        what_answers = what(crops).argmax(1)
        assert torch.equal(model.classify_at(images, offsets).argmax(1), what_answers)  # digit by digit
    acc = saccade_accuracy(model, ds, 40, max_saccades=1)
    assert acc["oracle"] == int((what_answers == labels).sum()) / 40
    assert set(acc) == {"0", "1", "oracle", "random"}
    # at eccentricity 0 the digit is centred: oracle, 0 saccades and What on the central crop agree
    centred = NoisyMNIST128(data_root, train=False, seed=0, radius=0.0, contrast=0.7)
    images0, labels0, _ = centred.batch(range(40))
    with torch.no_grad():
        centre_acc = int((what(center_crop(images0, 28)).argmax(1) == labels0).sum()) / 40
    acc0 = saccade_accuracy(model, centred, 40, max_saccades=0)
    assert acc0["oracle"] == acc0["0"] == centre_acc
    # the random saccade is a pure function of (seed, index) and lands on a cell's pixel
    r1, r2 = random_fixations(model, torch.arange(50), seed=0), random_fixations(model, torch.arange(50), seed=0)
    assert torch.equal(r1, r2) and not torch.equal(r1, random_fixations(model, torch.arange(50), seed=1))
    allowed = {tuple(v) for v in model.cell_offsets.clamp(-50, 50).tolist()}
    assert {tuple(v) for v in r1.tolist()} <= allowed


def test_the_where_loss_falls_on_a_tiny_set(data_root):
    from stnutils.data import NoisyMNIST128

    model = _small(seed=0, dropout=0.0).load_what(LeNet(), {"map": _peaked_map().numpy(),
                                                             "offsets": list(range(-27, 28))})
    ds = NoisyMNIST128(data_root, train=True, seed=0, size=64, eccentricity_std=10.0, eccentricity_max=18.0,
                       contrast=0.7)
    images, labels, offsets = ds.batch(range(32))
    what_before = [p.detach().clone() for p in model.what.parameters()]
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable == list(model.where.parameters())  # only the Where pathway learns
    opt = torch.optim.Adam(trainable, lr=3e-3)
    model.train()
    losses = []
    for _ in range(60):
        loss, logits = model.training_loss(images, labels, offsets)
        assert logits.shape == (32, 10) and not logits.requires_grad
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0], losses[::10]
    assert all(torch.equal(a, b) for a, b in zip(what_before, model.what.parameters()))
    # what it learnt: the predicted map agrees with the target better than at the start
    with torch.no_grad():
        target = model.collicular_target(offsets)
        model.eval()
        err = (torch.sigmoid(model.where_logits(images)) - target).abs().mean()
    assert err < 0.1


def test_state_dict_config_and_checkpoint_round_trip(tmp_path):
    m = _small(seed=1, n_saccades=2).load_what(LeNet(), {"map": _peaked_map().numpy(), "offsets": list(range(-27, 28))})
    keys = list(m.state_dict())
    assert "what_map" in keys and any(k.startswith("what.") for k in keys) and any(k.startswith("where.") for k in keys)
    assert not any(k in ("kernels", "cell_offsets", "white") or "bank" in k for k in keys)  # rebuilt from the config
    config = json.loads(json.dumps(m.config))
    assert config["n_saccades"] == 2 and config["hidden"] == [32]
    clone = build_model("whatwhere", **config)
    assert not torch.equal(clone.what_map, m.what_map)
    clone.load_state_dict(m.state_dict())
    x = torch.rand(3, 1, 64, 64)
    m.eval(), clone.eval()
    with torch.no_grad():
        torch.testing.assert_close(clone(x), m(x), atol=0, rtol=0)
        loaded = load_model(save_model(tmp_path / "ww.pt", m), "cpu")
        torch.testing.assert_close(loaded(x), m(x), atol=0, rtol=0)
        # the target table follows the loaded map
        torch.testing.assert_close(loaded.target_table(), m.target_table())
        assert loaded.target_table().max() > 0.3 and clone.target_table().max() > 0.3


def test_bad_parameters_give_clear_errors(full):
    with pytest.raises(ValueError, match=r"n_saccades must be an integer >= 0 \(0: classify the centre\), got -1"):
        WhatWhere(n_saccades=-1)
    with pytest.raises(ValueError, match="n_saccades must be an integer >= 0"):
        full.saccade_path(torch.rand(1, 1, 128, 128), -2)
    with pytest.raises(ValueError, match="n_saccades must be an integer >= 0"):
        full.attend(torch.rand(1, 1, 128, 128), 1.5)
    for size in (30, 101, 1024, 64.0):
        with pytest.raises(ValueError, match=r"size must be an even integer in \[56, 512\]"):
            WhatWhere(size=size)
    with pytest.raises(ValueError, match=r"retina must be one of \['reference', 'project'\], got 'polo'"):
        WhatWhere(retina="polo")
    with pytest.raises(ValueError, match="hidden must be a non-empty list"):
        WhatWhere(hidden=[])
    with pytest.raises(ValueError, match="dropout must be in"):
        WhatWhere(dropout=1.0)
    with pytest.raises(ValueError, match="what must be a What net of input size 28"):
        full.load_what(Classifier128(), {"map": _peaked_map().numpy(), "offsets": list(range(-27, 28))})
    with pytest.raises(ValueError, match="what must have the LeNet architecture"):
        full.load_what(STN28(), {"map": _peaked_map().numpy(), "offsets": list(range(-27, 28))})
    with pytest.raises(ValueError, match="accuracy_map must be in"):
        full.load_what(LeNet(), 2 * _peaked_map().numpy())
    with pytest.raises(ValueError, match=r"images must be an \(N, 1, 128, 128\) tensor, got \(2, 1, 64, 64\)"):
        full(torch.rand(2, 1, 64, 64))
    with pytest.raises(ValueError, match="config for model 'whatwhere' takes"):
        build_model("whatwhere", fovea=32)
