"""The POLO-ATN chapter's tools: log-polar retina figures and where a glimpse lands.

- :func:`code_energy`: a retina code ``(N, n_filters)`` summed into one value per filter
  position, ``(N, n_azimuths, n_eccentricities)``.
- :func:`show_retina_layout`: where the filters sit, how large they are, how densely
  they cover the field.
- :func:`show_retina_codes`: scenes, their codes (raw and in the visual field) and the
  scenes decoded back from the codes.
- :func:`brightest_direction`: the direction of the strongest code energy, a readout of
  *where* that needs no training.
- :func:`glimpse_errors` / :func:`plot_glimpse_errors`: distance (pixels) between the
  centre of an attention model's glimpse and the digit, per eccentricity.
- :func:`plot_contrast_accuracy`: accuracy per test contrast, bars next to a reference.

Example:
    >>> from stnutils.retina import PolarLogRetina
    >>> r = PolarLogRetina(size=32, n_orientations=2, n_eccentricities=2, n_azimuths=4)
    >>> code_energy(r.encode(torch.rand(3, 1, 32, 32)), r.code_shape).shape
    torch.Size([3, 4, 2])
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ._validate import check_positive_int, check_range

__all__ = [
    "code_energy",
    "ring_radii",
    "brightest_direction",
    "show_retina_layout",
    "show_retina_codes",
    "glimpse_errors",
    "plot_glimpse_errors",
    "plot_contrast_accuracy",
]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def code_energy(code: torch.Tensor, code_shape: Sequence[int]) -> torch.Tensor:
    """Root of the summed squares over orientations and phases, per filter position.

    Args:
        code: ``(N, n_filters)`` retina code, rows in the bank order
            ``(orientation, azimuth, eccentricity, phase)``.
        code_shape: ``(n_orientations, n_azimuths, n_eccentricities, n_phases)``
            (``Retina.code_shape``).

    Returns:
        ``(N, n_azimuths, n_eccentricities)`` non-negative, same dtype as ``code``.

    Example:
        >>> code_energy(torch.ones(1, 2 * 3 * 4 * 1), (2, 3, 4, 1))[0, 0].tolist()
        [1.4142135381698608, 1.4142135381698608, 1.4142135381698608, 1.4142135381698608]
    """
    shape = tuple(int(s) for s in code_shape)
    if len(shape) != 4 or any(s < 1 for s in shape):
        raise ValueError(f"code_shape must be 4 positive sizes (orientations, azimuths, eccentricities, phases), "
                         f"got {code_shape!r}")
    n = math.prod(shape)
    if not isinstance(code, torch.Tensor) or code.dim() != 2 or code.shape[1] != n:
        got = tuple(code.shape) if isinstance(code, torch.Tensor) else type(code).__name__
        raise ValueError(f"code must be (N, {n}) for code_shape {shape}, got {got}")
    per = code.reshape(-1, *shape)
    return per.pow(2).sum(dim=(1, 4)).sqrt()


def ring_radii(retina) -> np.ndarray:
    """``(n_eccentricities,)`` distance (pixels) of each ring of filters from the field centre."""
    pos = _np(retina.positions()).astype(np.float64)  # (A, E, 2) row, col
    centre = (retina.size - 1) / 2
    return np.hypot(pos[0, :, 0] - centre, pos[0, :, 1] - centre)


def _azimuths(retina) -> np.ndarray:
    """``(A, E)`` azimuth (radians, counter-clockwise on screen) of every filter position."""
    pos = _np(retina.positions()).astype(np.float64)
    centre = (retina.size - 1) / 2
    return np.arctan2(-(pos[..., 0] - centre), pos[..., 1] - centre)


def _wedge_cells(retina) -> np.ndarray:
    """``(A, E, 4)`` cell of each filter position: ``(r_in, r_out, phi_1, phi_2)``.

    Radii in pixels from the field centre (geometric midpoints between rings), angles in
    degrees in data coordinates ``(j, i)`` (the figure inverts the ``i`` axis, so the angle
    is ``-psi``): the cell of position ``(a, e)`` is centred on that filter.
    """
    radii = ring_radii(retina)
    psi = _azimuths(retina)
    n_az, n_ecc = psi.shape
    ratio = radii[1] / radii[0] if n_ecc > 1 else 1.5
    half_width = 180.0 / n_az
    phi = -np.degrees(psi)
    cells = np.empty((n_az, n_ecc, 4))
    cells[..., 0] = radii[None, :] / math.sqrt(ratio)
    cells[..., 1] = radii[None, :] * math.sqrt(ratio)
    cells[..., 2] = phi - half_width
    cells[..., 3] = phi + half_width
    return cells


def _draw_wedges(ax, retina, values: np.ndarray, cmap: str = "magma", vmax: Optional[float] = None):
    """Fill each filter's cell of the visual field (pixels from the centre) with ``values`` ``(A, E)``."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Wedge

    cells = _wedge_cells(retina)
    patches, colours = [], []
    for a in range(cells.shape[0]):
        for e in range(cells.shape[1]):
            r_in, r_out, phi_1, phi_2 = cells[a, e]
            patches.append(Wedge((0.0, 0.0), r_out, phi_1, phi_2, width=r_out - r_in))
            colours.append(values[a, e])
    coll = PatchCollection(patches, cmap=cmap, edgecolor="none")
    coll.set_array(np.asarray(colours))
    coll.set_clim(0, vmax if vmax is not None else max(float(np.max(values)), 1e-12))
    ax.add_collection(coll)
    half = retina.size / 2
    ax.set_xlim(-half, half)
    ax.set_ylim(half, -half)
    ax.set_aspect("equal")
    ax.set_facecolor("0.85")
    return coll


