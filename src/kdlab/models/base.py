"""The model registry, and how any model (registered or the user's own) is called on a batch."""

from __future__ import annotations

import inspect
from typing import Any

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
    first, accepted = _forward_names(model)
    extra = {k: v for k, v in batch.items()
             if k != "inputs" and k not in TARGET_KEYS and k != first and (accepted is None or k in accepted)}
    out = model(batch["inputs"], **extra)
    return getattr(out, "logits", out)
