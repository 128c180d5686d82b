"""Rows of several training seeds: aggregated once, shown as mean ± std by the tables and the figure."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from stnutils import evaluation, viz  # noqa: E402
from stnutils.evaluation.results import aggregate_seeds  # noqa: E402


def _rows(model="m", accs=((0, 0.8), (1, 0.9), (2, 1.0)), contrasts=(0.7,), eccs=(4.44444444, 40.0)):
    return [dict(model=model, profile="quick", contrast=c, eccentricity=e, accuracy=a, seed=s, n=100)
            for c in contrasts for e in eccs for s, a in accs]


def teardown_function():
    plt.close("all")


def test_mean_and_sample_std_over_seeds():
    out = aggregate_seeds(_rows())
    assert len(out) == 2  # one row per cell
    for row in out:
        assert row["accuracy"] == pytest.approx(0.9)
        assert row["std"] == pytest.approx(0.1)  # sample std (ddof 1) of 0.8, 0.9, 1.0
        assert row["seeds"] == [0, 1, 2] and row["n_seeds"] == 3
        assert row["accuracies"] == pytest.approx([0.8, 0.9, 1.0])
        assert row["n"] == 100 and row["model"] == "m"


def test_one_seed_has_no_std_and_a_repeated_seed_is_replaced():
    rows = _rows(accs=((0, 0.5),)) + _rows(accs=((0, 0.7),))  # seed 0 measured twice: the later wins
    out = aggregate_seeds(rows)
    assert [r["accuracy"] for r in out] == pytest.approx([0.7, 0.7])
    assert all(r["std"] is None and r["n_seeds"] == 1 for r in out)


def test_eccentricities_that_round_alike_are_one_cell():
    rows = [dict(model="m", profile="quick", contrast=0.7, eccentricity=e, accuracy=a, seed=s)
            for e, a, s in ((40.0, 0.6, 0), (40.00000001, 0.8, 1))]
    (row,) = aggregate_seeds(rows)
    assert row["accuracy"] == pytest.approx(0.7) and row["n_seeds"] == 2


def test_models_and_profiles_stay_apart():
    rows = _rows("a") + _rows("b", accs=((0, 0.2), (1, 0.4)))
    out = aggregate_seeds(rows)
    by_model = {r["model"]: r["accuracy"] for r in out}
    assert by_model == pytest.approx({"a": 0.9, "b": 0.3})


def test_table_shows_mean_plus_minus_std():
    md = evaluation.results_table(aggregate_seeds(_rows()), reference=[], fmt="markdown")
    assert "0.900 ± 0.100" in md
    records = evaluation.results_table(aggregate_seeds(_rows()), reference=[])
    assert records[0]["std"] == pytest.approx([0.1, 0.1])
    plain = evaluation.results_table(_rows(accs=((0, 0.5),)), reference=[])
    assert plain[0]["std"] == [None, None]


def test_benchmark_figure_draws_error_bars_only_for_aggregated_rows():
    fig = viz.plot_benchmark(aggregate_seeds(_rows()))
    assert len(fig.axes[0].containers) == 1  # one errorbar container
    fig = viz.plot_benchmark(_rows(accs=((0, 0.5),)))
    assert len(fig.axes[0].containers) == 0


def test_compute_summary_means_per_seed_then_spread():
    rows = [dict(model="m", profile="quick", contrast=0.7, eccentricity=e, accuracy=a + (0.2 if e > 10 else 0),
                 seed=s, train_scenes=5000) for s, a in ((0, 0.4), (1, 0.6)) for e in (4.44, 40.0)]
    (rec,) = evaluation.tables.compute_summary(rows, contrasts=(0.7,))
    assert rec["train_scenes"] == 5000 and rec["n_seeds"] == 2
    assert rec["mean"] == pytest.approx([0.6])  # seed means 0.5 and 0.7
    assert rec["std"] == pytest.approx([2 ** 0.5 * 0.1])
    (named,) = evaluation.tables.compute_summary(rows, scenes={"m": 7}, contrasts=(0.7,))
    assert named["train_scenes"] == 7


def test_compute_figure_log_axis_and_error_bars():
    summary = [dict(model="a", profile="quick", train_scenes=2e5, contrasts=[0.3, 0.7], mean=[0.5, 0.9],
                    std=[0.05, None]),
               dict(model="b", profile="quick", train_scenes=None, contrasts=[0.7], mean=[0.1], std=[None])]
    fig = viz.plot_compute_accuracy(summary, budget=6.6e5)
    assert [ax.get_xscale() for ax in fig.axes[:2]] == ["log", "log"]
    assert len(fig.axes[0].containers) == 1  # model b (no scenes) is left out
    with pytest.raises(ValueError, match="train_scenes"):
        viz.plot_compute_accuracy(summary[1:])


def test_target_gaps_against_a_reference_model_and_thresholds():
    from stnutils.evaluation.reference import seed_rows
    from stnutils.evaluation.tables import describe_gaps, target_gaps

    stn128 = seed_rows(models=["stn_128x128"])
    # a model 0.01 above the seed's STN everywhere, from two seeds (+0.00 and +0.02)
    rows = [dict(r, model="m", profile="quick", seed=s, accuracy=r["accuracy"] + d)
            for r in stn128 for s, d in ((0, 0.0), (1, 0.02))]
    gaps = target_gaps(rows, "m", stn128)
    assert len(gaps) == 27 and all(abs(g["gap"] - 0.01) < 1e-9 for g in gaps)
    assert describe_gaps(gaps, "seed STN").startswith("seed STN: met at 27 of 27 cells")
    # thresholds per contrast: the seed STN itself misses 0.95 at some cells of contrast 0.7
    fixed = target_gaps(stn128, "stn_128x128", {0.7: 0.95, 0.5: 0.93, 0.3: 0.75})
    missed = [g for g in fixed if g["gap"] < 0]
    assert len(fixed) == 27 and missed and all(g["accuracy"] < g["target"] for g in missed)
    assert "met at" in describe_gaps(fixed, "CPU target") and "worst" in describe_gaps(fixed, "CPU target")
    with pytest.raises(ValueError, match="model must be one of the rows' models"):
        target_gaps(rows, "nope", stn128)
