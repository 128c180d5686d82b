"""Measurements of the lab book: accuracy, accuracy maps (28x28) and the 128x128 benchmark.

- :func:`evaluate`: accuracy of a model on the first ``n`` samples of a dataset.
- :func:`accuracy_map`: accuracy for each fixed ``(i, j)`` shift of the 28x28 task;
  *central* = at ``(0, 0)``, *general* = mean over the map (the seed's two numbers).
- :func:`benchmark`: accuracy at each contrast x eccentricity of the 128x128 task, as rows
  ``{model, profile, device, commit, contrast, eccentricity, accuracy, n}`` that
  :func:`write_results` stores (atomically) and :func:`results_table` lays out next to the
  seed's published numbers (:func:`stnutils.reference.seed_rows`).

Every sample is drawn from the *test* split with a fixed seed, so two models measured with
the same arguments see exactly the same scenes (a paired comparison).

Example:
    >>> [round(e, 2) for e in BENCHMARK_ECCENTRICITIES][:3], BENCHMARK_ECCENTRICITIES[-1]
    ([4.44, 8.89, 13.33], 40.0)
    >>> rows = [dict(model="a", profile="quick", contrast=0.7, eccentricity=40.0, accuracy=0.9),
    ...         dict(model="b", profile="quick", contrast=0.7, eccentricity=40.0, accuracy=0.8)]
    >>> [r["best"] for r in results_table(rows, reference=[])]
    [[True], [False]]
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ._validate import check_choice, check_positive_int, check_range
from .provenance import check_profile, describe_device, git_commit, resolve_device

__all__ = [
    "BENCHMARK_ECCENTRICITIES",
    "BENCHMARK_CONTRASTS",
    "ACCURACY_MAP_OFFSETS",
    "ROW_KEYS",
    "evaluate",
    "center_crop",
    "inside_fraction",
    "accuracy_map",
    "benchmark",
    "write_results",
    "read_results",
    "results_table",
]

#: Digit eccentricities of the benchmark, pixels, ascending: 4.44 ... 40 (the seed's
#: ``linspace(40, 0, 9, endpoint=False)[::-1]``), rounded to 8 decimals like the seed file.
BENCHMARK_ECCENTRICITIES: Tuple[float, ...] = tuple(
    round(float(e), 8) for e in np.linspace(40, 0, 9, endpoint=False)[::-1]
)
#: Test contrasts of the benchmark.
BENCHMARK_CONTRASTS: Tuple[float, ...] = (0.3, 0.5, 0.7)
#: The default accuracy-map grid: every third pixel of -27..27 (19 x 19 cells, (0, 0) included).
ACCURACY_MAP_OFFSETS: Tuple[int, ...] = tuple(range(-27, 28, 3))
#: The keys of a benchmark row.
ROW_KEYS = ("model", "profile", "device", "commit", "contrast", "eccentricity", "accuracy", "n")


# --- evaluation -----------------------------------------------------------------------------
def _model_device(model: torch.nn.Module, fallback) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device(fallback)


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size x size`` patch of ``(N, C, H, W)`` images.

    Classifying the central 28x28 patch of a 128x128 scene is the What/Where model's
    "0 saccades" baseline.

    Example:
        >>> center_crop(torch.zeros(2, 1, 128, 128), 28).shape
        torch.Size([2, 1, 28, 28])
    """
    h, w = images.shape[-2:]
    if size > min(h, w):
        raise ValueError(f"size must be <= the image side {min(h, w)}, got {size}")
    top, left = (h - size) // 2, (w - size) // 2
    return images[..., top : top + size, left : left + size]


