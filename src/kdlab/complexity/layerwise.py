"""The NTK layer by layer, at GEMM speed: batched backward passes, per-sample weight gradients as
batched matrix products, contraction per layer.

Theta(x_i, x_j) = sum_k sum_layers <G_k(x_i), G_k(x_j)>, where G_k(x) is the gradient of logit k
with respect to one layer's parameters. For the layers whose per-sample gradients have a closed
form (the way per-sample-gradient libraries do it), one forward pass over a chunk of samples
records what each needs from its input, and each logit costs one backward pass over the chunk
that computes input gradients only (no parameter requires grad; tensor hooks keep each layer's
output gradient g):

  Conv2d     G = U^T g    U: the input unfolded to (L, C_in/groups * kh * kw) per position, g: (L, C_out)
  Linear     G = a^T g    over any leading token axes; bias: g summed over them
  BatchNorm  G_weight = sum_L g * x_hat, G_bias = sum_L g   (eval mode: running statistics)

Each layer's G is formed inside the backward pass, in a hook on its output gradient, and
contracted at once: nothing per logit outlives its layer, so memory is the chunk's recorded inputs
plus one layer's G (and, for an off-diagonal block, the row chunk's G of one logit). Fresh memory
matters here: keeping ten logits' output gradients made ten backward passes 5.7 s instead of 1.1 s
on these CPUs (first-touch page faults), so nothing is kept and G is written into one reused buffer. The block is G_a G_b^T over the flattened parameters (any
flattening order: only inner products are taken), in float32 slices of at most SLICE entries summed
into float64; a diagonal block computes its upper half.

`layers_of(model)` says whether a model is made of such layers only: every trainable parameter must
belong to one, each such layer runs once per forward pass, and batch norm must use running
statistics. Otherwise kdlab.complexity.ntk falls back to torch.func's vmap.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..models import logits_in

SLICE = 1 << 12
SUPPORTED = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)


def _trainable(module: nn.Module) -> dict[str, nn.Parameter]:
    return {n: p for n, p in module.named_parameters(recurse=False) if p.requires_grad}


Layers = dict[nn.Module, tuple[str, ...]]  # a layer and the names of its trainable parameters


def layers_of(model: nn.Module) -> Layers | None:
    """The layers with trainable parameters, if the closed forms cover every one; else None."""
    layers = {}
    for m in model.modules():
        names = tuple(_trainable(m))
        if not names:
            continue
        if type(m) not in SUPPORTED or (isinstance(m, nn.Conv2d) and m.padding_mode != "zeros"):
            return None
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is None:
            return None  # batch statistics even in eval mode: samples would interact
        layers[m] = names
    return layers


class Chunk:
    """One forward pass over a chunk of inputs; then, per logit, one backward pass that hands each
    layer's per-sample gradients (n, p) to `sink(layer, grads)` as the pass reaches it."""

    def __init__(self, model: nn.Module, layers: Layers, x: torch.Tensor):
        self.layers = layers
        self.inputs: dict[nn.Module, torch.Tensor] = {}
        self.sink = None
        self.buffer = torch.empty(0, dtype=x.dtype, device=x.device)
        self.x = x.detach().clone().requires_grad_(True)  # the graph runs through inputs, not weights
        calls: dict[nn.Module, int] = {}

        def record(m: nn.Module, args, out: torch.Tensor) -> None:
            calls[m] = calls.get(m, 0) + 1
            self.inputs[m] = _input_statistic(m, args[0].detach())  # a copy: later in-place ops cannot touch it
            out.register_hook(lambda g, m=m: self._deliver(m, g))

        handles = [m.register_forward_hook(record) for m in layers]
        try:
            with torch.enable_grad():
                self.logits = logits_in(model(self.x), model)
        finally:
            for h in handles:
                h.remove()
        if any(c != 1 for c in calls.values()) or len(calls) != len(layers):
            raise NotImplementedError("a layer ran more or less than once per forward pass")

    def backward(self, k: int, sink) -> None:
        self.sink = sink
        seed = torch.zeros_like(self.logits)
        seed[:, k] = 1
        torch.autograd.grad(self.logits, self.x, seed, retain_graph=True)
        self.sink = None

    def _deliver(self, m: nn.Module, g: torch.Tensor) -> None:  # a tensor hook: returns None, g unchanged
        self.sink(m, self._per_sample_grads(m, g.detach()))

    def _weight_buffer(self, shape: tuple[int, ...]) -> torch.Tensor:
        size = math.prod(shape)
        if self.buffer.numel() < size:
            self.buffer = torch.empty(size, dtype=self.buffer.dtype, device=self.buffer.device)
        return self.buffer[:size].view(shape)

    def _per_sample_grads(self, m: nn.Module, g: torch.Tensor) -> list[torch.Tensor]:
        n, params, u = g.shape[0], self.layers[m], self.inputs[m]
        out = []
        if isinstance(m, nn.Conv2d):
            c_out, groups = g.shape[1], m.groups
            gl = g.permute(0, 2, 3, 1).reshape(n, -1, c_out)  # (n, L, C_out): a view of a channels_last g
            if "weight" in params:
                if groups == 1:
                    w = torch.bmm(u, gl, out=self._weight_buffer((n, u.shape[1], c_out)))
                else:
                    gg = gl.view(n, -1, groups, c_out // groups).transpose(1, 2)
                    w = torch.matmul(u.view(n, groups, -1, u.shape[-1]), gg)
                out.append(w.reshape(n, -1))
            if "bias" in params:
                out.append(gl.sum(1))
        elif isinstance(m, nn.Linear):
            gl = g.reshape(n, -1, g.shape[-1])  # (n, T, out)
            if "weight" in params:
                out.append(torch.bmm(u.transpose(1, 2), gl, out=self._weight_buffer((n, u.shape[2], gl.shape[2]))).reshape(n, -1))
            if "bias" in params:
                out.append(gl.sum(1))
        else:
            gl = g.reshape(n, g.shape[1], -1)  # (n, C, L)
            if "weight" in params:
                out.append((gl * u).sum(2))
            if "bias" in params:
                out.append(gl.sum(2))
        return out


def _input_statistic(m: nn.Module, a: torch.Tensor) -> torch.Tensor:
    n = a.shape[0]
    if isinstance(m, nn.Conv2d):  # (n, C_in * kh * kw, L); unfold is ~1.7x faster from contiguous input
        return F.unfold(a.contiguous(), m.kernel_size, m.dilation, m.padding, m.stride)
    if isinstance(m, nn.Linear):  # (n, T, in)
        return a.reshape(n, -1, a.shape[-1])
    # batch norm: the normalised input, (n, C, L)
    shape = (1, -1) + (1,) * (a.dim() - 2)
    x_hat = (a - m.running_mean.view(shape)) * torch.rsqrt(m.running_var.view(shape) + m.eps)
    return x_hat.reshape(n, a.shape[1], -1)


def add_products(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor | None) -> None:
    """out += a @ b^T in float32 slices of the columns summed in float64; b=None: a @ a^T, of which
    only the upper half (two diagonal quarters and the upper right one) is computed and added."""
    parts = [(slice(None), a, slice(None), a if b is None else b)]
    if b is None and len(a) >= 64:
        h = len(a) // 2
        top, bottom = slice(0, h), slice(h, None)
        parts = [(top, a[:h], top, a[:h]), (top, a[:h], bottom, a[h:]), (bottom, a[h:], bottom, a[h:])]
    for rows, x, cols, y in parts:
        target = out[rows, cols]
        if x.dtype == torch.float64:
            target += x @ y.T
            continue
        for s in range(0, x.shape[1], SLICE):
            target += (x[:, s : s + SLICE] @ y[:, s : s + SLICE].T).double()


def bytes_per_sample(model: nn.Module, layers: Layers, x: torch.Tensor) -> int:
    """What one sample's recorded inputs take, measured on x[:1]."""
    probe = Chunk(model, layers, x[:1])
    return sum(t.numel() * t.element_size() for t in probe.inputs.values())


@contextmanager
def frozen(model: nn.Module):
    """No parameter requires grad inside (backward passes compute input gradients only)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def layerwise_ntk(model: nn.Module, layers: Layers, x: torch.Tensor, mode: str, chunk: int) -> torch.Tensor:
    """The kernel (n x n traced, or K x n x n per class) of a model made of `layers_of` layers, in
    chunks of `chunk` samples: each diagonal block from one chunk's passes, the others from two."""
    n = len(x)
    starts = list(range(0, n, chunk))
    out = None
    with frozen(model), torch.no_grad():
        for i, si in enumerate(starts):
            row = Chunk(model, layers, x[si : si + chunk])
            num_classes = row.logits.shape[1]
            if out is None:
                shape = (n, n) if mode == "trace" else (num_classes, n, n)
                out = torch.zeros(shape, dtype=torch.float64, device=x.device)
            for sj in starts[i:]:
                col = row if sj == si else Chunk(model, layers, x[sj : sj + chunk])
                a, b = slice(si, si + len(row.x)), slice(sj, sj + len(col.x))
                for k in range(num_classes):
                    block = out[a, b] if mode == "trace" else out[k, a, b]
                    if col is row:
                        row.backward(k, lambda m, grads: [add_products(block, g, None) for g in grads])
                        continue
                    kept = {}  # the row chunk's gradients of logit k, layer by layer (copies: the buffer is reused)
                    row.backward(k, lambda m, grads: kept.__setitem__(m, [g.clone() for g in grads]))
                    col.backward(k, lambda m, grads: [add_products(block, ga, gb) for ga, gb in zip(kept[m], grads)])
                blocks = out.unsqueeze(0) if mode == "trace" else out
                for block in blocks:  # mirror: a diagonal block's lower half, an off-diagonal block's transpose
                    if sj == si:
                        block[a, a] = block[a, a].triu() + block[a, a].triu(1).T
                    else:
                        block[b, a] = block[a, b].T
    return out
