"""Layer 2: a self-contained HTML slider over a grid of states pre-rendered by the real models.

A reader of the rendered book has no kernel: static ipywidgets would draw sliders that
change nothing. :func:`slider_html` instead writes every state of a small grid (the
digit's eccentricity x direction x contrast) into the page, as the scene, each model's
glimpse (small grey PNGs in ``data:`` URIs, each distinct image stored once), its
sampling box and its ten probabilities, with a few lines of inline JavaScript that show
the state the sliders point at. No external script, no request: it works from
``file://`` and offline. :func:`slider_bundle` wraps it in a display bundle whose
``image/png`` (:func:`fallback_png`, a few of the states) keeps non-HTML outputs readable.

Where the page is served over http(s), the same block also loads the book's copy of the
real models (layer 3, :mod:`~stnutils.widgets.web`); where it cannot, it says why and
stays on this grid.

Example:
    >>> grid = SliderGrid(eccentricities=(0, 20), directions=(0, 90), contrasts=(0.5,))
    >>> len(grid.controls()), grid.key_of(*grid.axes()[3])
    (4, '20|90|0.5')
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..data.scenes import DIGIT_SIZE
from ..validation import check_range
from .render import (
    CSS,
    PLACEHOLDER,
    ZOOM,
    caption_text,
    corners_points,
    data_uri,
    grey8,
    model_panel_html,
    patch_corners,
    png_bytes,
)
from .state import REACH, Controls, ExplorerState, background, explorer_states

__all__ = ["SliderGrid", "slider_table", "slider_html", "fallback_png", "slider_bundle", "STATIC_JS"]

#: glimpses larger than this are stored mean-pooled to it (the 128x128 output of stn128)
MAX_STORED_GLIMPSE = 32


@dataclass(frozen=True)
class SliderGrid:
    """The slider positions the static page holds: eccentricity x direction x contrast, the rest fixed.

    Attributes:
        eccentricities: pixels, each in [0, 50].
        directions: degrees (0 = down, 90 = right).
        contrasts: each in (0, 1].
        digit, noise, seed: as :class:`~stnutils.widgets.state.Controls`.
    """

    eccentricities: Sequence[float] = (0, 10, 20, 30, 40)
    directions: Sequence[float] = (0, 90, 180, 270)
    contrasts: Sequence[float] = (0.3, 0.5, 0.7)
    digit: int = 0
    noise: float = 0.75
    seed: int = 0
    _checked: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self):
        for name in ("eccentricities", "directions", "contrasts"):
            values = [float(v) for v in getattr(self, name)]
            if not values or sorted(values) != values or len(set(values)) != len(values):
                raise ValueError(f"{name} must be a non-empty increasing sequence, got {getattr(self, name)!r}")
            object.__setattr__(self, name, tuple(values))
        for e in self.eccentricities:
            check_range("eccentricities", e, 0, REACH)
        for c in self.contrasts:
            check_range("contrasts", c, 0, 1, low_open=True)
        Controls(digit=self.digit, noise=self.noise, seed=self.seed)  # validates them

    def controls(self) -> List[Controls]:
        """Every position, eccentricity slowest, contrast fastest."""
        return [Controls.polar(e, d, contrast=c, digit=self.digit, noise=self.noise, seed=self.seed)
                for e in self.eccentricities for d in self.directions for c in self.contrasts]

    def axes(self) -> List[tuple]:
        """The ``(eccentricity, direction, contrast)`` of every position, in the order of :meth:`controls`."""
        return [(e, d, c) for e in self.eccentricities for d in self.directions for c in self.contrasts]

    @staticmethod
    def key_of(eccentricity: float, direction: float, contrast: float) -> str:
        """The lookup key the page's script builds from the three slider values (``'20|90|0.5'``)."""
        return f"{eccentricity:g}|{direction:g}|{contrast:g}"