def show_retina_layout(retina, scene=None, title: Optional[str] = None, size: float = 3.6):
    """Where a log-polar retina's filters sit, what they look like, and how densely they cover.

    Three panels, axes in pixels from the field centre (``i`` down, ``j`` right):
    the filter centres (one colour per ring) over ``scene``; the filters of orientation 0
    and phase 0 at the first azimuth of every ring (each scaled to its own peak), which
    shows the receptive fields growing with eccentricity; and the coverage
    ``sqrt(sum of squared filters)`` of the whole bank.

    Args:
        retina: a :class:`stnutils.retina.Retina` (``bank``, ``positions()``, ``code_shape``).
        scene: optional ``(S, S)``, ``(1, S, S)`` or ``(1, 1, S, S)`` image in [0, 1] behind the centres.
        title: the figure's title.

    Returns:
        the figure (three image axes and a colour bar).
    """
    s = retina.size
    half = s / 2
    extent = (-half, half, half, -half)
    fig, axes = plt.subplots(1, 3, figsize=(3 * size + 1.2, size + 0.7), layout="constrained")
    ax = axes[0]
    if scene is not None:
        img = _np(scene).astype(np.float64)
        while img.ndim > 2 and img.shape[0] == 1:
            img = img[0]
        if img.shape != (s, s):
            raise ValueError(f"scene must be ({s}, {s}) like the retina, got shape {img.shape}")
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, extent=extent, interpolation="nearest")
    else:
        ax.set_facecolor("0.5")
    pos = _np(retina.positions()).astype(np.float64)
    centre = (s - 1) / 2
    radii = ring_radii(retina)
    colours = plt.get_cmap("viridis")(np.linspace(0, 1, len(radii)))
    for e in range(len(radii)):
        ax.plot(pos[:, e, 1] - centre, pos[:, e, 0] - centre, "o", ms=3.5, color=colours[e],
                label=f"{radii[e]:.0f} px")
    ax.set_xlim(-half, half)
    ax.set_ylim(half, -half)
    ax.set_title(f"{pos.shape[0] * pos.shape[1]} filter positions\n"
                 f"({pos.shape[1]} rings × {pos.shape[0]} azimuths)", fontsize=9)
    ax.legend(title="ring radius", fontsize=7, title_fontsize=7, loc="upper right", framealpha=0.8)

    o, a, e_count, p = retina.code_shape
    bank = retina.bank.detach().cpu().view(o, a, e_count, p, s, s)  # a view: no copy of the bank
    rays = bank[0, 0, :, 0].double()  # (E, S, S)
    rays = rays / rays.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    im1 = axes[1].imshow(rays.sum(0).numpy(), cmap="RdBu_r", vmin=-1, vmax=1, extent=extent, interpolation="nearest")
    axes[1].set_title("one filter per ring (orientation 0, azimuth 0)\neach scaled to its peak", fontsize=9)
    from matplotlib.colors import LogNorm

    cover = torch.linalg.vector_norm(retina.bank.detach().cpu(), dim=0).double().view(s, s).numpy()
    top = float(cover.max())
    im2 = axes[2].imshow(np.clip(cover, top * 1e-3, None), cmap="magma", norm=LogNorm(top * 1e-3, top),
                         extent=extent, interpolation="nearest")
    axes[2].set_title(f"coverage of all {retina.n_filters} filters\n(root of summed squared weights, log scale)",
                      fontsize=9)
    fig.colorbar(im1, ax=axes[1], label="filter weight (rel. to peak)", shrink=0.8)
    fig.colorbar(im2, ax=axes[2], label="coverage (a.u.)", shrink=0.8)
    for axis in axes:
        axis.set_xlabel("j: column from centre (px)")
        axis.set_ylabel("i: row from centre (px)")
    fig.suptitle(title if title is not None else
                 f"Log-polar retina: {retina.n_filters} filters for {s * s:,} pixels "
                 f"(compression {retina.compression:.1%})", fontsize=11)
    return fig


