import pytest
import torch
from torch import nn

from kdlab.complexity import empirical_ntk, onehot_targets, soft_targets, supervision_complexity
from kdlab.models import build_model


def explicit_jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(n, K, P) by one autograd.grad per sample and logit: the definition, slowly."""
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(len(x)):
        out = model(x[i : i + 1])[0]
        rows.append(torch.stack([torch.cat([g.flatten() for g in torch.autograd.grad(out[k], params, retain_graph=True)])
                                 for k in range(len(out))]))
    return torch.stack(rows)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def model_and_inputs(kind: str, n: int = 7):
    torch.manual_seed(0)
    if kind == "mlp":
        model, x = build_model("mlp", 4, (6,), {"hidden": [7, 5]}), torch.randn(n, 6)
    elif kind == "cnn":
        model, x = SmallCNN(), torch.randn(n, 1, 4, 4)
    elif kind == "mobilenetv2":  # grouped (depthwise) convolutions
        model, x = build_model("mobilenetv2", 3, (3, 8, 8)), torch.randn(3, 3, 8, 8)
    else:
        model, x = build_model("resnet20", 3, (1, 8, 8)), torch.randn(5, 1, 8, 8)
    with torch.no_grad():  # non-trivial batch-norm statistics, used in eval mode
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return model, x


@pytest.mark.parametrize("method", ["layers", "vmap"])
@pytest.mark.parametrize("kind", ["mlp", "cnn", "resnet", "mobilenetv2"])
@pytest.mark.parametrize("chunk", [None, 3])
def test_ntk_equals_explicit_jacobian_products(kind, chunk, method):
    model, x = model_and_inputs(kind)
    model, x = model.double(), x.double()
    J = explicit_jacobian(model, x)
    expected = torch.einsum("akp,bkp->ab", J, J)
    got = empirical_ntk(model, x, chunk=chunk, method=method)
    assert torch.allclose(got, expected, rtol=1e-8, atol=0)
    per_class = empirical_ntk(model, x, mode="per_class", chunk=chunk, method=method)
    assert torch.allclose(per_class, torch.einsum("akp,bkp->kab", J, J), rtol=1e-8, atol=0)
    assert torch.allclose(per_class.sum(0), got, rtol=1e-10)


@pytest.mark.parametrize("kind", ["mlp", "cnn", "resnet"])
def test_float32_layers_match_the_float64_reference(kind):
    """A float32 model (the fast path's case): within 1e-5 of the largest entry of the float64
    J J^T, traced and per class. 64 samples make the diagonal blocks take the half-product path."""
    model, x = model_and_inputs(kind, n=64)
    J = explicit_jacobian(model.double(), x.double())
    model = model.float()
    scale = torch.einsum("akp,bkp->ab", J, J).abs().max()
    got = empirical_ntk(model, x, method="layers")
    assert (got - torch.einsum("akp,bkp->ab", J, J)).abs().max() <= 1e-5 * scale
    per_class = empirical_ntk(model, x, method="layers", mode="per_class", jacobian_budget=2e5)  # chunked too
    assert (per_class - torch.einsum("akp,bkp->kab", J, J)).abs().max() <= 1e-5 * scale


def test_frozen_parameters_are_left_out_and_other_layers_fall_back_to_vmap():
    model, x = model_and_inputs("cnn")
    model, x = model.double(), x.double()
    model.conv.requires_grad_(False)
    J = explicit_jacobian(model, x)  # over the trainable parameters only
    assert torch.allclose(empirical_ntk(model, x, method="layers"), torch.einsum("akp,bkp->ab", J, J), rtol=1e-8)
    with_norm = nn.Sequential(nn.Linear(6, 5), nn.LayerNorm(5), nn.Linear(5, 3)).double()
    xs = torch.randn(4, 6, dtype=torch.float64)
    J = explicit_jacobian(with_norm, xs)
    assert torch.allclose(empirical_ntk(with_norm, xs), torch.einsum("akp,bkp->ab", J, J), rtol=1e-8)
    with pytest.raises(ValueError, match="method='layers' needs"):
        empirical_ntk(with_norm, xs, method="layers")


def test_float32_model_is_accumulated_in_float64():
    torch.manual_seed(1)
    model, x = build_model("mlp", 3, (5,), {"hidden": [8]}), torch.randn(6, 5)
    got = empirical_ntk(model, x)
    assert got.dtype == torch.float64
    ref = empirical_ntk(model.double(), x.double())
    assert torch.allclose(got, ref, rtol=1e-5)


def test_adjusted_complexity_is_invariant_to_rescaling():
    torch.manual_seed(2)
    a = torch.randn(20, 30, dtype=torch.float64)
    theta = a @ a.T
    y = onehot_targets(torch.randint(0, 4, (20,)), 4)
    base = supervision_complexity(theta, y)
    scaled = supervision_complexity(theta * 37.5, y)
    assert scaled["adjusted"] == pytest.approx(base["adjusted"], rel=1e-9)
    assert scaled["complexity"] == pytest.approx(base["complexity"] / 37.5, rel=1e-9)
    assert scaled["jitter"] == pytest.approx(base["jitter"] * 37.5, rel=1e-9)


def test_targets_in_top_eigenvectors_are_simpler_than_random():
    torch.manual_seed(3)
    n = 40
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64))
    eig = torch.logspace(2, -3, n, dtype=torch.float64)
    theta = q @ torch.diag(eig) @ q.T
    smooth = q[:, :3] @ torch.randn(3, 5, dtype=torch.float64)
    rough = torch.randn(n, 5, dtype=torch.float64)
    smooth *= rough.norm() / smooth.norm()  # same size, different direction
    assert supervision_complexity(theta, smooth)["complexity"] < 0.01 * supervision_complexity(theta, rough)["complexity"]


def test_soft_targets_and_temperature():
    logits = torch.tensor([[4.0, 0.0, -1.0]])
    assert torch.allclose(soft_targets(logits, 1.0).sum(1), torch.ones(1, dtype=torch.float64))
    hot, cool = soft_targets(logits, 1.0), soft_targets(logits, 8.0)
    assert cool.max() < hot.max()
    assert torch.allclose(soft_targets(logits, 2.0, center=True).sum(1), torch.zeros(1, dtype=torch.float64))


def test_text_model_kernel_with_attention_mask_equals_the_definition():
    """roberta's forward branches on the mask's values (transformers skips an all-ones mask), which
    vmap cannot follow: the kernel is then taken a sample at a time, and still equals the definition,
    padding masked out."""
    pytest.importorskip("transformers")
    torch.manual_seed(0)
    model = build_model("roberta", 2, (6,), {"layers": 1, "hidden": 8, "heads": 2, "vocab_size": 20}).double()
    x = torch.randint(3, 20, (3, 6))
    mask = torch.ones(3, 6, dtype=torch.long)
    mask[1, 4:] = 0
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(3):
        out = model(x[i : i + 1], attention_mask=mask[i : i + 1]).logits[0]
        rows.append(torch.stack([torch.cat([g.flatten() for g in torch.autograd.grad(out[k], params, retain_graph=True,
                                                                                     allow_unused=True) if g is not None])
                                 for k in range(2)]))
    J = torch.stack(rows)
    got = empirical_ntk(model, x, fields={"attention_mask": mask}, chunk=2)
    assert torch.allclose(got, torch.einsum("akp,bkp->ab", J, J), rtol=1e-8, atol=0)
    unmasked = empirical_ntk(model, x, fields={"attention_mask": torch.ones_like(mask)}, chunk=2)
    assert not torch.allclose(got[1, 1], unmasked[1, 1])  # the mask is read
