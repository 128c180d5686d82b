"""One checkpoint format for every model: save atomically, load safely, rebuild by name.

A checkpoint is the dict ``{"format": 1, "model_name", "model_config", "state_dict",
"optimizer", "extra"}`` written with ``torch.save``; ``load_model`` rebuilds the
architecture with ``build_model(model_name, **model_config)`` (as nanoGPT rebuilds from its
``model_args``) and loads it with ``torch.load(weights_only=True)``, which unpickles
tensors and plain containers only: ``extra`` must hold numbers, strings, lists, dicts,
tuples or tensors.

A file that is not such a checkpoint is a :class:`CheckpointError` naming the file and
what is wrong with it (empty, truncated, not a torch file, another architecture, a tensor
of the wrong shape, non-finite weights). A file whose pickle asks to import anything else
(a crafted checkpoint that would run code) is an :class:`UnsafeCheckpointError`: nothing
of it runs, and the message does not advise turning the protection off.
"""
from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from ..io import atomic_write
from ..models.registry import MODEL_NAMES, build_model

__all__ = ["FORMAT", "CheckpointError", "UnsafeCheckpointError", "save_model", "load_checkpoint", "load_model"]

FORMAT = 1
PathLike = Union[str, os.PathLike]
_KEYS = ("format", "model_name", "model_config", "state_dict", "optimizer", "extra")


class CheckpointError(ValueError):
    """``path`` is not a usable stnutils checkpoint; the message names the file and what is wrong."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A checkpoint whose pickle asks for code (a global other than tensors and plain values): refused, not run."""


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


def _describe(path: Path) -> str:
    size = path.stat().st_size
    return f"{str(path)!r} ({size:,} bytes)"


def _torch_load(path: Path, map_location) -> Any:
    """``torch.load(weights_only=True)``, its errors turned into ones that name the file, without its advice."""
    if path.stat().st_size == 0:
        raise CheckpointError(f"{_describe(path)} is empty: not a checkpoint (an interrupted copy or write?)")
    with open(path, "rb") as f:
        head = f.read(4)
    is_zip = head == b"PK\x03\x04"
    if is_zip and not zipfile.is_zipfile(path):
        raise CheckpointError(f"{_describe(path)} is a truncated or damaged torch file (its zip directory is "
                              f"missing): copy it again, or resume from another checkpoint")
    try:
        with warnings.catch_warnings():  # "Detected pickle protocol ..." on foreign pickles
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        wanted = re.search(r"GLOBAL ([\w.]+)", text)
        if wanted:
            raise UnsafeCheckpointError(
                f"refused to load {_describe(path)}: its pickle asks to import {wanted.group(1)}, which a "
                f"checkpoint never needs (it holds tensors and plain values only). It was not written by "
                f"stnutils.training.save_model, or it was altered; nothing in it was run. Use a checkpoint "
                f"from a source you trust.") from None
        detail = next((line.strip() for line in reversed(text.splitlines())
                       if line.strip() and "weights_only" not in line and "torch.load" not in line), "")
        raise CheckpointError(f"{_describe(path)} is not a torch checkpoint: its contents are not a readable "
                              f"pickle ({detail or type(err).__name__})") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, TypeError,
            IndexError, MemoryError, OverflowError, zipfile.BadZipFile) as err:
        reason = str(err).split(". ")[0].strip() or type(err).__name__
        kind = "a damaged torch file" if is_zip else "not a torch checkpoint"
        raise CheckpointError(f"{_describe(path)} is {kind}: {reason}") from None


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Read a checkpoint dict (``torch.load(weights_only=True)``) and check its format.

    Raises:
        FileNotFoundError: no file at ``path`` (the message names it).
        CheckpointError: (a ``ValueError``) not a checkpoint of this format: empty, truncated,
            random bytes, another program's file; the message names the file.
        UnsafeCheckpointError: the file asks to run code when unpickled; nothing of it ran.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    ckpt = _torch_load(path, map_location)
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _KEYS):
        found = sorted(map(str, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{str(path)!r} is not a stnutils checkpoint: expected keys {list(_KEYS)}, "
                              f"got {found}")
    if ckpt["format"] != FORMAT:
        raise CheckpointError(f"{str(path)!r} has checkpoint format {ckpt['format']!r}, this version reads "
                              f"format {FORMAT}")
    for key, kind in (("model_config", dict), ("state_dict", dict), ("extra", dict)):
        if not isinstance(ckpt[key], kind):
            raise CheckpointError(f"{str(path)!r} is not a stnutils checkpoint: {key} must be a {kind.__name__}, "
                                  f"got {type(ckpt[key]).__name__}")
    return ckpt


def _check_weights(path: Path, name: str, state: dict) -> None:
    """Every entry a tensor, every floating-point one finite (a diverged run is not a model)."""
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"checkpoint {str(path)!r}: weight {key!r} of model {name!r} is a "
                                  f"{type(value).__name__}, not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(f"checkpoint {str(path)!r}: weight {key!r} of model {name!r} holds {bad} "
                                  f"non-finite values (NaN or inf): the run that wrote it diverged")


def load_model(path: PathLike, device: Union[str, torch.device] = "cpu") -> nn.Module:
    """Rebuild the model saved at ``path`` on ``device``, in eval mode.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: (a ``ValueError``, naming the file) not a checkpoint, an unknown model
            name (the message lists the valid ones), a config this version does not accept,
            weights that do not fit the architecture, or non-finite weights.
        UnsafeCheckpointError: the file asks to run code when unpickled; nothing of it ran.

    Example:
        >>> import tempfile, os
        >>> from stnutils.models import STN28
        >>> p = save_model(os.path.join(tempfile.mkdtemp(), "m.pt"), STN28())
        >>> m = load_model(p)
        >>> m.name, m.training
        ('stn28', False)
    """
    path = Path(path)
    ckpt = load_checkpoint(path, map_location=device)
    name = ckpt["model_name"]
    if not isinstance(name, str) or name not in MODEL_NAMES:
        raise CheckpointError(f"checkpoint {str(path)!r} holds model {name!r}; "
                              f"model_name must be one of {list(MODEL_NAMES)}")
    try:
        model = build_model(name, **ckpt["model_config"])
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"checkpoint {str(path)!r}: model {name!r} cannot be built from its model_config "
                              f"{ckpt['model_config']!r}: {err}") from None
    _check_weights(path, name, ckpt["state_dict"])
    misfit = _misfit(model.state_dict(), ckpt["state_dict"])
    if misfit:
        raise CheckpointError(f"checkpoint {str(path)!r}: weights do not fit model {name!r} ({misfit}): "
                              f"the weights of another architecture, or an altered file")
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()


def _misfit(expected: dict, found: dict) -> str:
    """What keeps ``found`` from loading into a model with state ``expected``; empty if nothing."""
    def some(keys):
        keys = sorted(keys)
        return ", ".join(keys[:3]) + (f", ... ({len(keys)} in all)" if len(keys) > 3 else "")

    missing, unexpected = set(expected) - set(found), set(found) - set(expected)
    shapes = [f"{k}: {tuple(found[k].shape)} instead of {tuple(expected[k].shape)}"
              for k in sorted(set(expected) & set(found)) if tuple(found[k].shape) != tuple(expected[k].shape)]
    parts = ([f"missing {some(missing)}"] if missing else []) + \
            ([f"unexpected {some(unexpected)}"] if unexpected else []) + \
            ([f"wrong shape {'; '.join(shapes[:3])}" + (f"; ... ({len(shapes)} in all)" if len(shapes) > 3 else "")]
             if shapes else [])
    return "; ".join(parts)
