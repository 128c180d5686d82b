"""Widgets: move a digit around, lower its contrast, and watch what each trained model does.

Three layers, each working where the one above cannot:

1. :mod:`~stnutils.widgets.live`: :func:`explore`, ipywidgets sliders in Jupyter (a kernel
   computes every update);
2. :mod:`~stnutils.widgets.static`: :func:`slider_bundle`, a self-contained HTML slider over
   a grid of states pre-rendered by the models (works from ``file://`` and offline);
3. :mod:`~stnutils.widgets.web`: the models exported to ONNX (:func:`export_onnx`) and the
   data the page composes scenes from (:func:`web_payload`), so that the static slider,
   served over http(s), runs the real networks in the reader's browser at any position
   (``live.js``, onnxruntime-web).

Behind all three, :mod:`~stnutils.widgets.state`: slider values (:class:`Controls`) ->
the scene from :class:`~stnutils.data.NoisyMNIST128` -> per model theta, glimpse and
probabilities (:func:`explorer_state`), and :mod:`~stnutils.widgets.render`, the HTML of
one state. :mod:`~stnutils.widgets.catalog` lists the book's explored models (adding one
is one line). ipywidgets, onnx, onnxscript and onnxruntime are imported only by the
functions that need them.
"""
from . import catalog, live, render, state, static, web
from .catalog import (
    EXPLORED,
    Explored,
    describe_sizes,
    explored_schedules,
    explorer_page,
    live_schedules,
    load_explored,
)
from .live import controls_from_values, explore
from .render import state_html
from .state import (
    REACH,
    SCENE_SIZE,
    CentralPatch,
    Controls,
    ExplorerState,
    ModelView,
    SceneGrid,
    explorable,
    explorer_state,
    explorer_states,
)
from .static import SliderGrid, fallback_png, slider_bundle, slider_html, slider_table
from .web import PAYLOAD_KEY, ExportedModel, export_onnx, onnx_outputs, raw_field, rounded_copy, web_payload

__all__ = [
    "catalog", "live", "render", "state", "static", "web",
    "EXPLORED", "Explored", "describe_sizes", "explored_schedules", "explorer_page", "live_schedules", "load_explored",
    "controls_from_values", "explore", "state_html",
    "REACH", "SCENE_SIZE", "CentralPatch", "Controls", "ExplorerState", "ModelView", "SceneGrid", "explorable",
    "explorer_state", "explorer_states",
    "SliderGrid", "fallback_png", "slider_bundle", "slider_html", "slider_table",
    "PAYLOAD_KEY", "ExportedModel", "export_onnx", "onnx_outputs", "raw_field", "rounded_copy", "web_payload",
]
