import pickle
import tarfile

import numpy as np
import pytest
import torch

from kdlab.data import load_dataset
from kdlab.errors import DataError
from tests.formats import write_cifar, write_mnist, write_tinyimagenet


def test_cifar10_archive_and_folder_agree(tmp_path):
    archive = write_cifar(tmp_path / "a", "cifar10", seed=3)
    write_cifar(tmp_path / "b", "cifar10", seed=3, as_tar=False)
    ds_tar = load_dataset("cifar10", str(archive))
    ds_dir = load_dataset("cifar10", str(tmp_path / "b"))
    assert ds_tar.num_classes == 10 and ds_tar.input_shape == (3, 32, 32)
    assert len(ds_tar.train) == 5 * 8 and len(ds_tar.test) == 8
    assert ds_tar.train.inputs.dtype == torch.uint8
    assert ds_tar.checksum() == ds_dir.checksum()
    # index: stable ids, train then test, no overlap
    ids = torch.cat([ds_tar.train.index, ds_tar.test.index])
    assert torch.equal(ids, torch.arange(48))


def test_cifar_plane_layout(tmp_path):
    """The 3072 bytes of a row are the R, G and B planes of 32x32."""
    archive = write_cifar(tmp_path, "cifar10", seed=1)
    with tarfile.open(archive) as tar:
        raw = pickle.loads(tar.extractfile("cifar-10-batches-py/data_batch_1").read(), encoding="bytes")
    ds = load_dataset("cifar10", str(tmp_path))
    row = raw[b"data"][0]
    assert np.array_equal(ds.train.inputs[0, 1].numpy().ravel(), row[1024:2048])
    assert ds.train[0][1] == raw[b"labels"][0]


def test_cifar100_uses_fine_labels(tmp_path):
    write_cifar(tmp_path, "cifar100", n_per_batch=30)
    ds = load_dataset("cifar100", str(tmp_path))
    assert ds.num_classes == 100 and len(ds.train) == 30
    assert int(ds.train.label.max()) < 100


def test_truncated_archive_is_a_clean_error(tmp_path):
    archive = write_cifar(tmp_path, "cifar10")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match="cifar-10-python.tar.gz"):
        load_dataset("cifar10", str(archive))


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickle_that_runs_code_is_refused(tmp_path):
    folder = write_cifar(tmp_path, "cifar10", as_tar=False)
    marker = tmp_path / "pwned"
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": _Exploit(str(marker)), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match="refusing to load 'io.open'|refusing to load"):
        load_dataset("cifar10", str(tmp_path))
    assert not marker.exists()


def test_missing_cifar_names_path_and_expected_files(tmp_path):
    with pytest.raises(DataError, match="cifar-100-python.tar.gz"):
        load_dataset("cifar100", str(tmp_path))


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx(tmp_path, gz):
    write_mnist(tmp_path, gz=gz)
    ds = load_dataset("mnist", str(tmp_path))
    assert ds.input_shape == (1, 28, 28) and len(ds.train) == 20 and len(ds.test) == 10
    assert ds.test.index[0] == 20


def test_mnist_truncated_idx(tmp_path):
    write_mnist(tmp_path)
    f = tmp_path / "t10k-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated"):
        load_dataset("mnist", str(tmp_path))


def test_tinyimagenet_folder_and_cache(tmp_path):
    base = write_tinyimagenet(tmp_path / "data")
    ds = load_dataset("tinyimagenet", str(tmp_path / "data"))
    assert ds.num_classes == 2 and ds.input_shape == (3, 64, 64)
    assert len(ds.train) == 6 and len(ds.test) == 4
    assert ds.test.label.tolist() == [0, 1, 0, 1]
    assert list((tmp_path / "cache").glob("tinyimagenet-*.npz"))
    again = load_dataset("tinyimagenet", str(base))  # from the cache, same content
    assert again.checksum() == ds.checksum()


def test_tinyimagenet_corrupt_jpeg(tmp_path):
    base = write_tinyimagenet(tmp_path)
    (base / "train" / "n01" / "images" / "n01_0.JPEG").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="n01_0.JPEG"):
        load_dataset("tinyimagenet", str(base))


def test_digits_fixed_stratified_split():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.checksum() == b.checksum()
    assert len(a.train) + len(a.test) == 1797 and len(a.test) == 450
    assert not set(a.train.index.tolist()) & set(a.test.index.tolist())
    counts = np.array(a.label_counts("test"))
    assert counts.min() >= 43 and counts.max() <= 47  # stratified: about 45 per class


def test_synthetic_channels_structure():
    ds = load_dataset("synthetic-channels", options={"num_train": 64, "num_test": 16, "similar_replace": False})
    x, y = ds.train.inputs, ds.train.label
    mu = ds.extras["mu_star"]
    assert x.shape == (64, 10, 100)
    nonzero = (x.abs().sum(-1) > 0).sum(1)
    assert torch.all(nonzero == 4)  # the label channel and three similar classes
    own = torch.einsum("nd,nd->n", x[torch.arange(64), y], mu[y])
    assert torch.all(own > 0)


def test_train_size_subset_is_seeded():
    a = load_dataset("digits", train_size=100, noise_seed=1)
    b = load_dataset("digits", train_size=100, noise_seed=1)
    assert len(a.train) == 100 and torch.equal(a.train.index, b.train.index)