def _stored_glimpse(glimpse: torch.Tensor) -> torch.Tensor:
    h, w = glimpse.shape
    while max(h, w) > MAX_STORED_GLIMPSE and h % 2 == 0 and w % 2 == 0:
        glimpse = torch.nn.functional.avg_pool2d(glimpse[None, None], 2)[0, 0]
        h, w = glimpse.shape
    return glimpse


class _Images:
    """Distinct PNG data URIs, stored once and referred to by index."""

    def __init__(self):
        self.uris: List[str] = []
        self._index: Dict[str, int] = {}

    def add(self, image: torch.Tensor) -> int:
        uri = data_uri(png_bytes(image))
        if uri not in self._index:
            self._index[uri] = len(self.uris)
            self.uris.append(uri)
        return self._index[uri]


def _scene_entry(state: ExplorerState, base8, images: _Images) -> dict:
    """``{"patch", "at"}`` when the scene is the digit-less background but for the digit's patch, else ``{"scene"}``."""
    s8 = grey8(state.scene)
    top, left = REACH + state.offset[0], REACH + state.offset[1]
    outside = np.ones(s8.shape, dtype=bool)
    outside[top:top + DIGIT_SIZE, left:left + DIGIT_SIZE] = False
    if np.array_equal(s8[outside], base8[outside]):
        return {"patch": images.add(state.scene[top:top + DIGIT_SIZE, left:left + DIGIT_SIZE]), "at": [top, left]}
    return {"scene": images.add(state.scene)}


def slider_table(states: Sequence[ExplorerState], grid: SliderGrid, names: Optional[Sequence[str]] = None) -> dict:
    """The JSON table the page's script reads: images, and per state its scene and every model's view.

    Scenes are stored as the digit-less background (``base``) plus the digit's 28x28 patch
    wherever that gives the scene's 8-bit pixels exactly (the digit left the field's extremes
    alone), else whole. Positions with the same result (eccentricity 0 in every direction)
    share one state.

    Args:
        states: :func:`~stnutils.widgets.state.explorer_states` of ``grid.controls()``, in order.
        grid: the positions.
        names: the models, in display order (default: those of the states).

    Returns:
        ``{"images": [data URIs], "base": image, "index": {key: state number}, "states": [...],
        "models": [...], "axes": {...}, "fixed": {...}}``; a state holds ``patch`` and ``at``
        (its image and ``[top, left]`` pixel) or ``scene`` (a whole image), ``truth`` (SVG points
        of the digit's patch), ``label``, ``offset`` and per model ``g`` (glimpse image), ``box``
        (SVG points of the sampled region), ``p`` (probabilities, 4 decimals), ``caption``.
    """
    controls = grid.controls()
    if len(states) != len(controls) or any(s.controls != c for s, c in zip(states, controls)):
        raise ValueError("states must be explorer_states(models, grid.controls()), in that order")
    names = list(states[0].views) if names is None else list(names)
    images = _Images()
    base = background(grid.seed, grid.digit, grid.noise)
    base_image, base8 = images.add(base), grey8(base)
    rows, index, seen = [], {}, {}
    for state, axes in zip(states, grid.axes()):
        views = {}
        for name in names:
            v = state.views[name]
            views[name] = {
                "g": images.add(_stored_glimpse(v.glimpse)),
                "box": corners_points(v.corners),
                "p": [round(float(p), 4) for p in v.probs],
                "caption": caption_text(name, v, state.label),
            }
        row = dict(_scene_entry(state, base8, images), truth=corners_points(patch_corners(state.offset)),
                   label=state.label, offset=list(state.offset), views=views)
        text = json.dumps(row, sort_keys=True)
        if text not in seen:
            seen[text] = len(rows)
            rows.append(row)
        index[grid.key_of(*axes)] = seen[text]
    return {
        "format": 1,
        "models": names,
        "axes": {"eccentricity": list(grid.eccentricities), "direction": list(grid.directions),
                 "contrast": list(grid.contrasts)},
        "fixed": {"digit": grid.digit, "noise": grid.noise, "seed": grid.seed},
        "index": index,
        "base": base_image,
        "images": images.uris,
        "states": rows,
    }