def inside_fraction(theta: torch.Tensor, out_size: Union[int, Tuple[int, int]]) -> torch.Tensor:
    """Fraction of each output's pixels that ``theta`` samples from inside the input.

    An affine transformer (``affine_grid``, ``align_corners=False``) maps each output pixel
    centre to a point of the input in normalised coordinates; the input covers
    ``[-1, 1]`` on both axes (the outer edges of its border pixels). A point outside shows
    only the fill value, so a fraction of 0 means the output holds nothing of the input.

    Args:
        theta: ``(N, 2, 3)`` output-to-input affine maps.
        out_size: the output's side ``h`` or ``(h, w)``, pixels.

    Returns:
        ``(N,)`` fractions in [0, 1] (float).

    Raises:
        ValueError: ``theta`` is not ``(N, 2, 3)`` or ``out_size`` is not positive.

    Example:
        >>> eye = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        >>> inside_fraction(eye, 28).tolist(), inside_fraction(2 * eye, 28).tolist()
        ([1.0], [0.25])
    """
    if not isinstance(theta, torch.Tensor) or theta.dim() != 3 or tuple(theta.shape[1:]) != (2, 3):
        shape = tuple(theta.shape) if isinstance(theta, torch.Tensor) else type(theta).__name__
        raise ValueError(f"theta must be an (N, 2, 3) tensor, got {shape}")
    h, w = (out_size, out_size) if isinstance(out_size, int) else tuple(out_size)
    check_positive_int("out_size", h)
    check_positive_int("out_size", w)
    theta = theta.detach().to(torch.float64)
    grid = torch.nn.functional.affine_grid(theta, [theta.shape[0], 1, h, w], align_corners=False)
    return (grid.abs() <= 1).all(dim=-1).to(torch.float64).mean(dim=(1, 2)).to(torch.get_default_dtype())


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    dataset,
    n: int,
    batch_size: int = 256,
    transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
) -> float:
    """Accuracy of ``model`` on samples ``0 .. n-1`` of ``dataset``, in eval mode, no gradients.

    Args:
        model: maps images ``(B, 1, H, W)`` to logits ``(B, K)``; it is put in eval mode
            and its previous mode is restored afterwards.
        dataset: anything with ``len()`` and ``batch(indices) -> (images, labels, ...)``,
            e.g. :class:`stnutils.NoisyMNIST128`.
        n: number of samples, in [1, len(dataset)].
        batch_size: samples per forward pass.
        transform: optional function applied to each image batch first (e.g. a crop).

    Returns:
        the fraction of the ``n`` samples whose arg-max logit is the label (a float).

    Example:
        >>> class One(torch.nn.Module):
        ...     def forward(self, x):
        ...         return torch.nn.functional.one_hot(torch.ones(len(x), dtype=torch.long), 10).float()
        >>> class Data:
        ...     def __len__(self): return 4
        ...     def batch(self, idx): return torch.zeros(len(idx), 1, 2, 2), torch.tensor([1, 0, 1, 1])[idx], None
        >>> evaluate(One(), Data(), n=4)
        0.75
    """
    check_positive_int("n", n)
    check_positive_int("batch_size", batch_size)
    if n > len(dataset):
        raise ValueError(f"n must be <= len(dataset) = {len(dataset)}, got {n}")
    device = _model_device(model, getattr(dataset, "device", "cpu"))
    was_training = model.training
    model.eval()
    correct = 0
    try:
        for start in range(0, n, batch_size):
            images, labels = dataset.batch(torch.arange(start, min(start + batch_size, n)))[:2]
            images = images.to(device)
            if transform is not None:
                images = transform(images)
            logits = model(images)
            if logits.ndim != 2 or logits.shape[0] != len(labels):
                raise ValueError(
                    f"model must return logits of shape (B, classes) = ({len(labels)}, K), got {tuple(logits.shape)}"
                )
            correct += int((logits.argmax(dim=1).cpu() == labels.cpu()).sum())
    finally:
        model.train(was_training)
    return correct / n


def _check_contrast(contrast) -> Union[float, Tuple[float, float]]:
    if isinstance(contrast, (tuple, list)):
        if len(contrast) != 2:
            raise ValueError(f"contrast must be a number in (0, 1] or a (c_min, c_max) pair, got {contrast!r}")
        lo = float(check_range("contrast c_min", contrast[0], 0, 1, low_open=True))
        hi = float(check_range("contrast c_max", contrast[1], 0, 1, low_open=True))
        if lo > hi:
            raise ValueError(f"contrast must have c_min <= c_max, got {contrast!r}")
        return (lo, hi)
    return float(check_range("contrast", contrast, 0, 1, low_open=True))


def _progress(iterable, enabled: bool, desc: str, total: int):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total)


