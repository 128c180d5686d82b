import json
import math

import pytest
import torch
import torch.nn.functional as F

from stnutils.models import (
    ATN,
    MODEL_NAMES,
    TPSSTN,
    FastATN,
    LeNet,
    PoloATN,
    build_model,
    input_size,
)
from stnutils.models.transformer import attention_theta, identity_theta

TRANSFORMERS = [n for n in MODEL_NAMES if n not in ("lenet", "whatwhere")]  # whatwhere: tests/test_whatwhere_*.py


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: build_model(name) for name in MODEL_NAMES}


def _images(name, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = input_size(name)
    return torch.rand(n, 1, s, s, generator=g)


def test_names_and_sizes():
    assert MODEL_NAMES == ("lenet", "stn28", "stn60", "stn128", "atn", "polo_atn", "fast_atn", "heat_atn", "tps_stn",
                           "whatwhere")
    assert [input_size(n) for n in MODEL_NAMES] == [28, 28, 60, 128, 128, 128, 128, 128, 28, 128]
    with pytest.raises(ValueError, match="name must be one of"):
        input_size("resnet")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_shape_name_and_config(models, name):
    m = models[name]
    assert m.name == name and m.image_size == input_size(name)
    out = m(_images(name))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    # config is JSON and rebuilds the same architecture
    config = json.loads(json.dumps(m.config))
    clone = build_model(name, **config)
    clone.load_state_dict(m.state_dict())
    m.eval(), clone.eval()
    torch.testing.assert_close(clone(_images(name)), m(_images(name)))


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_attention_is_the_initial_one_at_init(models, name):
    m = models[name]
    x = _images(name, n=3, seed=1)
    out = m.attend(x)
    glimpse, theta = out.glimpse, out.theta
    assert theta.shape == (3, 2, 3)
    s = input_size(name)
    if name in ("stn28", "stn128", "tps_stn"):  # identity: the glimpse is the input
        torch.testing.assert_close(theta, identity_theta(3), atol=1e-5, rtol=0)
        torch.testing.assert_close(glimpse, x, atol=1e-5, rtol=0)
    elif name == "stn60":  # identity theta: the whole 60x60 field shrunk to 28x28
        torch.testing.assert_close(theta, identity_theta(3), atol=1e-5, rtol=0)
        shrunk = torch.nn.functional.interpolate(x, size=28, mode="bilinear", align_corners=False)
        torch.testing.assert_close(glimpse, shrunk, atol=1e-4, rtol=0)
    else:  # central 28x28 crop at full resolution
        torch.testing.assert_close(theta, attention_theta(28 / 128, 0.0, 0.0).expand(3, 2, 3))
        torch.testing.assert_close(glimpse, x[..., 50:78, 50:78], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.offset, torch.zeros(3, 2), atol=1e-4, rtol=0)
    assert glimpse.shape[-1] == (128 if name == "stn128" else 28) and s in (28, 60, 128)


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_gradients_reach_the_localisation_net(name):
    torch.manual_seed(0)
    m = build_model(name)
    x, y = _images(name, n=2), torch.tensor([3, 7])
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    # step 1: only the (zero-initialised) head has a gradient; step 2 reaches every layer
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    loc = torch.nn.ModuleList([m.parts()["localisation"], m.parts()["head"]])
    params = list(loc.named_parameters())
    assert params
    for pname, p in params:
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}: no gradient for {pname}"


@pytest.mark.parametrize("name", ["atn", "tps_stn"])
def test_deepcopy_after_forward(name):
    import copy

    m = build_model(name)
    x = _images(name)
    out = m.attend(x)
    clone = copy.deepcopy(m)  # the model keeps no tensor of the pass (no graph to refuse copying)
    assert not hasattr(m, "last_theta") and not hasattr(clone, "last_theta")
    again = clone.attend(x)
    torch.testing.assert_close(again.theta.detach(), out.theta.detach())
    torch.testing.assert_close(again.logits.detach(), out.logits.detach())
    assert out.theta.requires_grad  # the result keeps its graph for the auxiliary loss
    assert out.offset.requires_grad


@pytest.mark.parametrize("r, c", [(64, 64), (40, 90), (100, 30)])
@pytest.mark.parametrize("cls", [ATN, FastATN])
def test_atn_parameters_map_to_the_intended_crop(cls, r, c):
    m = cls()
    with torch.no_grad():  # weights are zero at init: the bias alone sets (log s, atanh tx, atanh ty)
        m.stn.head.bias.copy_(torch.tensor([math.log(28 / 128), math.atanh((c - 64) / 64), math.atanh((r - 64) / 64)]))
    scene = torch.rand(2, 1, 128, 128)
    out = m.attend(scene)
    torch.testing.assert_close(out.glimpse, scene[..., r - 14 : r + 14, c - 14 : c + 14], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.offset, torch.tensor([[r - 64.0, c - 64.0]] * 2), atol=1e-3, rtol=0)


def test_attended_offset_is_differentiable_for_the_auxiliary_loss():
    torch.manual_seed(0)
    m = PoloATN()
    x = torch.rand(3, 1, 128, 128)
    out = m.attend(x)
    loss = (out.offset - torch.tensor([[10.0, -20.0]])).pow(2).mean()
    loss.backward()
    assert m.stn.head.weight.grad.abs().sum() > 0 and m.stn.head.bias.grad.abs().sum() > 0
    # no offset without a pass: the model keeps no state a stale offset could be read from
    fresh = PoloATN()
    assert not hasattr(fresh, "predicted_offset") and not hasattr(fresh, "last_theta")
    with torch.no_grad():
        fresh.stn.head.weight.normal_(std=0.05)
    first = fresh.attend(x[:1]).offset.detach().clone()
    other = fresh.attend(x[1:]).offset.detach()  # a second pass on other inputs changes nothing of the first
    torch.testing.assert_close(fresh.attend(x[:1]).offset.detach(), first)
    assert not torch.allclose(other, first.expand_as(other))


