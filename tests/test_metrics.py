"""stnutils.evaluation (loop, metrics, results, tables, reference): known-answer accuracies, rows, files, tables.

The classifiers here are stand-ins whose accuracy is known exactly: a constant class
(accuracy = the share of that class among the first n test labels) and an "oracle" that
looks each scene up in a table built from the very same datasets, answers right exactly
where a rule on the digit's true offset says so, and wrong elsewhere.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import stnutils.io
from stnutils.data import NoisyMNIST28, NoisyMNIST128
from stnutils.data.mnist import load_mnist
from stnutils.evaluation import loop, metrics, reference, results, tables
from stnutils.provenance import git_commit

REPO = Path(__file__).resolve().parents[1]


class Constant(nn.Module):
    """Always predicts ``cls``; records the input sizes it saw."""

    def __init__(self, cls=1):
        super().__init__()
        self.cls = cls
        self.scale = nn.Parameter(torch.ones(()))  # gives the model a device
        self.sizes = set()

    def forward(self, x):
        self.sizes.add(tuple(x.shape[-2:]))
        logits = torch.zeros(len(x), 10)
        logits[:, self.cls] = self.scale
        return logits


def _key(image: torch.Tensor) -> bytes:
    # 8-bit quantised pixels: robust to float rounding across batch sizes, unique per scene
    return np.round(image.detach().cpu().numpy() * 255).astype(np.uint8).tobytes()


class Oracle(nn.Module):
    """Right when ``rule(info)`` holds for the scene's recorded info, wrong otherwise."""

    def __init__(self, table, rule):
        super().__init__()
        self.table, self.rule = table, rule
        self.seen = 0

    def forward(self, x):
        self.seen += len(x)
        out = torch.zeros(len(x), 10)
        for k, image in enumerate(x):
            info = self.table[_key(image)]  # KeyError: a scene the table does not know
            label = info["label"] if self.rule(info) else (info["label"] + 1) % 10
            out[k, label] = 1.0
        return out


def _table(datasets_with_info, n):
    table = {}
    for ds, extra in datasets_with_info:
        images, labels, offsets = ds.batch(torch.arange(n))
        for image, label, offset in zip(images, labels, offsets):
            key = _key(image)
            assert key not in table, "two test scenes look alike: the oracle would be ambiguous"
            table[key] = dict(label=int(label), offset=tuple(int(v) for v in offset), **extra)
    return table


def _share(cls, n):
    labels = load_mnist(train=False)[1][:n]
    return float((labels == cls).double().mean())


# --- evaluate --------------------------------------------------------------------------------
def test_evaluate_constant_model_gives_the_label_share_and_restores_mode(data_root):
    ds = NoisyMNIST28(data_root, train=False, contrast=0.7)
    model = Constant(cls=7).train()
    acc = loop.evaluate(model, ds, n=37, batch_size=10)
    assert acc == pytest.approx(_share(7, 37)) and 0 < acc < 1
    assert model.training  # mode restored
    assert loop.evaluate(model.eval(), ds, n=37) == acc and not model.training


def test_evaluate_errors(data_root):
    ds = NoisyMNIST28(data_root, train=False, length=5)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        loop.evaluate(Constant(), ds, n=0)
    with pytest.raises(ValueError, match=r"n must be <= len\(dataset\) = 5, got 6"):
        loop.evaluate(Constant(), ds, n=6)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        loop.evaluate(Constant(), ds, n=2, batch_size=0)

    class Flat(nn.Module):
        def forward(self, x):
            return torch.zeros(len(x))

    with pytest.raises(ValueError, match="model must return logits"):
        loop.evaluate(Flat(), ds, n=2)


def test_center_crop():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert metrics.center_crop(x, 2).flatten().tolist() == [5.0, 6.0, 9.0, 10.0]
    with pytest.raises(ValueError, match="size must be <= the image side 4, got 5"):
        metrics.center_crop(x, 5)


