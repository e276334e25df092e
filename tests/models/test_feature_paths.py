"""`feature_paths`: the module paths distillation terms tap (stage outputs, their pre-activations,
the pooled embedding, the classifier), for every registered model; and P1's models unchanged by the
taps added for them."""

import hashlib
import math

import pytest
import torch
from torch import nn

from kdlab.models import MODELS, build_model, count_parameters

KEYS = {"stages", "preact", "embedding", "classifier"}
# Token models (kdlab.models.roberta) read token ids, not images, and name no feature paths.
IMAGE_AND_VECTOR_MODELS = [n for n in MODELS.names() if not n.startswith("roberta")]
# Families whose stage outputs end in a ReLU: there relu(preact) is the stage output. In the others
# a stage output is a sum before any activation (pre-activation ResNets, wide ResNets) or a linear
# projection (MobileNetV2 blocks).
POST_RELU = {"resnet8_v1", "resnet14_v1", "resnet20_v1", "resnet32_v1", "resnet44_v1", "resnet56_v1",
             "resnet110_v1", "resnet8x4", "resnet32x4", "resnet50_cifar", "resnet18", "resnet50",
             "vgg8", "vgg11", "vgg13", "vgg16", "vgg19", "shufflenetv1", "shufflenetv2", "mlp"}
WIDE_RESNETS = {"wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2"}


def _input_shape(name):
    return (3, 4) if name == "channel_linear" else (3, 16, 16)


def _run_with_hooks(model, paths, x):
    modules, outputs = dict(model.named_modules()), {}
    handles = [modules[p].register_forward_hook(lambda m, a, out, p=p: outputs.__setitem__(p, out)) for p in set(paths)]
    with torch.no_grad():
        logits = model(x)
    for h in handles:
        h.remove()
    return logits, outputs


def test_every_image_model_is_covered():
    assert {"resnet8_v1", "wrn_40_2", "vgg13", "mobilenetv2_half", "shufflenetv2", "resnet50_cifar",
            "resnet20", "mobilenetv2", "resnet18", "mlp"} <= set(IMAGE_AND_VECTOR_MODELS)


