"""Datasets: bundled digits, torchvision folders (written here in MNIST's raw IDX format),
missing data, users' factories, splits and batching."""

from __future__ import annotations

import struct
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from _fresh import loads

from paretoprune.errors import InputError
from paretoprune.training import TrainSpec, default_data_dir, epoch_batches, load_dataset, train_run


def write_idx_mnist(root: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> tuple:
    """A tiny MNIST in torchvision's raw layout: ``root/MNIST/raw/*-ubyte`` (uncompressed IDX)."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{split}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())
        out[split] = (images, labels)
    return out


def test_digits_shapes_split_and_normalization():
    data = load_dataset("digits")
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10
    assert len(data.x_train) + len(data.x_test) == 1797 and len(data.x_test) == 450
    assert data.x_val.shape[0] == 0
    # standardized with the training split's statistics
    assert abs(float(data.x_train.mean())) < 1e-4
    assert float(data.x_train.std()) == pytest.approx(1.0, abs=1e-3)
    # the test split is fixed, whatever the seed
    other = load_dataset("digits", seed=5)
    assert torch.equal(torch.sort(other.y_test).values, torch.sort(data.y_test).values)


def test_digits_split_is_scikit_learns_and_needs_no_sklearn_import():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from paretoprune.training.datasets import _load_digits, _stratified_split

    digits = load_digits()
    x = digits.images.astype(np.float32)[:, None] / 16.0
    y = digits.target.astype(np.int64)
    expected = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    x_tr, y_tr, x_te, y_te, classes = _load_digits()
    for got, want in zip((x_tr, x_te, y_tr, y_te), expected, strict=True):
        assert torch.equal(got, torch.from_numpy(want))
    assert classes == 10
    # ties between classes' remainders are broken as scikit-learn breaks them
    rng = np.random.RandomState(1)
    for seed in range(30):
        labels = rng.randint(0, 5, size=rng.randint(40, 120))
        if np.bincount(labels, minlength=5).min() < 2:
            continue
        n_test = rng.randint(5, len(labels) - 5)
        want = train_test_split(np.arange(len(labels)), test_size=n_test, random_state=seed,
                                stratify=labels)
        got = _stratified_split(labels, n_test, seed)
        assert all((g == w).all() for g, w in zip(got, want, strict=True))


def test_loading_digits_does_not_import_scikit_learn():
    assert not loads("from paretoprune.training.datasets import _load_digits; _load_digits()",
                     "sklearn")


def test_validation_split_and_subsample_are_seeded():
    a = load_dataset("digits", seed=1, val_fraction=0.2, max_train_samples=300)
    b = load_dataset("digits", seed=1, val_fraction=0.2, max_train_samples=300)
    c = load_dataset("digits", seed=2, val_fraction=0.2, max_train_samples=300)
    assert len(a.x_val) == 60 and len(a.x_train) == 240
    assert torch.equal(a.x_val, b.x_val) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_val, c.x_val)
    with pytest.raises(InputError, match="val_fraction"):
        load_dataset("digits", val_fraction=1.0)


def test_validation_from_the_test_set_halves_it_and_keeps_the_training_set_whole(tmp_path,
                                                                                   monkeypatch):
    # a dataset whose test rows say which test sample they are (user datasets are not normalized)
    (tmp_path / "pp_numbered_data.py").write_text(textwrap.dedent("""
        import torch

        def numbered():
            x_train = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
            y_train = torch.arange(50) % 4
            x_test = torch.arange(41, dtype=torch.float32)[:, None].repeat(1, 3)
            return (x_train, y_train), (x_test, torch.arange(41) % 4)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        data = load_dataset("pp_numbered_data:numbered", val_split="test", val_fraction=0.3,
                            seed=3)
        val = data.x_val[:, 0].long().tolist()
        test = data.x_test[:, 0].long().tolist()
        assert len(val) == 20 and len(test) == 21
        assert not set(val) & set(test) and sorted(val + test) == list(range(41))  # disjoint halves
        assert torch.equal(data.y_val, data.x_val[:, 0].long() % 4)  # labels stay with their rows
        assert len(data.x_train) == 50  # val_fraction is not taken from the training set
        again = load_dataset("pp_numbered_data:numbered", val_split="test", seed=3)
        assert again.x_val[:, 0].long().tolist() == val  # seeded
        other = load_dataset("pp_numbered_data:numbered", val_split="test", seed=4)
        assert other.x_val[:, 0].long().tolist() != val
        assert len(load_dataset("pp_numbered_data:numbered", val_split="test",
                                max_test_samples=10).x_val) == 5
        with pytest.raises(InputError, match="at least two test samples"):
            load_dataset("pp_numbered_data:numbered", val_split="test", max_test_samples=1)
    finally:
        sys.modules.pop("pp_numbered_data", None)
    # the digits: the whole training split trains, the 450 test images are shared out
    digits = load_dataset("digits", val_split="test", val_fraction=0.2)
    plain = load_dataset("digits")
    assert len(digits.x_train) == len(plain.x_train) == 1347
    assert len(digits.x_val) == 225 and len(digits.x_test) == 225
    assert sorted(torch.cat([digits.y_val, digits.y_test]).tolist()) == sorted(plain.y_test.tolist())
    with pytest.raises(InputError, match="val_split must be train or test"):
        load_dataset("digits", val_split="val")


def test_torchvision_mnist_from_an_idx_folder(tmp_path):
    written = write_idx_mnist(tmp_path)
    data = load_dataset("mnist", data_dir=tmp_path, max_test_samples=15)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert len(data.x_train) == 40 and len(data.x_test) == 15
    # the labels read back are the ones written (order of the training split is shuffled)
    assert sorted(data.y_train.tolist()) == sorted(written["train"][1].tolist())
    assert data.y_test.tolist() == written["t10k"][1][:15].tolist()
    # pixels: /255, then standardized with the training mean and std
    train = torch.tensor(written["train"][0], dtype=torch.float32) / 255
    assert data.mean[0] == pytest.approx(float(train.mean()), rel=1e-5)
    first_test = (torch.tensor(written["t10k"][0][0], dtype=torch.float32) / 255 - data.mean[0]) / data.std[0]
    torch.testing.assert_close(data.x_test[0, 0], first_test)
    # and a whole run on it
    spec = TrainSpec.from_flat(dict(model="lenet5", dataset="mnist", data_dir=str(tmp_path),
                                    epochs=1, batch_size=8, device="cpu", weight=0.2,
                                    val_fraction=0.0))
    metrics = train_run(spec).metrics
    assert metrics["status"] == "ok" and metrics["n_prunable"] == 58_920


def test_missing_data_names_the_folder_and_the_flag(tmp_path):
    empty = tmp_path / "nothing here"
    with pytest.raises(InputError) as err:
        load_dataset("fashion-mnist", data_dir=empty)
    message = str(err.value)
    assert str(empty) in message and "--download" in message
    assert "\n" not in message
    with pytest.raises(InputError, match="--download"):
        load_dataset("cifar10", data_dir=empty)
    assert not empty.exists()  # nothing is created without --download


def test_default_data_dir_honours_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "paretoprune" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_data_dir() == Path.home() / ".cache" / "paretoprune" / "data"


def test_unknown_dataset_lists_known_names():
    with pytest.raises(InputError, match="known: digits, mnist, fashion-mnist, cifar10, cifar100"):
        load_dataset("svhn")


def test_user_dataset_factory(tmp_path, monkeypatch):
    (tmp_path / "my_data.py").write_text(textwrap.dedent("""
        import torch
        from torch.utils.data import TensorDataset

        def blobs():
            g = torch.Generator().manual_seed(0)
            y = torch.arange(90) % 3
            x = torch.randn(90, 5, generator=g) + 3.0 * torch.nn.functional.one_hot(y, 5)[:, :5]
            return TensorDataset(x[:60], y[:60]), (x[60:].numpy(), y[60:].numpy())

        def pairs():
            items = [(torch.full((4,), float(i)), i % 2) for i in range(10)]
            return items, items[:4]

        def bad():
            return 42
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    data = load_dataset("my_data:blobs")
    assert data.input_shape == (5,) and data.num_classes == 3 and len(data.x_test) == 30
    assert data.mean is None  # used as given
    pairs = load_dataset("my_data:pairs")
    assert pairs.num_classes == 2 and pairs.x_test.shape == (4, 4)
    with pytest.raises(InputError, match="must return"):
        load_dataset("my_data:bad")
    metrics = train_run(TrainSpec.from_flat(dict(dataset="my_data:blobs", epochs=3, device="cpu",
                                                 weight=0.1))).metrics
    assert metrics["status"] == "ok" and metrics["test_acc"] > 0.5
    sys.modules.pop("my_data", None)


def test_epoch_batches_are_seeded_and_cover_the_data():
    x = torch.arange(10).float()[:, None]
    y = torch.arange(10)
    first = list(epoch_batches(x, y, 4, torch.Generator().manual_seed(0)))
    again = list(epoch_batches(x, y, 4, torch.Generator().manual_seed(0)))
    assert [len(b) for b, _ in first] == [4, 4, 2]
    assert sorted(torch.cat([b for _, b in first]).tolist()) == list(range(10))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    for xb, yb in first:
        assert torch.equal(xb[:, 0].long(), yb)  # inputs and labels stay paired


def test_real_mnist_5k_loads(mnist5k):
    data = load_dataset("mnist", data_dir=mnist5k, max_test_samples=500)
    assert len(data.x_train) == 5000 and data.input_shape == (1, 28, 28)
    assert torch.bincount(data.y_train).tolist() == [500] * 10
