"""One checkpoint format for every model: save atomically, load safely, rebuild by name.

A checkpoint is the dict ``{"format": 1, "model_name", "model_config", "state_dict",
"optimizer", "extra"}`` written with ``torch.save``; ``load_model`` rebuilds the
architecture with ``build_model(model_name, **model_config)`` (as nanoGPT rebuilds from its
``model_args``) and loads it with ``torch.load(weights_only=True)``, which unpickles
tensors and plain containers only: ``extra`` must hold numbers, strings, lists, dicts,
tuples or tensors.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from ..io import atomic_write
from ..models.registry import MODEL_NAMES, build_model

__all__ = ["FORMAT", "save_model", "load_checkpoint", "load_model"]

FORMAT = 1
PathLike = Union[str, os.PathLike]
_KEYS = ("format", "model_name", "model_config", "state_dict", "optimizer", "extra")


def save_model(path: PathLike, model: nn.Module, *, optimizer: Optional[torch.optim.Optimizer] = None,
               extra: Optional[Dict[str, Any]] = None) -> Path:
    """Write ``model`` (and optionally its optimizer state and ``extra``) to ``path``, atomically.

    The file is written to a temporary file in the same folder, flushed to disk, then moved
    over ``path`` with ``os.replace``: a reader (or a crash) never sees half a checkpoint,
    and the previous checkpoint survives until the new one is complete.

    Args:
        path: destination file; its folder is created if needed.
        model: a model of :mod:`stnutils.models` (it needs ``name`` and ``config``).
        optimizer: its ``state_dict()`` is stored for resuming.
        extra: anything else to keep (epoch, history, ...): plain types or tensors.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:
        >>> import tempfile, os
        >>> from stnutils.models import LeNet
        >>> p = save_model(os.path.join(tempfile.mkdtemp(), "m.pt"), LeNet(), extra={"epoch": 3})
        >>> load_checkpoint(p)["extra"]
        {'epoch': 3}
    """
    name = getattr(model, "name", None)
    config = getattr(model, "config", None)
    if name not in MODEL_NAMES or not isinstance(config, dict):
        raise ValueError(f"model must be one of the stnutils models {list(MODEL_NAMES)} (with name and config), "
                         f"got {type(model).__name__}")
    path = Path(path)
    payload = {
        "format": FORMAT,
        "model_name": name,
        "model_config": dict(config),
        "state_dict": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "extra": {} if extra is None else extra,
    }
    with atomic_write(path, "wb") as f:
        torch.save(payload, f)
    return path


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Read a checkpoint dict (``torch.load(weights_only=True)``) and check its format.

    Raises:
        FileNotFoundError: no file at ``path`` (the message names it).
        ValueError: not a checkpoint of this format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _KEYS):
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{str(path)!r} is not a stnutils checkpoint: expected keys {list(_KEYS)}, got {found}")
    if ckpt["format"] != FORMAT:
        raise ValueError(f"{str(path)!r} has checkpoint format {ckpt['format']!r}, this version reads format {FORMAT}")
    return ckpt


def load_model(path: PathLike, device: Union[str, torch.device] = "cpu") -> nn.Module:
    """Rebuild the model saved at ``path`` on ``device``, in eval mode.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: unknown model name in the checkpoint (lists the valid ones), a config
            this version does not accept, or weights that do not fit the architecture.

    Example:
        >>> import tempfile, os
        >>> from stnutils.models import STN28
        >>> p = save_model(os.path.join(tempfile.mkdtemp(), "m.pt"), STN28())
        >>> m = load_model(p)
        >>> m.name, m.training
        ('stn28', False)
    """
    ckpt = load_checkpoint(path, map_location=device)
    name = ckpt["model_name"]
    if name not in MODEL_NAMES:
        raise ValueError(f"checkpoint {str(path)!r} holds model {name!r}; "
                         f"model_name must be one of {list(MODEL_NAMES)}")
    model = build_model(name, **ckpt["model_config"])
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint {str(path)!r}: weights do not fit model {name!r}: {err}") from None
    return model.to(device).eval()
