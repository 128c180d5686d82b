"""Figures for the lab book: labelled example grids, fields and spectra.

Every function returns a ``matplotlib.figure.Figure`` made with ``pyplot`` (shown by the
notebook's inline backend), with titles and axis units (pixels, cycles/pixel); none calls
``plt.show()``. :func:`animate_transformer` returns HTML (or writes a GIF) instead.

Example:
    >>> import torch
    >>> fig = show_examples(torch.rand(3, 1, 28, 28), labels=torch.tensor([1, 2, 3]))
    >>> len(fig.axes)
    3
"""
from __future__ import annotations

import math
from typing import Iterable, List, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = [
    "show_examples",
    "show_grid",
    "show_field",
    "radial_power_spectrum",
    "show_radial_spectrum",
    "show_transformed",
    "sampling_corners",
    "draw_sampling_boxes",
    "plot_history",
    "plot_accuracy_maps",
    "plot_benchmark",
    "animate_transformer",
    "plot_history_comparison",
    "plot_offset_tracking",
]


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _images(images) -> np.ndarray:
    """``(B, 1, H, W)`` or ``(B, H, W)`` to ``(B, H, W)``."""
    arr = _to_numpy(images)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise ValueError(f"images must be (B, 1, H, W) or (B, H, W), got shape {tuple(arr.shape)}")
    return arr


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
    arr = _images(images)
    n = len(arr)
    if n == 0:
        raise ValueError("images must hold at least one image, got 0")
    labels = None if labels is None else _to_numpy(labels).reshape(-1)
    offsets = None if offsets is None else _to_numpy(offsets).reshape(-1, 2)
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
        parts = []
        if labels is not None:
            parts.append(f"{int(labels[k])}")
        if offsets is not None:
            parts.append(f"({int(offsets[k, 0])}, {int(offsets[k, 1])})")
        if parts:
            ax.set_title("  ".join(parts), fontsize=9)
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
    arr = _to_numpy(images)
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
            ax.set_xticks([])
            ax.set_yticks([])
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
    arr = _to_numpy(image)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"image must be (H, W) or (1, H, W), got shape {tuple(_to_numpy(image).shape)}")
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


def radial_power_spectrum(fields) -> Tuple[np.ndarray, np.ndarray]:
    """Mean power spectrum of square fields, averaged over rings of equal frequency.

    Args:
        fields: ``(B, S, S)`` or ``(S, S)`` real fields (the mean of each is removed).

    Returns:
        ``(frequencies, power)``: ring centres ``k / S`` in cycles/pixel for
        ``k = 1 .. S // 2`` and the mean ``|FFT|^2 / S^2`` on each ring.

    Example:
        >>> f, p = radial_power_spectrum(torch.randn(4, 32, 32))
        >>> f.shape, p.shape, float(f[-1])
        ((16,), (16,), 0.5)
    """
    arr = _to_numpy(fields).astype(np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"fields must be (B, S, S) or (S, S), got shape {tuple(_to_numpy(fields).shape)}")
    size = arr.shape[-1]
    arr = arr - arr.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(arr)) ** 2).mean(axis=0) / size**2
    return _ring_average(np.fft.fftshift(power))


