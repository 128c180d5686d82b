"""stnutils.evaluation.loop: eval_mode, the batched predictor and evaluate, against hand computations."""
import pytest
import torch
from torch import nn

from stnutils.evaluation.loop import Batch, eval_mode, evaluate, predictions
from stnutils.models import STN28, Attention, LeNet


class Scenes:
    """A fake 28x28 dataset: sample k is a fixed random image, label k % 10, offset (k, -k)."""

    def __init__(self, n=23, size=28, with_offsets=True):
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 1, size, size, generator=g)
        self.labels = torch.arange(n) % 10
        self.with_offsets = with_offsets
        self.calls = []

    def __len__(self):
        return len(self.images)

    def batch(self, idx):
        idx = torch.as_tensor(idx)
        self.calls.append(idx.tolist())
        offsets = torch.stack([idx, -idx], 1) if self.with_offsets else None
        return self.images[idx], self.labels[idx], offsets


def _perturbed_stn28():
    torch.manual_seed(0)
    m = STN28()
    with torch.no_grad():  # theta depends on the input
        m.stn.head.weight.normal_(std=0.05)
    return m


# --- eval_mode -------------------------------------------------------------------------------
@pytest.mark.parametrize("training", [True, False])
def test_eval_mode_restores_the_training_flag_and_disables_grad(training):
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    model.train(training)
    assert torch.is_grad_enabled()
    with eval_mode(model) as inside:
        assert inside is model
        assert not model.training and not any(m.training for m in model.modules())
        assert not torch.is_grad_enabled()
        out = model(torch.ones(2, 3, requires_grad=True))
        assert not out.requires_grad
        torch.testing.assert_close(out, model(torch.ones(2, 3)))  # no dropout in eval mode
    assert model.training is training and all(m.training is training for m in model.modules())
    assert torch.is_grad_enabled()


def test_eval_mode_restores_the_flag_after_an_exception():
    model = nn.Linear(2, 2).train()
    with pytest.raises(RuntimeError, match="inside"):
        with eval_mode(model):
            raise RuntimeError("inside")
    assert model.training and torch.is_grad_enabled()


# --- predictions -------------------------------------------------------------------------------
def test_predictions_with_indices_and_attend_yield_the_right_shapes_and_values():
    model = _perturbed_stn28().train()
    data = Scenes()
    indices = [7, 3, 3, 0, 22]
    batches = list(predictions(model, data, batch_size=2, indices=indices, attend=True))
    assert [len(b.indices) for b in batches] == [2, 2, 1]
    assert torch.cat([b.indices for b in batches]).tolist() == indices
    assert data.calls == [[7, 3], [3, 0], [22]]
    for b in batches:
        assert isinstance(b, Batch) and isinstance(b.attention, Attention)
        k = len(b.indices)
        assert b.images.shape == (k, 1, 28, 28) and b.labels.shape == (k,) and b.offsets.shape == (k, 2)
        torch.testing.assert_close(b.images, data.images[b.indices])
        assert b.labels.tolist() == (b.indices % 10).tolist()
        assert b.offsets.tolist() == torch.stack([b.indices, -b.indices], 1).tolist()
        a = b.attention
        assert a.logits.shape == (k, 10) and a.theta.shape == (k, 2, 3) and a.grid.shape == (k, 28, 28, 2)
        assert a.glimpse.shape == (k, 1, 28, 28) and a.offset.shape == (k, 2)
        assert b.logits is a.logits
        assert not any(t.requires_grad for t in a)  # no graph kept
        assert b.correct.tolist() == (a.logits.argmax(1) == b.labels).tolist()
    assert model.training  # the caller's mode is back
    # the same values as the model in eval mode on those samples
    model.eval()
    with torch.no_grad():
        expected = model.attend(data.images[indices])
    torch.testing.assert_close(torch.cat([b.attention.theta for b in batches]), expected.theta)
    torch.testing.assert_close(torch.cat([b.logits for b in batches]), expected.logits)


def test_predictions_without_attend_and_without_offsets():
    model = LeNet()
    data = Scenes(n=5, with_offsets=False)
    (b,) = list(predictions(model, data, n=5, batch_size=10))
    assert b.indices.tolist() == [0, 1, 2, 3, 4] and b.attention is None and b.offsets is None
    assert b.logits.shape == (5, 10)
    assert [len(b.labels) for b in predictions(model, data)] == [5]  # default: the whole dataset


def test_predictions_transform_is_applied_before_the_model():
    model = LeNet()
    data = Scenes(n=4, size=32)
    (b,) = list(predictions(model, data, n=4, transform=lambda x: x[..., 2:30, 2:30]))
    assert b.images.shape == (4, 1, 28, 28)
    with eval_mode(model):
        torch.testing.assert_close(b.logits, model(data.images[:4, :, 2:30, 2:30]))


def test_predictions_errors():
    data = Scenes(n=5)
    with pytest.raises(ValueError, match=r"attend=True needs a model with attend\(\)"):
        list(predictions(LeNet(), data, attend=True))
    with pytest.raises(ValueError, match=r"indices must be in \[0, 5\), got 0..5"):
        list(predictions(LeNet(), data, indices=[0, 5]))
    with pytest.raises(ValueError, match=r"indices must be in \[0, 5\)"):
        list(predictions(LeNet(), data, indices=[-1]))
    with pytest.raises(ValueError, match=r"n must be <= len\(dataset\) = 5, got 6"):
        list(predictions(LeNet(), data, n=6))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        list(predictions(LeNet(), data, batch_size=0))


# --- evaluate ----------------------------------------------------------------------------------
@pytest.mark.parametrize("n, batch_size", [(23, 5), (10, 256), (1, 1)])
def test_evaluate_equals_a_hand_count(n, batch_size):
    torch.manual_seed(1)
    model = LeNet().train()
    data = Scenes()
    with torch.no_grad():
        model.eval()
        hand = int((model(data.images[:n]).argmax(1) == data.labels[:n]).sum())
        model.train()
    acc = evaluate(model, data, n=n, batch_size=batch_size)
    assert acc == hand / n and isinstance(acc, float)
    assert model.training


def test_evaluate_of_an_attention_model_counts_its_forward():
    model = _perturbed_stn28()
    data = Scenes()
    hits = 0
    for k in range(0, 21, 3):  # batches of 3, evaluate uses 4: the count does not depend on batching
        with eval_mode(model):
            hits += int(model(data.images[k:k + 3]).argmax(1).eq(data.labels[k:k + 3]).sum())
    assert evaluate(model, data, n=21, batch_size=4) == hits / 21


def test_evaluate_with_a_known_answer():
    class AlwaysThree(nn.Module):
        def forward(self, x):
            return nn.functional.one_hot(torch.full((len(x),), 3), 10).float()

    data = Scenes()  # labels 0..9, 0..9, 0, 1, 2: the label 3 twice among 23
    assert evaluate(AlwaysThree(), data, n=23, batch_size=4) == 2 / 23
    assert evaluate(AlwaysThree(), data, n=3) == 0.0
    assert evaluate(AlwaysThree(), data, n=4) == 0.25
