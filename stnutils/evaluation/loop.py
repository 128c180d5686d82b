"""The one evaluation loop: a model run over a dataset in batches, in eval mode, without gradients.

:func:`predictions` yields one :class:`Batch` at a time (the samples, the logits and, for
an attention model, its :class:`~stnutils.models.attention.Attention`); :func:`evaluate`,
the training loop's test pass, the benchmark and every chapter measurement are built on
it. :func:`eval_mode` is the context they share: eval mode and ``no_grad`` inside, the
model's previous mode restored after.

Example:
    >>> class One(torch.nn.Module):
    ...     def forward(self, x):
    ...         return torch.nn.functional.one_hot(torch.ones(len(x), dtype=torch.long), 10).float()
    >>> class Data:
    ...     def __len__(self): return 4
    ...     def batch(self, idx): return torch.zeros(len(idx), 1, 2, 2), torch.tensor([1, 0, 1, 1])[idx], None
    >>> evaluate(One(), Data(), n=4)
    0.75
    >>> [len(b.labels) for b in predictions(One(), Data(), n=4, batch_size=3)]
    [3, 1]
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, NamedTuple, Optional, Sequence, Union

import torch
from torch import nn

from ..models.attention import Attention
from ..models.registry import model_device
from ..validation import check_positive_int

__all__ = ["Batch", "eval_mode", "predictions", "evaluate"]


class Batch(NamedTuple):
    """One batch of :func:`predictions`.

    Attributes:
        indices: ``(B,)`` sample indices in the dataset.
        images: ``(B, 1, H, W)`` on the model's device (after ``transform``).
        labels: ``(B,)`` on the model's device.
        offsets: ``(B, 2)`` true ``(i, j)`` digit offsets (or None if the dataset has none).
        logits: ``(B, K)``.
        attention: the model's :class:`~stnutils.models.attention.Attention` (``attend=True``), else None.
    """

    indices: torch.Tensor
    images: torch.Tensor
    labels: torch.Tensor
    offsets: Optional[torch.Tensor]
    logits: torch.Tensor
    attention: Optional[Attention]

    @property
    def correct(self) -> torch.Tensor:
        """``(B,)`` bool: the arg-max logit is the label."""
        return self.logits.argmax(dim=1) == self.labels


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Eval mode and ``torch.no_grad()`` inside the block; the model's previous mode after it."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def _indices(dataset, n: Optional[int], indices) -> torch.Tensor:
    if indices is not None:
        idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= len(dataset)):
            raise ValueError(f"indices must be in [0, {len(dataset)}), got {int(idx.min())}..{int(idx.max())}")
        return idx
    n = len(dataset) if n is None else n
    check_positive_int("n", n)
    if n > len(dataset):
        raise ValueError(f"n must be <= len(dataset) = {len(dataset)}, got {n}")
    return torch.arange(n)


def predictions(
    model: nn.Module,
    dataset,
    n: Optional[int] = None,
    batch_size: int = 256,
    *,
    indices: Optional[Union[Sequence[int], torch.Tensor]] = None,
    transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    attend: bool = False,
) -> Iterator[Batch]:
    """Run ``model`` on samples of ``dataset`` in batches (eval mode, no gradients).

    Args:
        model: maps images ``(B, 1, H, W)`` to logits ``(B, K)``.
        dataset: anything with ``len()`` and ``batch(indices) -> (images, labels, offsets)``,
            e.g. :class:`stnutils.data.NoisyMNIST128`.
        n: use samples ``0 .. n-1`` (default: all), in [1, len(dataset)].
        batch_size: samples per forward pass.
        indices: use these samples instead of ``0 .. n-1``.
        transform: applied to each image batch before the model (e.g. a central crop).
        attend: call ``model.attend`` (an attention model) and yield its result too.

    Yields:
        one :class:`Batch` per forward pass, in order.

    Raises:
        ValueError: ``n`` or ``indices`` outside the dataset, ``batch_size < 1``, a model
            that does not return ``(B, K)`` logits, or ``attend`` for a model without ``attend``.
    """
    check_positive_int("batch_size", batch_size)
    idx = _indices(dataset, n, indices)
    if attend and not callable(getattr(model, "attend", None)):
        raise ValueError(f"attend=True needs a model with attend() (an attention model), got {type(model).__name__}")
    device = model_device(model, getattr(dataset, "device", "cpu"))
    with eval_mode(model):
        for start in range(0, len(idx), batch_size):
            part = idx[start : start + batch_size]
            images, labels, *rest = dataset.batch(part)
            images, labels = images.to(device), labels.to(device)
            if transform is not None:
                images = transform(images)
            attention = model.attend(images) if attend else None
            logits = attention.logits if attend else model(images)
            if logits.ndim != 2 or logits.shape[0] != len(labels):
                raise ValueError(f"model must return logits of shape (B, classes) = ({len(labels)}, K), "
                                 f"got {tuple(logits.shape)}")
            offsets = rest[0] if rest and isinstance(rest[0], torch.Tensor) else None
            yield Batch(part, images, labels, offsets, logits, attention)


def evaluate(
    model: nn.Module,
    dataset,
    n: int,
    batch_size: int = 256,
    transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
) -> float:
    """Accuracy of ``model`` on samples ``0 .. n-1`` of ``dataset`` (see :func:`predictions`).

    Returns:
        the fraction of the ``n`` samples whose arg-max logit is the label (a float).
    """
    check_positive_int("n", n)
    correct = sum(int(b.correct.sum()) for b in predictions(model, dataset, n, batch_size, transform=transform))
    return correct / n