def _ring_average(centred: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Average a DC-centred ``(S, S)`` spectrum over rings ``k / S``, ``k = 1 .. S // 2``."""
    size = centred.shape[0]
    f = (np.arange(size) - size // 2) / size
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    ring = np.rint(radius * size).astype(int)
    kmax = size // 2
    sums = np.bincount(ring.ravel(), weights=centred.ravel(), minlength=kmax + 1)
    counts = np.bincount(ring.ravel(), minlength=kmax + 1)
    k = np.arange(1, kmax + 1)
    return k / size, sums[k] / counts[k]


def show_radial_spectrum(
    fields,
    envelope=None,
    sf_0: Optional[float] = None,
    title: str = "Radial power spectrum",
):
    """The measured power spectrum of ``fields``: 2-D (log scale) and averaged over rings.

    Args:
        fields: ``(B, S, S)`` real fields.
        envelope: optional DC-centred ``(S, S)`` spectral envelope (amplitude; e.g.
            :func:`stnutils.motioncloud_envelope`); its square is drawn for comparison.
        sf_0: optional central frequency (cycles/pixel), drawn as a vertical line.
        title: the figure's title.

    Returns:
        the figure: left the 2-D spectrum, right power vs frequency (both normalised to
        their peak), frequencies in cycles/pixel.
    """
    arr = _to_numpy(fields).astype(np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    freqs, power = radial_power_spectrum(arr)
    size = arr.shape[-1]
    centred = np.fft.fftshift((np.abs(np.fft.fft2(arr - arr.mean(axis=(1, 2), keepdims=True))) ** 2).mean(axis=0))
    fig, (ax2d, ax1d) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    half = 0.5
    im = ax2d.imshow(
        np.log10(centred / centred.max() + 1e-12),
        extent=(-half, half - 1 / size, half - 1 / size, -half),
        cmap="magma",
        vmin=-4,
        vmax=0,
    )
    ax2d.set_xlabel("f_y (cycles/pixel)")
    ax2d.set_ylabel("f_x (cycles/pixel)")
    ax2d.set_title(f"2-D power spectrum (mean of {len(arr)} fields)", fontsize=10)
    fig.colorbar(im, ax=ax2d, label="log10 power (relative to peak)", shrink=0.85)
    ax1d.loglog(freqs, power / power.max(), "o-", ms=3, label=f"measured (mean of {len(arr)} fields)")
    if envelope is not None:
        env = _to_numpy(envelope).astype(np.float64)
        if env.shape != (size, size):
            raise ValueError(f"envelope must be ({size}, {size}) like the fields, got shape {tuple(env.shape)}")
        ef, ep = _ring_average(env**2)
        ax1d.loglog(ef, ep / ep.max(), "-", lw=2, alpha=0.7, label="envelope squared")
    if sf_0 is not None:
        ax1d.axvline(sf_0, color="gray", ls="--", lw=1, label=f"sf_0 = {sf_0:g} cycles/pixel")
    ax1d.set_ylim(1e-4, 2)
    ax1d.set_xlabel("spatial frequency (cycles/pixel)")
    ax1d.set_ylabel("power (relative to peak)")
    ax1d.set_title("averaged over rings of equal frequency", fontsize=10)
    ax1d.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


# --- transformers: outputs, sampling boxes, animation ---------------------------------------
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
        >>> fig = show_transformed(torch.rand(3, 1, 128, 128), torch.rand(3, 1, 28, 28))
        >>> len(fig.axes), fig.axes[3].get_ylabel()
        (6, 'transformed\\n28x28 px')
    """
    x, y = _images(inputs), _images(outputs)
    if len(x) != len(y):
        raise ValueError(f"inputs and outputs must hold as many images, got {len(x)} and {len(y)}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    k = min(n, len(x))
    if k == 0:
        raise ValueError("inputs must hold at least one image, got 0")
    labels = None if labels is None else _to_numpy(labels).reshape(-1)
    predictions = None if predictions is None else _to_numpy(predictions).reshape(-1)
    fig, axes = plt.subplots(2, k, figsize=(ax_size * k + 0.8, 2 * ax_size + 0.8), squeeze=False,
                             layout="constrained")
    for c in range(k):
        for r, (arr, name) in enumerate(((x, "input"), (y, "transformed"))):
            ax = axes[r, c]
            ax.imshow(arr[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"{name}\n{arr.shape[1]}x{arr.shape[2]} px", fontsize=9)
        parts = []
        if labels is not None:
            parts.append(f"label {int(labels[c])}")
        if predictions is not None:
            parts.append(f"pred {int(predictions[c])}")
        if parts:
            axes[0, c].set_title(", ".join(parts), fontsize=8)
    fig.suptitle(title if title is not None else "Input and transformed output", fontsize=10)
    return fig


def _corners_from_theta(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(N, 4, 2)`` pixel (x = column, y = row) corners of the region ``theta`` samples.

    ``affine_grid``/``grid_sample`` with ``align_corners=False``: normalised -1 and +1 are
    the outer edges of the first and last pixels, i.e. pixel coordinates -0.5 and W - 0.5
    (pixel k's centre at k, as ``imshow`` draws it). The output's own corners (±1, ±1),
    mapped by ``theta``, bound the sampled region: top-left, top-right, bottom-right,
    bottom-left of the output.
    """
    theta = torch.as_tensor(theta, dtype=torch.float64)
    if theta.ndim != 3 or theta.shape[1:] != (2, 3):
        raise ValueError(f"theta must be (N, 2, 3), got shape {tuple(theta.shape)}")
    unit = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)
    norm = unit @ theta[:, :, :2].transpose(1, 2) + theta[:, None, :, 2]  # (N, 4, 2) normalised (x, y)
    x = ((norm[..., 0] + 1) * width - 1) / 2
    y = ((norm[..., 1] + 1) * height - 1) / 2
    return torch.stack([x, y], dim=-1)


def sampling_corners(theta, in_size) -> np.ndarray:
    """Pixel corners ``(N, 4, 2)`` (x = column, y = row) of the regions ``theta`` samples.

    Uses :func:`stnutils.transformer.theta_corners` when that module is there, else the
    same ``align_corners=False`` convention computed here.

    Args:
        theta: ``(N, 2, 3)`` affine matrices in normalised coordinates.
        in_size: the input's side ``S`` or ``(H, W)``, pixels.

    Returns:
        corners in the order top-left, top-right, bottom-right, bottom-left (of the output).

    Example:
        >>> sampling_corners(torch.tensor([[[1., 0., 0.], [0., 1., 0.]]]), 28)[0].tolist()
        [[-0.5, -0.5], [27.5, -0.5], [27.5, 27.5], [-0.5, 27.5]]
    """
    height, width = (in_size, in_size) if np.isscalar(in_size) else tuple(in_size)
    theta_t = torch.as_tensor(theta).detach().cpu()
    try:
        from .transformer import theta_corners
    except ImportError:  # the transformer module is optional here: same convention below
        return _to_numpy(_corners_from_theta(theta_t, int(height), int(width)))
    size = int(width) if height == width else (int(height), int(width))
    return _to_numpy(theta_corners(theta_t.to(torch.float32), size)).astype(np.float64)


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

    Give either ``theta`` (corners computed with :func:`sampling_corners`) or ``corners``
    directly. A dot marks the corner that becomes the output's top-left, so flips and
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
    from matplotlib.patches import Polygon

    arr = _images(images)
    if (theta is None) == (corners is None):
        raise ValueError("give exactly one of theta and corners")
    if corners is None:
        corners = sampling_corners(theta, arr.shape[1:])
    corners = _to_numpy(corners).astype(np.float64)
    if corners.ndim != 3 or corners.shape[1:] != (4, 2) or len(corners) != len(arr):
        raise ValueError(f"corners must be ({len(arr)}, 4, 2), got shape {tuple(corners.shape)}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    k = min(n, len(arr))
    if k == 0:
        raise ValueError("images must hold at least one image, got 0")
    labels = None if labels is None else _to_numpy(labels).reshape(-1)
    fig, axes = plt.subplots(1, k, figsize=(ax_size * k, ax_size + 0.8), squeeze=False, layout="constrained")
    h, w = arr.shape[1:]
    for c, ax in enumerate(axes[0]):
        ax.imshow(arr[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.add_patch(Polygon(corners[c], closed=True, fill=False, edgecolor=color, linewidth=1.5))
        ax.plot(*corners[c, 0], "o", color=color, ms=3)
        # keep the whole image in view even when the box leaves it
        ax.set_xlim(min(-0.5, corners[c, :, 0].min() - 1), max(w - 0.5, corners[c, :, 0].max() + 1))
        ax.set_ylim(max(h - 0.5, corners[c, :, 1].max() + 1), min(-0.5, corners[c, :, 1].min() - 1))
        ax.set_xticks([])
        ax.set_yticks([])
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
    frames = [_images(f) for f in frames]
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
    x = None if inputs is None else _images(inputs)[:k]
    nrows = 1 if x is None else 2
    fig, axes = plt.subplots(nrows, k, figsize=(ax_size * k + 0.8, ax_size * nrows + 0.7), squeeze=False,
                             layout="constrained")
    artists = []
    for c in range(k):
        if x is not None:
            axes[0, c].imshow(x[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        artists.append(axes[-1, c].imshow(frames[0][c], cmap="gray", vmin=0, vmax=1, interpolation="nearest"))
    for r in range(nrows):
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
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


# --- training curves ------------------------------------------------------------------------
_CURRICULUM_KEYS = (("shift_std", "shift σ"), ("eccentricity_std", "ecc. σ"))


def _value(entry: dict, key: str) -> float:
    v = entry.get(key)
    return float("nan") if v is None else float(v)


def _stage_text(entry: dict, show_contrast: bool) -> str:
    parts = []
    for key, name in _CURRICULUM_KEYS:
        if entry.get(key) is not None:
            parts.append(f"{name} {float(entry[key]):.3g} px")  # 4.44 px, not 4.44444 px
    if show_contrast and entry.get("contrast") is not None:
        c = entry["contrast"]
        parts.append(f"c {c[0]:g}–{c[1]:g}" if isinstance(c, (list, tuple)) else f"c {float(c):g}")
    if not parts and entry.get("stage") is not None:
        parts.append(f"stage {entry['stage']}")
    return ", ".join(parts)


def _stage_key(entry: dict):
    if "stage" in entry:
        return entry["stage"]
    c = entry.get("contrast")
    return tuple(entry.get(k) for k, _ in _CURRICULUM_KEYS) + (tuple(c) if isinstance(c, list) else c,)


def plot_history(
    history: Sequence[dict],
    metrics: Sequence[str] = ("loss", "train_acc", "test_acc"),
    title: Optional[str] = None,
    chance: Optional[float] = 0.1,
):
    """Training curves from a history (a list of per-epoch dicts, as ``fit`` returns).

    Panels, left to right: losses (metrics containing ``"loss"``), accuracies (containing
    ``"acc"``, with the chance level), any other metric, and the learning rate (log scale)
    when the entries have ``"lr"``. Curriculum stage boundaries (a change of ``"stage"``,
    or of the shift/eccentricity std or contrast) are dotted vertical lines in every
    panel; the first panel names each stage's value (e.g. ``"shift σ 3 px"``).

    Args:
        history: ``[{"epoch", "loss", "train_acc", "test_acc", "lr", "stage",
            "shift_std" | "eccentricity_std", "contrast", ...}, ...]``; missing or ``None``
            values are left out of the curves.
        metrics: the history keys to draw.
        title: the figure's title.
        chance: the chance accuracy drawn in the accuracy panel (``None``: none).

    Returns:
        the figure (one axes per panel).

    Example:
        >>> h = [dict(epoch=e, loss=1 / e, train_acc=0.5, test_acc=0.4, lr=0.01, stage=e // 3,
        ...           shift_std=float(e // 3)) for e in range(1, 7)]
        >>> fig = plot_history(h)
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['loss', 'accuracy', 'learning rate']
    """
    history = list(history)
    if not history:
        raise ValueError("history must hold at least one epoch, got 0")
    for name in metrics:
        if not any(name in entry for entry in history):
            raise ValueError(f"metrics must be keys of the history entries, {name!r} is in none")
    epochs = np.array([_value(e, "epoch") if "epoch" in e else k for k, e in enumerate(history)], dtype=float)
    groups: List[Tuple[str, List[str]]] = []
    losses = [m for m in metrics if "loss" in m]
    accs = [m for m in metrics if "acc" in m and "loss" not in m]
    if losses:
        groups.append(("loss", losses))
    if accs:
        groups.append(("accuracy", accs))
    groups += [(m, [m]) for m in metrics if m not in losses and m not in accs]
    has_lr = any(e.get("lr") is not None for e in history)
    if has_lr:
        groups.append(("learning rate", ["lr"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.3 * len(groups), 3.6), squeeze=False, layout="constrained")
    axes = axes[0]
    for ax, (ylabel, keys) in zip(axes, groups):
        for key in keys:
            y = np.array([_value(e, key) for e in history])
            ok = ~np.isnan(y)
            ax.plot(epochs[ok], y[ok], "o-" if ok.sum() < 30 else "-", ms=3, label=key.replace("_", " "))
        if ylabel == "accuracy":
            ax.set_ylim(0, 1.02)
            if chance is not None:
                ax.axhline(chance, color="gray", ls="--", lw=1, label=f"chance ({chance:g})")
        if ylabel == "learning rate" and all((e.get("lr") or 1) > 0 for e in history):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if ylabel != "learning rate" and (len(keys) > 1 or ylabel == "accuracy"):
            ax.legend(fontsize=8, loc="best")
    # curriculum stages
    keys = [_stage_key(e) for e in history]
    starts = [0] + [k for k in range(1, len(history)) if keys[k] != keys[k - 1]]
    contrasts = {str(e.get("contrast")) for e in history}
    show_contrast = len(contrasts) > 1
    for k in starts[1:]:
        x = (epochs[k - 1] + epochs[k]) / 2
        for ax in axes:
            ax.axvline(x, color="gray", ls=":", lw=1)
    if len(starts) > 1 or _stage_text(history[0], show_contrast):
        ax0 = axes[0]
        for k in starts:
            text = _stage_text(history[k], show_contrast)
            if text:
                x = epochs[k] if k == 0 else (epochs[k - 1] + epochs[k]) / 2
                ax0.annotate(text, xy=(x, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -3),
                             textcoords="offset points", rotation=90, va="top", ha="left", fontsize=7,
                             color="dimgray", bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.7))
    default = "Training history"
    if len(starts) > 1:
        default += f" ({len(starts)} curriculum stages, dotted lines)"
    fig.suptitle(title if title is not None else default, fontsize=11)
    return fig


# --- accuracy maps and the benchmark --------------------------------------------------------
def plot_accuracy_maps(
    maps: dict,
    reference: Optional[dict] = None,
    title: Optional[str] = None,
    vmin: float = 0.0,
    vmax: float = 1.0,
    cmap: str = "viridis",
    size: float = 3.6,
):
    """Accuracy maps side by side on one colour scale, with one colour bar.

    Args:
        maps: ``{name: result of stnutils.metrics.accuracy_map}`` (needs ``"map"``,
            ``"offsets"``, ``"central"``, ``"general"``).
        reference: optional ``{name: {"central", "general"}}`` (e.g. the seed's
            :data:`stnutils.reference.SEED_ACCURACY_MAP` entries), added to the titles.
        title: the figure's title.
        vmin, vmax: the shared colour limits (accuracy).
        cmap: the colour map.

    Returns:
        the figure: one axes per map and the colour bar (labelled "accuracy").

    Example:
        >>> m = {"map": np.full((3, 3), 0.5), "offsets": [-3, 0, 3], "central": 0.5, "general": 0.5}
        >>> fig = plot_accuracy_maps({"a": m, "b": m})
        >>> len(fig.axes), fig.axes[0].get_xlabel()
        (3, 'j offset (px)')
    """
    if not maps:
        raise ValueError("maps must hold at least one accuracy map, got 0")
    reference = reference or {}
    names = list(maps)
    fig, axes = plt.subplots(1, len(names), figsize=(size * len(names) + 1.2, size + 0.6), squeeze=False,
                             layout="constrained")
    axes = axes[0]
    image = None
    for ax, name in zip(axes, names):
        result = maps[name]
        grid = _to_numpy(result["map"]).astype(float)
        offsets = np.asarray(result["offsets"], dtype=float)
        if grid.shape != (len(offsets), len(offsets)):
            raise ValueError(f"maps[{name!r}]['map'] must be ({len(offsets)}, {len(offsets)}), got {grid.shape}")
        step = float(np.median(np.diff(offsets))) if len(offsets) > 1 else 1.0
        extent = (offsets[0] - step / 2, offsets[-1] + step / 2, offsets[-1] + step / 2, offsets[0] - step / 2)
        image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, interpolation="nearest")
        ax.set_xlabel("j offset (px)")
        ax.set_ylabel("i offset (px)")
        text = f"{name}\ncentral {result['central']:.2f}, general {result['general']:.2f}"
        if name in reference:
            ref = reference[name]
            text += f"\n(seed: central {ref['central']:.2f}, general {ref['general']:.2f})"
        ax.set_title(text, fontsize=9)
    fig.colorbar(image, ax=list(axes), label="accuracy", shrink=0.85)
    n = maps[names[0]].get("n")
    default = "Accuracy for each shift (i, j) of the digit"
    if n is not None:
        default += f" ({n} test digits per cell)"
    fig.suptitle(title if title is not None else default, fontsize=11)
    return fig


def _row_label(model: str, profile: str) -> str:
    if profile == "seed":
        from .reference import seed_label

        return seed_label(model)
    return f"{model} ({profile})"


def _curves(rows: Iterable[dict]):
    """``{(model, profile): {contrast: (eccentricities, accuracies)}}`` sorted by eccentricity."""
    out: dict = {}
    for row in rows:
        key = (str(row["model"]), str(row["profile"]))
        per = out.setdefault(key, {}).setdefault(round(float(row["contrast"]), 4), {})
        per[float(row["eccentricity"])] = float(row["accuracy"])
    return {
        key: {c: (np.array(sorted(v)), np.array([v[e] for e in sorted(v)])) for c, v in per.items()}
        for key, per in out.items()
    }


def plot_benchmark(
    rows: Sequence[dict],
    reference_rows: Optional[Sequence[dict]] = None,
    models: Optional[Sequence[str]] = None,
    title: Optional[str] = None,
    chance: float = 0.1,
    size: float = 3.8,
    colors: Optional[dict] = None,
):
    """Accuracy vs eccentricity, one panel per contrast: this book's models and the reference.

    Args:
        rows: benchmark rows (:func:`stnutils.metrics.benchmark`), drawn solid with markers.
        reference_rows: rows drawn dashed (e.g. :func:`stnutils.reference.seed_rows`; pick
            models with its ``models=`` argument).
        models: names from ``rows`` to draw (default: all).
        title: the figure's title.
        chance: the chance level, a gray dotted line in every panel.
        colors: optional ``{model name: matplotlib colour}`` (e.g. one colour for a model
            and its reference counterpart); other lines take the next colour of the cycle.

    Returns:
        the figure, one axes per contrast (ascending), a legend outside the panels.

    Example:
        >>> rows = [dict(model="atn", profile="quick", contrast=c, eccentricity=e, accuracy=0.5)
        ...         for c in (0.3, 0.7) for e in (10.0, 20.0)]
        >>> fig = plot_benchmark(rows)
        >>> [ax.get_title() for ax in fig.axes]
        ['contrast 0.3', 'contrast 0.7']
    """
    rows = list(rows)
    if models is not None:
        wanted = set(models)
        rows = [r for r in rows if r["model"] in wanted]
    reference_rows = list(reference_rows or [])
    if not rows and not reference_rows:
        raise ValueError("rows must hold at least one benchmark row (after the models filter), got 0")
    own, ref = _curves(rows), _curves(reference_rows)
    contrasts = sorted({c for per in list(own.values()) + list(ref.values()) for c in per})
    fig, axes = plt.subplots(1, len(contrasts), figsize=(size * len(contrasts) + 2.6, size + 0.4), squeeze=False,
                             sharey=True, layout="constrained")
    axes = axes[0]
    colours = plt.get_cmap("tab10" if len(own) + len(ref) <= 10 else "tab20").colors
    styles = [(key, "-", "o") for key in own] + [(key, "--", "s") for key in ref]
    handles: dict = {}
    for n_line, (key, ls, marker) in enumerate(styles):
        per = (own if ls == "-" else ref)[key]
        label = _row_label(*key)
        for ax, c in zip(axes, contrasts):
            if c not in per:
                continue
            x, y = per[c]
            (line,) = ax.plot(x, y, ls=ls, marker=marker, ms=3.5, lw=1.6 if ls == "-" else 1.1,
                              color=(colors or {}).get(key[0], colours[n_line % len(colours)]), label=label)
            handles.setdefault(label, line)
    for k, (ax, c) in enumerate(zip(axes, contrasts)):
        chance_line = ax.axhline(chance, color="gray", ls=":", lw=1.2, label=f"chance ({chance:g})")
        ax.set_title(f"contrast {c:g}", fontsize=10)
        ax.set_xlabel("eccentricity (px)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if k == 0:
            ax.set_ylabel("accuracy")
    handles[f"chance ({chance:g})"] = chance_line
    fig.legend(list(handles.values()), list(handles), loc="outside right upper", fontsize=8,
               title="solid: this book\ndashed: reference", title_fontsize=8)
    fig.suptitle(title if title is not None else "Accuracy vs eccentricity of the digit, per contrast", fontsize=11)
    return fig


# --- comparing runs: curves of several runs, where a transformer looks ---------------------
_COMPARISON_LABELS = {"loss": "training loss", "train_acc": "training accuracy", "test_acc": "test accuracy",
                      "test_loss": "test loss"}


def plot_history_comparison(
    histories: dict,
    metrics: Sequence[str] = ("loss", "test_acc"),
    title: Optional[str] = None,
    chance: Optional[float] = 0.1,
    size: float = 4.3,
):
    """The same metrics of several runs side by side: one panel per metric, one line per run.

    Curriculum stage boundaries of the first run (a change of ``"stage"``, or of the
    shift/eccentricity std or contrast) are dotted vertical lines; the top axis of each
    panel gives the stage's shift or eccentricity std.

    Args:
        histories: ``{run name: history}``, each history a list of per-epoch dicts as
            :func:`stnutils.train.fit` returns (``"epoch"`` and the ``metrics`` keys).
        metrics: the history keys to draw, one panel each (accuracies get ``[0, 1]`` and
            the chance level).
        title: the figure's title.
        chance: the chance accuracy drawn in accuracy panels (``None``: none).

    Returns:
        the figure, one axes per metric.

    Raises:
        ValueError: no history, an empty history, or a metric that no run recorded.

    Example:
        >>> h = [dict(epoch=e, loss=1 / e, test_acc=0.5, stage=e // 2, shift_std=float(e // 2)) for e in range(1, 5)]
        >>> fig = plot_history_comparison({"sgd": h, "adam": h})
        >>> [ax.get_ylabel() for ax in fig.axes], len(fig.axes[0].get_lines()) >= 2
        (['training loss', 'test accuracy'], True)
    """
    if not histories:
        raise ValueError("histories must hold at least one run, got 0")
    runs = {str(name): list(h) for name, h in histories.items()}
    for name, history in runs.items():
        if not history:
            raise ValueError(f"histories[{name!r}] must hold at least one epoch, got 0")
    if not metrics:
        raise ValueError("metrics must name at least one history key, got 0")
    for metric in metrics:
        if not any(metric in e for h in runs.values() for e in h):
            raise ValueError(f"metrics must be keys of the history entries, {metric!r} is in no run")
    fig, axes = plt.subplots(1, len(metrics), figsize=(size * len(metrics) + 0.4, 3.6), squeeze=False,
                             layout="constrained")
    axes = axes[0]
    for ax, metric in zip(axes, metrics):
        for name, history in runs.items():
            x = np.array([_value(e, "epoch") if "epoch" in e else k + 1 for k, e in enumerate(history)])
            y = np.array([_value(e, metric) for e in history])
            ok = ~np.isnan(y)
            if ok.any():
                ax.plot(x[ok], y[ok], "o-" if ok.sum() < 30 else "-", ms=3, label=name)
        is_acc = "acc" in metric and "loss" not in metric
        if is_acc:
            ax.set_ylim(0, 1.02)
            if chance is not None:
                ax.axhline(chance, color="gray", ls="--", lw=1, label=f"chance ({chance:g})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(_COMPARISON_LABELS.get(metric, metric.replace("_", " ")))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    # the first run's curriculum: dotted boundaries, the stage values on a top axis
    first = next(iter(runs.values()))
    epochs = np.array([_value(e, "epoch") if "epoch" in e else k + 1 for k, e in enumerate(first)])
    keys = [_stage_key(e) for e in first]
    starts = [0] + [k for k in range(1, len(first)) if keys[k] != keys[k - 1]]
    show_contrast = len({str(e.get("contrast")) for e in first}) > 1
    for ax in axes:
        for k in starts[1:]:
            ax.axvline((epochs[k - 1] + epochs[k]) / 2, color="gray", ls=":", lw=1)
    key = next(((k, name) for k, name in _CURRICULUM_KEYS if first[0].get(k) is not None), None)
    if len(starts) > 1 and key is not None:
        step = max(1, int(math.ceil(len(starts) / 16)))  # at most 16 labels
        ticks = [epochs[k] for k in starts][::step]
        labels = [f"{_value(first[k], key[0]):g}" for k in starts][::step]
        for ax in axes:
            top = ax.secondary_xaxis("top")
            top.set_xticks(ticks)
            top.set_xticklabels(labels, fontsize=7)
            top.set_xlabel(f"curriculum stage: {key[1]} (px)", fontsize=8)
    fig.suptitle(title if title is not None else "Training runs compared", fontsize=11)
    return fig


def plot_offset_tracking(
    offsets,
    predicted: dict,
    title: Optional[str] = None,
    limit: Optional[float] = None,
    size: float = 3.8,
):
    """Where a transformer looks against where the digit is, for the row and column offsets.

    A transformer that centres every digit puts its glimpse centre on the digit's offset:
    the points lie on the diagonal. One that ignores its input draws a horizontal line
    (the same glimpse for every scene).

    Args:
        offsets: ``(N, 2)`` true ``(i, j)`` digit offsets, pixels (the datasets' ``offsets``).
        predicted: ``{model name: (N, 2)}`` glimpse centres ``(i, j)`` in pixels from the
            field centre, e.g. :func:`stnutils.transformer.theta_to_offset` of the thetas.
        title: the figure's title.
        limit: the view is ``±limit`` pixels on both axes; glimpse centres beyond it are
            drawn on the border as open triangles and counted in the legend. None: the
            view holds every point.

    Returns:
        the figure: two axes, row offset ``i`` and column offset ``j``.

    Raises:
        ValueError: shapes that are not ``(N, 2)`` or that differ between models, no
            model, a ``limit`` that is not positive.

    Example:
        >>> off = torch.tensor([[1, -2], [3, 0]])
        >>> fig = plot_offset_tracking(off, {"stn": off.float()})
        >>> [ax.get_xlabel() for ax in fig.axes]
        ['digit offset i (px)', 'digit offset j (px)']
    """
    true = _to_numpy(offsets).astype(float)
    if true.ndim != 2 or true.shape[1] != 2 or len(true) == 0:
        raise ValueError(f"offsets must be (N, 2) with N >= 1, got shape {tuple(true.shape)}")
    if not predicted:
        raise ValueError("predicted must hold at least one model's glimpse centres, got 0")
    preds = {}
    for name, value in predicted.items():
        arr = _to_numpy(value).astype(float)
        if arr.shape != true.shape:
            raise ValueError(f"predicted[{name!r}] must have the shape of offsets {tuple(true.shape)}, "
                             f"got {tuple(arr.shape)}")
        preds[str(name)] = arr
    if limit is not None and not limit > 0:
        raise ValueError(f"limit must be a positive number of pixels or None, got {limit!r}")
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.6, size + 0.4), squeeze=False, layout="constrained")
    axes = axes[0]
    if limit is None:
        lo = min(true.min(), min(p.min() for p in preds.values())) - 1
        hi = max(true.max(), max(p.max() for p in preds.values())) + 1
    else:
        lo, hi = -float(limit), float(limit)
    colours = plt.get_cmap("tab10").colors
    for col, (ax, axis) in enumerate(zip(axes, ("i", "j"))):
        ax.plot([lo, hi], [lo, hi], color="gray", ls="--", lw=1, label="glimpse on the digit")
        for n_model, (name, arr) in enumerate(preds.items()):
            colour = colours[n_model % len(colours)]
            x, y = true[:, col], arr[:, col]
            out = (y < lo) | (y > hi)
            label = name if not out.any() else f"{name} ({out.sum()} of {len(y)} beyond ±{hi:g} px)"
            ax.plot(x[~out], y[~out], "o", ms=2.5, alpha=0.5, color=colour, label=label)
            for beyond, marker, edge in ((y > hi, "^", hi), (y < lo, "v", lo)):
                if beyond.any():  # drawn on the border, pointing the way out
                    ax.plot(x[beyond], np.full(beyond.sum(), edge), marker, ms=4, mfc="none", alpha=0.6,
                            color=colour, label="_nolegend_")
        pad = 0.03 * (hi - lo)  # border markers stay whole
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal")
        ax.set_xlabel(f"digit offset {axis} (px)")
        ax.set_ylabel(f"glimpse centre {axis} (px)")
        ax.set_title("row (i)" if axis == "i" else "column (j)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right", markerscale=2)
    fig.suptitle(title if title is not None else "Where the transformer looks vs where the digit is", fontsize=11)
    return fig
