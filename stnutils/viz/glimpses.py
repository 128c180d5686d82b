"""Where a transformer samples, drawn on its input: boxes, grids, model comparisons, animations.

- :func:`draw_sampling_boxes`: the region ``theta`` samples, a quadrilateral on each input.
- :func:`draw_sampling_grids`: the sampling grid itself (thin-plate splines bend it).
- :func:`show_glimpses_compared`: several models' boxes on the same scenes, and their glimpses.
- :func:`animate_transformer`: the transformer's outputs over training (HTML or GIF).

Example:
    >>> theta = torch.tensor([[[0.25, 0., 0.2], [0., 0.25, -0.1]]]).repeat(2, 1, 1)
    >>> fig = draw_sampling_boxes(torch.rand(2, 1, 64, 64), theta)
    >>> len(fig.axes), len(fig.axes[0].patches)
    (2, 1)
"""
from __future__ import annotations

from typing import Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Polygon

from ..models.attention import Attention
from ..models.transformer import theta_corners
from ..validation import check_positive_int
from ._common import BOX_COLOURS, as_images, bare, joined, shown, to_numpy

__all__ = ["draw_sampling_boxes", "draw_sampling_grids", "show_glimpses_compared", "animate_transformer"]


def _corners(theta, in_size) -> np.ndarray:
    """``(N, 4, 2)`` float64 pixel corners (x = column, y = row) of the regions ``theta`` samples."""
    h, w = (int(v) for v in in_size)
    theta = torch.as_tensor(theta).detach().cpu().to(torch.float32)
    return to_numpy(theta_corners(theta, (h, w))).astype(np.float64)