# The whole of the static slider's behaviour: read the sliders, look the state up, set
# image sources, polygon points, bar widths and texts. ``root.stnx`` is what the live layer
# (and the browser tests) use.
STATIC_JS = """
(() => {
  const root = document.getElementById('%(id)s'), T = JSON.parse(root.querySelector('.stnx-table').textContent);
  const $$ = (sel, el = root) => Array.from(el.querySelectorAll(sel));
  const input = name => root.querySelector(`input[name=${name}]`);
  const show = (st, views) => {
    const whole = st.sceneSrc || T.images['scene' in st ? st.scene : T.base];
    $$('.stnx-scene-img').forEach(img => { if (img.src !== whole) img.src = whole; });
    $$('.stnx-patch').forEach(img => {
      img.hidden = !('patch' in st);
      if (img.hidden) return;
      img.src = T.images[st.patch];
      img.style.top = (1 + %(zoom)d * st.at[0]) + 'px';
      img.style.left = (1 + %(zoom)d * st.at[1]) + 'px';
    });
    $$('.stnx-truth').forEach(p => p.setAttribute('points', st.truth));
    for (const panel of $$('.stnx-model')) {
      const v = views[panel.dataset.model];
      panel.classList.toggle('stnx-off', !v);
      if (!v) {
        panel.querySelector('.stnx-caption').textContent = 'not run in the browser: shown at the grid positions';
        continue;
      }
      panel.querySelector('.stnx-glimpse').src = v.src || T.images[v.g];
      panel.querySelector('.stnx-box').setAttribute('points', v.box);
      const top = v.p.indexOf(Math.max(...v.p));
      $$('.stnx-bar', panel).forEach((bar, k) => {
        bar.className = 'stnx-bar' + (k === top ? ' stnx-top' : '') + (k === st.label ? ' stnx-label' : '');
        bar.querySelector('.stnx-fill').style.width = (100 * v.p[k]).toFixed(1) + '%%';
        bar.querySelector('.stnx-p').textContent = (100 * v.p[k]).toFixed(1) + '%%';
      });
      panel.querySelector('.stnx-caption').textContent = v.caption;
    }
  };
  const gridState = () => {
    $$('output').forEach(o => { o.value = input(o.getAttribute('for')).value; });
    const key = ['eccentricity', 'direction', 'contrast'].map(n => +input(n).value).join('|');
    return {key, state: T.states[T.index[key]]};
  };
  const update = () => {
    if (root.stnx.live) return root.stnx.live();
    const {key, state} = gridState();
    root.stnx.current = {mode: 'static', key, state};
    show(state, state.views);
  };
  root.stnx = {table: T, show, gridState, update, input};
  $$('.stnx-controls input, .stnx-controls select').forEach(e => e.addEventListener('input', () => root.stnx.update()));
  update();
  const base = document.documentElement.dataset.content_root, status = root.querySelector('.stnx-status');
  if (!/^https?:$/.test(location.protocol) || base === undefined) {
    status.innerHTML += ' ' + (location.protocol === 'file:' ? '<strong>Opened from a file (file://)</strong>: '
      + 'browsers do not let a page start WebAssembly and load models from files, so the real models do not run '
      + 'here. Serve the book over http (<code>python -m http.server</code> in <code>_build/html</code>) to run '
      + 'them at any slider position.' : 'The real models run in the rendered book served over http.');
    return;
  }
  const script = document.createElement('script');
  script.src = base + '_static/explorer/live.js';
  script.onerror = () => { status.className = 'stnx-status stnx-fallback';
    status.innerHTML += ' <strong>The live models could not start</strong> (' + script.src + ' did not load): '
      + 'showing the pre-rendered grid.'; };
  document.head.appendChild(script);
})();
"""