def show_retina_codes(retina, scenes, codes, decoded=None, labels=None, offsets=None,
                      title: Optional[str] = None, per_ring: bool = False, ax_size: float = 2.4):
    """Scenes, their retina codes and what the codes decode back to, one row per scene.

    Columns: the scene; the code itself (one row per orientation, the rings and azimuths
    side by side; phases too for a two-phase retina); the code's energy per filter
    position (:func:`code_energy`) drawn where the filters sit in the visual field; and,
    if given, the decoded image (``Retina.decode``, band-passed: grey is zero).

    Args:
        retina: the :class:`stnutils.retina.Retina` that made ``codes``.
        scenes: ``(N, 1, S, S)`` in [0, 1].
        codes: ``(N, n_filters)``.
        decoded: optional ``(N, 1, S, S)``.
        labels, offsets: optional ``(N,)`` digits and ``(N, 2)`` (i, j) pixel offsets, shown left.
        title: the figure's title.
        per_ring: divide each ring's energies by their mean over the azimuths (per scene), so
            that a digit stands out on every ring even where the filters' gains differ
            (the whitened What/Where filters respond far less on the outer rings).

    Returns:
        the figure.
    """
    x = _np(scenes)
    if x.ndim == 4:
        x = x[:, 0]
    c = codes.detach().cpu() if isinstance(codes, torch.Tensor) else torch.as_tensor(codes)
    n = len(x)
    if n == 0 or c.shape[0] != n or c.shape[1] != retina.n_filters:
        raise ValueError(f"codes must be ({n}, {retina.n_filters}) for {n} scenes, got {tuple(c.shape)}")
    d = None if decoded is None else _np(decoded).reshape(n, retina.size, retina.size)
    o, a, e_count, p = retina.code_shape
    energy = code_energy(c, retina.code_shape)
    if per_ring:
        energy = energy / energy.mean(dim=1, keepdim=True).clamp_min(1e-12)
    energy = energy.numpy()
    ncols = 4 if d is not None else 3
    widths = [1, 2.2, 1.15, 1.15][:ncols]
    fig, axes = plt.subplots(n, ncols, figsize=(ax_size * sum(widths) + 1.0, ax_size * n + 0.8), squeeze=False,
                             gridspec_kw=dict(width_ratios=widths), layout="constrained")
    half = retina.size / 2
    extent = (-half, half, half, -half)
    vmax_code = float(c.abs().max()) or 1.0
    for k in range(n):
        ax = axes[k, 0]
        ax.imshow(x[k], cmap="gray", vmin=0, vmax=1, extent=extent, interpolation="nearest")
        who = []
        if labels is not None:
            who.append(f"digit {int(_np(labels).reshape(-1)[k])}")
        if offsets is not None:
            i, j = _np(offsets).reshape(-1, 2)[k]
            who.append(f"(i, j) = ({int(i)}, {int(j)}) px")
        ax.set_ylabel("\n".join(who) if who else "i (px)", fontsize=9)
        # the code: orientations down, (ring, azimuth[, phase]) across, ring-major
        raw = c[k].view(o, a, e_count, p).permute(0, 2, 1, 3).reshape(o, e_count * a * p).numpy()
        im = axes[k, 1].imshow(raw, cmap="RdBu_r", vmin=-vmax_code, vmax=vmax_code, aspect="auto",
                               interpolation="nearest", extent=(0, e_count * a * p, o - 0.5, -0.5))
        for e in range(1, e_count):
            axes[k, 1].axvline(e * a * p, color="k", lw=0.5)
        axes[k, 1].set_ylabel("orientation", fontsize=8)
        coll = _draw_wedges(axes[k, 2], retina, energy[k], vmax=float(energy.max()))
        if d is not None:
            lim = float(np.abs(d[k]).max()) or 1.0
            axes[k, 3].imshow(d[k], cmap="gray", vmin=-lim, vmax=lim, extent=extent, interpolation="nearest")
        if k == 0:
            axes[0, 0].set_title("scene (128×128)" if retina.size == 128 else "scene", fontsize=9)
            axes[0, 1].set_title(f"code: {retina.n_filters} values\n(orientation × ring-by-ring azimuths"
                                 f"{' × phases' if p > 1 else ''})", fontsize=9)
            axes[0, 2].set_title("code energy per position\n" + ("(÷ its ring's mean)" if per_ring
                                 else "(in the visual field)"), fontsize=9)
            if d is not None:
                axes[0, 3].set_title("decoded (pseudo-inverse)\ngrey = 0", fontsize=9)
        if k == n - 1:
            axes[k, 1].set_xlabel(f"filter index within orientation ({e_count} rings, inner → outer)", fontsize=8)
            for col in [0, 2] + ([3] if d is not None else []):
                axes[k, col].set_xlabel("j (px)", fontsize=8)
        for col in [2] + ([3] if d is not None else []):
            axes[k, col].tick_params(labelsize=7)
        axes[k, 0].tick_params(labelsize=7)
        axes[k, 1].tick_params(labelsize=7)
    fig.colorbar(im, ax=axes[:, 1], label="filter response (a.u.)", shrink=0.6)
    fig.colorbar(coll, ax=axes[:, 2], label="energy ÷ ring mean" if per_ring else "energy (a.u.)", shrink=0.6)
    fig.suptitle(title if title is not None else f"Scenes and their {retina.n_filters}-value retina codes",
                 fontsize=11)
    return fig