# --- accuracy_map ----------------------------------------------------------------------------
def test_accuracy_map_oracle_known_map(data_root):
    offsets, n = (-6, -3, 0, 3, 6), 8
    table = _table(
        [(NoisyMNIST28(data_root, train=False, offset=(i, j)), {}) for i in offsets for j in offsets], n
    )
    model = Oracle(table, rule=lambda info: max(abs(v) for v in info["offset"]) <= 3)
    result = metrics.accuracy_map(model, offsets=offsets, n_per_cell=n, data_root=data_root, batch_size=3)
    expected = np.array([[float(max(abs(i), abs(j)) <= 3) for j in offsets] for i in offsets])
    np.testing.assert_array_equal(result["map"], expected)
    assert result["central"] == 1.0 and result["general"] == pytest.approx(9 / 25)
    assert result["offsets"] == list(offsets) and result["n"] == n
    assert model.seen == 25 * n  # each cell once, (0, 0) not measured twice


def test_accuracy_map_central_measured_off_grid(data_root):
    offsets, n = (-3, 3), 4
    cells = [(i, j) for i in offsets for j in offsets] + [(0, 0)]
    table = _table([(NoisyMNIST28(data_root, train=False, offset=c), {}) for c in cells], n)
    model = Oracle(table, rule=lambda info: sum(abs(v) for v in info["offset"]) <= 3)
    result = metrics.accuracy_map(model, offsets=offsets, n_per_cell=n, data_root=data_root)
    assert result["map"].shape == (2, 2) and result["general"] == 0.0  # (±3, ±3): all wrong
    assert result["central"] == 1.0  # measured separately at (0, 0)


def test_accuracy_map_constant_model_and_default_grid(data_root):
    n = 20
    result = metrics.accuracy_map(Constant(1), offsets=(-27, 0, 27), n_per_cell=n, contrast=0.5,
                                  data_root=data_root)
    assert np.allclose(result["map"], _share(1, n))
    assert result["central"] == pytest.approx(_share(1, n)) and result["contrast"] == 0.5
    assert metrics.ACCURACY_MAP_OFFSETS[0] == -27 and metrics.ACCURACY_MAP_OFFSETS[-1] == 27
    assert len(metrics.ACCURACY_MAP_OFFSETS) == 19 and 0 in metrics.ACCURACY_MAP_OFFSETS


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(offsets=[]), "offsets must hold at least one shift"),
        (dict(offsets=[0, 28]), r"offsets must be in \[-27, 27\], got 28"),
        (dict(offsets=[3, 0]), "offsets must be strictly increasing"),
        (dict(offsets=[0.5]), "offsets must be integers"),
        (dict(n_per_cell=0), "n_per_cell must be a positive integer, got 0"),
        (dict(contrast=0.0), r"contrast must be in \(0, 1\], got 0.0"),
        (dict(contrast=1.5), r"contrast must be in \(0, 1\], got 1.5"),
        (dict(contrast=(0.5, 0.3)), "c_min <= c_max"),
        (dict(noise=2), r"noise must be in \[0, 1\]"),
    ],
)
def test_accuracy_map_errors(kwargs, match, data_root):
    with pytest.raises(ValueError, match=match):
        metrics.accuracy_map(Constant(), data_root=data_root, **{"n_per_cell": 1, "offsets": [0], **kwargs})


# --- benchmark -------------------------------------------------------------------------------
def test_benchmark_constants():
    assert metrics.BENCHMARK_CONTRASTS == (0.3, 0.5, 0.7)
    expected = np.linspace(40, 0, 9, endpoint=False)[::-1]
    np.testing.assert_allclose(metrics.BENCHMARK_ECCENTRICITIES, expected, atol=1e-8)
    assert metrics.BENCHMARK_ECCENTRICITIES[0] == 4.44444444


