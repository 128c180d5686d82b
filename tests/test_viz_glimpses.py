"""stnutils.viz: contrast sweeps (plot_contrast_accuracy), side-by-side glimpses, history stage labels."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from stnutils.models.attention import Attention  # noqa: E402
from stnutils.models.transformer import affine_grid, attention_theta, theta_corners, theta_to_offset  # noqa: E402
from stnutils.viz import plot_contrast_accuracy, show_glimpses_compared  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _attention(glimpses, theta, predictions=None, in_size=128):
    """An attention model's result for these glimpses and thetas; logits whose argmax is ``predictions``."""
    n = len(glimpses)
    logits = torch.zeros(n, 10)
    if predictions is not None:
        logits[torch.arange(n), torch.as_tensor(predictions)] = 1.0
    grid = affine_grid(theta, glimpses.shape[-2:])
    return Attention(logits, theta, grid, glimpses, theta_to_offset(theta, in_size))


def _rows(model, accs, ecc=40.0, contrasts=(0.3, 0.5, 0.7), profile="quick"):
    return [dict(model=model, profile=profile, contrast=c, eccentricity=ecc, accuracy=a)
            for c, a in zip(contrasts, accs)]


def test_contrast_sweep_draws_sorted_data_and_reference_dashed():
    rows = _rows("stn128", [0.9, 0.4, 0.7], contrasts=(0.7, 0.3, 0.5))
    ref = _rows("stn_128x128", [0.69, 0.94, 0.96], profile="seed")
    fig = plot_contrast_accuracy(rows, ref, labels={"stn128": "ours"})
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    ours = lines["ours"]
    np.testing.assert_allclose(ours.get_xdata(), [0.3, 0.5, 0.7])
    np.testing.assert_allclose(ours.get_ydata(), [0.4, 0.7, 0.9])
    assert ours.get_linestyle() == "-"
    assert lines["stn_128x128 (seed)"].get_linestyle() == "--"
    assert "chance (0.1)" in lines
    assert ax.get_ylim() == (0, 1.02)
    assert "40 px" in fig._suptitle.get_text()


def test_contrast_sweep_picks_one_eccentricity():
    rows = _rows("a", [0.1, 0.2, 0.3], ecc=40.0) + _rows("a", [0.8, 0.8, 0.8], ecc=4.44444444)
    with pytest.raises(ValueError, match="several eccentricities"):
        plot_contrast_accuracy(rows)
    fig = plot_contrast_accuracy(rows, eccentricity=40.0)
    line = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "a (quick)"][0]
    np.testing.assert_allclose(line.get_ydata(), [0.1, 0.2, 0.3])


def test_contrast_sweep_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one row"):
        plot_contrast_accuracy(_rows("a", [0.5, 0.5, 0.5], ecc=10.0), eccentricity=40.0)
    with pytest.raises(ValueError, match="eccentricity must be >= 0"):
        plot_contrast_accuracy(_rows("a", [0.5, 0.5, 0.5]), eccentricity=-1)


def test_glimpses_compared_layout_boxes_and_marks():
    scenes = torch.rand(3, 1, 128, 128)
    theta_a = attention_theta(torch.full((3,), 28 / 128), torch.zeros(3), torch.zeros(3))
    theta_b = attention_theta(torch.full((3,), 28 / 128), torch.full((3,), 0.5), torch.zeros(3))
    labels = torch.tensor([1, 2, 3])
    results = {
        "a": _attention(torch.rand(3, 1, 28, 28), theta_a, torch.tensor([1, 0, 3])),
        "b": _attention(torch.rand(3, 1, 28, 28), theta_b, torch.tensor([5, 5, 5])),
    }
    fig = show_glimpses_compared(scenes, results, labels=labels, n=2)
    assert len(fig.axes) == 3 * 2  # scenes row + one row per model, 2 columns
    first = fig.axes[0]
    assert len(first.patches) == 2  # one box per model
    np.testing.assert_allclose(first.patches[0].get_xy()[:4], theta_corners(theta_a[:1], 128)[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(first.patches[1].get_xy()[:4], theta_corners(theta_b[:1], 128)[0].numpy(), atol=1e-4)
    assert first.patches[0].get_edgecolor() != first.patches[1].get_edgecolor()
    titles = [ax.get_title() for ax in fig.axes]
    assert "pred 1 ✓" in titles and "pred 0" in titles
    assert "label 1" in titles
    # predictions are the argmax of each model's logits, one row per model
    assert titles[2:4] == ["pred 1 ✓", "pred 0"] and titles[4:6] == ["pred 5", "pred 5"]


def test_glimpses_compared_rejects_bad_input():
    scenes = torch.rand(2, 1, 32, 32)
    theta = attention_theta(torch.ones(2), torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match="at least one model"):
        show_glimpses_compared(scenes, {})
    with pytest.raises(ValueError, match="must hold 2 images"):
        show_glimpses_compared(scenes, {"a": _attention(torch.rand(3, 1, 8, 8), torch.cat([theta, theta[:1]]),
                                                        in_size=32)})
    with pytest.raises(ValueError, match=r"results\['a'\] must be an Attention"):
        show_glimpses_compared(scenes, {"a": torch.rand(2, 1, 8, 8)})
    # the old (glimpses, theta, predictions) tuple is no longer accepted
    with pytest.raises(ValueError, match=r"results\['a'\] must be an Attention"):
        show_glimpses_compared(scenes, {"a": (torch.rand(2, 1, 8, 8), theta, None)})
    with pytest.raises(ValueError, match="n must be >= 1"):
        show_glimpses_compared(scenes, {"a": _attention(torch.rand(2, 1, 8, 8), theta, in_size=32)}, n=0)
    with pytest.raises(ValueError, match="at most 8"):
        show_glimpses_compared(scenes, {str(k): _attention(torch.rand(2, 1, 8, 8), theta, in_size=32)
                                        for k in range(9)})


def test_contrast_sweep_labels_by_model_and_profile():
    rows = _rows("atn", [0.2, 0.3, 0.4])
    ref = _rows("atn", [0.6, 0.9, 0.9], profile="seed")
    fig = plot_contrast_accuracy(rows, ref, labels={"atn": "ours", ("atn", "seed"): "seed ATN"})
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels[:2] == ["ours", "seed ATN"]


def test_glimpses_compared_view_fits_boxes_or_scene():
    scenes = torch.rand(1, 1, 60, 60)
    far = attention_theta(torch.ones(1), torch.full((1,), -1.9), torch.zeros(1))  # box mostly left of the scene
    results = {"far": _attention(torch.rand(1, 1, 28, 28), far, in_size=60)}
    left = theta_corners(far, 60)[0, :, 0].min().item()
    fitted = show_glimpses_compared(scenes, results).axes[0]
    assert fitted.get_xlim()[0] == pytest.approx(left)
    clipped = show_glimpses_compared(scenes, results, fit_boxes=False).axes[0]
    assert clipped.get_xlim() == (-0.5, 59.5)
    assert clipped.get_ylim() == (59.5, -0.5)  # rows downwards, like imshow


def test_stage_labels_of_fractional_eccentricities_are_short():
    from stnutils.viz import plot_history

    history = [dict(epoch=e, loss=1.0, test_acc=0.5, stage=e - 1, eccentricity_std=40 * e / 9) for e in (1, 2)]
    texts = [t.get_text() for t in plot_history(history, metrics=("loss", "test_acc")).axes[0].texts]
    assert texts == ["ecc. σ 4.44 px", "ecc. σ 8.89 px"]