def draw_sampling_boxes(
    images,
    theta=None,
    corners=None,
    labels=None,
    n: int = 8,
    title: Optional[str] = None,
    color: str = "red",
    ax_size: float = 2.0,
):
    """Inputs with the region the transformer samples drawn on them (a closed quadrilateral).

    Give either ``theta`` (corners from :func:`~stnutils.models.transformer.theta_corners`) or
    ``corners`` directly. A dot marks the corner that becomes the output's top-left, so flips and
    rotations show.

    Args:
        images: ``(B, 1, H, W)`` or ``(B, H, W)`` in [0, 1].
        theta: ``(B, 2, 3)`` affine matrices (normalised coordinates, ``align_corners=False``).
        corners: ``(B, 4, 2)`` pixel ``(x = column, y = row)`` corners: top-left, top-right,
            bottom-right, bottom-left.
        labels: optional ``(B,)`` digits, shown as titles.
        n: number of images shown (the first ``n``).
        title: the figure's title.
        color: the box colour.

    Returns:
        the figure, one axes per image, each holding one polygon patch.

    Example:
        >>> theta = torch.tensor([[[0.25, 0., 0.2], [0., 0.25, -0.1]]]).repeat(2, 1, 1)
        >>> fig = draw_sampling_boxes(torch.rand(2, 1, 64, 64), theta)
        >>> len(fig.axes), len(fig.axes[0].patches)
        (2, 1)
    """
    arr = as_images(images)
    if (theta is None) == (corners is None):
        raise ValueError("give exactly one of theta and corners")
    if corners is None:
        corners = _corners(theta, arr.shape[1:])
    corners = to_numpy(corners).astype(np.float64)
    if corners.ndim != 3 or corners.shape[1:] != (4, 2) or len(corners) != len(arr):
        raise ValueError(f"corners must be ({len(arr)}, 4, 2), got shape {tuple(corners.shape)}")
    k = shown(n, len(arr))
    labels = None if labels is None else to_numpy(labels).reshape(-1)
    fig, axes = plt.subplots(1, k, figsize=(ax_size * k, ax_size + 0.8), squeeze=False, layout="constrained")
    h, w = arr.shape[1:]
    for c, ax in enumerate(axes[0]):
        ax.imshow(arr[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.add_patch(Polygon(corners[c], closed=True, fill=False, edgecolor=color, linewidth=1.5))
        ax.plot(*corners[c, 0], "o", color=color, ms=3)
        # keep the whole image in view even when the box leaves it
        ax.set_xlim(min(-0.5, corners[c, :, 0].min() - 1), max(w - 0.5, corners[c, :, 0].max() + 1))
        ax.set_ylim(max(h - 0.5, corners[c, :, 1].max() + 1), min(-0.5, corners[c, :, 1].min() - 1))
        bare(ax)
        if labels is not None:
            ax.set_title(f"label {int(labels[c])}", fontsize=8)
    axes[0, 0].set_ylabel(f"{h}x{w} px input", fontsize=9)
    fig.suptitle(
        (title if title is not None else "Sampling regions of the transformer")
        + "\n(box: region sampled into the output; dot: its top-left corner)",
        fontsize=10,
    )
    return fig


def animate_transformer(
    frames,
    inputs=None,
    titles: Optional[Sequence[str]] = None,
    fmt: str = "html",
    path=None,
    n: int = 8,
    fps: float = 2.0,
    ax_size: float = 1.5,
):
    """An animation of the transformer's outputs over training (one frame per snapshot).

    Args:
        frames: a list over training of transformed outputs of the same inputs, each
            ``(B, 1, h, w)`` or ``(B, h, w)`` in [0, 1].
        inputs: optional ``(B, 1, H, W)`` inputs, shown (static) in a top row.
        titles: one title per frame (e.g. ``"epoch 3"``; default ``"snapshot k"``).
        fmt: ``"html"``: return a self-contained JavaScript animation (``to_jshtml``: no
            ffmpeg needed, plays in the rendered book); ``"gif"``: write a GIF to ``path``
            with Pillow.
        path: the GIF file (``fmt="gif"`` only).
        n: number of examples per frame (the first ``n``).
        fps: frames per second.

    Returns:
        the HTML string (``"html"``) or the GIF's ``Path`` (``"gif"``).

    Example:
        >>> html = animate_transformer([torch.rand(2, 1, 8, 8) for _ in range(2)], titles=["a", "b"])
        >>> html.lstrip().startswith("<link") or "<script" in html
        True
    """
    from matplotlib import animation

    if fmt not in ("html", "gif"):
        raise ValueError(f"fmt must be one of ['html', 'gif'], got {fmt!r}")
    if fmt == "gif" and path is None:
        raise ValueError("path must be given for fmt='gif'")
    frames = [as_images(f) for f in frames]
    if not frames:
        raise ValueError("frames must hold at least one snapshot, got 0")
    if any(f.shape != frames[0].shape for f in frames):
        raise ValueError(f"frames must all have the same shape, got {sorted({f.shape for f in frames})}")
    if titles is None:
        titles = [f"snapshot {k}" for k in range(len(frames))]
    if len(titles) != len(frames):
        raise ValueError(f"titles must have one entry per frame ({len(frames)}), got {len(titles)}")
    if n < 1 or fps <= 0:
        raise ValueError(f"n must be >= 1 and fps > 0, got n={n}, fps={fps}")
    k = min(n, len(frames[0]))
    x = None if inputs is None else as_images(inputs)[:k]
    nrows = 1 if x is None else 2
    fig, axes = plt.subplots(nrows, k, figsize=(ax_size * k + 0.8, ax_size * nrows + 0.7), squeeze=False,
                             layout="constrained")
    artists = []
    for c in range(k):
        if x is not None:
            axes[0, c].imshow(x[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        artists.append(axes[-1, c].imshow(frames[0][c], cmap="gray", vmin=0, vmax=1, interpolation="nearest"))
    for ax in axes.flat:
        bare(ax)
    h, w = frames[0].shape[1:]
    if x is not None:
        axes[0, 0].set_ylabel(f"input\n{x.shape[1]}x{x.shape[2]} px", fontsize=9)
    axes[-1, 0].set_ylabel(f"transformed\n{h}x{w} px", fontsize=9)
    suptitle = fig.suptitle(str(titles[0]), fontsize=10)

    def update(t):
        for c, im in enumerate(artists):
            im.set_data(frames[t][c])
        suptitle.set_text(str(titles[t]))
        return artists

    anim = animation.FuncAnimation(fig, update, frames=len(frames), interval=1000 / fps, blit=False)
    try:
        if fmt == "html":
            return anim.to_jshtml(fps=fps)
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        anim.save(str(path), writer=animation.PillowWriter(fps=fps))
        return path
    finally:
        plt.close(fig)  # the animation is the output; don't also show the last frame


def draw_sampling_grids(images, grids, labels=None, angles=None, n: int = 8, step: int = 3,
                        title: Optional[str] = None, ax_size: float = 2.0):
    """Inputs with the transformer's sampling grid drawn on them (every ``step``-th grid line).

    Args:
        images: ``(B, 1, H, W)`` or ``(B, H, W)`` in [0, 1].
        grids: ``(B, h, w, 2)`` normalised ``(x, y)`` sampling positions (``grid_sample``,
            ``align_corners=False``), e.g. the ``grid`` of an attention model's ``attend``.
        labels: optional ``(B,)`` digits; angles: optional ``(B,)`` true rotations (degrees).
        n: images shown (the first ``n``).
        step: draw every ``step``-th row and column of the grid.
        title: the figure's title.

    Returns:
        the figure, one axes per image; the output's top row is drawn in orange, so a
        grid that turns shows which way.
    """
    arr = to_numpy(images)
    if arr.ndim == 4:
        arr = arr[:, 0]
    g = to_numpy(grids).astype(np.float64)
    if arr.ndim != 3 or g.ndim != 4 or g.shape[-1] != 2 or len(g) != len(arr):
        raise ValueError(f"grids must be ({len(arr)}, h, w, 2) for {len(arr)} images of shape (H, W), "
                         f"got images {arr.shape} and grids {g.shape}")
    check_positive_int("step", step)
    k = shown(n, len(arr))
    h_in, w_in = arr.shape[1:]
    cols = ((g[..., 0] + 1) * w_in - 1) / 2
    rows = ((g[..., 1] + 1) * h_in - 1) / 2
    fig, axes = plt.subplots(1, k, figsize=(ax_size * k + 0.4, ax_size + 0.9), squeeze=False, layout="constrained")
    h_out, w_out = g.shape[1:3]
    keep_r = sorted(set(range(0, h_out, step)) | {h_out - 1})
    keep_c = sorted(set(range(0, w_out, step)) | {w_out - 1})
    for c, ax in enumerate(axes[0]):
        ax.imshow(arr[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for r in keep_r:
            ax.plot(cols[c, r], rows[c, r], "-", color="orange" if r == 0 else "red", lw=1.4 if r == 0 else 0.7)
        for q in keep_c:
            ax.plot(cols[c, :, q], rows[c, :, q], "-", color="red", lw=0.7)
        ax.set_xlim(min(-0.5, cols[c].min() - 1), max(w_in - 0.5, cols[c].max() + 1))
        ax.set_ylim(max(h_in - 0.5, rows[c].max() + 1), min(-0.5, rows[c].min() - 1))
        bare(ax)
        ax.set_title(joined(None if labels is None else f"label {int(to_numpy(labels).reshape(-1)[c])}",
                            None if angles is None else f"α = {float(to_numpy(angles).reshape(-1)[c]):+.0f}°"),
                     fontsize=8)
    axes[0, 0].set_ylabel(f"{h_in}x{w_in} px input", fontsize=9)
    fig.suptitle((title if title is not None else "Sampling grids of the transformer")
                 + f"\n(grid lines {step} output pixels apart, {h_out}x{w_out} output; orange: its top row)",
                 fontsize=10)
    return fig


def show_glimpses_compared(
    images,
    results: dict,
    labels=None,
    n: int = 8,
    title: Optional[str] = None,
    ax_size: float = 1.45,
    fit_boxes: bool = True,
):
    """Scenes with each model's sampling box (top row), then each model's glimpses (one row each).

    Args:
        images: ``(B, 1, H, W)`` or ``(B, H, W)`` scenes in [0, 1].
        results: ``{model name: Attention}`` (what ``model.attend(images)`` returns: its
            glimpses, thetas and logits); the box of model k is drawn in the k-th colour, and
            its row's label has the same colour.
        labels: optional ``(B,)`` true digits, shown above the scenes; a glimpse's title is its
            prediction, marked ``✓`` when it equals the label.
        n: number of scenes shown (the first ``n``).
        title: the figure's title.
        fit_boxes: widen each scene's view so that every box is drawn whole, even where it
            leaves the scene; ``False`` keeps the view on the scene (boxes are clipped).

    Returns:
        the figure, ``(1 + len(results)) * min(n, B)`` axes (scenes row first).

    Raises:
        ValueError: no model, more models than colours (8), ``n < 1``, or shapes that do not
            match the scenes.

    Example:
        >>> from stnutils.models import FastATN
        >>> x = torch.rand(2, 1, 128, 128)
        >>> fig = show_glimpses_compared(x, {"a": FastATN().attend(x)})
        >>> len(fig.axes), len(fig.axes[0].patches)
        (4, 1)
    """
    arr = as_images(images)
    if not results:
        raise ValueError("results must hold at least one model, got 0")
    if len(results) > len(BOX_COLOURS):
        raise ValueError(f"results must hold at most {len(BOX_COLOURS)} models, got {len(results)}")
    k = shown(n, len(arr), "images")
    labels = None if labels is None else to_numpy(labels).reshape(-1)
    models = []
    for name, value in results.items():
        if not isinstance(value, Attention):
            raise ValueError(f"results[{name!r}] must be an Attention (model.attend(images)), "
                             f"got {type(value).__name__}")
        g = as_images(value.glimpse)
        if len(g) != len(arr):
            raise ValueError(f"results[{name!r}] glimpses must hold {len(arr)} images, got {len(g)}")
        corners = _corners(value.theta, arr.shape[1:])
        models.append((str(name), g, corners, to_numpy(value.logits.argmax(1)).reshape(-1)))
    h, w = arr.shape[1:]
    fig, axes = plt.subplots(1 + len(models), k, figsize=(ax_size * k + 1.2, ax_size * (1 + len(models)) + 0.9),
                             squeeze=False, layout="constrained")
    for c in range(k):
        ax = axes[0, c]
        ax.imshow(arr[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for m, (_, _, corners, _) in enumerate(models):
            ax.add_patch(Polygon(corners[c], closed=True, fill=False, edgecolor=BOX_COLOURS[m], linewidth=1.3))
        # the whole scene in view, and (fit_boxes) every box even where it leaves the scene
        xs, ys = [np.array([-0.5, w - 0.5])], [np.array([-0.5, h - 0.5])]
        if fit_boxes:
            xs += [corners[c, :, 0] for _, _, corners, _ in models]
            ys += [corners[c, :, 1] for _, _, corners, _ in models]
        xs, ys = np.concatenate(xs), np.concatenate(ys)
        ax.set_xlim(xs.min(), xs.max())
        ax.set_ylim(ys.max(), ys.min())
        if labels is not None:
            ax.set_title(f"label {int(labels[c])}", fontsize=8)
        for m, (_, g, _, p) in enumerate(models):
            gax = axes[1 + m, c]
            gax.imshow(g[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ok = labels is not None and int(p[c]) == int(labels[c])
            gax.set_title(f"pred {int(p[c])}" + (" ✓" if ok else ""), fontsize=8)
    for ax in axes.flat:
        bare(ax)
    axes[0, 0].set_ylabel(f"scene\n{h}x{w} px", fontsize=9)
    for m, (name, g, _, _) in enumerate(models):
        axes[1 + m, 0].set_ylabel(f"{name}\n({BOX_COLOURS[m]} box)\n{g.shape[1]}x{g.shape[2]} px", fontsize=8)
    fig.suptitle(title if title is not None else "Where each model looks (boxes), and what it sees (rows below)",
                 fontsize=10)
    return fig