def test_benchmark_oracle_rows(data_root):
    n = 4
    table = _table(
        [
            (NoisyMNIST128(data_root, train=False, radius=e, contrast=c), {"contrast": c})
            for c in metrics.BENCHMARK_CONTRASTS
            for e in metrics.BENCHMARK_ECCENTRICITIES
        ],
        n,
    )
    model = Oracle(table, rule=lambda info: math.hypot(*info["offset"]) < 20 and info["contrast"] >= 0.5)
    rows = metrics.benchmark(model, "oracle", "smoke", n_per_cell=n, data_root=data_root)
    assert len(rows) == 27
    commit = git_commit()
    for row in rows:
        assert tuple(row) == (*results.ROW_KEYS, "test_seed") and row["test_seed"] == 0
        assert row["model"] == "oracle" and row["profile"] == "smoke" and row["device"] == "cpu"
        assert row["commit"] == commit and row["n"] == n
        expected = float(row["eccentricity"] < 20 and row["contrast"] >= 0.5)
        assert row["accuracy"] == expected, row
    assert [r["contrast"] for r in rows[::9]] == [0.3, 0.5, 0.7]
    assert [r["eccentricity"] for r in rows[:9]] == list(metrics.BENCHMARK_ECCENTRICITIES)
    json.dumps(rows)  # plain JSON types


def test_benchmark_crops_for_small_inputs(data_root):
    model = Constant(1)
    rows = metrics.benchmark(model, "stand_in", "quick", n_per_cell=30, data_root=data_root, contrasts=(0.5,),
                             eccentricities=(10.0,), input_size=28)
    assert model.sizes == {(28, 28)}
    assert len(rows) == 1 and rows[0]["accuracy"] == pytest.approx(_share(1, 30))
    full = Constant(1)
    metrics.benchmark(full, "stand_in", "quick", n_per_cell=2, data_root=data_root, contrasts=(0.5,),
                      eccentricities=(10.0,))
    assert full.sizes == {(128, 128)}  # a name models.input_size does not know: the whole scene


