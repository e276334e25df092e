"""Text loaders against small files in the real formats; tokenisation, its cache, dynamic padding."""

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from kdlab.data import Pipeline, load_dataset  # noqa: E402
from kdlab.data import text as text_module  # noqa: E402
from kdlab.data.text import load_tokenizer, train_tokenizer  # noqa: E402
from kdlab.errors import DataError  # noqa: E402
from kdlab.models import build_model, logits_of  # noqa: E402
from tests.formats import write_agnews, write_imdb, write_mnli, write_qqp  # noqa: E402


def decoded(ds, split="train", row=0):
    """The token ids of one sample, without its padding."""
    sp = getattr(ds, split)
    n = int(sp.fields["attention_mask"][row].sum())
    return sp.inputs[row, :n].tolist()


def test_mnli_pairs_labels_and_ids(tmp_path):
    ds = load_dataset("mnli", write_mnli(tmp_path / "MNLI", n_train=12, n_dev=6))
    assert ds.num_classes == 3 and len(ds.train) == 12 and len(ds.test) == 6
    # entailment, neutral, contradiction cycle through the rows: GLUE's order 0, 1, 2
    assert ds.train.label.tolist() == [i % 3 for i in range(12)]
    assert ds.train.index.tolist() == list(range(12))
    assert ds.test.index.tolist() == list(range(12, 18))  # after every train row
    ids = decoded(ds)
    assert ids[0] == 0 and ids[-1] == 2 and ids.count(2) == 3  # <s> A </s></s> B </s>: a pair
    assert ds.transforms == [{"name": "trim_padding"}]


def test_mnli_keeps_bare_quotes_as_text(tmp_path):
    from kdlab.data.mnli import LABELS, read_glue_pairs

    root = write_mnli(tmp_path / "MNLI")
    rows = read_glue_pairs(root / "train.tsv", "sentence1", "sentence2", "gold_label", LABELS, "")
    assert 'a "quoted" dog ran' in rows.first  # QUOTE_NONE: the quotes are part of the sentence
    assert len(rows.first) == 12 and rows.skipped == 0


def test_qqp_skips_a_row_with_a_missing_field_and_keeps_ids(tmp_path):
    ds = load_dataset("qqp", write_qqp(tmp_path / "QQP", n_train=40, malformed_at=3))
    assert len(ds.train) == 39
    assert 3 not in ds.train.index.tolist() and ds.train.index.tolist()[3] == 4  # later ids unchanged
    assert ds.extras["inspect"]["train_skipped"] == 1
    assert ds.train.label.tolist() == [i % 2 for i in range(40) if i != 3]


def test_a_file_of_mostly_malformed_rows_is_refused(tmp_path):
    root = write_qqp(tmp_path / "QQP")
    lines = (root / "dev.tsv").read_text().splitlines()
    (root / "dev.tsv").write_text("\n".join([lines[0]] + [line.replace("\t", " ") for line in lines[1:]]) + "\n")
    with pytest.raises(DataError, match="dev.tsv: 8 of 8 rows are malformed"):
        load_dataset("qqp", root)


