"""stnutils.viz (images, spectra) and stnutils.evaluation.spectra: figure structure, labels and units,
the radial spectrum."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from stnutils import viz  # noqa: E402
from stnutils.evaluation.spectra import radial_power_spectrum  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_show_examples_titles_labels_and_offsets():
    images = torch.rand(10, 1, 28, 28)
    labels = torch.arange(10)
    offsets = torch.tensor([[i, -i] for i in range(10)])
    fig = viz.show_examples(images, labels, offsets, ncols=4, title="noisy digits")
    assert len(fig.axes) == 10  # 3 rows x 4, the two spare axes removed
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "0  (0, 0)" and titles[7] == "7  (7, -7)"
    assert fig._suptitle.get_text().startswith("noisy digits")
    assert "(i, j) offset in pixels" in fig._suptitle.get_text()
    for ax in fig.axes:
        assert not ax.axison
        (im,) = ax.get_images()
        assert im.get_clim() == (0, 1) and im.get_cmap().name == "gray"


def test_show_examples_without_labels_and_numpy_input():
    fig = viz.show_examples(np.zeros((3, 28, 28)))
    assert len(fig.axes) == 3
    assert all(ax.get_title() == "" for ax in fig.axes)
    assert fig._suptitle.get_text() == "3 examples"


def test_show_examples_draws_the_pixels():
    image = torch.zeros(1, 1, 8, 8)
    image[0, 0, 2, 5] = 1.0
    fig = viz.show_examples(image)
    data = fig.axes[0].get_images()[0].get_array()
    assert data.shape == (8, 8) and data[2, 5] == 1.0 and data.sum() == 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(images=torch.rand(2, 3, 28, 28)),
         r"images must be \(B, 1, H, W\) or \(B, H, W\), got shape \(2, 3, 28, 28\)"),
        (dict(images=torch.rand(2, 28, 28), labels=torch.arange(3)),
         r"labels must have one entry per image \(2\), got 3"),
        (dict(images=torch.rand(0, 28, 28)), "at least one image"),
    ],
)
def test_show_examples_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.show_examples(**kwargs)


def test_show_grid_labels_rows_and_columns():
    images = torch.rand(3, 5, 1, 32, 32)
    fig = viz.show_grid(images, ["c = 0.3", "c = 0.5", "c = 0.7"], [f"{r} px" for r in range(0, 50, 10)], "scenes")
    assert len(fig.axes) == 15
    assert [ax.get_title() for ax in fig.axes[:5]] == ["0 px", "10 px", "20 px", "30 px", "40 px"]
    assert [fig.axes[5 * r].get_ylabel() for r in range(3)] == ["c = 0.3", "c = 0.5", "c = 0.7"]
    assert fig._suptitle.get_text() == "scenes"
    with pytest.raises(ValueError, match="expected 3 row labels and 5 column labels, got 2 and 5"):
        viz.show_grid(images, ["a", "b"], list("abcde"), "x")


def test_show_field_has_colorbar_and_pixel_axes():
    fig = viz.show_field(torch.rand(1, 64, 64), "background")
    assert len(fig.axes) == 2  # image and colour bar
    ax, cax = fig.axes
    assert ax.get_title() == "background"
    assert "pixels" in ax.get_xlabel() and "pixels" in ax.get_ylabel()
    assert cax.get_ylabel() == "intensity (a.u.)"
    assert ax.get_images()[0].get_extent() == [-32.0, 32.0, 32.0, -32.0]


def test_radial_power_spectrum_of_a_pure_frequency():
    size, k = 64, 8
    x = np.arange(size)
    wave = np.cos(2 * np.pi * k * x / size)[None, :].repeat(size, axis=0)
    freqs, power = radial_power_spectrum(wave)
    assert freqs[0] == 1 / size and freqs[-1] == 0.5
    assert np.argmax(power) == k - 1  # the ring at k / size cycles/pixel
    assert power[k - 1] > 1e3 * np.delete(power, k - 1).max()


def test_radial_power_spectrum_of_white_noise_is_flat_and_parseval():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(64, 32, 32, generator=g, dtype=torch.float64)
    freqs, power = radial_power_spectrum(noise)
    assert np.allclose(power[2:], 1.0, rtol=0.2)  # unit variance spread evenly over frequencies


def test_show_radial_spectrum_axes_in_cycles_per_pixel():
    from stnutils.data import motioncloud_envelope

    fields = torch.randn(4, 32, 32)
    fig = viz.show_radial_spectrum(fields, envelope=motioncloud_envelope(32), sf_0=0.1, title="cloud")
    assert len(fig.axes) == 3  # 2-D spectrum, ring average, colour bar
    ax2d, ax1d = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert "cycles/pixel" in ax2d.get_xlabel() and "cycles/pixel" in ax1d.get_xlabel()
    labels = [line.get_label() for line in ax1d.get_lines()]
    assert labels[1] == "envelope squared" and "sf_0 = 0.1" in labels[2]
    with pytest.raises(ValueError, match=r"envelope must be \(32, 32\)"):
        viz.show_radial_spectrum(fields, envelope=np.ones((16, 16)))
