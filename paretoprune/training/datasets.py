"""Datasets by name, loaded fully into memory as tensors.

Names:

* ``digits`` -- scikit-learn's bundled 8x8 digits (1,797 images, 10 classes); works offline, the
  default. There is no official test split: a fixed stratified 25% (450 images) is the test set,
  the same for every seed.
* ``mnist``, ``fashion-mnist`` (28x28x1), ``cifar10``, ``cifar100`` (32x32x3) via torchvision, read
  from ``data_dir`` in torchvision's layout (``<data_dir>/MNIST/raw/...``,
  ``<data_dir>/cifar-10-batches-py``, ...). They are downloaded only with ``download=True``
  (``--download``); missing files raise an :class:`InputError` naming the folder and the flag.
  The default folder is ``$XDG_CACHE_HOME/paretoprune/data`` (``~/.cache/paretoprune/data``).
* ``package.module:factory`` -- your own: ``factory()`` (no arguments) returns ``(train, test)``,
  each a ``torch.utils.data.Dataset`` of ``(x, y)`` pairs (a ``TensorDataset`` is used as is) or a
  pair ``(x, y)`` of tensors/arrays. ``y`` holds integer class labels; the number of classes is
  ``max(y) + 1``.

Normalization (built-in image datasets): pixels are scaled to [0, 1] (digits: divided by 16,
others: by 255), then standardized per channel with the mean and standard deviation of the
training images actually used (after subsampling and the validation split). Datasets of your own
are used as given (converted to float32). Images are ``(N, C, H, W)`` float32, labels int64.

Splits: ``max_train_samples`` keeps a seeded random subset of the training images;
``val_fraction`` moves a seeded random share of those into a validation set (the seed is the
run's ``seed``); ``max_test_samples`` keeps the first test images. With ``val_split="test"`` the
validation set is instead a seeded half of the test images and the test set the other half
(``val_fraction`` is then ignored). There is no data augmentation.

Batching (:func:`epoch_batches`) draws a seeded permutation per epoch and slices views of the
permuted tensors: no DataLoader, no workers.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from paretoprune.errors import InputError, first_line
from paretoprune.training._imports import is_import_path, load_object

#: torchvision datasets: name -> (torchvision class name, scale of raw pixel values).
TORCHVISION_DATASETS = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
}
DATASETS = ("digits", *TORCHVISION_DATASETS)


def known_datasets() -> list[str]:
    return list(DATASETS)


def default_data_dir() -> Path:
    """``$XDG_CACHE_HOME/paretoprune/data``, else ``~/.cache/paretoprune/data``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "paretoprune" / "data"


def check_dataset_name(name: str) -> None:
    """Raise :class:`InputError` for a dataset name that cannot be loaded (imports factories)."""
    if name in DATASETS:
        return
    if is_import_path(name):
        load_object(name, "dataset factory")
        return
    raise InputError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} or package.module:factory")


@dataclass
class DataBundle:
    """In-memory splits of one dataset (``x_val``/``y_val`` are empty without a validation split)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def to(self, device: torch.device | str) -> DataBundle:
        move = {k: getattr(self, k).to(device) for k in
                ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        return replace(self, **move)


# --- raw loading (cached per process: a sweep worker loads a dataset once) ---------------------

_RAW_CACHE: dict[tuple, tuple] = {}


def _cached(key, load):
    if key not in _RAW_CACHE:
        if len(_RAW_CACHE) >= 2:
            _RAW_CACHE.pop(next(iter(_RAW_CACHE)))
        _RAW_CACHE[key] = load()
    return _RAW_CACHE[key]


def _load_digits():
    x, y = _digits_arrays()
    x = x.astype(np.float32).reshape(-1, 1, 8, 8) / 16.0
    train, test = _stratified_split(y, n_test=math.ceil(0.25 * len(y)), seed=0)
    return (torch.from_numpy(x[train]), torch.from_numpy(y[train]),
            torch.from_numpy(x[test]), torch.from_numpy(y[test]), 10)


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits as (pixels (N, 64), labels (N,)), read from its CSV file
    without importing scikit-learn (that import costs about a second in every worker)."""
    spec = importlib.util.find_spec("sklearn")
    folder = spec.submodule_search_locations if spec is not None else None
    path = Path(list(folder)[0]) / "datasets" / "data" / "digits.csv.gz" if folder else None
    if path is None or not path.is_file():  # a future layout: ask scikit-learn itself
        from sklearn.datasets import load_digits

        digits = load_digits()
        return digits.data.astype(np.float64), digits.target.astype(np.int64)
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