def test_glue_file_without_the_needed_columns(tmp_path):
    root = write_mnli(tmp_path / "MNLI")
    (root / "train.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(DataError, match="no column 'sentence1'"):
        load_dataset("mnli", root)


def test_agnews_classes_and_text(tmp_path):
    ds = load_dataset("agnews", write_agnews(tmp_path / "ag", n_train=16, n_test=8))
    assert ds.num_classes == 4 and len(ds.train) == 16 and len(ds.test) == 8
    assert ds.train.label.tolist() == [i % 4 for i in range(16)]  # class index 1-4 -> 0-3
    assert ds.test.index.tolist() == list(range(16, 24))


def test_imdb_non_ascii_line_breaks_and_order(tmp_path):
    root = write_imdb(tmp_path, per_class=6)
    from kdlab.data.imdb import read_reviews, review_files

    listed = review_files(root / "aclImdb", "train")
    assert [p.name.split("_")[0] for p, _ in listed[:6]] == ["0", "5", "10", "15", "20", "25"]  # numeric order
    reviews = read_reviews(listed)
    assert "<br" not in reviews.first[0] and "Amélie — naïve, 日本語 ✓" in reviews.first[0]
    assert reviews.label == [0] * 6 + [1] * 6
    ds = load_dataset("imdb", root)  # the parent of aclImdb works too
    assert len(ds.train) == 12 and len(ds.test) == 12 and ds.num_classes == 2
    assert ds.test.index.min().item() == 12


@pytest.mark.parametrize("loader,files", [("mnli", "train.tsv, dev_matched.tsv"), ("qqp", "train.tsv"),
                                          ("agnews", "train.csv"), ("imdb", "aclImdb")])
def test_missing_data_names_the_expected_files(tmp_path, loader, files):
    with pytest.raises(DataError, match=files.split(",")[0]):
        load_dataset(loader, tmp_path / "nowhere")


def test_tokenised_once_then_cached_and_rebuilt_on_change(tmp_path, monkeypatch):
    root = write_agnews(tmp_path / "ag")
    first = load_dataset("agnews", root)
    monkeypatch.setattr(text_module, "_tokenise", lambda *a, **k: pytest.fail("tokenised again"))
    again = load_dataset("agnews", root)
    assert torch.equal(first.train.inputs, again.train.inputs)
    monkeypatch.undo()
    with open(root / "test.csv", "a") as f:
        f.write('"2","A new title","A new story"\n')
    assert len(load_dataset("agnews", root).test) == 9  # the content changed: the cache key too
    for cache in (tmp_path / "cache").glob("agnews-*.npz"):
        cache.write_bytes(b"damaged")
    assert len(load_dataset("agnews", root).test) == 9  # a damaged cache is rebuilt


def test_a_saved_tokenizer_folder_gives_the_same_ids(tmp_path):
    root = write_agnews(tmp_path / "ag")
    trained = load_dataset("agnews", root, options={"vocab_size": 400})
    from kdlab.data.agnews import EXPECTED, parse
    texts = text_module.read_delimited(root / "train.csv", delimiter=",", header=False, parse=parse, expected=EXPECTED)
    train_tokenizer(texts.first, 400).save_pretrained(tmp_path / "tok")
    loaded = load_dataset("agnews", root, options={"tokenizer": str(tmp_path / "tok")})
    assert torch.equal(trained.train.inputs, loaded.train.inputs)
    assert len(load_tokenizer(str(tmp_path / "tok"))) == trained.extras["vocab_size"]
    with pytest.raises(DataError, match="expected a folder with tokenizer.json"):
        load_dataset("agnews", root, options={"tokenizer": str(tmp_path / "missing")})


def test_truncation_to_max_length(tmp_path):
    ds = load_dataset("imdb", write_imdb(tmp_path), options={"max_length": 8})
    assert ds.input_shape == (8,) and ds.extras["inspect"]["train_truncated"] == 12
    assert (ds.train.inputs[:, -1] == 2).all()  # truncated, still closed by </s>


def test_dynamic_padding_cuts_batches_and_leaves_logits_unchanged():
    ds = load_dataset("text-synthetic", options={"train_samples": 64, "test_samples": 16, "min_words": 2,
                                                "max_words": 30})
    shortest = ds.train.fields["attention_mask"].sum(1).argsort()[:8]  # texts shorter than the longest
    batch = ds.train.batch(shortest)
    trimmed = Pipeline(ds.transforms, "cpu", ds.input_shape).eval(batch)
    longest = int(batch["attention_mask"].sum(1).max())
    assert trimmed["inputs"].shape == (8, longest) < tuple(batch["inputs"].shape)
    torch.manual_seed(0)
    model = build_model("roberta-tiny", ds.num_classes, ds.input_shape, {"vocab_size": 2048}).eval()
    with torch.no_grad():
        full, cut = logits_of(model, batch), logits_of(model, trimmed)
    assert torch.allclose(full, cut, atol=1e-5)


def test_label_noise_on_text_keeps_original_labels():
    ds = load_dataset("text-synthetic", label_noise=0.3, options={"train_samples": 400, "test_samples": 16})
    noisy = ds.train.noisy.float().mean().item()
    assert 0.2 < noisy < 0.4 and (ds.test.label == ds.test.orig_label).all()


def test_synthetic_tasks_shapes():
    for task, k, pair in (("topic", 4, False), ("pair", 2, True), ("nli", 3, True)):
        ds = load_dataset("text-synthetic", options={"task": task, "train_samples": 32, "test_samples": 8})
        assert ds.num_classes == k
        seps = (ds.train.inputs[0] == 2).sum().item()
        assert seps == (3 if pair else 1)
        assert np.array_equal(ds.train.index.numpy(), np.arange(32))
