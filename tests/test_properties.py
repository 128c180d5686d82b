"""Bad parameters everywhere (issue 13): property-based tests with hypothesis.

Every example either works or raises ``ValueError``/``TypeError`` whose message names the
parameter and says what it must be; never an error from deep inside torch, a NaN image,
or a hang. The datasets run every example on both paths of the generator (the numba
kernels and the torch operations, which must agree); the models take configs and inputs
of every shape and dtype; ``TrainConfig`` and the command line take hostile values.

Examples run: 80 + 80 (dataset constructors, 28 and 128) + 100 (batch indices) + 40 (model
configs) + 60 (model inputs) + 150 (TrainConfig fields) + 60 (command-line options) = 570,
set by ``max_examples`` below (``derandomize``: the same examples every run). Faults found in
files this task does not own are strict xfails at the end of the model section.
"""
import contextlib
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from stnutils.cli import main
from stnutils.data import NoisyMNIST28, NoisyMNIST128, _kernels
from stnutils.models import MODEL_NAMES, build_model, input_size
from stnutils.training.config import TrainConfig

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                derandomize=True)
LENGTH = 8

# --- values: valid ones, edge cases and hostile ones --------------------------------------------------------------
HOSTILE = st.sampled_from([None, "abc", "", "1", [], [1, 2], (0.3, 0.7), {}, {"a": 1}, True, False, 1j, object(),
                           float("nan"), float("inf"), -float("inf"), -1, 0, 1e300, -1e300, 2**64, -(2**64)])


def numbers(lo, hi):
    """Mostly numbers in [lo, hi], sometimes anything."""
    return st.one_of(st.floats(lo, hi), st.integers(int(math.floor(lo)), int(math.ceil(hi))),
                     st.floats(allow_nan=True, allow_infinity=True), HOSTILE)


@contextlib.contextmanager
def torch_path(on: bool):
    """The generator's torch operations instead of the numba kernels (``_kernels.AVAILABLE``)."""
    before = _kernels.AVAILABLE
    _kernels.AVAILABLE = before and not on
    try:
        yield
    finally:
        _kernels.AVAILABLE = before


def _names_parameter(err: Exception, names) -> bool:
    """The message names one of ``names`` and says what is allowed ('must be ...', '... takes ...') or got."""
    text = str(err)
    return any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", text) for n in names) and any(
        word in text for word in ("must", "takes", "got"))


def _build(cls, kwargs):
    try:
        ds = cls(length=LENGTH, download=False, **kwargs)
    except (ValueError, TypeError) as err:
        assert _names_parameter(err, list(kwargs) + ["offset i", "offset j", "contrast c_min", "contrast c_max"]), \
            f"{cls.__name__}({kwargs}): {type(err).__name__}: {err}"
        event("constructor refused")
        return None
    event("constructor works")
    return ds


def _check_batch(ds, indices):
    """Both generator paths: the same scenes, finite, in [0, 1], or the same clear error."""
    results = []
    for on in (False, True):
        with torch_path(on):
            try:
                results.append(ds.batch(indices))
            except (ValueError, TypeError) as err:
                assert _names_parameter(err, ["indices", "offsets", "out"]), f"batch({indices!r}): {err}"
                results.append(type(err))
    fused, plain = results
    if isinstance(fused, type) or isinstance(plain, type):
        assert fused == plain, f"the two paths disagree on {indices!r}: {fused} vs {plain}"
        event("batch refused")
        return
    event("batch works")
    for images, labels, offsets in results:
        assert images.dtype == torch.float32 and images.shape[1:] == (1, ds.size, ds.size)
        assert bool(torch.isfinite(images).all()), "a NaN or infinite pixel"
        assert images.numel() == 0 or (float(images.min()) >= 0 and float(images.max()) <= 1)
        assert labels.dtype == torch.int64 and bool(((labels >= 0) & (labels <= 9)).all())
        assert offsets.shape == (len(labels), 2)
    torch.testing.assert_close(fused[0], plain[0], rtol=0, atol=1e-6)
    assert torch.equal(fused[1], plain[1]) and torch.equal(fused[2], plain[2])


COMMON = dict(
    seed=st.one_of(st.integers(-(2**70), 2**70), HOSTILE),
    contrast=st.one_of(numbers(0, 1), st.tuples(numbers(0, 1), numbers(0, 1))),
    noise=numbers(0, 1), sf_0=numbers(0, 0.5), B_sf=numbers(1e-3, 2), mask=st.booleans(),
    device=st.sampled_from(["cpu", "cpu", "gpu", "cuda:7", "", None, 3]),
)


