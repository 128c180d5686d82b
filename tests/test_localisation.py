"""stnutils.evaluation.localisation: the angle between offsets, how closely glimpses follow the digit."""
import math

import numpy as np
import pytest
import torch

from stnutils.evaluation.localisation import direction_error, offset_correlation


# --- direction_error -----------------------------------------------------------------------------
def test_direction_error_known_angles():
    true = np.array([[0.0, 10.0]] * 5)  # to the right
    pred = np.array([[0.0, 3.0], [-5.0, 0.0], [0.0, -1.0], [5.0, 0.0], [-2.0, 2.0]])
    # right, up, left, down, up-right (i grows downwards)
    np.testing.assert_allclose(direction_error(pred, true), [0.0, math.pi / 2, math.pi, math.pi / 2, math.pi / 4],
                               atol=1e-12)


def test_direction_error_is_symmetric_scale_free_and_in_0_pi():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 2)) * 20, rng.normal(size=(200, 2)) * 20
    err = direction_error(a, b)
    assert err.shape == (200,) and err.dtype == np.float64
    assert (err >= 0).all() and (err <= math.pi + 1e-12).all()
    np.testing.assert_allclose(err, direction_error(b, a), atol=1e-12)
    np.testing.assert_allclose(err, direction_error(3.5 * a, 0.1 * b), atol=1e-9)
    np.testing.assert_allclose(direction_error(a, a), 0.0, atol=1e-12)
    np.testing.assert_allclose(direction_error(-a, a), math.pi, atol=1e-9)
    # the angle wraps: 170 and -170 degrees are 20 degrees apart
    p = np.array([[-math.sin(math.radians(170)), math.cos(math.radians(170))]])
    t = np.array([[-math.sin(math.radians(-170)), math.cos(math.radians(-170))]])
    np.testing.assert_allclose(direction_error(p, t), [math.radians(20)], atol=1e-12)


def test_direction_error_accepts_tensors_and_rejects_mismatched_shapes():
    out = direction_error(torch.tensor([[0, 1]]), torch.tensor([[1, 0]]))
    np.testing.assert_allclose(out, [math.pi / 2])
    with pytest.raises(ValueError, match=r"predicted and true must have the same shape \(N, 2\)"):
        direction_error(np.zeros((3, 2)), np.zeros((2, 2)))


# --- offset_correlation ---------------------------------------------------------------------------
def test_offset_correlation_of_a_glimpse_that_follows_the_digit():
    true = torch.tensor([[-10, 4], [0, -3], [5, 8], [12, 0]])
    assert offset_correlation(true, 2.0 * true.float() + 1.0) == pytest.approx((1.0, 1.0))
    assert offset_correlation(true, -true.float()) == pytest.approx((-1.0, -1.0))
    swapped = true.flip(1).float()  # i follows j and j follows i
    ci, cj = offset_correlation(true, swapped)
    ref_i = np.corrcoef(true[:, 0].numpy(), swapped[:, 0].numpy())[0, 1]
    ref_j = np.corrcoef(true[:, 1].numpy(), swapped[:, 1].numpy())[0, 1]
    assert (ci, cj) == pytest.approx((ref_i, ref_j))


def test_offset_correlation_of_a_constant_prediction_is_zero():
    true = torch.tensor([[1, 2], [3, 4], [5, 0], [-4, 9]])
    constant = torch.full((4, 2), 7.0)  # a glimpse that never moves
    assert offset_correlation(true, constant) == (0.0, 0.0)
    half = torch.stack([true[:, 0].float(), torch.full((4,), -2.0)], 1)  # moves along i only
    ci, cj = offset_correlation(true, half)
    assert ci == pytest.approx(1.0) and cj == 0.0
    assert offset_correlation(np.ones((3, 2)), np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 0.0]])) == (0.0, 0.0)
    for value in offset_correlation(true, constant):
        assert not math.isnan(value)


def test_offset_correlation_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"true and predicted must be \(N, 2\) with N >= 2"):
        offset_correlation(torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="the same shape"):
        offset_correlation(torch.zeros(4, 2), torch.zeros(3, 2))


# --- oracle_glimpses -----------------------------------------------------------------------------
def test_oracle_glimpse_is_the_models_zoom_centred_on_the_digit(data_root):
    from stnutils.data import NoisyMNIST128
    from stnutils.evaluation.localisation import oracle_glimpses
    from stnutils.models import HeatATN
    from stnutils.models.transformer import affine_grid, grid_sample_fill, offset_to_theta

    torch.manual_seed(0)
    model = HeatATN().eval()  # untrained: its glimpse stays on the centre of the scene
    ds = NoisyMNIST128(data_root, train=False, seed=3, offset=(20, -30), contrast=0.7, length=40)
    out = oracle_glimpses(model, ds, 40, batch_size=16)
    assert out["correct"].shape == out["oracle_correct"].shape == (40,) and out["oracle_correct"].dtype == bool
    np.testing.assert_allclose(out["distance"], math.hypot(20, 30), atol=1e-3)
    images, labels, offsets = ds.batch(range(40))
    with torch.no_grad():
        scale = float(model.zoom())
        theta = offset_to_theta(offsets.float(), 128, scale)
        glimpse = grid_sample_fill(images, affine_grid(theta, 28), fill=0.5)
        expected = (model.classifier(glimpse).argmax(1) == labels).numpy()
        own = (model(images).argmax(1) == labels).numpy()
    np.testing.assert_array_equal(out["oracle_correct"], expected)
    np.testing.assert_array_equal(out["correct"], own)
    # the oracle really moved the glimpse: the digit's pixels are inside it, not the centre's grey
    centre = grid_sample_fill(images, affine_grid(offset_to_theta(torch.zeros(40, 2), 128, scale), 28), fill=0.5)
    def contrast(g):
        return float((g - 0.5).abs().amax(dim=(1, 2, 3)).mean())

    assert contrast(glimpse) > contrast(centre)


def test_oracle_glimpses_refuses_models_and_datasets_it_cannot_read(data_root):
    from stnutils.data import NoisyMNIST128
    from stnutils.evaluation.localisation import oracle_glimpses
    from stnutils.models import HeatATN

    ds = NoisyMNIST128(data_root, train=False, seed=0, length=8)
    model = HeatATN()
    del model.classifier
    model.classifier = None
    with pytest.raises(ValueError, match="model must have a 'classifier' module"):
        oracle_glimpses(model, ds, 8)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        oracle_glimpses(HeatATN(), ds, 0)