def _slider(name: str, label: str, values: Sequence[float], start: float) -> str:
    step = values[1] - values[0] if len(values) > 1 else 1
    if len(values) > 2 and any(abs((b - a) - step) > 1e-9 for a, b in zip(values, values[1:])):
        raise ValueError(f"{name} must be evenly spaced for a slider, got {list(values)}")
    return (f'<label>{label} <input type="range" name="{name}" min="{values[0]:g}" max="{values[-1]:g}" '
            f'step="{step:g}" value="{start:g}" data-grid-min="{values[0]:g}" data-grid-max="{values[-1]:g}" '
            f'data-grid-step="{step:g}"> <output for="{name}">{start:g}</output></label>')


def slider_html(table: dict, live: Optional[dict] = None, start: Optional[tuple] = None) -> str:
    """The self-contained block: status line, sliders, one panel per model, the table and the script.

    Args:
        table: :func:`slider_table`.
        live: the layer-3 description the live script reads (``{"payload": id, "models": [...],
            "notes": {name: why not live}}``), or None for a static slider only.
        start: ``(eccentricity, direction, contrast)`` shown first (default: the middle of each axis).
    """
    axes = table["axes"]
    start = start or tuple(v[len(v) // 2] for v in (axes["eccentricity"], axes["direction"], axes["contrast"]))
    controls = "".join([
        _slider("eccentricity", "eccentricity (px)", axes["eccentricity"], start[0]),
        _slider("direction", "direction (°, 0 = down, 90 = right)", axes["direction"], start[1]),
        _slider("contrast", "contrast", axes["contrast"], start[2]),
    ])  # checks the axes are evenly spaced
    blob = json.dumps(table, separators=(",", ":"), sort_keys=True)
    ident = "stnx-" + hashlib.sha256(blob.encode()).hexdigest()[:10]
    first = table["states"][table["index"][SliderGrid.key_of(*start)]]
    n_states = len(table["states"])
    fixed = table["fixed"]
    status = (f'<div class="stnx-status">Pre-rendered: {n_states} states ({len(axes["eccentricity"])} eccentricities '
              f'x {len(axes["direction"])} directions x {len(axes["contrast"])} contrasts) of test digit '
              f'#{fixed["digit"]} (a {first["label"]}), noise {fixed["noise"]:g}, background seed {fixed["seed"]}, '
              f"computed by the trained models when the chapter ran.</div>")
    panels = []
    whole = table["images"][first["scene"] if "scene" in first else table["base"]]
    if "patch" in first:
        patch = (table["images"][first["patch"]], *first["at"])
    else:
        patch = (PLACEHOLDER, None, None)
    for k, name in enumerate(table["models"]):
        view = first["views"][name]
        # one copy of the scene in the markup; the script gives the other panels theirs
        scene, over = (whole, patch) if k == 0 else (PLACEHOLDER, (PLACEHOLDER, None, None))
        panels.append(model_panel_html(name, scene, table["images"][view["g"]], first["truth"], view["box"],
                                       view["p"], view["caption"], first["label"], patch=over))
    live_json = "" if live is None else (
        f'<script type="application/json" class="stnx-spec">{_script_json(live)}</script>')
    return (f'<div class="stnx" id="{ident}"><style>{CSS}</style>{status}'
            f'<div class="stnx-controls">{controls}</div><div class="stnx-models">{"".join(panels)}</div>'
            f'<script type="application/json" class="stnx-table">{_script_json(table)}</script>{live_json}'
            f"<script>{STATIC_JS % {'id': ident, 'zoom': ZOOM}}</script></div>")


def _script_json(obj) -> str:
    # inside <script>, "</" would end the element early
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")


def fallback_png(states: Sequence[ExplorerState], names: Optional[Sequence[str]] = None, dpi: int = 64) -> bytes:
    """A PNG of a few states for outputs that cannot show HTML: one row per model, scene + box, glimpse, bars.

    Args:
        states: the states to draw (a few: one column group each).
        names: the models (default: all of the first state's).
        dpi: resolution of the figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    names = list(states[0].views) if names is None else list(names)
    fig = Figure(figsize=(2.6 * len(states), 1.25 * len(names) + 0.6), dpi=dpi)
    grid = fig.add_gridspec(len(names), 3 * len(states), width_ratios=[2, 1, 1.4] * len(states), wspace=0.25,
                            hspace=0.35)
    for col, state in enumerate(states):
        for row, name in enumerate(names):
            v = state.views[name]
            ax = fig.add_subplot(grid[row, 3 * col])
            ax.imshow(state.scene.numpy(), cmap="gray", vmin=0, vmax=1)
            corners = v.corners.numpy()
            ax.plot(*list(zip(*corners.tolist(), corners[0].tolist())), color="#ff7f0e", lw=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(name, fontsize=7)
            if row == 0:
                c = state.controls
                ax.set_title(f"(i, j) = {state.offset} px\ncontrast {c.contrast:g}", fontsize=7)
            ax = fig.add_subplot(grid[row, 3 * col + 1])
            ax.imshow(v.glimpse.numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_axis_off()
            ax = fig.add_subplot(grid[row, 3 * col + 2])
            ax.bar(range(10), v.probs.numpy(), color=["#d2603a" if k == v.prediction else "#4a7fc1"
                                                      for k in range(10)])
            ax.set_ylim(0, 1)
            ax.set_xticks(range(10))
            ax.tick_params(labelsize=5, length=1)
            if row == len(names) - 1:
                ax.set_xlabel("class", fontsize=6)
            if col == 0 and row == 0:
                ax.set_ylabel("probability", fontsize=6)
    fig.suptitle("Scene (orange: sampled region), glimpse, class probabilities; digit "
                 f"#{states[0].controls.digit} (a {states[0].label})", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def slider_bundle(
    models: Mapping[str, nn.Module],
    grid: Optional[SliderGrid] = None,
    data_root=None,
    device="cpu",
    live: Optional[dict] = None,
    fallback_states: Sequence[int] = (),
) -> dict:
    """The display bundle of the static slider: ``text/html``, an ``image/png`` fallback, ``text/plain``.

    Args:
        models: ``{name: model}``, in display order.
        grid: the positions to pre-render (default :class:`SliderGrid`).
        data_root, device: as :func:`~stnutils.widgets.state.explorer_states`.
        live: the layer-3 description (:func:`stnutils.widgets.web.web_payload`'s ``"live"``), or None.
        fallback_states: grid positions drawn in the PNG (default: three along the first direction).

    Returns:
        ``{"bundle": {mime: data}, "table": the table, "states": n, "html_bytes": size of the HTML}``;
        ``IPython.display.display(result["bundle"], raw=True)`` shows it.
    """
    import base64

    grid = SliderGrid() if grid is None else grid
    states = explorer_states(models, grid.controls(), data_root, device)
    table = slider_table(states, grid, list(models))
    block = slider_html(table, live)
    if not fallback_states:
        per_e = len(grid.directions) * len(grid.contrasts)
        middle = len(grid.contrasts) // 2
        fallback_states = [k * per_e + middle for k in range(0, len(grid.eccentricities), 2)][:3]
    png = fallback_png([states[k] for k in fallback_states], list(models))
    text = (f"Pre-rendered slider: {len(states)} states x {len(models)} models "
            f"({len(block.encode()) / 1024:.0f} KB of HTML); an HTML output shows it.")
    return {"bundle": {"text/html": block, "image/png": base64.b64encode(png).decode("ascii"), "text/plain": text},
            "table": table, "states": len(states), "html_bytes": len(block.encode()), "png_bytes": len(png)}