def _subset(strategies: dict, **extra):
    """A few keyword arguments at a time, the others left at their defaults."""
    keys = sorted({**strategies, **extra})
    return st.lists(st.sampled_from(keys), max_size=4, unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({k: {**strategies, **extra}[k] for k in chosen}))


@settings(max_examples=80, **SETTINGS)
@given(kwargs=_subset(COMMON, shift_std=numbers(0, 10), shift_max=numbers(0, 27), rotation=numbers(0, 180),
                      offset=st.one_of(st.none(), st.tuples(numbers(-27, 27), numbers(-27, 27)), HOSTILE)),
       indices=st.lists(st.integers(-LENGTH, LENGTH - 1), min_size=0, max_size=6))
def test_noisy_mnist_28_constructor(data_root, kwargs, indices):
    ds = _build(NoisyMNIST28, dict(kwargs, root=data_root))
    if ds is not None:
        _check_batch(ds, indices)


@settings(max_examples=80, **SETTINGS)
@given(kwargs=_subset(COMMON, size=st.sampled_from([28, 30, 60, 64, 128, 27, 129, 0, -128, 2048, 10**9, 128.0, "128"]),
                      eccentricity_std=numbers(0, 30), eccentricity_max=numbers(0, 50), radius=numbers(0, 50),
                      direction=st.one_of(st.floats(allow_nan=True, allow_infinity=True), HOSTILE),
                      offset=st.one_of(st.none(), st.tuples(numbers(-50, 50), numbers(-50, 50)), HOSTILE)),
       indices=st.lists(st.integers(-LENGTH, LENGTH - 1), min_size=0, max_size=4))
def test_noisy_mnist_128_constructor(data_root, kwargs, indices):
    ds = _build(NoisyMNIST128, dict(kwargs, root=data_root))
    if ds is not None:
        _check_batch(ds, indices)


INDEX = st.integers(-LENGTH - 3, LENGTH + 2)
INDICES = st.one_of(
    st.lists(INDEX, max_size=6), INDEX, st.lists(INDEX, max_size=4).map(tuple),
    st.builds(range, INDEX, INDEX), st.builds(lambda a, b, c: range(a, b, c or 1), INDEX, INDEX, st.integers(-3, 3)),
    st.tuples(st.lists(INDEX, max_size=5), st.sampled_from([torch.int64, torch.int32, torch.int16, torch.uint8,
                                                           torch.bool, torch.float32, torch.float64]))
    .map(lambda a: torch.tensor([v % 256 if a[1] == torch.uint8 else v for v in a[0]], dtype=torch.int64).to(a[1])),
    st.tuples(st.lists(INDEX, max_size=5), st.sampled_from(["int64", "int32", "uint64", "float32", "bool"]))
    .map(lambda a: np.array([abs(v) for v in a[0]] if a[1] == "uint64" else a[0], dtype=a[1])),
    st.lists(st.lists(INDEX, min_size=2, max_size=2), min_size=1, max_size=3),
    st.lists(st.floats(-10, 10), min_size=1, max_size=3),
    st.sampled_from([2**63, -(2**63) - 1, 2**70, range(0, 10**20), range(-(10**20), 0, 10**19)]),
    st.lists(st.sampled_from([2**64, 1, "a", None, 1.5]), min_size=1, max_size=3), HOSTILE,
)


@settings(max_examples=100, **SETTINGS)
@given(indices=INDICES, big=st.booleans())
def test_batch_indices_of_every_kind(data_root, indices, big):
    ds = (NoisyMNIST128 if big else NoisyMNIST28)(data_root, train=False, length=LENGTH, seed=1)
    _check_batch(ds, indices)


# sizes stay small enough for memory: polo_atn's first layer is 768 x hidden[0], tps_stn's kernel grid_size**4
SMALL = st.one_of(st.integers(-3, 130), st.floats(allow_nan=True, allow_infinity=True), HOSTILE)
CONFIG_VALUES = {"init_scale": numbers(0, 1), "scale": numbers(0, 1), "pool": SMALL, "grid_size": st.one_of(
    st.integers(-3, 12), HOSTILE),
    # a list or a string: any other value is a known fault of PoloATN (see the xfail test below)
    "hidden": st.one_of(st.lists(st.one_of(st.integers(-2, 256), HOSTILE), max_size=3), st.sampled_from(["", "ab"])),
    "dropout": SMALL, "size": SMALL}
CONFIG_KEYS = {"atn": ["init_scale"], "fast_atn": ["init_scale", "pool"], "polo_atn": ["scale", "hidden"],
               "tps_stn": ["grid_size"], "lenet": ["dropout"], "stn28": ["size"]}


