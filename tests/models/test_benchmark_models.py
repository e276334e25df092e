"""The CIFAR-100 benchmark models of CRD (Tian et al. 2020): parameter counts as the reference
definitions give them, and every image model (these and P1's) running forward and backward on
CIFAR-sized and digit-sized inputs."""

import pytest
import torch

from kdlab.models import build_model, count_parameters

# Parameters at 3x32x32 with 100 classes, counted (trainable parameters, as count_parameters) from
# RepDistiller's model definitions (github.com/HobbitLong/RepDistiller, models/: resnet.py,
# resnetv2.py, wrn.py, vgg.py, mobilenetv2.py, ShuffleNetv1.py, ShuffleNetv2.py), each built with
# num_classes=100 under the name its models/__init__.py gives (in brackets where it differs).
REPDISTILLER_PARAMETERS = {
    "resnet8_v1": 83_892,  # [resnet8]
    "resnet14_v1": 181_108,  # [resnet14]
    "resnet20_v1": 278_324,  # [resnet20]
    "resnet32_v1": 472_756,  # [resnet32]
    "resnet44_v1": 667_188,  # [resnet44]
    "resnet56_v1": 861_620,  # [resnet56]
    "resnet110_v1": 1_736_564,  # [resnet110]
    "resnet8x4": 1_233_540,
    "resnet32x4": 7_433_860,
    "resnet50_cifar": 23_705_252,  # [ResNet50]
    "wrn_16_1": 180_916,
    "wrn_16_2": 703_284,
    "wrn_40_1": 569_780,
    "wrn_40_2": 2_255_156,
    "vgg8": 3_965_028,
    "vgg11": 9_277_284,
    "vgg13": 9_462_180,
    "vgg16": 14_774_436,
    "vgg19": 20_086_692,
    "mobilenetv2_half": 812_836,  # [MobileNetV2, i.e. mobile_half]
    "shufflenetv1": 949_258,  # [ShuffleV1]
    "shufflenetv2": 1_355_528,  # [ShuffleV2]
}
BENCHMARK_MODELS = list(REPDISTILLER_PARAMETERS)
P1_IMAGE_MODELS = ["resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
                   "mobilenetv2", "resnet18", "resnet50"]


@pytest.mark.parametrize("name", BENCHMARK_MODELS)
def test_parameter_counts_are_the_benchmarks(name):
    assert count_parameters(build_model(name, 100, (3, 32, 32))) == REPDISTILLER_PARAMETERS[name]


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 8, 8)], ids=["cifar", "digits"])
@pytest.mark.parametrize("name", BENCHMARK_MODELS + P1_IMAGE_MODELS)
def test_forward_and_backward(name, shape):
    torch.manual_seed(0)
    model = build_model(name, 10, shape)
    logits = model(torch.randn(2, *shape))
    assert logits.shape == (2, 10)
    logits.square().sum().backward()
    for path, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), path


@pytest.mark.parametrize("name", ["resnet8_v1", "wrn_16_1", "vgg8", "mobilenetv2_half", "shufflenetv1", "shufflenetv2"])
def test_channels_last(name):
    """The training loop runs image models in channels_last (channel shuffles reshape channels)."""
    torch.manual_seed(0)
    model = build_model(name, 10, (1, 8, 8)).eval()
    x = torch.randn(2, 1, 8, 8)
    expected = model(x)
    model.to(memory_format=torch.channels_last)
    torch.testing.assert_close(model(x.contiguous(memory_format=torch.channels_last)), expected)


def _output_sizes(model, paths, shape):
    modules, sizes = dict(model.named_modules()), {}
    handles = [modules[p].register_forward_hook(lambda m, a, out, p=p: sizes.__setitem__(p, tuple(out.shape[2:])))
               for p in paths]
    model.eval()(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    return [sizes[p] for p in paths]


def test_vgg_pools_as_the_benchmark_and_never_below_1x1():
    def last_map(shape):
        model = build_model("vgg8", 10, shape)
        return _output_sizes(model, model.feature_paths["stages"][-1:], shape)[0]

    assert last_map((3, 32, 32)) == (4, 4)  # three max-pools
    assert last_map((3, 64, 64)) == (4, 4)  # a fourth for 64 px inputs (Tiny-ImageNet), as the benchmark
    assert last_map((1, 8, 8)) == (1, 1)
    assert last_map((1, 4, 4)) == (1, 1)  # the third max-pool is left out
    assert last_map((1, 28, 28)) == (3, 3)


@pytest.mark.parametrize("name,shape,sizes", [
    ("resnet20_v1", (1, 8, 8), [(8, 8), (8, 8), (4, 4), (2, 2)]),
    ("wrn_16_2", (1, 8, 8), [(8, 8), (8, 8), (4, 4), (2, 2)]),
    ("mobilenetv2_half", (1, 8, 8), [(4, 4), (4, 4), (2, 2), (1, 1), (1, 1)]),
    ("shufflenetv1", (1, 8, 8), [(8, 8), (4, 4), (2, 2), (1, 1)]),
    ("shufflenetv2", (1, 8, 8), [(8, 8), (4, 4), (2, 2), (1, 1)]),
    ("resnet50_cifar", (1, 8, 8), [(8, 8), (8, 8), (4, 4), (2, 2), (1, 1)]),
])
def test_small_inputs_stay_at_1x1_or_more(name, shape, sizes):
    model = build_model(name, 10, shape)
    assert _output_sizes(model, model.feature_paths["stages"], shape) == sizes
