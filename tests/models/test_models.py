import pytest
import torch

from kdlab.errors import ConfigError
from kdlab.models import build_model, count_parameters


@pytest.mark.parametrize("name,expected", [("resnet20", 0.27e6), ("resnet56", 0.86e6)])
def test_cifar_resnet_parameter_counts(name, expected):
    n = count_parameters(build_model(name, 10, (3, 32, 32)))
    assert abs(n - expected) / expected < 0.02, n


@pytest.mark.parametrize("name,shape", [
    ("resnet20", (3, 32, 32)), ("resnet110", (3, 32, 32)), ("mobilenetv2", (3, 32, 32)),
    ("resnet18", (3, 64, 64)), ("resnet50", (3, 64, 64)), ("mobilenetv2", (3, 64, 64)),
    ("resnet20", (1, 8, 8)), ("mlp", (1, 8, 8)), ("random_features", (1, 8, 8)), ("channel_linear", (7, 5)),
])
def test_forward_shapes(name, shape):
    k = 7
    model = build_model(name, k, shape).eval()
    assert model(torch.randn(2, *shape)).shape == (2, k)


def test_random_features_are_fixed():
    m = build_model("random_features", 10, (64,), {"num_features": 50})
    assert [n for n, p in m.named_parameters()] == ["head.weight", "head.bias"]
    assert "proj" in m.state_dict()  # saved with the weights, never trained


def test_channel_linear_sees_only_its_channel():
    m = build_model("channel_linear", 3, (3, 4))
    x = torch.zeros(1, 3, 4)
    x[0, 1] = torch.randn(4)
    out = m(x)
    assert out[0, 0] == 0 and out[0, 2] == 0 and out[0, 1] != 0


def test_unknown_model_and_option():
    with pytest.raises(ConfigError, match="did you mean 'resnet56'"):
        build_model("resnet65", 10, (3, 32, 32))
    with pytest.raises(ConfigError, match="valid options: hidden"):
        build_model("mlp", 10, (64,), {"width": 3})
    with pytest.raises(ConfigError, match="needs inputs shaped"):
        build_model("channel_linear", 10, (1, 8, 8))
    with pytest.raises(ConfigError, match="known: channel_linear, mlp, .*, resnet20, .*a new one is a file of kdlab.models"):
        build_model("no_such_net", 10, (1, 8, 8))


def test_mobilenetv2_never_downsamples_small_inputs_below_4x4():
    import torch

    sizes = {shape: build_model("mobilenetv2", 10, shape).features(torch.zeros(2, *shape)).shape[-2:]
             for shape in [(3, 32, 32), (1, 8, 8), (1, 28, 28), (3, 64, 64)]}
    assert sizes[(3, 32, 32)] == (4, 4)  # the usual CIFAR adaptation, unchanged
    assert sizes[(1, 8, 8)] == (4, 4) and sizes[(1, 28, 28)] == (7, 7)
    assert sizes[(3, 64, 64)] == (2, 2)  # larger inputs keep the paper's strides