def test_benchmark_crops_for_the_28x28_models_by_name(data_root):
    models = pytest.importorskip("stnutils.models")
    model = models.build_model("lenet")
    rows = metrics.benchmark(model, "lenet", "smoke", n_per_cell=2, data_root=data_root, contrasts=(0.7,),
                             eccentricities=(4.44444444,))
    assert len(rows) == 1 and 0 <= rows[0]["accuracy"] <= 1  # ran: the 128x128 scene was cropped to 28x28


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_per_cell=0), "n_per_cell must be a positive integer"),
        (dict(contrasts=(0.0,)), r"contrast must be in \(0, 1\], got 0.0"),
        (dict(contrasts=(1.2,)), r"contrast must be in \(0, 1\]"),
        (dict(contrasts=()), "contrasts must hold at least one"),
        (dict(eccentricities=()), "eccentricities must hold at least one"),
        (dict(eccentricities=(60,)), r"eccentricity must be in \[0, 50\]"),
        (dict(profile="fast"), "profile must be one of"),
        (dict(model_name=""), "model_name must be a non-empty string"),
    ],
)
def test_benchmark_errors(kwargs, match, data_root):
    args = {"model_name": "m", "profile": "smoke", "n_per_cell": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        metrics.benchmark(Constant(), data_root=data_root, **args)


# --- results files ---------------------------------------------------------------------------
def _rows(model="a", acc=0.5, contrasts=(0.3, 0.7), eccs=(4.44444444, 40.0), profile="quick"):
    return [
        dict(model=model, profile=profile, device="cpu", commit="abc", contrast=c, eccentricity=e,
             accuracy=acc if not callable(acc) else acc(c, e), n=10)
        for c in contrasts
        for e in eccs
    ]


def test_write_and_read_results_roundtrip(tmp_path):
    rows = _rows(acc=np.float32(0.25))
    path = results.write_results(rows, tmp_path / "sub" / "results.json")
    assert path.exists()
    back = results.read_results(path)
    assert back == [dict(r, accuracy=0.25) for r in rows]
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temporary left


@pytest.mark.parametrize("fail", ["dump", "replace"])
def test_write_results_is_atomic(tmp_path, monkeypatch, fail):
    path = tmp_path / "results.json"
    results.write_results(_rows(acc=0.1), path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    if fail == "dump":

        def half_dump(obj, f, **kwargs):  # writes part of the file, then fails
            f.write("[{")
            boom()

        monkeypatch.setattr(stnutils.io.json, "dump", half_dump)
    else:
        monkeypatch.setattr(stnutils.io.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        results.write_results(_rows(acc=0.9), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_write_results_rejects_incomplete_rows(tmp_path):
    row = _rows()[0]
    del row["commit"]
    with pytest.raises(ValueError, match=r"row 0 lacks \['commit'\]"):
        results.write_results([row], tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


def test_read_results_accepts_a_rows_dict(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"rows": _rows()}))
    assert results.read_results(tmp_path / "r.json") == _rows()
    (tmp_path / "bad.json").write_text("3")
    with pytest.raises(ValueError, match="must hold a JSON list of rows"):
        results.read_results(tmp_path / "bad.json")


# --- results table ---------------------------------------------------------------------------
def test_results_table_marks_the_best_per_column():
    # a beats b at 4.4 px, b beats a at 40 px; the reference ties a at 40 px for contrast 0.7
    rows = _rows("a", acc=lambda c, e: 0.9 if e < 10 else 0.5) + _rows("b", acc=lambda c, e: 0.6 if e < 10 else 0.7)
    ref = [dict(r, profile="seed", model="seed_m") for r in _rows(acc=lambda c, e: 0.6 if e < 10 else 0.7,
                                                                   contrasts=(0.7,))]
    records = tables.results_table(rows, reference=ref)
    assert [(r["contrast"], r["model"], r["source"]) for r in records] == [
        (0.3, "a", "this book"), (0.3, "b", "this book"),
        (0.7, "a", "this book"), (0.7, "b", "this book"), (0.7, "seed_m", "reference"),
    ]
    by = {(r["contrast"], r["model"]): r for r in records}
    assert by[0.3, "a"]["best"] == [True, False] and by[0.3, "b"]["best"] == [False, True]
    assert by[0.7, "b"]["best"] == [False, True] and by[0.7, "seed_m"]["best"] == [False, True]  # tie
    assert by[0.3, "a"]["accuracy"] == [0.9, 0.5] and by[0.3, "a"]["mean"] == pytest.approx(0.7)
    assert by[0.7, "a"]["best_mean"] and not by[0.7, "seed_m"]["best_mean"]
    assert by[0.3, "a"]["eccentricities"] == [4.4444, 40.0]
    md = tables.results_table(rows, reference=ref, fmt="markdown")
    assert "| a | quick | **0.900** | 0.500 | **0.700** |" in md
    assert "| seed_m | seed | 0.600 | **0.700** | 0.650 |" in md
    assert md.count("**Contrast") == 2 and "4.4 px" in md and "40.0 px" in md


def test_results_table_defaults_to_the_seed_and_fills_gaps():
    rows = _rows("mine", acc=0.97, contrasts=(0.7,), eccs=(40.0,))
    records = tables.results_table(rows)
    seed = reference.load_seed_benchmark()
    assert len(records) == 1 + sum(len(v) for v in seed["models"].values())
    mine = [r for r in records if r["model"] == "mine"][0]
    assert len(mine["accuracy"]) == 9 and mine["accuracy"][:8] == [None] * 8 and mine["accuracy"][8] == 0.97
    assert mine["best"][-1] and mine["mean"] == 0.97  # beats every seed model at 40 px, c = 0.7 (0.9558)
    stn = [r for r in records if r["model"] == "stn_128x128" and r["contrast"] == 0.7][0]
    assert stn["best"][0] and stn["accuracy"][0] == 0.9715
    assert "–" in tables.results_table(rows, fmt="markdown")
    with pytest.raises(ValueError, match="fmt must be one of"):
        tables.results_table(rows, fmt="html")


def test_results_table_shows_the_mean_and_std_over_training_seeds():
    rows = [dict(r, seed=s, accuracy=a) for s, a in ((0, 0.5), (1, 0.7), (2, 0.9)) for r in _rows("a", acc=0.0)]
    records = tables.results_table(rows, reference=[])
    assert all(r["accuracy"] == pytest.approx([0.7, 0.7]) for r in records)
    assert all(r["std"] == pytest.approx([0.2, 0.2]) for r in records)
    assert "0.700 ± 0.200" in tables.results_table(rows, reference=[], fmt="markdown")
    # one seed: no spread shown
    assert "±" not in tables.results_table([r for r in rows if r["seed"] == 2], reference=[], fmt="markdown")


def test_results_table_later_rows_replace_earlier():
    rows = _rows("a", acc=0.1) + _rows("a", acc=0.2)
    records = tables.results_table(rows, reference=[])
    assert len(records) == 2 and all(r["accuracy"] == [0.2, 0.2] for r in records)


# --- the seed reference ----------------------------------------------------------------------
def test_seed_reference_is_the_shared_file_and_ships_as_package_data():
    shipped = json.loads((REPO / "stnutils" / "evaluation" / "seed_benchmark.json").read_text())
    assert reference.load_seed_benchmark() == shipped
    shared = REPO.parent / "shared" / "reference" / "seed_benchmark.json"
    if shared.exists():
        assert json.loads(shared.read_text()) == shipped
    assert '"stnutils.evaluation" = ["*.json"]' in (REPO / "pyproject.toml").read_text()


def test_seed_rows_counts_and_format():
    seed = reference.load_seed_benchmark()
    rows = reference.seed_rows()
    expected = sum(len(values) for per in seed["models"].values() for values in per.values())
    assert len(rows) == expected == 11 * 3 * 9
    assert all(tuple(r) == results.ROW_KEYS for r in rows)
    assert {r["profile"] for r in rows} == {"seed"} and {r["device"] for r in rows} == {"seed (published)"}
    atn = [r for r in rows if r["model"] == "atn"]
    assert len(atn) == 27 and [r["contrast"] for r in atn[::9]] == [0.3, 0.5, 0.7]
    assert atn[0]["accuracy"] == seed["models"]["atn"]["0.3"][0] == 0.7122
    np.testing.assert_allclose(sorted({r["eccentricity"] for r in rows}), metrics.BENCHMARK_ECCENTRICITIES)
    assert len(reference.seed_rows(models=["atn", "stn_128x128"])) == 54
    with pytest.raises(ValueError, match="models must be seed model keys"):
        reference.seed_rows(models=["nope"])


def test_seed_accuracy_map_numbers():
    assert reference.SEED_ACCURACY_MAP == {
        "stn_28x28": {"central": 0.88, "general": 0.43},
        "what_pathway": {"central": 0.84, "general": 0.34},
    }
    assert reference.seed_label("what_where_1_saccades") == "What/Where, 1 saccade"
    assert reference.seed_label("unknown") == "unknown"
    copy = reference.load_seed_benchmark()
    copy["chance"] = 0.5
    assert reference.load_seed_benchmark()["chance"] == 0.1  # callers get their own copy


# --- the throughput benchmark's seed re-creations and script -----------------------------------
def _load_benchmark_module(name):
    import importlib.util
    import sys

    if str(REPO / "benchmarks") not in sys.path:  # train_throughput imports seed_models
        sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_models_shapes_and_initial_transforms():
    seed_models = _load_benchmark_module("seed_models")
    for name, (cls, size) in seed_models.SEED_MODELS.items():
        model = cls()
        assert model(torch.rand(2, 1, size, size)).shape == (2, 10), name
    atn = seed_models.SeedATN()
    features = atn.localisation(torch.rand(3, 1, 128, 128))
    assert features.shape == (3, 128 * 4 * 4)  # 4 conv + pool stages on the full scene
    assert atn.fc_loc(features).tolist() == [[pytest.approx(0.2), 0.0, 0.0]] * 3  # scale 0.2, centred
    stn = seed_models.SeedSTN128()
    assert stn.fc1.in_features == 100 * 29 * 29
    x = torch.rand(1, 1, 28, 28)
    stn28 = seed_models.SeedSTN28()
    theta = stn28.fc_loc(stn28.localisation(x)).view(-1, 2, 3)
    assert torch.equal(theta, torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]]))  # identity at init


def test_train_throughput_script_smoke():
    bench = _load_benchmark_module("train_throughput")
    result = bench.main(["--rounds", "1", "--batch", "2", "--min-time", "0", "--models", "lenet"])
    assert set(result["seed_reference"]) == {"stn_28x28", "stn_128x128", "atn"}
    assert all(v > 0 for v in result["seed_reference"].values())
    assert "FIXED pre-generated batch" in result["what"] and "excluded" in result["what"]
    assert set(result["models"]) | set(result["skipped"]) >= {"lenet"} or "stnutils.models" in result["skipped"]
    json.dumps(result)
