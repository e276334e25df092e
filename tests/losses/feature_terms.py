"""Helpers for the tests of the stateful feature terms (vid, ofd, crd, reviewkd): a term on given
features outside the training loop, float64 building blocks for the re-implementations, and checks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kdlab.losses import LOSS_TERMS, StepOutputs, TermSetup


def build(name: str, features: dict, teacher_features: dict, num_train: int = 16, student_model=None,
          teacher_model=None, **options):
    """A registered term with `options`, bound to the models where given, set up on the features."""
    term = LOSS_TERMS.build(name, options)
    if student_model is not None or teacher_model is not None:
        term.bind(student_model, teacher_model)
    labels = torch.arange(num_train) % 3  # training labels by row (crd's other-class negatives)
    term.setup(TermSetup(features, teacher_features, num_train=num_train, num_classes=3, train_labels=labels))
    return term


def leaves(features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().requires_grad_() for k, v in features.items()}


def step(features: dict, teacher_features: dict, position: torch.Tensor | None = None) -> StepOutputs:
    n = len(next(iter(features.values())))
    position = torch.arange(n) if position is None else position
    batch = {"position": position, "label": torch.zeros(n, dtype=torch.long)}
    return StepOutputs(torch.zeros(n, 3), batch, torch.zeros(n, 3), features, teacher_features)


def value(term, out: StepOutputs) -> torch.Tensor:
    result = term(out)
    return result[0] if isinstance(result, tuple) else result


def close(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5) -> None:
    """Within a relative error `rel`: |actual - expected| <= rel |expected| in the l2 norm over the
    tensor (a float32 sum that cancels is exact to its terms' scale, not to each small result's)."""
    actual, expected = actual.detach().double(), expected.detach().double()
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    error, size = float((actual - expected).norm()), float(expected.norm())
    assert error <= rel * size or error < 1e-30, f"relative error {error / max(size, 1e-300):.2e} > {rel:g}"


def same_value_and_gradients(term, loss, ref, features: dict, ref_features: dict, ref_params: dict, rel: float) -> None:
    """The term's loss (after backward) against a re-implementation's `ref`: value, the gradient in
    each feature, and in each of the term's parameters."""
    close(loss, ref, rel)
    for k in ref_features:
        close(features[k].grad, ref_features[k].grad, rel)
    for name, p in term.named_parameters():
        close(p.grad, ref_params[name].grad, rel)


def finite(loss: torch.Tensor, *tensors: torch.Tensor) -> bool:
    grads = [t.grad for t in tensors]
    return bool(torch.isfinite(loss).all()) and all(g is not None and bool(torch.isfinite(g).all()) for g in grads)


def double_leaves(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The module's parameters as float64 leaves, by name: what a re-implementation computes with."""
    return {k: p.detach().double().clone().requires_grad_() for k, p in module.named_parameters()}


def batch_norm_train(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """A training-mode batch norm from its definition: per channel, batch statistics (biased variance)."""
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight[None, :, None, None] + bias[None, :, None, None]


def conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A stride-1 convolution keeping the size (odd kernels)."""
    return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2)