def _stratified_split(y: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices drawn per class, as scikit-learn's ``train_test_split(...,
    stratify=y, random_state=seed)`` draws them (the same indices, so the digits test set is
    the one earlier versions used; a test compares the two)."""
    rng = np.random.RandomState(seed)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    n_train = len(y) - n_test
    take_train = _share_per_class(counts, n_train, rng)
    take_test = _share_per_class(counts - take_train, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for i in range(len(classes)):
        shuffled = members[i].take(rng.permutation(counts[i]), mode="clip")
        train.extend(shuffled[:take_train[i]])
        test.extend(shuffled[take_train[i]:take_train[i] + take_test[i]])
    return rng.permutation(train), rng.permutation(test)


def _share_per_class(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``n_draws`` come from each class: the floor of each class's share, then one
    more for the largest remainders (ties broken at random)."""
    share = counts / counts.sum() * n_draws
    taken = np.floor(share)
    missing = int(n_draws - taken.sum())
    remainder = share - taken
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing <= 0:
            break
        (tied,) = np.where(remainder == value)
        chosen = rng.choice(tied, size=min(len(tied), missing), replace=False)
        taken[chosen] += 1
        missing -= len(chosen)
    return taken.astype(int)


def _torchvision_split(cls, root: Path, train: bool, download: bool, name: str):
    try:
        return cls(root=str(root), train=train, download=download)
    except RuntimeError as err:
        text = str(err)
        if "not found" in text.lower() or "corrupted" in text.lower():
            raise InputError(
                f"dataset {name} not found in {root}; pass --download (download=True) to fetch it, "
                f"or point --data-dir at a folder that holds it"
            ) from None
        raise InputError(f"dataset {name} could not be read from {root}: {text.splitlines()[0]}") from None
    except OSError as err:  # network failures while downloading, unreadable files
        raise InputError(f"dataset {name} could not be loaded into {root}: {err}") from None


def _images_to_tensor(data) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, H, W, C) -> float32 (N, C, H, W) in [0, 1]."""
    t = torch.as_tensor(np.asarray(data))
    if t.ndim == 3:
        t = t[:, None]
    elif t.ndim == 4 and t.shape[-1] in (1, 3):
        t = t.permute(0, 3, 1, 2)
    return t.contiguous().float().div_(255.0)


def _load_torchvision(name: str, root: Path, download: bool):
    import torchvision

    cls = getattr(torchvision.datasets, TORCHVISION_DATASETS[name])
    if download:
        root.mkdir(parents=True, exist_ok=True)
    train = _torchvision_split(cls, root, True, download, name)
    test = _torchvision_split(cls, root, False, download, name)
    y_tr = torch.as_tensor(np.asarray(train.targets), dtype=torch.int64)
    y_te = torch.as_tensor(np.asarray(test.targets), dtype=torch.int64)
    num_classes = len(getattr(train, "classes", [])) or int(max(y_tr.max(), y_te.max())) + 1
    return (_images_to_tensor(train.data), y_tr, _images_to_tensor(test.data), y_te, num_classes)


def _as_tensors(part, name: str, which: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A user's split -- a (x, y) pair or a Dataset of (x, y) -- as float32 x and int64 y."""
    try:
        if isinstance(part, torch.utils.data.TensorDataset):
            x, y = part.tensors[0], part.tensors[1]
        elif isinstance(part, (tuple, list)) and len(part) == 2 and not isinstance(
                part[0], (tuple, list)):
            x, y = torch.as_tensor(np.asarray(part[0])), torch.as_tensor(np.asarray(part[1]))
        else:
            items = [part[i] for i in range(len(part))]
            if not items:
                raise InputError(f"dataset factory {name!r} returned an empty {which} split")
            x = torch.stack([torch.as_tensor(np.asarray(a)) for a, _ in items])
            y = torch.as_tensor([int(b) for _, b in items])
    except InputError:
        raise
    except Exception as err:
        raise InputError(
            f"dataset factory {name!r}: the {which} split is not (x, y) pairs ({err})"
        ) from None
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise InputError(f"dataset factory {name!r}: the {which} split has {x.shape[0]} inputs and "
                         f"{y.shape[0]} labels")
    if y.is_floating_point() and not torch.equal(y, y.round()):
        raise InputError(f"dataset factory {name!r}: {which} labels must be integer classes")
    y = y.long().reshape(-1)
    if int(y.min()) < 0:
        raise InputError(f"dataset factory {name!r}: {which} labels must be >= 0")
    return x.float().contiguous(), y