@settings(max_examples=40, **SETTINGS)
@given(name=st.sampled_from(sorted(CONFIG_KEYS)), values=st.data())
def test_build_model_configs(name, values):
    keys = values.draw(st.lists(st.sampled_from(CONFIG_KEYS[name]), max_size=2, unique=True))
    config = {k: values.draw(CONFIG_VALUES[k]) for k in keys}
    try:
        model = build_model(name, **config)
    except (ValueError, TypeError) as err:
        assert _names_parameter(err, keys + ["config"]), f"build_model({name!r}, **{config}): {err}"
        event("refused")
        return
    event("works")
    s = input_size(name)
    with torch.no_grad():
        logits = model.eval()(torch.rand(2, 1, s, s))
    assert logits.shape == (2, 10) and bool(torch.isfinite(logits).all())


SHAPES = st.one_of(st.sampled_from([(2, 1, None, None), (1, 1, None, None)]),  # the right shape, half the time
                   st.sampled_from([(2, None, None), (2, 3, None, None), (1, 1, 27, 27), (1, 1, None, 129),
                                    (2, 1, 64, 64), (1, 1, None, None, 1), (1, None, None), (None, None), ()]))


@settings(max_examples=60, **SETTINGS)
@given(name=st.sampled_from(MODEL_NAMES), shape=SHAPES, fill=st.sampled_from(["rand", "nan", "inf", "zeros"]),
       dtype=st.one_of(st.just(torch.float32), st.sampled_from([torch.int64, torch.uint8, torch.bool])))
def test_model_inputs_of_wrong_shapes_dtypes_and_values(name, shape, fill, dtype):
    model = build_model(name).eval()
    s = input_size(name)
    size = tuple(s if d is None else d for d in shape)
    x = {"rand": torch.rand, "zeros": torch.zeros}.get(fill, torch.zeros)(size)
    if fill in ("nan", "inf"):
        x = torch.full(size, float(fill))
    if dtype != torch.float32:
        x = x.nan_to_num().clamp(0, 1).to(dtype)
    try:
        with torch.no_grad():
            logits = model(x)
    except (ValueError, TypeError) as err:
        assert _names_parameter(err, ["images"]), f"{name}({tuple(x.shape)} {x.dtype}): {err}"
        event("refused")
        return
    event("works")
    assert dtype == torch.float32 and len(size) == 4 and size[1:] == (1, s, s), f"{name} accepted {size} {dtype}"
    assert logits.shape == (size[0], 10)
    if fill in ("rand", "zeros"):
        assert bool(torch.isfinite(logits).all())


# Faults these tests found in stnutils/models (strict xfails until fixed): another float dtype, an empty
# batch and a PoloATN hidden that is not a list now raise errors that name the parameter.


@pytest.mark.parametrize("name, dtype", [("lenet", torch.float64), ("fast_atn", torch.float64),
                                         ("stn28", torch.float16)])
def test_model_inputs_of_another_float_dtype(name, dtype):
    s = input_size(name)
    x = torch.rand(2, 1, s, s).to(dtype)
    try:
        with torch.no_grad():
            assert build_model(name).eval()(x).shape == (2, 10)
    except (ValueError, TypeError) as err:
        assert _names_parameter(err, ["images"]), err


@pytest.mark.parametrize("name", ["stn28", "fast_atn"])
def test_an_attention_model_given_no_images(name):
    s = input_size(name)
    try:
        with torch.no_grad():
            assert build_model(name).eval()(torch.zeros(0, 1, s, s)).shape == (0, 10)
    except (ValueError, TypeError) as err:
        assert _names_parameter(err, ["images"]), err


@pytest.mark.parametrize("hidden", [None, 128, 0.5])
def test_polo_atn_hidden_that_is_not_a_list(hidden):
    with pytest.raises((ValueError, TypeError), match="hidden"):
        build_model("polo_atn", hidden=hidden)


