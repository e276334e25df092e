import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kdlab.data import load_dataset
from kdlab.data.noise import flip_labels


def test_flip_rate_and_uniform_targets():
    k, n, p = 10, 200_000, 0.3
    labels = np.random.default_rng(0).integers(0, k, n)
    noisy = flip_labels(labels, p, k, seed=7)
    flipped = noisy != labels
    # Binomial(n, p): 5 standard deviations
    assert abs(flipped.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    # a flip goes to each of the K-1 other classes equally often
    offsets = (noisy[flipped] - labels[flipped]) % k
    counts = np.bincount(offsets, minlength=k)
    assert counts[0] == 0
    expected = flipped.sum() / (k - 1)
    chi2 = ((counts[1:] - expected) ** 2 / expected).sum()
    assert chi2 < 30  # chi-square with 8 dof: p < 1e-3 beyond 26


def test_noise_is_seeded():
    labels = np.arange(1000) % 10
    assert np.array_equal(flip_labels(labels, 0.2, 10, 1), flip_labels(labels, 0.2, 10, 1))
    assert not np.array_equal(flip_labels(labels, 0.2, 10, 1), flip_labels(labels, 0.2, 10, 2))


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 20), st.floats(0, 1), st.integers(0, 2**31))
def test_flip_never_keeps_the_class_when_flipping(k, p, seed):
    labels = np.random.default_rng(seed).integers(0, k, 300)
    noisy = flip_labels(labels, p, k, seed)
    assert noisy.min() >= 0 and noisy.max() < k
    if p == 1.0:
        assert np.all(noisy != labels)
    if p == 0.0:
        assert np.array_equal(noisy, labels)


def test_dataset_keeps_original_labels_and_flags():
    ds = load_dataset("digits", label_noise=0.2, noise_seed=0)
    clean = load_dataset("digits")
    assert (ds.train.orig_label == clean.train.label).all()
    frac = ds.train.noisy.float().mean().item()
    assert 0.15 < frac < 0.25
    assert (ds.test.label == clean.test.label).all()  # the test split is never corrupted
