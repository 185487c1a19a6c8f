"""Small synthetic data and models for the structured-pruning tests, by ``package.module:name``
(no download): ``--dataset _cifar_like:tiny_cifar``, ``--model _cifar_like:sigmoid_mlp``.

``tests/`` is on ``sys.path`` in every test run (pytest inserts the folder of the root
``conftest.py``), so these names resolve in the training tests and the CLI tests alike.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def tiny_cifar(n_train: int = 96, n_test: int = 48, classes: int = 4, size: int = 16):
    """CIFAR-shaped images (3 channels, ``size`` x ``size``): noise plus a bright quadrant in a
    channel that depends on the class, so a small network learns it in an epoch or two."""
    g = torch.Generator().manual_seed(0)
    n = n_train + n_test
    y = torch.arange(n) % classes
    x = 0.5 * torch.randn(n, 3, size, size, generator=g)
    half = size // 2
    for c in range(classes):
        rows, cols = (c // 2) % 2 * half, c % 2 * half
        x[y == c, c % 3, rows:rows + half, cols:cols + half] += 1.5
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def sigmoid_mlp(num_classes: int, input_shape) -> nn.Module:
    """A chain whose hidden units go through a sigmoid: a zero unit does not stay zero."""
    width = math.prod(input_shape)
    return nn.Sequential(nn.Flatten(), nn.Linear(width, 16), nn.Sigmoid(),
                         nn.Linear(16, num_classes))