@pytest.mark.parametrize("name", IMAGE_AND_VECTOR_MODELS)
def test_feature_paths(name):
    torch.manual_seed(0)
    shape = _input_shape(name)
    num_classes = shape[0] if name == "channel_linear" else 10
    model = build_model(name, num_classes, shape).eval()
    paths = model.feature_paths
    assert set(paths) <= KEYS and all(isinstance(p, str) for v in paths.values() for p in v)
    modules = dict(model.named_modules())
    missing = [p for v in paths.values() for p in v if p not in modules]
    assert not missing, missing
    logits, out = _run_with_hooks(model, [p for v in paths.values() for p in v], torch.randn(2, *shape))

    if "classifier" in paths:
        (classifier,) = paths["classifier"]
        assert isinstance(modules[classifier], nn.Linear)
        assert torch.equal(out[classifier], logits)
    if "embedding" in paths:
        (embedding,) = paths["embedding"]
        assert out[embedding].shape == (2, modules[classifier].in_features)

    stages, preact = paths.get("stages", []), paths.get("preact", [])
    assert len(preact) == len(stages)
    for i, (s, p) in enumerate(zip(stages, preact)):
        assert out[s].dim() == (2 if name == "mlp" else 4), s
        assert out[p].shape == out[s].shape, (s, p)
        if i > 0 or p != s:  # the stem's entry is its output (ReLU'd in most families)
            assert out[p].min() < 0, f"{p} should be before an activation"
        if name in POST_RELU:
            assert out[s].min() >= 0, s
            assert torch.equal(torch.relu(out[p]), out[s]), (s, p)
    if name in WIDE_RESNETS:  # preact: the BN that reads the stage output; its ReLU is the next block's input
        for s, p in zip(stages[1:], preact[1:]):
            bn = modules[p]
            expected = (out[s] - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
            torch.testing.assert_close(out[p], expected * bn.weight[:, None, None] + bn.bias[:, None, None])


# What RepDistiller's forward(is_feat=True) returns at 3x32x32 (its feature list before the pooled
# vector, and the pooled vector's size), run from its models/ files.
REPDISTILLER_FEATURES = {
    "resnet56_v1": ([(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8)], 64),
    "resnet8x4": ([(32, 32, 32), (64, 32, 32), (128, 16, 16), (256, 8, 8)], 256),
    "resnet50_cifar": ([(64, 32, 32), (256, 32, 32), (512, 16, 16), (1024, 8, 8), (2048, 4, 4)], 2048),
    "wrn_40_2": ([(16, 32, 32), (32, 32, 32), (64, 16, 16), (128, 8, 8)], 128),
    "vgg13": ([(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 4, 4)], 512),
    "mobilenetv2_half": ([(16, 16, 16), (12, 16, 16), (16, 8, 8), (48, 4, 4), (160, 2, 2)], 1280),
    "shufflenetv1": ([(24, 32, 32), (240, 16, 16), (480, 8, 8), (960, 4, 4)], 960),
    "shufflenetv2": ([(24, 32, 32), (116, 16, 16), (232, 8, 8), (464, 4, 4)], 1024),
}


@pytest.mark.parametrize("name", REPDISTILLER_FEATURES)
def test_stages_are_the_benchmarks_feature_maps(name):
    maps, dim = REPDISTILLER_FEATURES[name]
    model = build_model(name, 100, (3, 32, 32)).eval()
    paths = model.feature_paths
    _, out = _run_with_hooks(model, paths["stages"] + paths["preact"] + paths["embedding"], torch.randn(1, 3, 32, 32))
    assert [tuple(out[p].shape[1:]) for p in paths["stages"]] == maps
    assert [tuple(out[p].shape[1:]) for p in paths["preact"]] == maps
    assert out[paths["embedding"][0]].shape == (1, dim)


# P1's models before feature paths were added (commit 7ef88b3): trainable parameters, a digest of
# the state dict's keys and shapes, and the logits (float64) of a fixed input with every weight and
# statistic set by `_fill` (no random initialisation, so they do not depend on torch's generator).
P1_BEFORE_TAPS = {
    ("resnet8", (3, 32, 32)): (77395, "27c4086eef0a1357", [0.091834, 0.275815, 0.301439, 0.092047, 0.276275, 0.301856]),
    ("resnet20", (1, 8, 8)): (271539, "57c80d16d33e63e4", [1.219337, 2.695128, 2.450962, 0.965894, 2.198258, 2.024787]),
    ("resnet110", (1, 8, 8)): (1729779, "3cf654919d60f20f",
                               [5305.816232, 11843.356727, 10893.487929, 11140.413091, 24867.497982, 22873.284327]),
    ("mobilenetv2", (3, 32, 32)): (2227715, "bb363064f4c44d4f", [0.162321, -1.259479, 1.710323, 0.162321, -1.259479, 1.710323]),
    ("mobilenetv2", (1, 8, 8)): (2227139, "394a8cffd91b23b1", [0.162327, -1.259496, 1.710344, 0.162327, -1.259496, 1.710344]),
    ("resnet18", (3, 16, 16)): (11170371, "a0ba418886410d53", [-3.068789, 0.366397, 3.747659, -3.123171, 0.548109, 4.153394]),
    ("resnet50", (3, 16, 16)): (23506499, "16890a36691032b8",
                                [-14.221187, 30.145381, 45.031721, -14.221312, 30.464812, 45.358689]),
    ("mlp", (1, 8, 8)): (1203, "eba903325f47fac0", [-0.082472, -0.033197, 0.03216, -0.089643, -0.130754, -0.111994]),
    ("random_features", (1, 8, 8)): (99, "48b16ee22106bfbf", [-0.043789, 0.15007, -0.409895, 0.211901, -0.084864, -0.234443]),
    ("channel_linear", (3, 4)): (12, "77427d8ae9320054", [1.712181, 1.490705, -0.544841, 1.148384, -1.569045, -1.063538]),
}
P1_OPTIONS = {"mlp": {"hidden": [16, 8]}, "random_features": {"num_features": 32}}


def _fill(model):
    """Every floating state entry set from its position and shape: weights scaled by fan-in, BN
    scales about 0.5, shifts and running means about 0, running variances about 1."""
    with torch.no_grad():
        for i, (name, t) in enumerate(model.state_dict().items()):
            if not t.is_floating_point():
                continue
            wave = torch.sin(torch.arange(t.numel(), dtype=torch.float64) * 0.7 + i).reshape(t.shape)
            if name.endswith("running_var"):
                t.copy_(1 + 0.5 * wave)
            elif t.dim() == 1:
                t.copy_((0.5 if name.endswith("weight") else 0.0) + 0.1 * wave)
            else:
                t.copy_(wave / math.sqrt(t[0].numel()))


@pytest.mark.parametrize("name,shape", list(P1_BEFORE_TAPS), ids=lambda v: str(v))
def test_p1_models_unchanged_by_the_taps(name, shape):
    count, digest, logits = P1_BEFORE_TAPS[(name, shape)]
    model = build_model(name, 3, shape, P1_OPTIONS.get(name)).double().eval()
    keys = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    assert count_parameters(model) == count
    assert hashlib.sha256(keys.encode()).hexdigest()[:16] == digest
    _fill(model)
    x = torch.cos(torch.arange(2 * math.prod(shape), dtype=torch.float64) * 0.37).reshape(2, *shape) * 2
    with torch.no_grad():
        got = model(x).flatten().tolist()
    assert got == pytest.approx(logits, rel=1e-5, abs=1e-5)
