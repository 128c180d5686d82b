"""HTML of an explorer state: the scene with each model's sampling box, its glimpse, its probability bars.

One renderer for every explorer: the live ipywidgets sliders show :func:`state_html` of
each update, and the pre-rendered slider of the static page (:mod:`~stnutils.widgets.static`)
starts from the same markup and only changes image sources, polygon points and bar widths.
Images are small grey PNGs in ``data:`` URIs (no file, no network); the sampling region is
an SVG polygon over the scene (its corners from
:func:`~stnutils.models.transformer.theta_corners`, pixel centres at integers); the bars
are HTML and CSS.

Example:
    >>> png = png_bytes(torch.zeros(2, 3))
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n", png_size(png)
    (True, (3, 2))
"""
from __future__ import annotations

import base64
import html
import io
from typing import Iterable, Optional, Sequence

import numpy as np
import torch

from .state import REACH, SCENE_SIZE, ExplorerState, ModelView

__all__ = ["grey8", "png_bytes", "png_size", "data_uri", "CSS", "corners_points", "patch_corners", "bars_html",
           "model_panel_html", "state_html", "caption_text", "PLACEHOLDER"]

ZOOM = 2  # the scene is drawn 256 px wide
GLIMPSE_PX = 84  # every glimpse is drawn in an 84 px square
DIGIT = 28  # the digit's patch


