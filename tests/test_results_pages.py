"""stnutils.evaluation.results and .tables: the results files of week 7 and the summary of the results page."""
import pytest
import torch

from stnutils.data import NoisyMNIST128
from stnutils.data.mnist import load_mnist
from stnutils.evaluation import metrics, reference, results, tables

ECCS = metrics.BENCHMARK_ECCENTRICITIES


def _rows(model, acc, profile="quick", contrasts=(0.3, 0.5, 0.7), eccs=ECCS):
    return [dict(model=model, profile=profile, device="cpu", commit="abc1234", contrast=c, eccentricity=e,
                 accuracy=acc(c, e) if callable(acc) else acc, n=10) for c in contrasts for e in eccs]


def test_results_path_per_profile(tmp_path, monkeypatch):
    monkeypatch.delenv("STNUTILS_RESULTS", raising=False)
    assert results.results_path("smoke").as_posix() == "results/benchmark_smoke.json"
    # the book build points it at an absolute folder (nbval runs kernels in the notebook's folder)
    monkeypatch.setenv("STNUTILS_RESULTS", str(tmp_path / "elsewhere"))
    assert results.results_path("quick") == tmp_path / "elsewhere" / "benchmark_quick.json"
    assert results.results_path("full", tmp_path) == tmp_path / "benchmark_full.json"
    with pytest.raises(ValueError, match="profile must be one of"):
        results.results_path("fast")


def test_load_results_missing_names_the_chapter_and_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="week07_benchmark.ipynb") as err:
        results.load_results("quick", tmp_path)
    assert "--profile quick --only week07_benchmark" in str(err.value)
    assert str(tmp_path / "benchmark_quick.json") in str(err.value)


def test_load_results_roundtrip_and_empty(tmp_path):
    rows = _rows("atn", 0.5)
    results.write_results(rows, results.results_path("quick", tmp_path))
    assert results.load_results("quick", tmp_path) == rows
    results.write_results([], results.results_path("smoke", tmp_path))
    with pytest.raises(ValueError, match="at least one benchmark row"):
        results.load_results("smoke", tmp_path)


def test_rows_provenance():
    rows = _rows("b", 0.1, contrasts=(0.3,)) + [dict(r, model="a", commit="def5678", n=20)
                                                 for r in _rows("a", 0.2, contrasts=(0.3,))]
    prov = results.rows_provenance(rows)
    assert prov == {"model": ["b", "a"], "profile": ["quick"], "device": ["cpu"],
                    "commit": ["abc1234", "def5678"], "n": [10, 20]}


def test_summary_table_known_means_and_seed_counterparts():
    seed = reference.load_seed_benchmark()
    rows = _rows("atn", lambda c, e: 0.9 if e < 10 else 0.5) + _rows("fast_atn", 0.25, contrasts=(0.7,))
    records = tables.summary_table(rows)
    atn, fast = records
    assert (atn["model"], atn["profile"], atn["seed_model"]) == ("atn", "quick", "atn")
    assert atn["contrasts"] == [0.3, 0.5, 0.7]
    assert atn["mean"] == [pytest.approx(round((2 * 0.9 + 7 * 0.5) / 9, 4))] * 3  # 4.4 and 8.9 px at 0.9
    for k, c in enumerate(("0.3", "0.5", "0.7")):
        assert atn["seed_mean"][k] == pytest.approx(sum(seed["models"]["atn"][c]) / 9, abs=1e-4)
    assert fast["seed_model"] is None and fast["seed_mean"] is None and fast["mean"] == [None, None, 0.25]


def test_summary_table_seed_mean_over_the_measured_eccentricities_only():
    rows = _rows("lenet", 0.3, contrasts=(0.5,), eccs=(ECCS[0], ECCS[-1]))
    (rec,) = tables.summary_table(rows, contrasts=(0.5,))
    ww0 = reference.load_seed_benchmark()["models"]["what_where_0_saccades"]["0.5"]
    assert rec["seed_model"] == "what_where_0_saccades"
    assert rec["seed_mean"] == [pytest.approx((ww0[0] + ww0[-1]) / 2, abs=1e-4)]


def test_summary_table_markdown_marks_the_higher_mean():
    ref = [dict(r, model="seed_x", profile="seed") for r in _rows("x", 0.6, contrasts=(0.3, 0.7))]
    rows = _rows("x", lambda c, e: 0.4 if c < 0.5 else 0.8, contrasts=(0.3, 0.7))
    md = tables.summary_table(rows, reference=ref, counterparts={"x": "seed_x"}, contrasts=(0.3, 0.7),
                               fmt="markdown")
    assert md.splitlines()[0] == ("| model | profile | c = 0.3 | c = 0.7 | the seed's version "
                                  "| seed, c = 0.3 | seed, c = 0.7 |")
    assert md.splitlines()[2] == "| x | quick | 0.400 | **0.800** | seed_x | **0.600** | 0.600 |"
    with pytest.raises(ValueError, match="fmt must be one of"):
        tables.summary_table(rows, reference=ref, fmt="html")