# --- the 28x28 accuracy map -----------------------------------------------------------------
def accuracy_map(
    model: torch.nn.Module,
    offsets: Sequence[int] = ACCURACY_MAP_OFFSETS,
    n_per_cell: int = 500,
    seed: int = 0,
    contrast: Union[float, Tuple[float, float]] = (0.3, 0.7),
    noise: float = 0.75,
    device: Union[str, torch.device] = "cpu",
    data_root: Optional[Union[str, os.PathLike]] = None,
    batch_size: int = 256,
    progress: bool = False,
) -> dict:
    """Accuracy of a 28x28 classifier for each fixed shift ``(i, j)`` of the digit.

    Cell ``(a, b)`` holds the accuracy on the first ``n_per_cell`` test samples of
    ``NoisyMNIST28(train=False, offset=(offsets[a], offsets[b]), seed=seed, ...)``: the
    same digits and backgrounds in every cell, only the shift differs. The seed lab book
    used the full grid -27..27; the default is its every-third-pixel sub-grid (19 x 19
    cells, (0, 0) included), pass ``offsets=range(-27, 28)`` for the full one.

    Args:
        model: a 28x28 classifier (logits ``(B, 10)``), on ``device``.
        offsets: strictly increasing integer shifts in [-27, 27], pixels, used for both
            ``i`` (row) and ``j`` (column).
        n_per_cell: test samples per cell (>= 1).
        seed: dataset seed.
        contrast: a fixed contrast in (0, 1] or a ``(c_min, c_max)`` range (default: the
            reference default, uniform in [0.3, 0.7]).
        noise: background amplitude in [0, 1].
        device: where samples are generated.
        data_root: MNIST folder (default ``$STNUTILS_DATA``).
        batch_size: samples per forward pass.
        progress: show a tqdm bar over the cells.

    Returns:
        ``{"map": (len(offsets), len(offsets)) ndarray, map[a, b] = accuracy at
        (i, j) = (offsets[a], offsets[b]); "offsets": list of int; "central": accuracy at
        (0, 0) (measured separately if (0, 0) is off the grid); "general": mean of the map;
        "n": n_per_cell; "contrast", "noise", "seed"}``.

    Raises:
        ValueError: empty or unordered ``offsets``, an offset outside [-27, 27],
            ``n_per_cell < 1``, a contrast outside (0, 1].
    """
    from .datasets import NoisyMNIST28

    offsets = [int(v) for v in _check_offsets(offsets)]
    check_positive_int("n_per_cell", n_per_cell)
    contrast = _check_contrast(contrast)
    check_range("noise", noise, 0, 1)
    device = resolve_device(device)

    def cell(i: int, j: int) -> float:
        ds = NoisyMNIST28(data_root, train=False, seed=seed, offset=(i, j), contrast=contrast, noise=noise,
                          device=device)
        return evaluate(model, ds, n_per_cell, batch_size)

    grid = np.zeros((len(offsets), len(offsets)))
    cells = [(a, b) for a in range(len(offsets)) for b in range(len(offsets))]
    for a, b in _progress(cells, progress, "accuracy map", len(cells)):
        grid[a, b] = cell(offsets[a], offsets[b])
    if 0 in offsets:
        central = float(grid[offsets.index(0), offsets.index(0)])
    else:
        central = cell(0, 0)
    return {
        "map": grid,
        "offsets": offsets,
        "central": central,
        "general": float(grid.mean()),
        "n": n_per_cell,
        "contrast": contrast,
        "noise": float(noise),
        "seed": seed,
    }


def _check_offsets(offsets) -> List[int]:
    values = list(offsets)
    if not values:
        raise ValueError("offsets must hold at least one shift, got an empty sequence")
    for v in values:
        if isinstance(v, bool) or int(v) != v:
            raise ValueError(f"offsets must be integers, got {v!r}")
        check_range("offsets", v, -27, 27)
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"offsets must be strictly increasing, got {values}")
    return values


# --- the 128x128 benchmark ------------------------------------------------------------------
def _expected_input_size(model_name: str) -> Optional[int]:
    """The input side ``stnutils.models.input_size`` gives for ``model_name``, if known."""
    try:
        from .models import input_size  # another module; may not know this name
    except ImportError:
        return None
    try:
        return int(input_size(model_name))
    except (KeyError, ValueError, TypeError):
        return None