FIELDS = dict(
    model=st.one_of(st.sampled_from(MODEL_NAMES), HOSTILE), model_config=st.one_of(st.just({}), HOSTILE),
    task=st.one_of(st.sampled_from(["28", "60", "128", 28, 128]), HOSTILE),
    schedule=st.one_of(st.just("custom"), HOSTILE), profile=st.one_of(st.sampled_from(["smoke", "quick"]), HOSTILE),
    epochs=st.one_of(st.integers(-2, 200_000), HOSTILE), samples_per_epoch=st.one_of(st.integers(-2, 10**8), HOSTILE),
    batch_size=st.one_of(st.integers(-2, 10**6), HOSTILE),
    optimizer=st.one_of(st.sampled_from(["sgd", "adam"]), HOSTILE),
    lr=numbers(1e-6, 10), momentum=numbers(0, 1), weight_decay=numbers(0, 1), lr_schedule=st.sampled_from(
        ["step", "constant", "cosine", None]), lr_step_size=st.one_of(st.integers(-1, 10**6), HOSTILE),
    lr_gamma=numbers(0, 1), curriculum=st.one_of(st.lists(numbers(0, 40), max_size=3), HOSTILE),
    epochs_per_stage=st.one_of(st.integers(-1, 5), HOSTILE), contrast=numbers(0, 1),
    final_contrast_epochs=st.one_of(st.integers(-1, 20), HOSTILE),
    final_contrast=st.one_of(st.tuples(numbers(0, 1), numbers(0, 1)), HOSTILE), noise=numbers(0, 1),
    rotation=numbers(0, 180), aux_location_weight=numbers(0, 10), test_samples=st.one_of(st.integers(-1, 10**7),
                                                                                        HOSTILE),
    stage_snapshots=st.one_of(st.booleans(), HOSTILE), seed=st.one_of(st.integers(-5, 2**64), HOSTILE),
    device=st.one_of(st.sampled_from(["cpu", "cuda", "cuda:1", "auto", "gpu", "cuda:x"]), HOSTILE),
    data_root=st.one_of(st.none(), st.just("some/folder"), HOSTILE),
)


@settings(max_examples=150, **SETTINGS)
@given(fields=_subset(FIELDS))
def test_train_config_fields(fields):
    try:
        cfg = TrainConfig(**fields)
    except (ValueError, TypeError) as err:
        names = list(fields) + [f"curriculum[{k}]" for k in range(3)]
        assert _names_parameter(err, names), f"TrainConfig({fields}): {err}"
        event("refused")
        return
    event("works")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    for name in ("lr", "momentum", "weight_decay", "contrast", "noise", "rotation", "aux_location_weight"):
        assert math.isfinite(getattr(cfg, name)), name
    assert all(math.isfinite(s) for s in cfg.curriculum)


OPTION_VALUES = st.one_of(st.sampled_from(["0", "-1", "1", "2", "nan", "NaN", "Infinity", "-Infinity", "1e30", "1e999",
                                           "[]", "[0,5]", "{}", "null", "true", "abc", "", "0.5", "[1e999]", "\"x\""]),
                          st.integers(-5, 10**9).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr))
SET_KEYS = st.sampled_from(["lr", "epochs", "batch_size", "samples_per_epoch", "curriculum", "contrast", "noise",
                            "momentum", "seed", "optimizer", "final_contrast", "rotation", "model", "model_config",
                            "test_samples", "device", "unknown_field", "weight_decay", "aux_location_weight"])


VALID_SETS = st.sampled_from([("lr", "0.02"), ("epochs", "1"), ("contrast", "0.5"), ("curriculum", "[0,5]"),
                              ("optimizer", "adam"), ("test_samples", "16"), ("noise", "0"), ("seed", "3")])


@settings(max_examples=60, **SETTINGS)
@given(sets=st.lists(st.one_of(VALID_SETS, st.tuples(SET_KEYS, OPTION_VALUES)), max_size=2),
       epochs=st.one_of(st.none(), st.just("1"), OPTION_VALUES), seed=st.one_of(st.none(), st.just("2"), OPTION_VALUES),
       device=st.sampled_from(["cpu", "cpu", "auto", "gpu", "cuda:9", ""]),
       schedule=st.sampled_from(["lenet", "fast_atn", "stn28", "resnet", ""]),
       profile=st.sampled_from(["smoke", "smoke", "quick", "fast"]))
def test_command_line_options(tmp_path_factory, capsys, sets, epochs, seed, device, schedule, profile):
    out = tmp_path_factory.mktemp("cli")
    (out / "model.pt").write_bytes(b"a finished run: valid options end in 'exists', nothing trains")
    argv = ["train", "--schedule", schedule, "--profile", profile, "--out", str(out), "--device", device, "--quiet"]
    for key, value in sets:
        argv += ["--set", f"{key}={value}"]
    argv += [] if epochs is None else ["--epochs", epochs]
    argv += [] if seed is None else ["--seed", seed]
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    err = capsys.readouterr().err
    assert status in (1, 2), f"{argv}: exit {status}"
    event("valid: refused by the existing run" if status == 1 else "refused: bad option")
    assert "error:" in err and "Traceback" not in err, f"{argv}: {err}"
    assert (out / "model.pt").read_bytes().startswith(b"a finished run")