def brightest_direction(codes: torch.Tensor, retina, min_radius: float = 0.0) -> torch.Tensor:
    """A hand-made *where* readout: the azimuth of the strongest code energy.

    Each ring's energies (:func:`code_energy`) are divided by their mean over the
    azimuths (the rings' gains differ), and the filter position with the largest value
    among the rings at least ``min_radius`` pixels from the centre gives the direction.
    No learning: it tells whether the code carries the digit's direction at all.

    Args:
        codes: ``(N, n_filters)`` codes of ``retina``.
        retina: the :class:`stnutils.retina.Retina` that made them.
        min_radius: pixels; rings closer to the centre are ignored.

    Returns:
        ``(N,)`` float64 azimuths in radians, counter-clockwise on screen (0 = right),
        comparable with ``atan2(-i, j)`` of an offset ``(i, j)``.

    Example:
        >>> from stnutils.retina import PolarLogRetina
        >>> r = PolarLogRetina(size=32, n_orientations=2, n_eccentricities=2, n_azimuths=4)
        >>> brightest_direction(r.encode(torch.rand(3, 1, 32, 32)), r).shape
        torch.Size([3])
    """
    radii = ring_radii(retina)
    keep = torch.as_tensor(radii >= float(min_radius))
    if not bool(keep.any()):
        raise ValueError(f"min_radius must leave at least one ring (outermost at {radii[-1]:.1f} px), "
                         f"got {min_radius!r}")
    energy = code_energy(codes.detach().cpu().double(), retina.code_shape)  # (N, A, E)
    energy = energy / energy.mean(dim=1, keepdim=True).clamp_min(1e-12)
    energy = energy[:, :, keep]
    psi = torch.as_tensor(_azimuths(retina))[:, keep]  # (A, E_kept)
    best = energy.flatten(1).argmax(dim=1)
    return psi.flatten()[best]