def benchmark(
    model: torch.nn.Module,
    model_name: str,
    profile: str,
    n_per_cell: int = 1000,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    data_root: Optional[Union[str, os.PathLike]] = None,
    contrasts: Sequence[float] = BENCHMARK_CONTRASTS,
    eccentricities: Sequence[float] = BENCHMARK_ECCENTRICITIES,
    batch_size: int = 256,
    input_size: Optional[int] = None,
    progress: bool = False,
) -> List[dict]:
    """Accuracy on the 128x128 task at each contrast x eccentricity (the seed's benchmark).

    Each cell uses the first ``n_per_cell`` samples of
    ``NoisyMNIST128(train=False, radius=e, contrast=c, seed=seed)``: test digits placed
    exactly at eccentricity ``e`` in a random direction. A model whose input is smaller
    than the scene (e.g. ``"lenet"``, 28x28) classifies the central patch: the What/Where
    "0 saccades" baseline.

    Args:
        model: the classifier (logits ``(B, 10)``), on ``device``.
        model_name: the name written in the rows (e.g. ``"atn"``).
        profile: the training profile the model comes from (``smoke``/``quick``/``full``).
        n_per_cell: test samples per (contrast, eccentricity) (>= 1).
        seed: dataset seed (the same scenes for every model).
        device: where samples are generated; also recorded in the rows.
        data_root: MNIST folder (default ``$STNUTILS_DATA``).
        contrasts: test contrasts, each in (0, 1].
        eccentricities: digit eccentricities, pixels, in [0, 50].
        batch_size: samples per forward pass.
        input_size: side of the model's input; smaller than 128 means a central crop
            (default: ``stnutils.models.input_size(model_name)`` where known, else 128).
        progress: show a tqdm bar over the cells.

    Returns:
        one row per (contrast, eccentricity), contrasts outer:
        ``{model, profile, device, commit, contrast, eccentricity, accuracy, n}``.

    Raises:
        ValueError: ``n_per_cell < 1``, empty contrasts/eccentricities, a contrast outside
            (0, 1], an unknown profile.
    """
    from .datasets import NoisyMNIST128

    if not isinstance(model_name, str) or not model_name:
        raise ValueError(f"model_name must be a non-empty string, got {model_name!r}")
    check_profile(profile)
    check_positive_int("n_per_cell", n_per_cell)
    contrasts = [float(check_range("contrast", c, 0, 1, low_open=True)) for c in contrasts]
    eccentricities = [float(check_range("eccentricity", e, 0, 50)) for e in eccentricities]
    if not contrasts:
        raise ValueError("contrasts must hold at least one contrast, got an empty sequence")
    if not eccentricities:
        raise ValueError("eccentricities must hold at least one eccentricity, got an empty sequence")
    device = resolve_device(device)
    size = input_size if input_size is not None else _expected_input_size(model_name)
    transform = None
    if size is not None and size < 128:
        check_positive_int("input_size", size)
        transform = lambda images: center_crop(images, size)  # noqa: E731
    device_name, commit = describe_device(device), git_commit()
    rows = []
    cells = [(c, e) for c in contrasts for e in eccentricities]
    for c, e in _progress(cells, progress, f"benchmark {model_name}", len(cells)):
        ds = NoisyMNIST128(data_root, train=False, seed=seed, radius=e, contrast=c, device=device)
        accuracy = evaluate(model, ds, n_per_cell, batch_size, transform=transform)
        rows.append(
            {
                "model": model_name,
                "profile": profile,
                "device": device_name,
                "commit": commit,
                "contrast": c,
                "eccentricity": round(e, 8),
                "accuracy": accuracy,
                "n": n_per_cell,
            }
        )
    return rows


# --- results files --------------------------------------------------------------------------
def _json_default(value):
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.Tensor):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a results file")


