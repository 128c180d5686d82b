"""Figures of the log-polar retinas: where the filters sit, and what a scene's code looks like.

Example:
    >>> from stnutils.models.retina import PolarLogRetina
    >>> r = PolarLogRetina(size=32, n_orientations=2, n_eccentricities=2, n_azimuths=4)
    >>> len(show_retina_layout(r).axes)
    5
"""
from __future__ import annotations

import math
from typing import Optional

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import PatchCollection
from matplotlib.colors import LogNorm
from matplotlib.patches import Wedge

from ..models.retina import code_energy
from ._common import to_numpy

__all__ = ["show_retina_layout", "show_retina_codes"]


def _wedge_cells(retina) -> np.ndarray:
    """``(A, E, 4)`` cell of each filter position: ``(r_in, r_out, phi_1, phi_2)``.

    Radii in pixels from the field centre (geometric midpoints between rings), angles in
    degrees in data coordinates ``(j, i)`` (the figure inverts the ``i`` axis, so the angle
    is ``-psi``): the cell of position ``(a, e)`` is centred on that filter.
    """
    radii = retina.ring_radii()
    psi = retina.azimuths()
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
        retina: a :class:`stnutils.models.retina.Retina` (``bank``, ``positions()``, ``code_shape``).
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
        img = to_numpy(scene).astype(np.float64)
        while img.ndim > 2 and img.shape[0] == 1:
            img = img[0]
        if img.shape != (s, s):
            raise ValueError(f"scene must be ({s}, {s}) like the retina, got shape {img.shape}")
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, extent=extent, interpolation="nearest")
    else:
        ax.set_facecolor("0.5")
    pos = to_numpy(retina.positions()).astype(np.float64)
    centre = (s - 1) / 2
    radii = retina.ring_radii()
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
    position (:func:`~stnutils.models.retina.code_energy`) drawn where the filters sit in the visual field; and,
    if given, the decoded image (``Retina.decode``, band-passed: grey is zero).

    Args:
        retina: the :class:`stnutils.models.retina.Retina` that made ``codes``.
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
    x = to_numpy(scenes)
    if x.ndim == 4:
        x = x[:, 0]
    c = codes.detach().cpu() if isinstance(codes, torch.Tensor) else torch.as_tensor(codes)
    n = len(x)
    if n == 0 or c.shape[0] != n or c.shape[1] != retina.n_filters:
        raise ValueError(f"codes must be ({n}, {retina.n_filters}) for {n} scenes, got {tuple(c.shape)}")
    d = None if decoded is None else to_numpy(decoded).reshape(n, retina.size, retina.size)
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
            who.append(f"digit {int(to_numpy(labels).reshape(-1)[k])}")
        if offsets is not None:
            i, j = to_numpy(offsets).reshape(-1, 2)[k]
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
