"""Figures of the What/Where model: labelled, the right number of panels, bad input rejected."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from stnutils.evaluation.saccades import collicular_maps, saccade_model_names  # noqa: E402
from stnutils.models.whatwhere import WhatWhere  # noqa: E402
from stnutils.viz import (  # noqa: E402
    draw_saccade_paths,
    plot_accuracy_vs_saccades,
    plot_saccade_benchmark,
    show_collicular_maps,
)
from stnutils.viz.saccades import saccade_colours  # noqa: E402

ECCS = (4.44444444, 22.22222222, 40.0)


def _rows(value=0.5):
    return [dict(model=name, profile="quick", contrast=c, eccentricity=e, accuracy=value)
            for name in saccade_model_names("whatwhere", 5) for c in (0.3, 0.7) for e in ECCS]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_collicular_maps_and_their_figure():
    torch.manual_seed(0)
    m = WhatWhere(size=64, n_orientations=2, n_azimuths=8, n_eccentricities=4, hidden=[16]).eval()
    x, offsets = torch.rand(3, 1, 64, 64), torch.tensor([[0, 0], [10, -5], [-18, 18]])
    maps = collicular_maps(m, x, offsets)
    assert maps["predicted"].shape == maps["target"].shape == (3, 8, 4)
    assert ((maps["predicted"] > 0) & (maps["predicted"] < 1)).all()
    assert maps["fixation"].shape == (3, 2) and (maps["fixation"].abs() <= 18).all()
    fig = show_collicular_maps(m.retina, x, maps, labels=torch.tensor([1, 2, 3]), offsets=offsets, n=2)
    image_axes = [ax for ax in fig.axes if ax.get_xlabel() == "j (px)"]
    assert len(image_axes) == 3  # the bottom row: scene, target, prediction
    assert any(ax.get_ylabel() == "accuracy of a saccade there" for ax in fig.axes)  # the colour bar
    with pytest.raises(ValueError, match="maps must hold"):
        show_collicular_maps(m.retina, x, {"target": maps["target"], "predicted": maps["predicted"][:, :2]})


def test_saccade_paths_are_drawn_with_the_fovea_box():
    x = torch.rand(2, 1, 128, 128)
    path = torch.tensor([[[0, 0], [10, 20], [12, 25]], [[0, 0], [-50, 50], [-50, 45]]])
    fig = draw_saccade_paths(x, path, labels=torch.tensor([3, 4]), predictions=torch.tensor([3, 1]),
                             offsets=torch.tensor([[12, 26], [-40, 40]]))
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "digit 3, read 3"
    box = fig.axes[1].patches[0]
    assert box.get_xy() == (50 - 0.5 + 45, 50 - 0.5 - 50) and box.get_width() == 28  # columns, rows
    with pytest.raises(ValueError, match="paths must be"):
        draw_saccade_paths(x, torch.zeros(2, 3))


def test_benchmark_curves_beside_the_published_ones():
    fig = plot_saccade_benchmark(_rows(), saccades=(0, 1, 3))
    assert [ax.get_title() for ax in fig.axes] == ["contrast 0.3", "contrast 0.5", "contrast 0.7"]  # + published
    labels = {line.get_label() for line in fig.axes[0].lines}
    assert {"whatwhere_1 (quick)", "whatwhere_oracle (quick)", "What/Where, 1 saccade"} <= labels
    colours = saccade_colours()
    assert colours["whatwhere_3"] == colours["what_where_3_saccades"]  # a curve and its published one share a colour
    fig = plot_accuracy_vs_saccades(_rows(), contrast=0.7)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "number of saccades" and ax.get_ylabel() == "accuracy"
    solid = [line for line in ax.lines if line.get_linestyle() == "-"]
    assert len(solid) == len(ECCS) and list(solid[0].get_xdata()) == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="rows must hold whatwhere_<k> rows at contrast 0.5"):
        plot_accuracy_vs_saccades(_rows(), contrast=0.5)
