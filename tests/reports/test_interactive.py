"""The interactive scatter's data (kdlab.reports.interactive): how many marks a pair gets, and what the
tooltips can show of each sample's input (thumbnails, texts, or why not)."""

import base64
import json
import re

import numpy as np
import pytest
from sklearn.datasets import load_digits

from kdlab.config.schema import DataConfig
from kdlab.reports import interactive
from kdlab.reports.interactive import GROUPS, MAX_POINTS, InputStore, scatter_html

pd = pytest.importorskip("pandas")


def frame(n: int, seed: int = 0):
    """A per-sample frame as kdlab.analysis.per_sample_frame makes one (the columns the scatter reads)."""
    rng = np.random.default_rng(seed)
    split = np.where(np.arange(n) < n // 2, "train", "test")
    return pd.DataFrame({
        "sample_index": np.arange(n), "split": split, "group": rng.choice(GROUPS, n),
        "label": rng.integers(10, size=n), "orig_label": rng.integers(10, size=n), "noisy": rng.random(n) < 0.2,
        "teacher_pred": rng.integers(10, size=n), "student_pred": rng.integers(10, size=n),
        **{c: rng.random(n) for c in ("teacher_p_pred", "student_p_pred", "teacher_p_label", "student_p_label")},
        "x": rng.normal(size=n), "y": rng.normal(size=n)})


def scatter_of(block: str) -> dict:
    return json.loads(re.search(r"class='kdlab-scatter-data'>(.*?)</script>", block).group(1))


def payload(store: InputStore) -> dict:
    (asset,) = store.assets()
    return json.loads(re.search(r"id='kdlab-inputs-0'>(.*?)</script>", asset).group(1))


def test_a_pair_above_the_cap_shows_a_seeded_subset_and_says_so():
    f = frame(MAX_POINTS + 1000)
    store = InputStore()
    block = scatter_html(f, store, DataConfig(object="given"), "many points")
    data = scatter_of(block)
    assert data["total"] == MAX_POINTS + 1000 and data["shown"] == len(data["x"]) == MAX_POINTS
    assert f"Showing {MAX_POINTS:,} of {MAX_POINTS + 1000:,} samples (a random subset)" in block
    assert len(set(data["index"])) == MAX_POINTS and set(data["index"]) <= set(f["sample_index"])
    assert scatter_of(scatter_html(f, InputStore(), DataConfig(object="given"), "again"))["index"] == data["index"]
    small = scatter_of(scatter_html(frame(300), store, DataConfig(object="given"), "few"))
    assert small["shown"] == small["total"] == 300
    assert "Showing" not in scatter_html(frame(300), store, DataConfig(object="given"), "")
    assert payload(store) == {"kind": "none",
                              "note": "input not shown: the dataset was given as an object, which the report cannot load"}


def test_samples_without_finite_numbers_are_named_not_drawn():
    f = frame(50)
    f.loc[[3, 7], "x"] = np.nan
    f.loc[9, "y"] = np.inf
    f.loc[11, "student_p_pred"] = np.nan
    block = scatter_html(f, InputStore(), DataConfig(object="given"), "diverged")
    data = scatter_of(block)  # strict JSON: it parsed
    assert data["shown"] == data["total"] == 47 and data["not_finite"] == 3 and {3, 7, 9}.isdisjoint(data["index"])
    assert data["student_p_pred"][data["index"].index(11)] is None
    assert "3 samples have no finite X or Y" in block


def test_text_in_the_page_cannot_end_its_script_element():
    block = scatter_html(frame(10), InputStore(), DataConfig(object="given"), "a </script><b>name</b> & more")
    assert "</script><b>" not in block and "<b>" not in block
    assert scatter_of(block)["title"] == "a </script><b>name</b> & more"


def test_digits_get_one_thumbnail_per_sample_with_the_pixels_of_that_sample():
    store = InputStore()
    data = DataConfig(name="digits", train_size=64)
    f = frame(20)
    f["sample_index"] = [*interactive.load_dataset_for(data).train.index[:10].tolist(),
                         *interactive.load_dataset_for(data).test.index[:10].tolist()]
    scatter_html(f, store, data, "digits")
    p = payload(store)
    assert p["kind"] == "image" and (p["channels"], p["height"], p["width"]) == (1, 8, 8) and len(p["keys"]) == 20
    pixels = np.frombuffer(base64.b64decode(p["pixels"]), dtype=np.uint8).reshape(20, 8, 8)
    images = load_digits().images  # 0..16; the sample index is the position in scikit-learn's array
    for row, key in enumerate(p["keys"]):
        split, index = key.split(":")
        assert split in ("train", "test")
        np.testing.assert_array_equal(pixels[row], np.round(images[int(index)] / 16 * 255).astype(np.uint8))


def test_above_the_pixel_budget_a_subset_keeps_thumbnails_and_the_others_say_so(monkeypatch):
    monkeypatch.setattr(interactive, "THUMBNAIL_BYTES", 64 * 5)
    store = InputStore()
    data = DataConfig(name="digits")
    f = frame(12)
    f["sample_index"] = interactive.load_dataset_for(data).test.index[:12].tolist()
    f["split"] = "test"
    scatter_html(f, store, data, "digits")
    p = payload(store)
    assert len(p["keys"]) == 5 and len(base64.b64decode(p["pixels"])) == 5 * 64
    assert p["note"] == "no thumbnail kept for this sample: the page keeps thumbnails of 5 of 12 samples (a random subset)"


def test_inputs_that_are_neither_images_nor_text_are_named_not_shown():
    store = InputStore()
    scatter_html(frame(4), store, DataConfig(name="synthetic-channels", num_train=20, num_test=10, dim=16), "channels")
    p = payload(store)
    assert p["kind"] == "none" and re.fullmatch(r"input not shown: each input is a \d+×16 array, neither an image nor text",
                                                p["note"])


def test_data_that_does_not_load_here_is_named_in_the_tooltip(tmp_path):
    store = InputStore()
    scatter_html(frame(4), store, DataConfig(name="cifar10", root=str(tmp_path / "missing")), "cifar")
    p = payload(store)
    assert p["kind"] == "none" and p["note"].startswith("input not shown: the dataset 'cifar10' does not load here (")


TEXT = {"name": "text-synthetic", "task": "topic", "num_classes": 3, "train_samples": 30, "test_samples": 10, "vocab_size": 300}


def text_frame(data: DataConfig):
    ds = interactive.load_dataset_for(data)
    f = frame(4)
    f["sample_index"] = [*ds.train.index[:2].tolist(), *ds.test.index[:2].tolist()]
    return ds, f


def test_text_without_a_saved_tokenizer_shows_token_ids_and_says_why():
    pytest.importorskip("tokenizers")
    data = DataConfig(**TEXT)
    ds, f = text_frame(data)
    store = InputStore()
    scatter_html(f, store, data, "text")
    p = payload(store)
    assert p["kind"] == "text" and p["note"].startswith("the dataset keeps neither its texts nor its tokenizer")
    train0 = p["texts"][p["keys"].index(f"train:{int(ds.train.index[0])}")]
    ids = ds.train.inputs[0, : int(ds.train.fields["attention_mask"][0].sum())].tolist()
    shown = ids[: interactive.TOKEN_IDS]
    assert train0 == "token ids: " + " ".join(map(str, shown)) + (" …" if len(ids) > len(shown) else "")


def test_text_with_a_saved_tokenizer_is_decoded(tmp_path):
    pytest.importorskip("tokenizers")
    from kdlab.data.text import train_tokenizer
    from kdlab.data.text_synthetic import _Writer, generate

    # The texts the generator writes for these settings (its defaults), to compare the decoded ones with
    writer = _Writer(np.random.default_rng(0), 3, 6, 24, 0.05, 0.5)
    texts, _, _ = generate("topic", 3, TEXT["train_samples"], writer, 3)
    train_tokenizer(texts, 300).save_pretrained(tmp_path / "tok")
    data = DataConfig(**TEXT, tokenizer=str(tmp_path / "tok"))
    ds, f = text_frame(data)
    store = InputStore()
    scatter_html(f, store, data, "text")
    p = payload(store)
    assert p["kind"] == "text" and p["note"] == ""
    assert p["texts"][p["keys"].index(f"train:{int(ds.train.index[0])}")] == texts[int(ds.train.index[0])]