@torch.no_grad()
def glimpse_errors(model, dataset, n: int, batch_size: int = 250) -> Dict[str, np.ndarray]:
    """Where an attention model looks: its glimpse centre against the digit's position.

    Runs ``model`` (eval mode, restored afterwards) on samples ``0 .. n-1`` of ``dataset``
    and reads ``model.predicted_offset()`` after each forward.

    Args:
        model: a transformer model of :mod:`stnutils.models` (``predicted_offset``).
        dataset: e.g. :class:`stnutils.NoisyMNIST128`; ``batch(indices) -> (images, labels, offsets)``.
        n: samples, in [1, len(dataset)].

    Returns:
        ``{"predicted": (n, 2), "true": (n, 2)`` pixel ``(i, j)``, ``"distance": (n,)`` pixels,
        ``"correct": (n,)`` bool ``}``.
    """
    check_positive_int("n", n)
    check_range("n", n, 1, len(dataset))
    check_positive_int("batch_size", batch_size)
    if not hasattr(model, "predicted_offset"):
        raise ValueError(f"model must have predicted_offset() (a transformer model), got {type(model).__name__}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pred, true, correct = [], [], []
    try:
        for start in range(0, n, batch_size):
            images, labels, offsets = dataset.batch(range(start, min(n, start + batch_size)))
            logits = model(images.to(device))
            pred.append(model.predicted_offset().detach().cpu().double())
            true.append(offsets.cpu().double())
            correct.append((logits.argmax(1).cpu() == labels.cpu()))
    finally:
        model.train(was_training)
    p, t = torch.cat(pred).numpy(), torch.cat(true).numpy()
    return {"predicted": p, "true": t, "distance": np.hypot(*(p - t).T), "correct": torch.cat(correct).numpy()}


def plot_glimpse_errors(results: Dict[str, Dict[float, Dict[str, np.ndarray]]], glimpse: float = 28.0,
                        title: Optional[str] = None):
    """Glimpse-to-digit distance and accuracy against the digit's eccentricity.

    Args:
        results: ``{model name: {eccentricity (px): glimpse_errors(...)}}``.
        glimpse: side of the glimpse in scene pixels (the "digit inside the glimpse" band).
        title: the figure's title.

    Returns:
        the figure: left, median distance (pixels; band: quartiles) with the line of a
        glimpse that stays at the centre (distance = eccentricity); right, the share of
        glimpses centred within a quarter glimpse of the digit, and the accuracy.
    """
    if not results:
        raise ValueError("results must hold at least one model, got 0")
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    top = 0.0
    for k, (name, per) in enumerate(results.items()):
        eccs = np.array(sorted(per))
        dist = [per[e]["distance"] for e in eccs]
        med = np.array([np.median(v) for v in dist])
        q1 = np.array([np.percentile(v, 25) for v in dist])
        q3 = np.array([np.percentile(v, 75) for v in dist])
        colour = f"C{k}"
        ax0.plot(eccs, med, "o-", color=colour, label=f"{name}: median")
        ax0.fill_between(eccs, q1, q3, color=colour, alpha=0.2, label=f"{name}: quartiles")
        near = np.array([np.mean(v <= glimpse / 4) for v in dist])
        acc = np.array([np.mean(per[e]["correct"]) for e in eccs])
        ax1.plot(eccs, near, "o-", color=colour, label=f"{name}: glimpse within {glimpse / 4:g} px")
        ax1.plot(eccs, acc, "s--", color=colour, label=f"{name}: accuracy")
        top = max(top, float(eccs.max()), float(q3.max()))
    line = np.linspace(0, top, 2)
    ax0.plot(line, line, ":", color="gray", label="glimpse stays at the centre")
    ax0.axhspan(0, glimpse / 4, color="green", alpha=0.08, label=f"within {glimpse / 4:g} px (¼ glimpse)")
    ax0.set_xlabel("digit eccentricity (px)")
    ax0.set_ylabel("glimpse centre to digit centre (px)")
    ax0.set_title("How far the glimpse lands from the digit", fontsize=10)
    ax0.legend(fontsize=7)
    ax1.axhline(0.1, color="gray", ls=":", lw=1, label="chance accuracy (0.1)")
    ax1.set_ylim(0, 1.02)
    ax1.set_xlabel("digit eccentricity (px)")
    ax1.set_ylabel("fraction of test scenes")
    ax1.set_title("Glimpses on target, and accuracy", fontsize=10)
    ax1.legend(fontsize=7)
    fig.suptitle(title if title is not None else "Where the attention model looks", fontsize=11)
    return fig


def plot_contrast_accuracy(values: Dict[str, Dict[float, float]], title: str, chance: float = 0.1,
                           xlabel: str = "test contrast"):
    """Grouped bars: accuracy per contrast, one bar per source (this book, the seed, ...).

    Args:
        values: ``{source name: {contrast: accuracy}}``; a missing contrast leaves a gap.
        title: the figure's title (say the eccentricity, e.g. "at 40 px").
        chance: the chance level, a dotted line.

    Returns:
        the figure (one axes), each bar labelled with its value.

    Example:
        >>> fig = plot_contrast_accuracy({"a": {0.3: 0.2, 0.7: 0.5}}, "t")
        >>> len(fig.axes[0].patches)
        2
    """
    if not values:
        raise ValueError("values must hold at least one source, got 0")
    contrasts = sorted({float(c) for per in values.values() for c in per})
    width = 0.8 / len(values)
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(contrasts) * max(1, len(values)) / 2, 3.6), layout="constrained")
    for k, (name, per) in enumerate(values.items()):
        per = {float(c): float(v) for c, v in per.items()}
        xs = [i + (k - (len(values) - 1) / 2) * width for i, c in enumerate(contrasts) if c in per]
        ys = [per[c] for c in contrasts if c in per]
        bars = ax.bar(xs, ys, width=width * 0.95, label=name, color=f"C{k}")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.axhline(chance, color="gray", ls=":", lw=1.2, label=f"chance ({chance:g})")
    ax.set_xticks(range(len(contrasts)), [f"{c:g}" for c in contrasts])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.08)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title, fontsize=10)
    return fig