def write_results(rows: List[dict], path: Union[str, os.PathLike]) -> Path:
    """Write benchmark rows to ``path`` as a JSON list, atomically.

    The rows go to a temporary file in the same folder, which then replaces ``path``
    (``os.replace``): a crash mid-way leaves the previous file as it was.

    Args:
        rows: dicts with at least the keys of :data:`ROW_KEYS`.
        path: the JSON file (its folder is created if missing).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ValueError: a row that is not a dict or lacks a key of :data:`ROW_KEYS`.
    """
    rows = list(rows)
    for k, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"rows must be dicts, got {type(row).__name__} at position {k}")
        missing = [key for key in ROW_KEYS if key not in row]
        if missing:
            raise ValueError(f"rows must have the keys {list(ROW_KEYS)}; row {k} lacks {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1, default=_json_default)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def read_results(path: Union[str, os.PathLike]) -> List[dict]:
    """Rows written by :func:`write_results` (a JSON list; ``{"rows": [...]}`` also accepted)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict) and "rows" in data:
        data = data["rows"]
    if not isinstance(data, list):
        raise ValueError(f"{path} must hold a JSON list of rows, got {type(data).__name__}")
    return data


# --- the results table ----------------------------------------------------------------------
def _ecc_key(e) -> float:
    # seed files store 8 decimals, linspace gives 15: compare at a tolerance well below 1 px
    return round(float(e), 4)


def _lines(rows: Iterable[dict], source: str) -> Dict[Tuple[str, str, float], dict]:
    """``{(model, profile, contrast): {"source", ecc_key: accuracy}}``; later rows win."""
    lines: Dict[Tuple[str, str, float], dict] = {}
    for row in rows:
        key = (str(row["model"]), str(row["profile"]), round(float(row["contrast"]), 4))
        line = lines.setdefault(key, {"source": source, "values": {}})
        line["values"][_ecc_key(row["eccentricity"])] = float(row["accuracy"])
    return lines


def results_table(
    rows: Iterable[dict],
    reference: Optional[Iterable[dict]] = None,
    fmt: str = "records",
    digits: int = 3,
) -> Union[List[dict], str]:
    """Every model's accuracy per contrast x eccentricity, next to the seed, best marked.

    Args:
        rows: benchmark rows (:func:`benchmark`, :func:`read_results`). Rows repeating a
            (model, profile, contrast, eccentricity) replace the earlier ones.
        reference: rows shown alongside (default ``None``: the seed's published numbers,
            :func:`stnutils.reference.seed_rows`; ``[]`` for none).
        fmt: ``"records"`` (a list of dicts) or ``"markdown"`` (a string, one table per
            contrast, best values in bold).
        digits: decimals in the Markdown table.

    Returns:
        ``"records"``: one dict per (contrast, model, profile), contrasts ascending, this
        book's lines first: ``{contrast, model, profile, source ("this book"|"reference"),
        eccentricities (list, px), accuracy (list, None where not measured), mean (over
        measured cells), best (list of bool: the highest accuracy in its contrast and
        eccentricity column, ties all marked), best_mean (bool)}``.
        ``"markdown"``: the same as Markdown.
    """
    check_choice("fmt", fmt, ("records", "markdown"))
    if reference is None:
        from .reference import seed_rows

        reference = seed_rows()
    own = _lines(rows, "this book")
    ref = _lines(reference, "reference")
    for key in own:
        ref.pop(key, None)  # a reference line with the very same name is shadowed
    lines = {**own, **ref}
    eccs = sorted({e for line in lines.values() for e in line["values"]})
    records: List[dict] = []
    for contrast in sorted({key[2] for key in lines}):
        block = [(key, line) for key, line in lines.items() if key[2] == contrast]
        columns = {e: [line["values"].get(e) for _, line in block] for e in eccs}
        best_of = {e: max((v for v in vals if v is not None), default=None) for e, vals in columns.items()}
        means = []
        for (model, profile, _), line in block:
            measured = [line["values"][e] for e in eccs if e in line["values"]]
            means.append(sum(measured) / len(measured) if measured else None)
        best_mean = max((m for m in means if m is not None), default=None)
        for ((model, profile, _), line), mean in zip(block, means):
            accuracy = [line["values"].get(e) for e in eccs]
            records.append(
                {
                    "contrast": contrast,
                    "model": model,
                    "profile": profile,
                    "source": line["source"],
                    "eccentricities": list(eccs),
                    "accuracy": accuracy,
                    "mean": mean,
                    "best": [v is not None and v == best_of[e] for v, e in zip(accuracy, eccs)],
                    "best_mean": mean is not None and mean == best_mean,
                }
            )
    if fmt == "records":
        return records
    return _markdown(records, eccs, digits)


def _markdown(records: List[dict], eccs: List[float], digits: int) -> str:
    def cell(value, best):
        if value is None:
            return "–"
        text = f"{value:.{digits}f}"
        return f"**{text}**" if best else text

    header = ["model", "profile"] + [f"{e:.1f} px" for e in eccs] + ["mean"]
    parts = []
    for contrast in sorted({r["contrast"] for r in records}):
        parts.append(f"**Contrast {contrast:g}** (accuracy; best per column in bold; chance 0.1)\n")
        parts.append("| " + " | ".join(header) + " |")
        parts.append("|" + "|".join(["---", "---"] + ["---:"] * (len(eccs) + 1)) + "|")
        for r in records:
            if r["contrast"] != contrast:
                continue
            values = [cell(v, b) for v, b in zip(r["accuracy"], r["best"])]
            parts.append(
                "| " + " | ".join([r["model"], r["profile"]] + values + [cell(r["mean"], r["best_mean"])]) + " |"
            )
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"
