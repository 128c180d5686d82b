"""stnutils.viz for models: transformed outputs, sampling boxes, curves, maps, benchmark, animation."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from stnutils import viz  # noqa: E402
from stnutils.evaluation.reference import SEED_ACCURACY_MAP, seed_rows  # noqa: E402
from stnutils.models.transformer import theta_corners  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --- show_transformed ------------------------------------------------------------------------
def test_show_transformed_two_rows_with_sizes_and_labels():
    inputs, outputs = torch.rand(10, 1, 128, 128), torch.rand(10, 1, 28, 28)
    fig = viz.show_transformed(inputs, outputs, labels=torch.arange(10), predictions=torch.arange(10) % 3, n=4)
    assert len(fig.axes) == 8
    rows = {0: [], 1: []}  # inputs (128x128), outputs (28x28), each left to right
    for ax in fig.axes:
        (im,) = ax.get_images()
        rows[0 if im.get_array().shape == (128, 128) else 1].append(ax)
    assert len(rows[0]) == len(rows[1]) == 4
    assert rows[0][0].get_ylabel() == "input\n128x128 px" and rows[1][0].get_ylabel() == "transformed\n28x28 px"
    assert [ax.get_title() for ax in rows[0]] == ["label 0, pred 0", "label 1, pred 1", "label 2, pred 2",
                                                  "label 3, pred 0"]
    np.testing.assert_array_equal(rows[1][2].get_images()[0].get_array(), outputs[2, 0].numpy())
    assert fig._suptitle.get_text() == "Input and transformed output"


def test_show_transformed_errors():
    with pytest.raises(ValueError, match="as many images, got 3 and 2"):
        viz.show_transformed(torch.rand(3, 8, 8), torch.rand(2, 4, 4))
    with pytest.raises(ValueError, match="n must be >= 1"):
        viz.show_transformed(torch.rand(3, 8, 8), torch.rand(3, 4, 4), n=0)


# --- sampling boxes --------------------------------------------------------------------------
def _theta(scale, tx, ty, n=1):
    return torch.tensor([[[scale, 0.0, tx], [0.0, scale, ty]]]).repeat(n, 1, 1)


def test_theta_corners_known_values_as_the_figures_draw_them():
    # x: 0.5 * ±1 + 0.5 -> normalised 0 .. 1 -> pixels 13.5 .. 27.5 (align_corners=False, 28 px)
    # y: 0.5 * ±1 + 0   -> normalised -0.5 .. 0.5 -> pixels 6.5 .. 20.5
    expected = [[13.5, 6.5], [27.5, 6.5], [27.5, 20.5], [13.5, 20.5]]
    got = theta_corners(_theta(0.5, 0.5, 0.0), 28)
    assert isinstance(got, torch.Tensor) and got.is_floating_point() and got.shape == (1, 4, 2)
    np.testing.assert_allclose(got[0].numpy(), expected, atol=1e-5)
    # the figures' own path (a float64 array from any theta, e.g. float64 or on another device)
    drawn = viz.glimpses._corners(_theta(0.5, 0.5, 0.0).double(), (28, 28))
    assert isinstance(drawn, np.ndarray) and drawn.dtype == np.float64
    np.testing.assert_allclose(drawn[0], expected, atol=1e-6)
    # non-square input: x uses the width, y the height
    np.testing.assert_allclose(theta_corners(_theta(1.0, 0.0, 0.0), (10, 20))[0].numpy(),
                               [[-0.5, -0.5], [19.5, -0.5], [19.5, 9.5], [-0.5, 9.5]])


def test_draw_sampling_boxes_draws_the_given_corners():
    corners = np.array([[[2.0, 3.0], [20.0, 3.0], [20.0, 25.0], [2.0, 25.0]],
                        [[5.0, 5.0], [15.0, 8.0], [12.0, 18.0], [2.0, 15.0]]])
    fig = viz.draw_sampling_boxes(torch.rand(2, 1, 28, 28), corners=corners, labels=[4, 2])
    assert len(fig.axes) == 2
    for ax, c in zip(fig.axes, corners):
        (patch,) = ax.patches
        assert isinstance(patch, Polygon)
        np.testing.assert_allclose(patch.get_xy()[:4], c)
        assert ax.yaxis_inverted()  # image orientation: row 0 at the top
    assert [ax.get_title() for ax in fig.axes] == ["label 4", "label 2"]
    assert fig.axes[0].get_ylabel() == "28x28 px input"


def test_draw_sampling_boxes_from_theta_matches_theta_corners():
    theta = torch.cat([_theta(0.25, 0.3, -0.2), _theta(0.5, -0.1, 0.4)])
    fig = viz.draw_sampling_boxes(torch.rand(2, 64, 64), theta)
    expected = theta_corners(theta, 64)
    for ax, c in zip(fig.axes, expected):
        np.testing.assert_allclose(ax.patches[0].get_xy()[:4], c.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="exactly one of theta and corners"):
        viz.draw_sampling_boxes(torch.rand(2, 64, 64))
    with pytest.raises(ValueError, match=r"corners must be \(2, 4, 2\)"):
        viz.draw_sampling_boxes(torch.rand(2, 64, 64), corners=np.zeros((2, 3, 2)))


# --- plot_history ----------------------------------------------------------------------------
def _history():
    out = []
    for epoch in range(1, 10):
        stage = min((epoch - 1) // 3, 2)
        out.append(dict(epoch=epoch, loss=2.0 / epoch, train_acc=0.1 * epoch,
                        test_acc=None if epoch == 2 else 0.09 * epoch,
                        lr=0.01 * 0.5 ** ((epoch - 1) // 3), stage=stage, shift_std=float(stage * 2),
                        contrast=[0.3, 0.7] if stage == 2 else 0.7, seconds=1.0, samples=100))
    return out


def _vlines(ax):
    return [line for line in ax.get_lines() if np.ptp(line.get_xdata()) == 0 and len(line.get_xdata()) == 2]


def test_plot_history_panels_stages_and_lr():
    fig = viz.plot_history(_history(), title="STN 28x28")
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy", "learning rate"]
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    assert fig.axes[2].get_yscale() == "log"
    for ax in fig.axes:  # boundaries between epochs 3|4 and 6|7
        assert sorted(line.get_xdata()[0] for line in _vlines(ax)) == [3.5, 6.5]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["shift σ 0 px, c 0.7", "shift σ 2 px, c 0.7", "shift σ 4 px, c 0.3–0.7"]
    acc = fig.axes[1]
    labels = [line.get_label() for line in acc.get_lines()]
    assert "train acc" in labels and "test acc" in labels and "chance (0.1)" in labels
    test_line = acc.get_lines()[labels.index("test acc")]
    assert list(test_line.get_xdata()) == [1, 3, 4, 5, 6, 7, 8, 9]  # the None epoch left out
    assert fig._suptitle.get_text() == "STN 28x28"
    fig.canvas.draw()  # renders without error


def test_plot_history_without_lr_or_stages_and_errors():
    h = [dict(epoch=e, loss=1.0 / e, test_acc=0.5) for e in range(1, 4)]
    fig = viz.plot_history(h, metrics=("loss", "test_acc"))
    assert len(fig.axes) == 2 and not any(_vlines(ax) for ax in fig.axes)
    assert fig._suptitle.get_text() == "Training history"
    with pytest.raises(ValueError, match="'val_acc' is in none"):
        viz.plot_history(h, metrics=("val_acc",))
    with pytest.raises(ValueError, match="at least one epoch"):
        viz.plot_history([])


# --- accuracy maps ---------------------------------------------------------------------------
def _map(offsets, value):
    grid = np.full((len(offsets), len(offsets)), value)
    return {"map": grid, "offsets": list(offsets), "central": value, "general": float(grid.mean()), "n": 10}


def test_plot_accuracy_maps_share_one_colour_scale():
    offsets = range(-27, 28, 3)
    maps = {"what_pathway": _map(offsets, 0.2), "stn_28x28": _map(offsets, 0.9)}
    maps["stn_28x28"]["map"][9, 9] = 1.0
    fig = viz.plot_accuracy_maps(maps, reference=SEED_ACCURACY_MAP)
    panels = [ax for ax in fig.axes if ax.get_images()]
    cbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(panels) == 2 and len(cbars) == 1
    assert cbars[0].get_ylabel() == "accuracy"
    clims = {ax.get_images()[0].get_clim() for ax in panels}
    assert clims == {(0.0, 1.0)}  # one scale for both maps
    assert panels[1].get_images()[0].colorbar.ax is cbars[0]  # the bar is the maps' shared scale
    for ax in panels:
        assert ax.get_xlabel() == "j offset (px)" and ax.get_ylabel() == "i offset (px)"
        assert ax.get_images()[0].get_extent() == [-28.5, 28.5, 28.5, -28.5]
    assert panels[0].get_title() == "what_pathway\ncentral 0.20, general 0.20\n(seed: central 0.84, general 0.34)"
    assert "central 0.90" in panels[1].get_title() and "seed: central 0.88, general 0.43" in panels[1].get_title()


def test_plot_accuracy_maps_errors():
    with pytest.raises(ValueError, match="at least one accuracy map"):
        viz.plot_accuracy_maps({})
    bad = _map([0, 3], 0.5)
    bad["map"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"must be \(2, 2\)"):
        viz.plot_accuracy_maps({"bad": bad})


# --- benchmark -------------------------------------------------------------------------------
def _bench_rows(model, profile="quick", acc=0.8):
    return [dict(model=model, profile=profile, contrast=c, eccentricity=e, accuracy=acc)
            for c in (0.3, 0.5, 0.7) for e in (4.44444444, 22.22222222, 40.0)]


def test_plot_benchmark_panels_chance_reference_and_legend():
    ref = seed_rows(models=["atn", "what_where_0_saccades"])
    fig = viz.plot_benchmark(_bench_rows("atn") + _bench_rows("stn128", acc=0.6), reference_rows=ref)
    assert [ax.get_title() for ax in fig.axes] == ["contrast 0.3", "contrast 0.5", "contrast 0.7"]
    assert fig.axes[0].get_ylabel() == "accuracy"
    for ax in fig.axes:
        assert ax.get_xlabel() == "eccentricity (px)"
        chance = [line for line in ax.get_lines() if line.get_label() == "chance (0.1)"]
        assert len(chance) == 1 and list(chance[0].get_ydata()) == [0.1, 0.1]
        styles = {line.get_label(): line.get_linestyle() for line in ax.get_lines()}
        assert styles["atn (quick)"] == "-" and styles["stn128 (quick)"] == "-"
        assert styles["ATN (seed)"] == "--" and styles["What/Where, 0 saccades"] == "--"
        seed_line = [line for line in ax.get_lines() if line.get_label() == "ATN (seed)"][0]
        assert len(seed_line.get_xdata()) == 9
    assert len(fig.legends) == 1
    fig.canvas.draw()  # constrained layout places the legend right of the panels
    legend_box = fig.legends[0].get_window_extent()
    assert all(legend_box.x0 >= ax.get_window_extent().x1 for ax in fig.axes)
    legend_labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend_labels == ["atn (quick)", "stn128 (quick)", "ATN (seed)", "What/Where, 0 saccades", "chance (0.1)"]


def test_plot_benchmark_models_filter_and_errors():
    fig = viz.plot_benchmark(_bench_rows("atn") + _bench_rows("stn128"), models=["atn"])
    labels = {line.get_label() for ax in fig.axes for line in ax.get_lines()}
    assert labels == {"atn (quick)", "chance (0.1)"}
    with pytest.raises(ValueError, match="at least one benchmark row"):
        viz.plot_benchmark(_bench_rows("atn"), models=["nothing"])


# --- animation -------------------------------------------------------------------------------
def test_animate_transformer_writes_a_gif(tmp_path):
    from PIL import Image

    frames = [torch.full((3, 1, 12, 12), v) for v in (0.0, 0.5, 1.0)]
    path = viz.animate_transformer(frames, inputs=torch.rand(3, 1, 32, 32), titles=["e1", "e2", "e3"],
                                        fmt="gif", path=tmp_path / "anim.gif", n=2)
    assert path.exists() and path.stat().st_size > 0
    assert path.read_bytes()[:4] == b"GIF8"
    with Image.open(path) as gif:
        assert gif.n_frames == 3
    assert plt.get_fignums() == []  # the figure is closed


def test_animate_transformer_html_and_errors():
    frames = [torch.rand(2, 8, 8) for _ in range(2)]
    html = viz.animate_transformer(frames)
    assert "<script" in html and "Animation" in html
    assert html.count("data:image/png;base64") == 2  # one embedded image per frame
    with pytest.raises(ValueError, match="fmt must be one of"):
        viz.animate_transformer(frames, fmt="mp4")
    with pytest.raises(ValueError, match="path must be given"):
        viz.animate_transformer(frames, fmt="gif")
    with pytest.raises(ValueError, match=r"one entry per frame \(2\), got 1"):
        viz.animate_transformer(frames, titles=["a"])
    with pytest.raises(ValueError, match="at least one snapshot"):
        viz.animate_transformer([])
    with pytest.raises(ValueError, match="same shape"):
        viz.animate_transformer([torch.rand(2, 8, 8), torch.rand(2, 9, 9)])
