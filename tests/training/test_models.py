"""Models by name: parameter counts, shape adaptation, clear errors."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch
from torch import nn

from paretoprune.errors import InputError
from paretoprune.training import build_model, count_parameters, dense_kernels, known_models
from paretoprune.training.models import check_fits


def n_dense_kernel(model: nn.Module) -> int:
    return sum(w.numel() for w in dense_kernels(model))


@pytest.mark.parametrize(
    ("name", "total", "dense"),
    [
        ("lenet5", 60_074, 58_920),          # the original paper's LeNet-5 variant
        ("lenet5-caffe", 431_080, 405_000),  # Han et al. / Louizos et al.
        ("lenet-300-100", 266_610, 266_200),
    ],
)
def test_mnist_parameter_counts(name, total, dense):
    model = build_model(name, 10, (1, 28, 28))
    assert count_parameters(model) == total
    assert n_dense_kernel(model) == dense


@pytest.mark.parametrize(("name", "total"), [("resnet20", 269_722), ("resnet56", 853_018)])
def test_cifar_resnet_counts_option_a(name, total):
    # He et al.'s CIFAR ResNets with parameter-free (option A) shortcuts: 0.27M and 0.85M
    assert count_parameters(build_model(name, 10, (3, 32, 32))) == total


def test_vgg_cifar_dense_layer_sees_2048_features():
    model = build_model("vgg-cifar", 10, (3, 32, 32))
    (dense,) = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert dense.in_features == 2048
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)


def test_models_adapt_to_channels_and_size():
    # lenet5 on CIFAR-sized colour images: the flattened size follows the input
    model = build_model("lenet5", 100, (3, 32, 32))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    mlp = build_model("mlp", 3, (5,))
    assert mlp(torch.randn(4, 5)).shape == (4, 3)


def test_lenet5_on_8x8_digits_fails_clearly():
    with pytest.raises(InputError, match=r"data whose shape \(1, 8, 8\) does not fit the model 'lenet5'"):
        build_model("lenet5", 10, (1, 8, 8))
    with pytest.raises(InputError, match="does not fit the model 'lenet5'"):
        build_model("lenet5", 10, (64,))


def test_unknown_model_lists_known_names():
    with pytest.raises(InputError) as err:
        build_model("lenet6", 10, (1, 28, 28))
    for name in known_models():
        assert name in str(err.value)


def test_torchvision_model_by_name_with_single_channel_input():
    model = build_model("torchvision:resnet18", 7, (1, 28, 28))
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 7)
    with pytest.raises(InputError, match="did you mean torchvision:resnet18"):
        build_model("torchvision:resnet19", 7, (3, 32, 32))


def test_user_factory(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(textwrap.dedent("""
        from torch import nn

        def tiny(num_classes, input_shape):
            return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], num_classes))

        def broken(num_classes, input_shape):
            return "not a module"

        def wrong_width(num_classes, input_shape):
            return nn.Sequential(nn.Flatten(), nn.Linear(3, num_classes))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_model("my_models:tiny", 4, (6,))
    assert model(torch.randn(2, 6)).shape == (2, 4)
    with pytest.raises(InputError, match="not a torch.nn.Module"):
        build_model("my_models:broken", 4, (6,))
    with pytest.raises(InputError, match="does not import"):
        build_model("no_such_package_xyz.models:tiny", 4, (6,))
    with pytest.raises(InputError, match="has no attribute"):
        build_model("my_models:missing", 4, (6,))
    wrong = build_model("my_models:wrong_width", 4, (6,))
    with pytest.raises(InputError, match=r"data whose shape \(6,\) does not fit"):
        check_fits(wrong, "my_models:wrong_width", torch.randn(2, 6), 4)
    sys.modules.pop("my_models", None)
