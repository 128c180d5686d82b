"""Layer 1: live sliders in Jupyter (ipywidgets), one :func:`~stnutils.widgets.state.explorer_state` per move.

:func:`explore` needs a running kernel and a frontend that shows widgets (JupyterLab,
Notebook, VS Code): moving a slider calls Python, which generates the scene with the
package's own generator and runs every model on it. In a page without a kernel (the
rendered book) the pre-rendered slider of :mod:`~stnutils.widgets.static` takes its place.
ipywidgets is imported when :func:`explore` is called, not with the package.
"""
from __future__ import annotations

import time
from typing import Mapping, Optional, Sequence

import torch
from torch import nn

from .render import state_html
from .state import REACH, Controls, explorer_state

__all__ = ["explore", "controls_from_values", "update", "UPDATE_THREADS"]

#: torch threads for one update: a single scene gains nothing from more, and on a busy 2-core
#: machine a second thread waiting at every operation's barrier made updates several times slower
UPDATE_THREADS = 1


def update(models: Mapping[str, nn.Module], controls: Controls, data_root=None, device="cpu",
           threads: int = UPDATE_THREADS):
    """One slider move: the state of ``controls`` and its HTML, computed with ``threads`` torch threads.

    The process's thread count is restored afterwards.

    Returns:
        ``(ExplorerState, html)``.
    """
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        state = explorer_state(models, controls, data_root, device)
        return state, state_html(state)
    finally:
        torch.set_num_threads(saved)


def controls_from_values(values: Mapping) -> Controls:
    """The :class:`Controls` of the widget values: polar (``eccentricity``, ``direction``) or ``i``/``j``.

    Example:
        >>> controls_from_values(dict(mode="polar", eccentricity=20, direction=90, i=0, j=0, contrast=0.5,
        ...                           noise=0.75, seed=0, digit=3)).offset
        (0, 20)
    """
    common = {k: values[k] for k in ("digit", "contrast", "noise", "seed")}
    if values.get("mode", "polar") == "polar":
        return Controls.polar(values["eccentricity"], values["direction"], **common)
    return Controls(i=values["i"], j=values["j"], **common)


def explore(
    models: Mapping[str, nn.Module],
    controls: Optional[Controls] = None,
    *,
    digits: Sequence[int] = tuple(range(10)),
    data_root=None,
    device="cpu",
    max_seed: int = 20,
):
    """Sliders for the digit's offset, contrast, noise and background seed, a digit picker, and every model's view.

    Args:
        models: ``{name: model}`` (trained models; 28x28 ones see the central patch).
        controls: the starting position (default :class:`Controls`).
        digits: the MNIST test indices the picker offers.
        data_root: folder holding ``MNIST/raw`` (default ``$STNUTILS_DATA``).
        device: where the scenes are made.
        max_seed: the background seed slider's maximum.

    Returns:
        an ``ipywidgets.VBox``; its ``update()`` attribute redraws from the widget values and
        returns the :class:`~stnutils.widgets.state.ExplorerState`, its ``last_ms`` is the
        time of the last update (scene, models and HTML), in milliseconds.
    """
    import ipywidgets as w

    from ..data.mnist import load_mnist

    start = controls if controls is not None else Controls()
    digits = list(digits)
    if not digits:
        raise ValueError("digits must name at least one MNIST test index")
    labels = load_mnist(data_root, train=False)[1]  # the picker's captions
    options = [(f"#{k}: a {int(labels[k])}", k) for k in digits]
    if start.digit not in digits:
        options.insert(0, (f"#{start.digit}: a {int(labels[start.digit])}", start.digit))
    style = {"description_width": "9em"}
    layout = w.Layout(width="26em")
    ws = dict(
        mode=w.ToggleButtons(options=[("eccentricity + direction", "polar"), ("offset (i, j)", "ij")],
                             value="polar" if start.offset == (0, 0) else "ij", description="offset as"),
        eccentricity=w.IntSlider(0, 0, REACH, 1, description="eccentricity (px)", style=style, layout=layout),
        direction=w.IntSlider(0, 0, 355, 5, description="direction (°, 0 = down, 90 = right)", style=style,
                              layout=layout),
        i=w.IntSlider(start.i, -REACH, REACH, 1, description="i (px, down)", style=style, layout=layout),
        j=w.IntSlider(start.j, -REACH, REACH, 1, description="j (px, right)", style=style, layout=layout),
        contrast=w.FloatSlider(start.contrast, min=0.05, max=1.0, step=0.05, description="contrast", style=style,
                               layout=layout),
        noise=w.FloatSlider(start.noise, min=0.0, max=1.0, step=0.05, description="noise", style=style, layout=layout),
        seed=w.IntSlider(start.seed, 0, max(max_seed, start.seed), 1, description="background seed", style=style,
                         layout=layout),
        digit=w.Dropdown(options=options, value=start.digit, description="digit (test #)", style=style),
    )
    view = w.HTML()
    timing = w.HTML()
    box = w.VBox([ws["mode"], w.HBox([w.VBox([ws["eccentricity"], ws["direction"], ws["i"], ws["j"]]),
                                      w.VBox([ws["contrast"], ws["noise"], ws["seed"], ws["digit"]])]), view, timing])

    def redraw(change=None):
        polar = ws["mode"].value == "polar"
        for name, shown in (("eccentricity", polar), ("direction", polar), ("i", not polar), ("j", not polar)):
            ws[name].layout.display = None if shown else "none"
        t0 = time.perf_counter()
        state, view.value = update(models, controls_from_values({k: v.value for k, v in ws.items()}), data_root, device)
        box.last_ms = 1000 * (time.perf_counter() - t0)
        timing.value = f"<small>update: {box.last_ms:.0f} ms (scene, {len(models)} model(s), drawing)</small>"
        return state

    for widget in ws.values():
        widget.observe(redraw, names="value")
    box.update = redraw
    box.widgets = ws
    redraw()
    return box
