"""The models the book's explorer shows, and the one call that builds its page.

Adding a model to the explorer is one line in :data:`EXPLORED`: the training schedule
that trains it (loaded with :func:`stnutils.training.trained_model`, so it is the very
model of its chapter), and whether it runs in the reader's browser (layer 3; otherwise
the page shows it at the pre-rendered grid points and says why). A model that looks
somewhere must have ``attend(x)`` returning an :class:`~stnutils.models.attention.Attention`
(its theta is drawn as the sampled region); a 28x28 model is shown the central patch.

Example:
    >>> explored_schedules()
    ['fast_atn_aux', 'fast_atn', 'atn', 'polo_atn', 'stn128', 'lenet']
    >>> live_schedules()
    ['fast_atn_aux', 'fast_atn', 'atn', 'stn128', 'lenet']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence, Tuple

from torch import nn

from ..training.runs import trained_model
from .static import SliderGrid, slider_bundle
from .web import PAYLOAD_KEY, RUNTIME_FILES, RUNTIME_GZIP_BYTES, web_payload

__all__ = ["Explored", "EXPLORED", "SAMPLES", "explored_schedules", "live_schedules", "load_explored",
           "explorer_page", "describe_sizes"]


@dataclass(frozen=True)
class Explored:
    """One model of the explorer.

    Attributes:
        schedule: its training schedule (a key of :data:`stnutils.training.SCHEDULES`).
        live: exported to ONNX and run in the reader's browser.
        note: why it does not run there (said on the page), for ``live=False``.
    """

    schedule: str
    live: bool = True
    note: str = ""


#: The explorer's models, in display order. One line each.
EXPLORED: Tuple[Explored, ...] = (
    Explored("fast_atn_aux"),
    Explored("fast_atn"),
    Explored("atn"),
    Explored("polo_atn", live=False, note=(
        "its fixed retina (768 log-Gabor filters of the whole 128x128 scene) makes a 54 MB ONNX file, "
        "still 18 MB with the retina folded into the first layer and float16 weights: too large to commit "
        "with the book and to download with a page")),
    Explored("stn128"),
    Explored("lenet"),  # the What pathway alone, on the central 28x28 patch
    # the What/Where model, once a chapter shares its runs (its fovea is drawn like a transformer's box):
    # Explored("whatwhere", live=False, note="its 2,880-filter retina of the whole scene is too large to ship"),
)

#: (test digit, background seed) pairs the live page offers: five digits over seed 0, the first at seeds 1, 2.
SAMPLES: Tuple[Tuple[int, int], ...] = ((0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (0, 1), (0, 2))


def explored_schedules(entries: Sequence[Explored] = EXPLORED) -> list:
    return [e.schedule for e in entries]


def live_schedules(entries: Sequence[Explored] = EXPLORED) -> list:
    return [e.schedule for e in entries if e.live]


def load_explored(profile: str, *, seed: int = 0, device: str = "cpu", data_root=None,
                  entries: Sequence[Explored] = EXPLORED) -> Dict[str, nn.Module]:
    """``{schedule: trained model}`` for ``entries``, through :func:`~stnutils.training.trained_model`."""
    return {e.schedule: trained_model(e.schedule, profile, seed=seed, device=device, data_root=data_root).model
            for e in entries}


def explorer_page(
    models: Mapping[str, nn.Module],
    entries: Sequence[Explored] = EXPLORED,
    grid: Optional[SliderGrid] = None,
    samples: Sequence[Tuple[int, int]] = SAMPLES,
    weights: str = "float16",
    data_root=None,
    device: str = "cpu",
) -> dict:
    """The chapter's explorer: the static slider (layer 2) with the live layer's payload (layer 3) in one bundle.

    Args:
        models: ``{schedule: trained model}`` (:func:`load_explored`).
        entries: which of them run live, and the notes of those that do not.
        grid: the pre-rendered positions (default :class:`~stnutils.widgets.static.SliderGrid`).
        samples: ``(digit, seed)`` pairs the live page offers.
        weights: the ONNX files' weights (``"float16"`` halves the download; see
            :func:`~stnutils.widgets.web.export_onnx`).
        data_root, device: as :func:`~stnutils.widgets.state.explorer_states`.

    Returns:
        ``{"bundle": display bundle (text/html, image/png, text/plain), "metadata": {PAYLOAD_KEY:
        the payload}, "sizes": {...}, "states": n, "payload": ..., "table": ...}``;
        ``IPython.display.display(page["bundle"], metadata=page["metadata"], raw=True)`` emits it:
        the payload travels in the output's metadata, which no renderer shows and the book's
        extension reads. ``sizes`` in bytes: ``html`` (what the slider adds to the page),
        ``models`` (per live model), ``data`` (data.js), ``runtime`` (onnxruntime-web).
    """
    grid = SliderGrid() if grid is None else grid
    live = [e.schedule for e in entries if e.live and e.schedule in models]
    notes = {e.schedule: e.note for e in entries if not e.live}
    payload = web_payload({name: models[name] for name in live}, samples, notes, weights, data_root,
                          noise=grid.noise)
    static = slider_bundle(models, grid, data_root, device, live=payload["live"])
    sizes = {
        "html": static["html_bytes"], "png": static["png_bytes"],
        "models": {name: m["bytes"] for name, m in payload["live"]["models"].items()},
        "data": payload["live"]["data_bytes"], "runtime": sum(RUNTIME_FILES.values()),
    }
    return {"bundle": static["bundle"], "metadata": {PAYLOAD_KEY: payload}, "sizes": sizes,
            "states": static["states"], "payload": payload, "table": static["table"]}


def describe_sizes(sizes: Mapping) -> str:
    """A sentence on what the page costs a reader, from :func:`explorer_page`'s ``sizes`` (bytes)."""
    models = sum(sizes["models"].values())
    total = sizes["runtime"] + sizes["data"] + models
    return (f"The pre-rendered slider adds {sizes['html'] / 1024:.0f} KB to the page. Served over http, the live layer "
            f"downloads the runtime ({sizes['runtime'] / 1e6:.1f} MB, {RUNTIME_GZIP_BYTES / 1e6:.1f} MB where the "
            f"server compresses it), data.js ({sizes['data'] / 1e6:.2f} MB) and {len(sizes['models'])} models "
            f"({models / 1e6:.1f} MB): {total / 1e6:.1f} MB in all, about "
            f"{(total - sizes['runtime'] + RUNTIME_GZIP_BYTES) / 1e6:.0f} MB compressed.")