def test_polo_atn_scale_is_fixed_and_state_dict_has_no_retina():
    m = PoloATN(scale=0.25, hidden=[64])
    with torch.no_grad():
        m.stn.head.bias.copy_(torch.tensor([3.0, -3.0]))
    theta = m.attend(torch.rand(2, 1, 128, 128)).theta
    assert torch.equal(theta[:, 0, 0], torch.full((2,), 0.25)) and torch.equal(theta[:, 1, 1], theta[:, 0, 0])
    assert m.retina.n_filters == 768
    assert not any("bank" in k for k in m.state_dict())  # rebuilt from the config, not stored
    assert m.config == {"scale": 0.25, "hidden": [64]}


def test_fast_atn_localisation_reads_the_pooled_scene():
    m = FastATN(pool=4)
    first = m.stn.localisation[0]
    assert isinstance(first, torch.nn.AvgPool2d) and first.kernel_size == 4
    seen = {}

    def hook(module, inputs, output):
        seen["shape"] = tuple(inputs[0].shape)

    m.stn.localisation[1].register_forward_hook(hook)
    m(torch.rand(2, 1, 128, 128))
    assert seen["shape"] == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="pool"):
        FastATN(pool=3)


def test_tps_stn_grid_and_offset():
    m = TPSSTN(grid_size=3)
    x = torch.rand(2, 1, 28, 28)
    assert m.attend(x).grid.shape == (2, 28, 28, 2)
    with torch.no_grad():  # move every control point by the same amount: a pure translation
        m.head.bias.copy_(torch.tensor([0.25, -0.5] * 9))
    out = m.attend(x)
    torch.testing.assert_close(out.theta, attention_theta(1.0, 0.25, -0.5).expand(2, 2, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.offset, torch.tensor([[-7.0, 3.5]] * 2), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="grid_size"):
        TPSSTN(grid_size=1)


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match=r"name must be one of \['lenet', 'stn28'"):
        build_model("vgg")
    with pytest.raises(ValueError, match="unknown keys"):
        build_model("atn", pool=4)
    with pytest.raises(ValueError, match="init_scale"):
        build_model("atn", init_scale=1.5)
    with pytest.raises(ValueError, match="scale"):
        build_model("polo_atn", scale=-0.1)
    with pytest.raises(ValueError, match="hidden"):
        build_model("polo_atn", hidden=[0])
    with pytest.raises(ValueError, match=r"images must be an \(N, 1, 128, 128\) tensor, got \(2, 1, 28, 28\)"):
        ATN()(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"images must be an \(N, 1, 28, 28\) tensor, got \(2, 28, 28\)"):
        LeNet()(torch.rand(2, 28, 28))
    with pytest.raises(ValueError, match="float"):
        LeNet()(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))


def test_models_read_dataset_scenes(data_root):
    from stnutils.data import NoisyMNIST128

    images, labels, offsets = NoisyMNIST128(root=data_root, length=4, seed=3).batch(range(4))
    for name in ("stn128", "atn", "polo_atn", "fast_atn", "heat_atn"):
        m = build_model(name).eval()
        with torch.no_grad():
            assert m(images).shape == (4, 10)


# --- one pass, one result: attend() -------------------------------------------------------------
AFFINE = [n for n in TRANSFORMERS if n != "tps_stn"]


def _perturbed(name, seed=0):
    """A model whose theta depends on the input (the zero-initialised head made random)."""
    torch.manual_seed(seed)
    m = build_model(name).eval()
    head = m.parts()["head"]
    with torch.no_grad():
        head.weight.normal_(std=0.05)
        head.bias.add_(0.1 * torch.randn_like(head.bias))
    return m


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_attend_logits_equal_forward(name):
    m = _perturbed(name)
    x = _images(name, n=3, seed=4)
    with torch.no_grad():
        out = m.attend(x)
        logits = m(x)
    assert out.logits.shape == (3, 10)
    torch.testing.assert_close(out.logits, logits)


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_attend_glimpse_is_the_input_sampled_on_the_grid(name):
    from stnutils.models.transformer import grid_sample_fill

    m = _perturbed(name, seed=1)
    x = _images(name, n=3, seed=5)
    with torch.no_grad():
        out = m.attend(x)
    side = 128 if name == "stn128" else 28
    assert out.grid.shape == (3, side, side, 2) and out.glimpse.shape == (3, 1, side, side)
    assert out.theta.shape == (3, 2, 3) and out.offset.shape == (3, 2)
    assert not torch.allclose(out.theta[0], out.theta[1])  # the perturbed head reads the input
    torch.testing.assert_close(out.glimpse, grid_sample_fill(x, out.grid, fill=0.5), atol=1e-6, rtol=0)
    # the classifier saw that glimpse
    torch.testing.assert_close(out.logits, m.classifier(out.glimpse))


@pytest.mark.parametrize("name", AFFINE)
def test_attend_grid_and_offset_follow_theta_for_affine_models(name):
    from stnutils.models.transformer import affine_grid, theta_to_offset

    m = _perturbed(name, seed=2)
    x = _images(name, n=3, seed=6)
    with torch.no_grad():
        out = m.attend(x)
    torch.testing.assert_close(out.offset, theta_to_offset(out.theta, m.image_size))
    torch.testing.assert_close(out.grid, affine_grid(out.theta, out.glimpse.shape[-2:]))
