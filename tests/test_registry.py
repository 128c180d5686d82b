"""The model registry: specs agree with their classes, configs are checked, parameters are counted."""
import inspect

import pytest
import torch

from stnutils.models import (
    MODEL_NAMES,
    REGISTRY,
    AttentionModel,
    ModelSpec,
    build_model,
    input_size,
    model_device,
    model_spec,
    parameter_counts,
)


def test_registry_keys_are_the_model_names():
    assert tuple(REGISTRY) == MODEL_NAMES
    assert all(isinstance(spec, ModelSpec) and spec.name == key for key, spec in REGISTRY.items())


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_spec_agrees_with_its_class(name):
    spec = model_spec(name)
    assert spec.cls.name == name
    assert spec.cls.image_size == spec.input_size == input_size(name)
    assert spec.task == str(spec.input_size) and spec.task in ("28", "60", "128")
    m = build_model(name)
    assert isinstance(m, spec.cls) and m.name == name and m.image_size == spec.input_size


def test_seed_counterparts_are_keys_of_the_seed_file():
    from stnutils.evaluation.reference import SEED_ACCURACY_MAP, load_seed_benchmark

    keys = set(load_seed_benchmark()["models"])
    for spec in REGISTRY.values():
        assert spec.seed_benchmark is None or spec.seed_benchmark in keys, spec
        assert spec.seed_accuracy_map is None or spec.seed_accuracy_map in SEED_ACCURACY_MAP, spec


def test_model_spec_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"name must be one of \['lenet', 'stn28'.*got 'resnet'"):
        model_spec("resnet")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_build_model_rejects_unknown_config_keys(name):
    with pytest.raises(ValueError, match=rf"config for model '{name}' takes .*unknown keys \['bogus'\]"):
        build_model(name, bogus=1)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_build_model_accepts_exactly_the_constructor_arguments(name):
    cls = model_spec(name).cls
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    m = build_model(name)
    assert sorted(m.config) == sorted(allowed)  # the config rebuilds the model
    assert build_model(name, **m.config).config == m.config


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_counts_parts_sum_to_the_total(name):
    m = build_model(name)
    counts = parameter_counts(m)
    assert counts["total"] == sum(p.numel() for p in m.parameters()) > 0
    if isinstance(m, AttentionModel):
        assert set(counts) == {"localisation", "head", "classifier", "total"}
        assert counts["localisation"] + counts["head"] + counts["classifier"] == counts["total"]
        assert all(counts[k] > 0 for k in ("localisation", "head", "classifier"))
    else:
        assert set(counts) == {"total"}


def test_model_device_of_a_model_and_of_one_without_tensors():
    assert model_device(build_model("lenet")) == torch.device("cpu")
    assert model_device(torch.nn.ReLU(), default="meta") == torch.device("meta")
