"""The empirical neural tangent kernel of a model at given weights (P2).

Theta(x, x') = J(x) J(x')^T with J = d f / d theta, either traced over the K logits (an n x n
matrix) or per class (K matrices n x n), always float64. Two ways to get there:

- `layers` (kdlab.complexity.layerwise), for models made of Conv2d, Linear and BatchNorm layers
  (the CIFAR ResNets, MobileNetV2, MLPs): per-sample gradients in closed form inside batched
  backward passes, contracted layer by layer. resnet20, n = 256: 5.96-6.54 s and 2.47 GiB peak
  here, against 14.2 s and 3.4 GiB for the vmap path (benchmarks/ntk.py).
- `vmap`, for any model: per-sample gradients of each logit from torch.func (vmap of grad; image
  models in channels_last, ~10x faster on CPU than contiguous here) in chunks of `chunk` samples.
  Blocks of the kernel are products of two chunks' Jacobians, over parameter slices of at most
  4,096 entries summed in float64 (a float64 model gives float64 products throughout). If all n
  samples' Jacobians fit `jacobian_budget` bytes each chunk's is computed once and kept; else the
  row chunk's Jacobian is kept while column chunks are recomputed. One contraction over a
  concatenated Jacobian measured slower here (17.5 s against 14.2 s for n = 256, resnet20).

Batch-norm runs in eval mode (running statistics), so samples do not interact. Parameters with
requires_grad=False are not part of the kernel and cost nothing in either way.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from ..errors import ConfigError
from ..memory import check_fits
from ..models import evaluating, forward_kwargs, logits_in
from .layerwise import add_products, bytes_per_sample, layers_of, layerwise_ntk

# vmap over many samples at once gets slower per sample on CPU (per-sample intermediates outgrow the
# caches): 256 resnet20 inputs took 52.9 s in chunks of 137, against 3.8 s for 64 in chunks of 32.
DEFAULT_CHUNK = 32


def _jacobian_fn(model: nn.Module, num_classes: int, images: bool, fields: dict[str, torch.Tensor]):
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def logit(p, xi, fi, k):
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),), {n: v.unsqueeze(0) for n, v in fi.items()})
        return logits_in(out, model)[0, k]

    batched = vmap(grad(logit), in_dims=(None, 0, 0, None))

    def one_by_one(p, xs, fs, k):
        """What `batched` computes, a sample at a time: for models whose forward branches on their
        inputs' values, which vmap cannot follow (transformers' check for an all-ones attention mask)."""
        grads = [grad(logit)(p, xs[i], {n: v[i] for n, v in fs.items()}, k) for i in range(len(xs))]
        return {name: torch.stack([g[name] for g in grads]) for name in grads[0]}

    per_sample = [batched]

    def per_sample_grad(p, xs, fs, k):
        try:
            return per_sample[0](p, xs, fs, k)
        except RuntimeError as e:
            if per_sample[0] is one_by_one or "data-dependent control flow" not in str(e):
                raise
            per_sample[0] = one_by_one
            return one_by_one(p, xs, fs, k)

    def jacobian(start: int, stop: int, x: torch.Tensor) -> torch.Tensor:
        """(K, b, P): per-sample gradients of every logit, for samples start:stop."""
        xs = x[start:stop]
        if images:
            xs = xs.contiguous(memory_format=torch.channels_last)
        fs = {n: v[start:stop] for n, v in fields.items()}
        return torch.stack([torch.cat([g.flatten(1) for g in per_sample_grad(params, xs, fs, k).values()], 1)
                            for k in range(num_classes)])

    return jacobian, sum(p.numel() for p in params.values())


def check_per_sample(model: nn.Module) -> None:
    """The kernel is of a per-sample function: in eval mode a batch norm without running statistics
    normalises by the batch, so a sample's output depends on the others'. Refused in one line."""
    batch_bound = [name for name, m in model.named_modules()
                   if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.track_running_stats]
    if batch_bound:
        raise ConfigError(f"{type(model).__name__}'s batch norm '{batch_bound[0]}' keeps no running statistics "
                          f"(track_running_stats=False), so each output depends on the rest of the batch and has no "
                          f"per-sample NTK; give it running statistics")


def empirical_ntk(
    model: nn.Module,
    x: torch.Tensor,
    mode: Literal["trace", "per_class"] = "trace",
    chunk: int | None = None,
    jacobian_budget: float = 3e9,
    method: Literal["auto", "layers", "vmap"] = "auto",
    fields: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """n x n (trace) or K x n x n (per_class) float64 kernel of `model` on inputs `x`.

    Parameters with requires_grad=False are left out of the kernel (and cost nothing). `method`:
    `layers` (kdlab.complexity.layerwise: closed-form per-sample gradients of conv, linear and
    batch-norm layers), `vmap` (torch.func, any model), `auto` the first where it applies. `fields`:
    the model's other per-sample inputs by name (e.g. a text model's `attention_mask`); a model may
    return a tensor, a mapping with 'logits' or an object with `.logits` (kdlab.models.logits_in)."""
    check_per_sample(model)
    fields = forward_kwargs(model, {"inputs": x, **(fields or {})})
    images = x.dim() == 4
    if images:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with evaluating(model):
        with torch.no_grad():
            num_classes = logits_in(model(x[:1], **{n: v[:1] for n, v in fields.items()}), model).shape[1]
        kernels = num_classes if mode == "per_class" else 1
        check_fits(8 * kernels * len(x) ** 2, f"the {'per-class ' if kernels > 1 else ''}NTK of {len(x):,} samples",
                   str(x.device))
        layers = layers_of(model) if method != "vmap" and not fields else None
        if method == "layers" and layers is None:
            raise ValueError("method='layers' needs a model whose trainable parameters all belong to Conv2d, "
                             "Linear or BatchNorm (with running statistics) layers; use method='auto'")
        if layers is not None:
            try:
                return _layerwise(model, layers, x, mode, chunk, jacobian_budget)
            except NotImplementedError:  # a layer called twice (shared weights): the general path
                if method == "layers":
                    raise
        return _vmap_ntk(model, x, fields, num_classes, mode, chunk, jacobian_budget, images)


def _layerwise(model, layers, x, mode, chunk, budget) -> torch.Tensor:
    """Chunks fitted to `budget` bytes: a sample's recorded inputs and half as much again for the
    autograd graph (resnet20, n = 256: 1.64 GiB recorded, 2.47 GiB peak of the whole process), two
    chunks at a time when the samples do not fit in one."""
    if chunk is None:
        per_sample = 1.5 * bytes_per_sample(model, layers, x)
        chunk = len(x) if len(x) * per_sample <= budget else max(1, int(budget // (2 * per_sample)))
    return layerwise_ntk(model, layers, x, mode, chunk)


def _vmap_ntk(model, x, fields, k, mode, chunk, jacobian_budget, images) -> torch.Tensor:
    jacobian, num_params = _jacobian_fn(model, k, images, fields)
    n = len(x)
    per_sample = k * num_params * x.element_size()
    if chunk is None:
        chunk = max(1, min(n, DEFAULT_CHUNK, int(jacobian_budget // (2 * per_sample))))
    starts = list(range(0, n, chunk))
    cache: dict[int, torch.Tensor] = {}
    if n * per_sample <= jacobian_budget:  # everything fits: each chunk's Jacobian computed once
        cache = {s: jacobian(s, s + chunk, x) for s in starts}
    get = lambda s: cache[s] if s in cache else jacobian(s, s + chunk, x)  # noqa: E731
    out = torch.zeros((n, n) if mode == "trace" else (k, n, n), dtype=torch.float64, device=x.device)
    for i, si in enumerate(starts):
        ji = get(si)
        for sj in starts[i:]:
            jj = ji if sj == si else get(sj)
            a, b = slice(si, si + ji.shape[1]), slice(sj, sj + jj.shape[1])
            for c in range(k):  # traced: every logit's product into one block
                add_products(out[a, b] if mode == "trace" else out[c, a, b], ji[c], jj[c])
            if sj != si:
                if mode == "trace":
                    out[b, a] = out[a, b].T
                else:
                    out[:, b, a] = out[:, a, b].transpose(1, 2)
    return out