def _load_user(name: str):
    factory = load_object(name, "dataset factory")
    try:
        result = factory()
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"dataset factory {name!r} failed: {type(err).__name__}: "
                         f"{first_line(err)}") from None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise InputError(f"dataset factory {name!r} must return (train, test)")
    x_tr, y_tr = _as_tensors(result[0], name, "train")
    x_te, y_te = _as_tensors(result[1], name, "test")
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise InputError(f"dataset factory {name!r}: train inputs {tuple(x_tr.shape[1:])} and test "
                         f"inputs {tuple(x_te.shape[1:])} differ in shape")
    return x_tr, y_tr, x_te, y_te, int(max(y_tr.max(), y_te.max())) + 1


def load_dataset(
    name: str = "digits",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    seed: int = 0,
    val_fraction: float = 0.0,
    val_split: str = "train",
    max_train_samples: int | None = None,
    max_test_samples: int | None = None,
) -> DataBundle:
    """Load dataset ``name`` into memory (CPU tensors) with the splits described in the module
    docstring. Raises :class:`InputError` for unknown names and missing files."""
    check_dataset_name(name)
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if val_split not in ("train", "test"):
        raise InputError(f"val_split must be train or test, got {val_split!r}")
    if val_split == "test":
        val_fraction = 0.0  # the validation set comes from the test set instead
    normalize = True
    if name == "digits":
        raw = _cached(("digits",), _load_digits)
    elif name in TORCHVISION_DATASETS:
        root = Path(data_dir).expanduser() if data_dir else default_data_dir()
        raw = _cached((name, str(root.resolve())), lambda: _load_torchvision(name, root, download))
    else:
        raw = _load_user(name)
        normalize = False
    x_pool, y_pool, x_test, y_test, num_classes = raw

    gen = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(x_pool.shape[0], generator=gen)
    if max_train_samples is not None:
        order = order[: int(max_train_samples)]
    n_val = int(round(val_fraction * len(order)))
    if val_fraction > 0 and n_val == 0:
        n_val = 1
    if len(order) - n_val < 1:
        raise InputError(f"no training samples left after the validation split ({len(order)} samples, "
                         f"val_fraction {val_fraction})")
    val_idx, train_idx = order[:n_val], order[n_val:]
    x_train, y_train = x_pool[train_idx], y_pool[train_idx]
    x_val, y_val = x_pool[val_idx], y_pool[val_idx]
    if max_test_samples is not None:
        x_test, y_test = x_test[: int(max_test_samples)], y_test[: int(max_test_samples)]
    if val_split == "test":
        # a seeded half of the test set validates, the other half tests: 10% of a small
        # training set is too few images to choose between networks that differ by a point
        if x_test.shape[0] < 2:
            raise InputError("val_split 'test' needs at least two test samples")
        halves = torch.randperm(x_test.shape[0], generator=gen)
        half = x_test.shape[0] // 2
        x_val, y_val = x_test[halves[:half]], y_test[halves[:half]]
        x_test, y_test = x_test[halves[half:]], y_test[halves[half:]]

    mean = std = None
    if normalize:
        dims = [0] + list(range(2, x_train.ndim))
        m = x_train.mean(dim=dims, keepdim=True)
        s = x_train.std(dim=dims, keepdim=True).clamp_min(1e-6)
        x_train, x_val, x_test = ((t - m) / s for t in (x_train, x_val, x_test))
        mean, std = tuple(m.flatten().tolist()), tuple(s.flatten().tolist())
    return DataBundle(name, x_train.contiguous(), y_train, x_val.contiguous(), y_val,
                      x_test.contiguous(), y_test, int(num_classes), mean, std)


def epoch_batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled mini-batches: a permutation drawn from ``generator`` (a CPU
    generator, so the order is the same on every device), the data permuted once, then views of
    ``batch_size`` rows (the last batch may be smaller)."""
    n = x.shape[0]
    perm = torch.randperm(n, generator=generator)
    if x.device.type != "cpu":
        perm = perm.to(x.device)
    xs, ys = x.index_select(0, perm), y.index_select(0, perm)
    for start in range(0, n, batch_size):
        yield xs[start:start + batch_size], ys[start:start + batch_size]
