"""Figures of images: example grids, tables of images, one field, inputs beside their glimpses.

Every function returns a ``matplotlib.figure.Figure`` made with ``pyplot`` (shown by the
notebook's inline backend), titled, with units; none calls ``plt.show()``.

Example:
    >>> import torch
    >>> fig = show_examples(torch.rand(3, 1, 28, 28), labels=torch.tensor([1, 2, 3]))
    >>> len(fig.axes)
    3
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import matplotlib.pyplot as plt

from ._common import as_images, bare, joined, shown, to_numpy

__all__ = ["show_examples", "show_grid", "show_field", "show_transformed"]


def show_examples(
    images,
    labels=None,
    offsets=None,
    ncols: int = 8,
    title: Optional[str] = None,
    ax_size: float = 1.6,
):
    """A grid of grayscale images (intensity 0 black, 1 white), each titled by label and offset.

    Args:
        images: ``(B, 1, H, W)`` or ``(B, H, W)`` in [0, 1].
        labels: optional ``(B,)`` digit classes.
        offsets: optional ``(B, 2)`` integer (i, j) offsets in pixels (row, column).
        ncols: images per row.
        title: the figure's title (default: "B examples").
        ax_size: inches per image.

    Returns:
        the figure, one axes per image.
    """
    arr = as_images(images)
    n = len(arr)
    if n == 0:
        raise ValueError("images must hold at least one image, got 0")
    labels = None if labels is None else to_numpy(labels).reshape(-1)
    offsets = None if offsets is None else to_numpy(offsets).reshape(-1, 2)
    for name, extra in (("labels", labels), ("offsets", offsets)):
        if extra is not None and len(extra) != n:
            raise ValueError(f"{name} must have one entry per image ({n}), got {len(extra)}")
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ax_size * ncols, ax_size * nrows + 0.5), squeeze=False, layout="constrained"
    )
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.remove()
            continue
        ax.imshow(arr[k], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(joined(None if labels is None else f"{int(labels[k])}",
                            None if offsets is None else f"({int(offsets[k, 0])}, {int(offsets[k, 1])})", sep="  "),
                     fontsize=9)
    suptitle = title if title is not None else f"{n} examples"
    if labels is not None or offsets is not None:
        key = " and ".join(
            name for name, val in (("label", labels), ("(i, j) offset in pixels", offsets)) if val is not None
        )
        suptitle += f"\n(each: {key})"
    fig.suptitle(suptitle, fontsize=10)
    return fig


def show_grid(
    images,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    ax_size: float = 1.8,
):
    """A table of images: one row per ``row_labels`` entry, one column per ``col_labels`` entry.

    Args:
        images: ``(R, C, 1, H, W)`` or ``(R, C, H, W)`` in [0, 1].
        row_labels, col_labels: text shown left of each row and above each column
            (include the unit, e.g. ``"40 px"``).
        title: the figure's title.

    Returns:
        the figure, ``R * C`` axes.
    """
    arr = to_numpy(images)
    if arr.ndim == 5 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 4:
        raise ValueError(f"images must be (R, C, 1, H, W) or (R, C, H, W), got shape {tuple(arr.shape)}")
    nrows, ncols = arr.shape[:2]
    if len(row_labels) != nrows or len(col_labels) != ncols:
        raise ValueError(
            f"expected {nrows} row labels and {ncols} column labels, got {len(row_labels)} and {len(col_labels)}"
        )
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ax_size * ncols + 0.4, ax_size * nrows + 0.6), squeeze=False, layout="constrained"
    )
    for r in range(nrows):
        for c in range(ncols):
            ax = axes[r, c]
            ax.imshow(arr[r, c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            bare(ax)
            if r == 0:
                ax.set_title(str(col_labels[c]), fontsize=9)
            if c == 0:
                ax.set_ylabel(str(row_labels[r]), fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def show_field(
    image,
    title: str,
    extent_px: bool = True,
    cmap: str = "gray",
    vmin: Optional[float] = 0.0,
    vmax: Optional[float] = 1.0,
    cbar_label: str = "intensity (a.u.)",
    size: float = 4.0,
):
    """One image with a colour bar; axes in pixels.

    Args:
        image: ``(H, W)``, ``(1, H, W)`` or ``(1, 1, H, W)``.
        title: the axes title.
        extent_px: label the axes in pixels from the centre (``j`` right, ``i`` down);
            otherwise in pixel indices from the top-left corner.
        vmin, vmax: colour limits (``None``: the data's range).
        cbar_label: the colour bar's label.

    Returns:
        the figure (two axes: the image and the colour bar).
    """
    arr = to_numpy(image)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"image must be (H, W) or (1, H, W), got shape {tuple(to_numpy(image).shape)}")
    h, w = arr.shape
    fig, ax = plt.subplots(figsize=(size + 1.0, size), layout="constrained")
    if extent_px:
        extent = (-w / 2, w / 2, h / 2, -h / 2)
        ax.set_xlabel("j: column from centre (pixels)")
        ax.set_ylabel("i: row from centre (pixels)")
    else:
        extent = None
        ax.set_xlabel("column (pixels)")
        ax.set_ylabel("row (pixels)")
    im = ax.imshow(arr, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label=cbar_label, shrink=0.85)
    return fig


def show_transformed(
    inputs,
    outputs,
    labels=None,
    n: int = 8,
    predictions=None,
    title: Optional[str] = None,
    ax_size: float = 1.5,
):
    """Inputs (top row) and what the transformer made of them (bottom row), side by side.

    Args:
        inputs: ``(B, 1, H, W)`` or ``(B, H, W)`` in [0, 1] (e.g. 128x128 scenes).
        outputs: ``(B, 1, h, w)`` or ``(B, h, w)``: the transformed images (e.g. 28x28 glimpses).
        labels: optional ``(B,)`` true digits, shown above each column.
        n: number of examples shown (the first ``n``).
        predictions: optional ``(B,)`` predicted digits, shown next to the labels.
        title: the figure's title.

    Returns:
        the figure, ``2 * min(n, B)`` axes (inputs first, then outputs).

    Example:
        >>> import torch
        >>> fig = show_transformed(torch.rand(3, 1, 128, 128), torch.rand(3, 1, 28, 28))
        >>> len(fig.axes), fig.axes[3].get_ylabel()
        (6, 'transformed\\n28x28 px')
    """
    x, y = as_images(inputs), as_images(outputs)
    if len(x) != len(y):
        raise ValueError(f"inputs and outputs must hold as many images, got {len(x)} and {len(y)}")
    k = shown(n, len(x), "inputs")
    labels = None if labels is None else to_numpy(labels).reshape(-1)
    predictions = None if predictions is None else to_numpy(predictions).reshape(-1)
    fig, axes = plt.subplots(2, k, figsize=(ax_size * k + 0.8, 2 * ax_size + 0.8), squeeze=False,
                             layout="constrained")
    for c in range(k):
        for r, (arr, name) in enumerate(((x, "input"), (y, "transformed"))):
            ax = axes[r, c]
            ax.imshow(arr[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            bare(ax)
            if c == 0:
                ax.set_ylabel(f"{name}\n{arr.shape[1]}x{arr.shape[2]} px", fontsize=9)
        axes[0, c].set_title(joined(None if labels is None else f"label {int(labels[c])}",
                                    None if predictions is None else f"pred {int(predictions[c])}"), fontsize=8)
    fig.suptitle(title if title is not None else "Input and transformed output", fontsize=10)
    return fig