def grey8(image) -> np.ndarray:
    """``(H, W)`` values in [0, 1] as 8-bit grey levels (rounded; what the PNGs hold)."""
    a = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if a.ndim != 2:
        raise ValueError(f"image must be an (H, W) array, got shape {a.shape}")
    return np.clip(np.rint(a.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


def png_bytes(image) -> bytes:
    """A grey 8-bit PNG of ``image`` ``(H, W)`` with values in [0, 1] (0 black, 1 white, rounded)."""
    from PIL import Image  # matplotlib's own dependency

    buffer = io.BytesIO()
    Image.fromarray(grey8(image), "L").save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def png_size(png: bytes):
    """``(width, height)`` read from a PNG's header."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


CSS = """
.stnx { font: 13px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; }
.stnx .stnx-status { padding: .4em .7em; margin: .3em 0 .6em; border-radius: 4px; background: #f3f3f3;
  border: 1px solid #ccc; }
.stnx .stnx-status.stnx-live { background: #eef6ee; border-color: #9c9; }
.stnx .stnx-status.stnx-fallback { background: #fdf3e6; border-color: #e0a040; }
.stnx .stnx-controls { display: flex; flex-wrap: wrap; gap: .3em 1.4em; margin: .4em 0 .8em; }
.stnx .stnx-controls label { white-space: nowrap; }
.stnx .stnx-controls input[type=range] { width: 11em; vertical-align: middle; }
.stnx .stnx-controls output { display: inline-block; min-width: 3.2em; font-variant-numeric: tabular-nums; }
.stnx .stnx-models { display: flex; flex-wrap: wrap; gap: 1em 1.6em; }
.stnx .stnx-model { display: grid; grid-template-columns: auto auto; gap: .2em .8em; align-items: start; }
.stnx .stnx-name { grid-column: 1 / 3; font-weight: 600; }
.stnx .stnx-scene { position: relative; grid-row: 2 / 4; }
.stnx .stnx-scene-img, .stnx .stnx-glimpse { image-rendering: pixelated; display: block;
  border: 1px solid #999; background: #808080; }
.stnx .stnx-patch { position: absolute; image-rendering: pixelated; }
.stnx .stnx-scene svg { position: absolute; left: 1px; top: 1px; overflow: visible; pointer-events: none; }
.stnx .stnx-box { fill: none; stroke: #ff7f0e; stroke-width: 2px; vector-effect: non-scaling-stroke; }
.stnx .stnx-truth { fill: none; stroke: #fff; stroke-width: 1px; stroke-dasharray: 3 3;
  vector-effect: non-scaling-stroke; opacity: .8; }
.stnx .stnx-bars { width: 11em; }
.stnx .stnx-bar { display: flex; align-items: center; gap: .3em; height: 15px; font-variant-numeric: tabular-nums; }
.stnx .stnx-bar .stnx-k { width: .8em; text-align: right; }
.stnx .stnx-bar.stnx-label .stnx-k { font-weight: 700; text-decoration: underline; }
.stnx .stnx-track { flex: 1; height: 11px; background: #eee; }
.stnx .stnx-fill { height: 100%; background: #4a7fc1; }
.stnx .stnx-bar.stnx-top .stnx-fill { background: #d2603a; }
.stnx .stnx-p { width: 3.6em; text-align: right; font-size: 11px; }
.stnx .stnx-caption { grid-column: 1 / 3; font-size: 12px; color: #444; max-width: 30em; }
.stnx .stnx-off { opacity: .35; }
.stnx [hidden] { display: none !important; }
"""


#: a 1x1 mid-grey PNG: the source of an image the page's script fills in
PLACEHOLDER = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR42mNoAAAAggCB2kUIOwAAAABJ"
               "RU5ErkJggg==")


def corners_points(corners) -> str:
    """SVG ``points`` of ``(4, 2)`` pixel corners (rounded to 0.01 px)."""
    c = corners.tolist() if isinstance(corners, torch.Tensor) else list(corners)
    return " ".join(f"{x:.2f},{y:.2f}" for x, y in c)


def patch_corners(offset: Sequence[int], size: int = 28) -> list:
    """``(4, 2)`` pixel corners of the digit's ``size`` x ``size`` patch at ``offset`` ``(i, j)``.

    Example:
        >>> patch_corners((0, 0))[0]
        [49.5, 49.5]
    """
    top, left = REACH + int(offset[0]), REACH + int(offset[1])
    x0, y0, x1, y1 = left - 0.5, top - 0.5, left + size - 0.5, top + size - 0.5
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def bars_html(probs, label: Optional[int] = None) -> str:
    """Ten probability bars (percent), the arg-max in orange, the true ``label``'s digit underlined."""
    p = torch.as_tensor(probs, dtype=torch.float64).reshape(-1).tolist()
    if len(p) != 10:
        raise ValueError(f"probs must hold 10 values, got {len(p)}")
    top = int(np.argmax(p))
    rows = []
    for k, v in enumerate(p):
        cls = "stnx-bar" + (" stnx-top" if k == top else "") + (" stnx-label" if k == label else "")
        rows.append(f'<div class="{cls}"><span class="stnx-k">{k}</span><div class="stnx-track">'
                    f'<div class="stnx-fill" style="width:{100 * v:.1f}%"></div></div>'
                    f'<span class="stnx-p">{100 * v:.1f}%</span></div>')
    return '<div class="stnx-bars">' + "".join(rows) + "</div>"


def caption_text(name: str, view: ModelView, label: Optional[int] = None) -> str:
    """One line on a model's answer: ``"fast_atn answers 7 (93.1%) (right); looks at (i, j) = (12.0, -3.1) px, region
    28 px wide"`` (the region's side: the square root of theta's determinant times the scene's side)."""
    p = view.probs
    k = int(p.argmax())
    zoom = float(torch.linalg.det(view.theta[:, :2].double()).abs().sqrt())
    verdict = "" if label is None else (" (right)" if k == label else f" (wrong: it is a {label})")
    i, j = view.offset.tolist()
    return (f"{name} answers {k} ({100 * float(p[k]):.1f}%){verdict}; looks at (i, j) = ({i:.1f}, {j:.1f}) px, "
            f"region {zoom * SCENE_SIZE:.0f} px wide")


def model_panel_html(name: str, scene_uri: str, glimpse_uri: str, truth_points: str, box_points: str, probs,
                     caption: str, label: Optional[int] = None, patch: Optional[tuple] = None) -> str:
    """One model's panel: the scene with its sampled region (orange) and the digit's patch (dashed), glimpse, bars.

    Args:
        name: the model's name.
        scene_uri, glimpse_uri: the images (``data:`` URIs).
        truth_points, box_points: SVG points (:func:`corners_points`) of the digit's patch and the sampled region.
        probs: the ten class probabilities.
        caption: a line under the panel (:func:`caption_text`).
        label: the true class (its digit is underlined).
        patch: ``(uri, top, left)`` of an image laid over the scene at that pixel, or ``(uri, None, None)``
            for a hidden one (the static slider moves it).
    """
    side = SCENE_SIZE * ZOOM
    e = html.escape
    over = ""
    if patch is not None:
        uri, top, left = patch
        where = "hidden" if top is None else f'style="top:{1 + ZOOM * top}px;left:{1 + ZOOM * left}px"'
        over = (f'<img class="stnx-patch" src="{uri}" width="{DIGIT * ZOOM}" height="{DIGIT * ZOOM}" {where} '
                f'alt="the digit\'s patch">')
    return (
        f'<div class="stnx-model" data-model="{e(name)}"><div class="stnx-name">{e(name)}</div>'
        f'<div class="stnx-scene"><img class="stnx-scene-img" src="{scene_uri}" width="{side}" height="{side}" '
        f'alt="the {SCENE_SIZE}x{SCENE_SIZE} scene">{over}<svg width="{side}" height="{side}" '
        f'viewBox="-0.5 -0.5 {SCENE_SIZE} {SCENE_SIZE}" aria-hidden="true"><polygon class="stnx-truth" '
        f'points="{truth_points}"/><polygon class="stnx-box" points="{box_points}"/></svg></div>'
        f'<img class="stnx-glimpse" src="{glimpse_uri}" width="{GLIMPSE_PX}" height="{GLIMPSE_PX}" '
        f'alt="the glimpse its classifier sees">{bars_html(probs, label)}'
        f'<div class="stnx-caption">{e(caption)}</div></div>'
    )


def state_html(state: ExplorerState, names: Optional[Iterable[str]] = None) -> str:
    """The whole block for one state: a line on the scene, then one panel per model (``names``: a subset, in order)."""
    names = list(state.views) if names is None else list(names)
    scene_uri = data_uri(png_bytes(state.scene))
    c = state.controls
    head = (f'<div class="stnx-status">digit #{c.digit} (a {state.label}) at (i, j) = {state.offset} px, '
            f"contrast {c.contrast:g}, noise {c.noise:g}, background seed {c.seed}</div>")
    truth = corners_points(patch_corners(state.offset))
    panels = []
    for n in names:
        v = state.views[n]
        panels.append(model_panel_html(n, scene_uri, data_uri(png_bytes(v.glimpse)), truth, corners_points(v.corners),
                                       v.probs, caption_text(n, v, state.label), state.label))
    return f'<div class="stnx"><style>{CSS}</style>{head}<div class="stnx-models">{"".join(panels)}</div></div>'
