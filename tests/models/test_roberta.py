"""RoBERTa presets: shapes, local folders only, one-line errors for the wrong folder."""

import pytest
import torch

pytest.importorskip("transformers")

from kdlab.errors import ConfigError  # noqa: E402
from kdlab.models import MODELS, build_model, check_vocabulary, logits_of  # noqa: E402


@pytest.mark.parametrize("name,layers,hidden", [("roberta-tiny", 2, 128), ("roberta-small", 4, 512),
                                                ("roberta-medium", 8, 512)])
def test_presets_are_the_documented_shapes(name, layers, hidden):
    model = build_model(name, 3, (16,), {"pretrained": False, "vocab_size": 300})
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (layers, hidden)
    assert model.config.num_labels == 3 and model.config.pad_token_id == 1
    ids = torch.randint(3, 300, (2, 16))
    assert logits_of(model, {"inputs": ids, "attention_mask": torch.ones_like(ids)}).shape == (2, 3)


def test_pretrained_presets_need_a_local_folder(tmp_path):
    with pytest.raises(ConfigError, match="needs model.path.*config.json and model.safetensors"):
        build_model("roberta-base", 2, (16,), {})
    with pytest.raises(ConfigError, match="no folder .*nowhere.*config.json"):
        build_model("roberta-small", 2, (16,), {"path": str(tmp_path / "nowhere")})
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="holds notes.txt; expected a folder with config.json"):
        build_model("roberta-small", 2, (16,), {"path": str(tmp_path / "empty")})


def test_weights_come_from_the_folder_with_a_new_head(tmp_path):
    torch.manual_seed(0)
    saved = build_model("roberta-tiny", 5, (16,), {"vocab_size": 300})
    saved.save_pretrained(tmp_path / "tiny")
    loaded = build_model("roberta-tiny", 2, (16,), {"path": str(tmp_path / "tiny")})
    a, b = saved.state_dict(), loaded.state_dict()
    encoder = [k for k in a if k.startswith("roberta.")]
    assert encoder and all(torch.equal(a[k], b[k]) for k in encoder)
    assert loaded.classifier.out_proj.out_features == 2  # the head is built for this data's classes
    with pytest.raises(ConfigError, match="roberta-small is 4 layers of width 512, but .* holds 2 layers of width 128"):
        build_model("roberta-small", 2, (16,), {"path": str(tmp_path / "tiny")})


def test_inputs_must_be_token_ids_within_the_positions():
    with pytest.raises(ConfigError, match="reads token ids"):
        build_model("roberta-tiny", 2, (3, 8, 8), {})
    with pytest.raises(ConfigError, match="at most 512 tokens"):
        build_model("roberta-tiny", 2, (600,), {})


def test_vocabulary_and_padding_must_fit_the_data():
    model = build_model("roberta-tiny", 2, (16,), {"vocab_size": 300})
    check_vocabulary(model, {"vocab_size": 300, "pad_id": 1})
    with pytest.raises(ConfigError, match="tokenizer has 301 tokens but the student embeds only 300"):
        check_vocabulary(model, {"vocab_size": 301, "pad_id": 1}, "student")
    with pytest.raises(ConfigError, match="pads with id 0 but the model with 1"):
        check_vocabulary(model, {"vocab_size": 300, "pad_id": 0})


def test_options_are_checked_by_the_registry():
    assert set(MODELS.options("roberta-base")) == {"path", "pretrained", "vocab_size", "dropout"}
    with pytest.raises(ConfigError, match="option 'dropout'"):
        build_model("roberta-tiny", 2, (16,), {"dropout": 1.5})