def test_central_crop_of_a_centred_scene_is_the_mnist_frame(data_root):
    # The What pathway is benchmarked on the central 28x28 patch: at eccentricity 0 it must
    # hold the digit exactly where MNIST has it (no background, full contrast).
    scenes = NoisyMNIST128(data_root, train=False, seed=0, radius=0.0, contrast=1.0, noise=0.0)
    images, labels, offsets = scenes.batch(torch.arange(8))
    digits, mnist_labels = load_mnist(data_root, train=False)[:2]
    assert offsets.abs().sum() == 0 and labels.tolist() == mnist_labels[:8].tolist()
    crop = metrics.center_crop(images, 28)[:, 0]
    digits = digits[:8].float() / digits[:8].float().amax(dim=(1, 2), keepdim=True)
    assert torch.equal(crop > 0.9, digits > 0.95)
    assert int((images > 0.9).sum()) == int((crop > 0.9).sum())  # nothing of the digit outside the crop


def test_plot_benchmark_colors_pair_a_model_with_its_reference():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import to_rgba

    from stnutils import viz

    rows = _rows("stn128", 0.5, contrasts=(0.3, 0.7), eccs=(10.0, 20.0))
    ref = [dict(r, model="stn_128x128", profile="seed") for r in rows] + \
          [dict(r, model="atn", profile="seed") for r in rows]
    fig = viz.plot_benchmark(rows, reference_rows=ref, colors={"stn128": "red", "stn_128x128": "red"})
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert to_rgba(lines["stn128 (quick)"].get_color()) == to_rgba("red")
    assert to_rgba(lines["STN 128x128 (seed)"].get_color()) == to_rgba("red")
    assert to_rgba(lines["ATN (seed)"].get_color()) != to_rgba("red")  # not named: the colour cycle
    matplotlib.pyplot.close(fig)


# --- group_rows: the one rounding rule ---------------------------------------------------------
def test_group_rows_rounds_keys_so_near_equal_values_share_a_cell_and_later_rows_win():
    rows = [dict(model="atn", profile="quick", contrast=0.7, eccentricity=40.0, accuracy=0.5),
            dict(model="atn", profile="quick", contrast=0.70000001, eccentricity=40.00000001, accuracy=0.6),
            dict(model="atn", profile="quick", contrast=0.3, eccentricity=4.44444444, accuracy=0.2),
            dict(model="atn", profile="quick", contrast=0.3, eccentricity=40 * 1 / 9, accuracy=0.25)]
    grouped = results.group_rows(rows)
    assert grouped == {("atn", "quick"): {0.7: {40.0: 0.6}, 0.3: {4.4444: 0.25}}}
    # reversed: the other row is the later one and wins
    assert results.group_rows(rows[1::-1]) == {("atn", "quick"): {0.7: {40.0: 0.5}}}
    assert results.contrast_key(0.70000001) == results.contrast_key(0.7) == 0.7
    assert results.eccentricity_key(40.00000001) == results.eccentricity_key(40.0) == 40.0
    assert results.eccentricity_key(40.001) != results.eccentricity_key(40.0)  # a real difference stays


def test_group_rows_keeps_models_and_profiles_apart_in_first_seen_order():
    rows = (_rows("b", 0.1, contrasts=(0.3,), eccs=(10.0,)) + _rows("a", 0.2, contrasts=(0.3,), eccs=(10.0,))
            + _rows("b", 0.3, profile="smoke", contrasts=(0.3,), eccs=(10.0,)))
    grouped = results.group_rows(rows)
    assert list(grouped) == [("b", "quick"), ("a", "quick"), ("b", "smoke")]
    assert grouped[("b", "quick")] == {0.3: {10.0: 0.1}} and grouped[("b", "smoke")] == {0.3: {10.0: 0.3}}
    assert all(isinstance(v, float) for per in grouped.values() for by in per.values() for v in by.values())
    assert results.group_rows([]) == {}


def test_tables_use_the_rounding_of_group_rows():
    rows = [dict(model="atn", profile="quick", contrast=0.7, eccentricity=40.0, accuracy=0.5),
            dict(model="atn", profile="quick", contrast=0.7, eccentricity=40.00000001, accuracy=0.6)]
    (rec,) = tables.summary_table(rows, contrasts=(0.7,), reference=[])
    assert rec["mean"] == [0.6]  # one cell, the later row
    (row,) = tables.results_table(rows, reference=[])
    assert row["eccentricities"] == [40.0] and row["accuracy"] == [0.6]
