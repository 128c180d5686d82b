"""stnutils.viz for the 28x28 chapter: runs compared side by side, where a transformer looks."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from stnutils import viz  # noqa: E402
from stnutils.evaluation import metrics  # noqa: E402
from stnutils.models.transformer import offset_to_theta, theta_to_offset  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history(n_epochs=6, acc=0.5):
    return [dict(epoch=e, stage=(e - 1) // 2, shift_std=float((e - 1) // 2), contrast=0.7, lr=0.01,
                 loss=2.0 / e, train_acc=acc, test_acc=acc - 0.1) for e in range(1, n_epochs + 1)]


def test_history_comparison_one_panel_per_metric_one_line_per_run():
    fig = viz.plot_history_comparison({"SGD": _history(acc=0.9), "Adam": _history(acc=0.11)},
                                           metrics=("loss", "train_acc", "test_acc"), title="SGD vs Adam")
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["training loss", "training accuracy", "test accuracy"]
    assert all(ax.get_xlabel() == "epoch" for ax in axes)
    assert fig._suptitle.get_text() == "SGD vs Adam"
    # the two runs, by name, in every panel; chance in the accuracy panels only
    for ax in axes:
        labels = [line.get_label() for line in ax.get_lines()]
        assert "SGD" in labels and "Adam" in labels
        assert any(lab.startswith("chance") for lab in labels) == ("acc" in ax.get_ylabel())
    sgd = next(line for line in axes[2].get_lines() if line.get_label() == "SGD")
    np.testing.assert_allclose(sgd.get_ydata(), [0.8] * 6)
    assert axes[2].get_ylim() == (0, 1.02)


def test_history_comparison_marks_the_curriculum_stages():
    fig = viz.plot_history_comparison({"a": _history(6)}, metrics=("test_acc",))
    ax = fig.axes[0]
    # stages change after epochs 2 and 4: dotted lines half-way, at 2.5 and 4.5
    xs = sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":")
    assert xs == [2.5, 4.5]
    (top,) = ax.child_axes  # the secondary x axis naming each stage's shift std
    assert top.get_xlabel() == "curriculum stage: shift σ (px)"
    assert [t.get_text() for t in top.get_xticklabels()] == ["0", "1", "2"]


def test_history_comparison_rejects_bad_input():
    with pytest.raises(ValueError, match="histories must hold at least one run"):
        viz.plot_history_comparison({})
    with pytest.raises(ValueError, match=r"histories\['a'\] must hold at least one epoch"):
        viz.plot_history_comparison({"a": []})
    with pytest.raises(ValueError, match="'aux_loss' is in no run"):
        viz.plot_history_comparison({"a": _history()}, metrics=("aux_loss",))


def test_offset_tracking_puts_a_perfect_transformer_on_the_diagonal():
    offsets = torch.tensor([[-7, 3], [0, 0], [5, -9], [12, 4]])
    perfect = theta_to_offset(offset_to_theta(offsets, 28), 28)  # glimpse centred on each digit
    constant = torch.full((4, 2), 6.0)
    fig = viz.plot_offset_tracking(offsets, {"follows": perfect, "constant": constant}, title="tracking")
    assert [ax.get_xlabel() for ax in fig.axes] == ["digit offset i (px)", "digit offset j (px)"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["glimpse centre i (px)", "glimpse centre j (px)"]
    for col, ax in enumerate(fig.axes):
        lines = {line.get_label(): line for line in ax.get_lines()}
        np.testing.assert_allclose(lines["follows"].get_ydata(), lines["follows"].get_xdata(), atol=1e-5)
        np.testing.assert_allclose(lines["follows"].get_xdata(), offsets[:, col].numpy())
        np.testing.assert_allclose(lines["constant"].get_ydata(), 6.0)
        lo, hi = ax.get_xlim()
        assert lo <= -9 - 1 + 1e-9 and hi >= 12 + 1 - 1e-9  # every point in view
    assert fig._suptitle.get_text() == "tracking"


def test_offset_tracking_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"offsets must be \(N, 2\)"):
        viz.plot_offset_tracking(torch.zeros(4, 3), {"a": torch.zeros(4, 3)})
    with pytest.raises(ValueError, match="predicted must hold at least one model"):
        viz.plot_offset_tracking(torch.zeros(4, 2), {})
    with pytest.raises(ValueError, match=r"predicted\['a'\] must have the shape of offsets \(4, 2\)"):
        viz.plot_offset_tracking(torch.zeros(4, 2), {"a": torch.zeros(3, 2)})


def test_offset_tracking_limit_puts_far_points_on_the_border_and_counts_them():
    offsets = torch.tensor([[0, 0], [3, -3], [5, 5]])
    far = torch.tensor([[300.0, 0.0], [-200.0, 1.0], [2.0, 2.0]])  # two rows beyond the view
    fig = viz.plot_offset_tracking(offsets, {"adam": far}, limit=28)
    ax_i, ax_j = fig.axes
    lo, hi = ax_i.get_ylim()
    assert lo < -28 and hi > 28 and hi - 28 < 3  # ±28 px and a small margin
    labels_i = [t.get_text() for t in ax_i.get_legend().get_texts()]
    assert "adam (2 of 3 beyond ±28 px)" in labels_i
    assert "adam" in [t.get_text() for t in ax_j.get_legend().get_texts()]  # the columns all lie in view
    border = sorted(float(line.get_ydata()[0]) for line in ax_i.get_lines() if line.get_marker() in ("^", "v"))
    assert border == [-28.0, 28.0]
    with pytest.raises(ValueError, match="limit must be a positive number"):
        viz.plot_offset_tracking(offsets, {"adam": far}, limit=0)


def test_inside_fraction_known_answers():
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    theta = torch.stack([
        eye,  # the whole input
        eye * 0.5,  # zoom in: still all inside
        eye * 2.0,  # zoom out by 2: the central half of each axis
        eye + torch.tensor([[0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]),  # moved a field and a half away
        eye + torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]),  # moved half a field: half the columns
    ])
    got = metrics.inside_fraction(theta, 28)
    np.testing.assert_allclose(got.numpy(), [1.0, 1.0, 0.25, 0.0, 0.5], atol=1e-6)
    assert metrics.inside_fraction(theta[:1], (4, 6)).shape == (1,)


def test_inside_fraction_rejects_bad_input():
    with pytest.raises(ValueError, match=r"theta must be an \(N, 2, 3\) tensor, got \(2, 3\)"):
        metrics.inside_fraction(torch.zeros(2, 3), 28)
    with pytest.raises(ValueError, match="out_size"):
        metrics.inside_fraction(torch.zeros(1, 2, 3), 0)
