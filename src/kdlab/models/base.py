"""The model registry, and how any model (registered or the user's own) is called on a batch."""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import torch
from torch import nn

from ..data.base import TARGET_KEYS
from ..errors import ConfigError
from ..registry import Registry

MODELS = Registry("model", context=("num_classes", "input_shape"), package="kdlab.models")


def build_model(name: str, num_classes: int, input_shape: tuple[int, ...], options: dict[str, Any] | None = None):
    return MODELS.build(name, options or {}, num_classes=num_classes, input_shape=tuple(input_shape))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def image_channels(name: str, input_shape: tuple[int, ...]) -> int:
    if len(input_shape) != 3:
        raise ConfigError(f"model '{name}' needs image inputs (C, H, W), but the data has shape {tuple(input_shape)}")
    return input_shape[0]


def init_convolutions(model: nn.Module) -> None:
    """He-normal weights (fan_out, for ReLU) and zero biases for every Conv2d of `model`, in module
    order, as torchvision's ResNets and the CRD benchmark's CIFAR models initialise them. Each family
    sets its linear layers itself (they differ)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def check_vocabulary(model: nn.Module, data_extras: dict, role: str = "model") -> None:
    """A token model must embed every id the data's tokenizer gives, and pad as it does; otherwise
    it reads other words (or indexes past its embeddings)."""
    vocab = data_extras.get("vocab_size")
    embeddings = getattr(model, "get_input_embeddings", None)
    if vocab is None or not callable(embeddings) or not isinstance(embeddings(), nn.Embedding):
        return
    rows = embeddings().num_embeddings
    if rows < vocab:
        raise ConfigError(f"the data's tokenizer has {vocab} tokens but the {role} embeds only {rows}: use the "
                          f"tokenizer the model was trained with (data.tokenizer), or a model of vocab_size >= {vocab}")
    pad, model_pad = data_extras.get("pad_id"), getattr(getattr(model, "config", None), "pad_token_id", None)
    if pad is not None and model_pad is not None and pad != model_pad:
        raise ConfigError(f"the data's tokenizer pads with id {pad} but the {role} with {model_pad}; "
                          f"use the tokenizer the model was trained with (data.tokenizer)")


def _forward_names(model: nn.Module) -> tuple[str | None, frozenset[str] | None]:
    """The forward's first parameter and the names it accepts (None: it takes **kwargs)."""
    cached = getattr(model, "_kdlab_forward_names", None)
    if cached is None:
        params = list(inspect.signature(model.forward).parameters.values())
        first = params[0].name if params and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD) else None
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
        cached = (first, None if takes_any else frozenset(p.name for p in params))
        object.__setattr__(model, "_kdlab_forward_names", cached)
    return cached


def logits_of(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Call `model` on a batch mapping and return its logits.

    `inputs` goes in as the first argument; the batch's other model inputs (e.g. `attention_mask`)
    go in by name where the forward accepts them. Outputs with a `.logits` attribute (Hugging Face
    models) give that attribute.
    """
    return logits_in(model(batch["inputs"], **forward_kwargs(model, batch)), model)


def forward_kwargs(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch's other model inputs (e.g. `attention_mask`) that the model's forward accepts by name."""
    first, accepted = _forward_names(model)
    return {k: v for k, v in batch.items()
            if k != "inputs" and k not in TARGET_KEYS and k != first and (accepted is None or k in accepted)}


def logits_in(out: Any, model: nn.Module) -> torch.Tensor:
    """The logits in what a model returned: a tensor, a mapping with 'logits' (a Hugging Face output is
    one), or an object with a `.logits` attribute; anything else is a one-line error saying so."""
    if isinstance(out, torch.Tensor):
        logits = out
    elif isinstance(out, Mapping) and "logits" in out:
        logits = out["logits"]
    elif hasattr(out, "logits"):
        logits = out.logits
    else:
        raise ConfigError(f"{type(model).__name__}.forward returned {_described(out)}; a model returns its logits: a tensor "
                          f"(batch, classes), a mapping with 'logits', or an object with a .logits attribute")
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ConfigError(f"{type(model).__name__} gave logits {_described(logits)}; expected a tensor (batch, classes)")
    return logits


def _described(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"of shape {tuple(value.shape)}"
    if isinstance(value, Mapping):
        return f"a {type(value).__name__} with keys {', '.join(map(str, list(value)[:5])) or 'none'}"
    return f"a {type(value).__name__}"


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode inside the block (batch-norm statistics stay, dropout is off), back in
    the mode it was in afterwards, whatever happens inside."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def check_outputs(model: nn.Module, sample: dict[str, torch.Tensor], num_classes: int, role: str) -> None:
    """Before training: the model's logits on a sample batch have one column per class of the data
    (eval mode, no gradients: nothing about the run changes)."""
    try:
        with evaluating(model), torch.no_grad():
            width = logits_of(model, sample).shape[1]
    except (RuntimeError, ValueError, IndexError, TypeError) as e:  # shapes that do not fit the data
        shapes = ", ".join(f"{k} {tuple(v.shape[1:])}" for k, v in sample.items() if isinstance(v, torch.Tensor))
        raise ConfigError(f"the {role} ({type(model).__name__}) cannot take this data's samples ({shapes}): "
                          f"{str(e).splitlines()[0][:200]}; build it for this data") from None
    if width != num_classes:
        raise ConfigError(f"the {role} ({type(model).__name__}) gives {width} logits per sample but the data has "
                          f"{num_classes} classes; build it with {num_classes} outputs")
