"""RoBERTa sequence classifiers through Hugging Face `transformers` (the `kdlab[text]` extra).

Presets name an architecture. P1 uses RoBERTa-Base, -Medium and -Small without saying what the
smaller two are; kdlab follows the BERT miniatures' naming (Turc et al., 2019, "Well-read students
learn better"): medium = 8 layers of width 512, small = 4 layers of width 512 (8 heads, feed-forward
2048 for both). `roberta-tiny` (2 layers, width 128) is for tests and the CPU scale, and `roberta`
builds any shape with random weights.

`path` loads weights saved with `save_pretrained` from a local folder (config.json plus
model.safetensors or pytorch_model.bin); its architecture must be the preset's. The classification
head is new (num_classes outputs). Nothing is ever downloaded. `pretrained: false` builds the
preset with random weights (benchmarks, and roberta-tiny by default).
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from ..errors import ConfigError
from ..values import Count, Fraction
from .base import MODELS

# name: (layers, hidden, heads, feed-forward), and whether it is pretrained unless told otherwise
PRESETS = {
    "roberta-base": ((12, 768, 12, 3072), True),
    "roberta-medium": ((8, 512, 8, 2048), True),
    "roberta-small": ((4, 512, 8, 2048), True),
    "roberta-tiny": ((2, 128, 2, 512), False),
}
ROBERTA_VOCAB = 50265  # the roberta-base tokenizer's size
PAD_ID = 1  # RoBERTa's <pad>; kdlab's trained tokenizers use the same id
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
EXPECTED = "a folder with config.json and model.safetensors (or pytorch_model.bin), as written by save_pretrained"


def _need_transformers():
    try:
        import transformers
    except ImportError:
        raise ConfigError("RoBERTa models need the text extra: pip install 'kdlab[text]'") from None
    return transformers


def _checked_folder(name: str, path: str, shape: tuple[int, int, int, int]) -> dict:
    folder = Path(path)
    if not folder.is_dir():
        raise ConfigError(f"model {name}: no folder {path}; model.path must be {EXPECTED}; kdlab never downloads weights")
    if not (folder / "config.json").is_file() or not any((folder / f).is_file() for f in WEIGHT_FILES):
        present = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "nothing"
        raise ConfigError(f"model {name}: {path} holds {present}; expected {EXPECTED}")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"model {name}: cannot read {folder / 'config.json'} ({type(e).__name__})") from None
    layers, hidden = config.get("num_hidden_layers"), config.get("hidden_size")
    if (layers, hidden) != shape[:2]:
        raise ConfigError(f"model {name} is {shape[0]} layers of width {shape[1]}, but {path} holds "
                          f"{layers} layers of width {hidden}; pick the preset that matches the folder")
    return config


def build(num_classes: int, input_shape: tuple[int, ...], *, name: str, shape: tuple[int, int, int, int],
          path: str | None, pretrained: bool, vocab_size: int | None, dropout: float) -> nn.Module:
    transformers = _need_transformers()
    pretrained_default = PRESETS.get(name, (None, False))[1]
    if len(input_shape) != 1:
        raise ConfigError(f"model {name} reads token ids (L,), but the data has inputs {tuple(input_shape)}; "
                          f"use a text dataset")
    transformers.logging.set_verbosity_error()  # "newly initialised classifier" is expected: a new head
    transformers.logging.disable_progress_bar()
    if path is not None:
        config = _checked_folder(name, path, shape)
        positions = config.get("max_position_embeddings", 514) - PAD_ID - 1
        if input_shape[0] > positions:
            raise ConfigError(f"model {name} at {path} reads at most {positions} tokens, the data has {input_shape[0]}; "
                              f"lower data.max_length")
        if vocab_size is not None and vocab_size != config.get("vocab_size"):
            raise ConfigError(f"model {name}: {path} embeds {config.get('vocab_size')} tokens; model.vocab_size "
                              f"comes from the folder, leave it unset")
        try:
            # Layers and widths are checked above, so only a saved classification head can differ in
            # size: it is replaced by a new one for this data's classes.
            return transformers.RobertaForSequenceClassification.from_pretrained(
                path, num_labels=num_classes, local_files_only=True, hidden_dropout_prob=dropout,
                attention_probs_dropout_prob=dropout, ignore_mismatched_sizes=True)
        except (OSError, ValueError, RuntimeError) as e:
            raise ConfigError(f"model {name}: cannot load {path} ({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None
    if pretrained:
        raise ConfigError(f"model {name} needs model.path: {EXPECTED} (kdlab never downloads weights); "
                          f"or model.pretrained=false for random weights")
    layers, hidden, heads, ffn = shape
    if input_shape[0] > 512:
        raise ConfigError(f"model {name} reads at most 512 tokens, the data has {input_shape[0]}; lower data.max_length")
    config = transformers.RobertaConfig(
        vocab_size=vocab_size or (ROBERTA_VOCAB if pretrained_default else 8192), hidden_size=hidden,
        num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=ffn, max_position_embeddings=514,
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, num_labels=num_classes,
        pad_token_id=PAD_ID, bos_token_id=0, eos_token_id=2, type_vocab_size=1)
    return transformers.RobertaForSequenceClassification(config)


def _preset(name: str):
    pretrained_default = PRESETS[name][1]

    def builder(num_classes: int, input_shape: tuple[int, ...], *, path: str | None = None,
                pretrained: bool = pretrained_default, vocab_size: Count | None = None, dropout: Fraction = 0.1):
        return build(num_classes, input_shape, name=name, shape=PRESETS[name][0], path=path, pretrained=pretrained,
                     vocab_size=vocab_size, dropout=dropout)

    return builder


for _name in PRESETS:
    MODELS.register(_name)(_preset(_name))


@MODELS.register("roberta")
def any_shape(num_classes: int, input_shape: tuple[int, ...], *, layers: Count = 2, hidden: Count = 128, heads: Count = 2,
              ffn: Count = 512, path: str | None = None, vocab_size: Count | None = None,
              dropout: Fraction = 0.1) -> nn.Module:
    """A RoBERTa of any shape: random weights (e.g. CPU-scale stand-ins for the presets), or a folder's
    weights of that shape."""
    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
    return build(num_classes, input_shape, name="roberta", shape=(layers, hidden, heads, ffn), path=path,
                 pretrained=False, vocab_size=vocab_size, dropout=dropout)
