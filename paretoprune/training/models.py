"""Models by name.

Built-in names (every factory is ``factory(num_classes, input_shape) -> nn.Module``; images are
``(channels, height, width)``):

* ``mlp`` -- a small multilayer perceptron, Flatten -> Dense 128 -> ReLU -> Dense 64 -> ReLU ->
  Dense classes; takes any input shape (it flattens). The default, sized for 8x8 digits.
* ``lenet5`` -- the original paper's LeNet-5 variant (Reiners et al.): Conv(6, 3x3, valid, ReLU) ->
  AvgPool 2 -> Conv(16, 3x3, valid, ReLU) -> AvgPool 2 -> Flatten -> Dense 120 (ReLU) -> Dense 84
  (ReLU) -> Dense classes. On 28x28x1 inputs: 60,074 parameters, 58,920 of them dense kernels.
  Initialized like the original work's Keras model (Glorot-uniform kernels, zero biases), which trains
  about a point of accuracy better on mnist-5k than PyTorch's default initialization.
* ``lenet5-caffe`` -- Caffe's LeNet 20-50-800-500: Conv(20, 5x5) -> MaxPool 2 -> Conv(50, 5x5) ->
  MaxPool 2 -> Flatten(800) -> Dense 500 (ReLU) -> Dense classes (431,080 parameters on MNIST).
  A ReLU follows each conv, as in most PyTorch pruning baselines (Caffe's prototxt has none; the
  parameter count is the same).
* ``lenet-300-100`` -- Flatten -> Dense 300 (ReLU) -> Dense 100 (ReLU) -> Dense classes
  (266,610 parameters on MNIST).
* ``vgg-cifar`` -- the original work's VGG-like CIFAR-10 net: three blocks of two 3x3 same-padding convs
  (32, 64, 128 channels), each conv followed by ELU then BatchNorm, each block by MaxPool 2 and
  Dropout (0.2, 0.3, 0.4); then Dense classes on the flattened features (2048 for 32x32 inputs).
  The original work pruned only that last dense layer (``prune="dense"``) and put an L2 penalty on the convs
  (``weight_decay``). Keras-initialized like ``lenet5``.
* The other models keep PyTorch's default initialization (resnets: Kaiming-normal, as He et al.).
* ``resnet20``, ``resnet56`` -- the CIFAR ResNets of He et al. (2016) with **option A** shortcuts
  (parameter-free: stride-2 subsampling and zero-padded channels), 3 stages of 16/32/64 channels,
  global average pooling, Dense classes (269,722 and 853,018 parameters for 10 classes).
* ``torchvision:NAME`` -- any torchvision classification model, built with ``weights=None`` and
  ``num_classes`` set. Single-channel images are repeated to 3 channels in front of it.
* ``package.module:factory`` -- your own: ``factory(num_classes, input_shape) -> nn.Module``.

Convolutional models adapt to the input's channels and size (the flattened feature count is
computed from the input shape). An input that is too small or of the wrong rank -- lenet5 on the
8x8 digits, for example -- raises :class:`~paretoprune.errors.InputError` ("data whose shape ...
does not fit the model ..."); nothing is resized silently. Use ``mlp`` or ``lenet-300-100`` on
digits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from paretoprune.errors import InputError, first_line
from paretoprune.training._imports import is_import_path, load_object

Shape = tuple[int, ...]


def _does_not_fit(name: str, shape: Sequence[int], why: str) -> InputError:
    return InputError(
        f"data whose shape {tuple(shape)} does not fit the model {name!r}: {why}"
    )


def _image_shape(name: str, shape: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise _does_not_fit(name, shape, "it needs images (channels, height, width)")
    c, h, w = (int(s) for s in shape)
    return c, h, w


def _flat_features(name: str, features: nn.Module, shape: Sequence[int]) -> int:
    """Number of features ``features`` produces for one input of ``shape`` (clear error if none)."""
    try:
        with torch.no_grad():
            was_training = features.training
            features.eval()
            out = features(torch.zeros(1, *shape))
            features.train(was_training)
    except RuntimeError as err:
        raise _does_not_fit(name, shape, str(err).splitlines()[0]) from None
    n = int(out[0].numel())
    if n == 0:
        raise _does_not_fit(name, shape, "the input is too small for its convolutions and pooling")
    return n


def keras_init_(model: nn.Module) -> nn.Module:
    """Keras' default initialization, as in the original work's models: Glorot-uniform kernels of dense and
    conv layers, zero biases (BatchNorm keeps ones and zeros)."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class LeNet5(nn.Module):
    """The original work's LeNet-5 variant (see the module docstring), Keras-initialized."""

    def __init__(self, num_classes: int = 10, input_shape: Sequence[int] = (1, 28, 28)):
        super().__init__()
        c, _, _ = _image_shape("lenet5", input_shape)
        self.features = nn.Sequential(
            nn.Conv2d(c, 6, 3), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 3), nn.ReLU(), nn.AvgPool2d(2),
            nn.Flatten(),
        )
        n = _flat_features("lenet5", self.features, input_shape)
        self.classifier = nn.Sequential(
            nn.Linear(n, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )
        keras_init_(self)

    def forward(self, x):
        return self.classifier(self.features(x))


class LeNet5Caffe(nn.Module):
    """LeNet-5-Caffe, 20-50-800-500 (see the module docstring)."""

    def __init__(self, num_classes: int = 10, input_shape: Sequence[int] = (1, 28, 28)):
        super().__init__()
        c, _, _ = _image_shape("lenet5-caffe", input_shape)
        self.features = nn.Sequential(
            nn.Conv2d(c, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        n = _flat_features("lenet5-caffe", self.features, input_shape)
        self.classifier = nn.Sequential(nn.Linear(n, 500), nn.ReLU(), nn.Linear(500, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """Flatten -> (Dense -> ReLU) per hidden width -> Dense classes."""

    def __init__(self, num_classes: int, input_shape: Sequence[int], hidden: Sequence[int]):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = int(math.prod(input_shape))
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def mlp(num_classes: int, input_shape: Sequence[int]) -> nn.Module:
    return MLP(num_classes, input_shape, (128, 64))


def lenet_300_100(num_classes: int, input_shape: Sequence[int]) -> nn.Module:
    return MLP(num_classes, input_shape, (300, 100))


class VGGCifar(nn.Module):
    """The original work's VGG-like CIFAR net (see the module docstring)."""

    def __init__(self, num_classes: int = 10, input_shape: Sequence[int] = (3, 32, 32)):
        super().__init__()
        c, _, _ = _image_shape("vgg-cifar", input_shape)
        blocks: list[nn.Module] = []
        for width, drop in ((32, 0.2), (64, 0.3), (128, 0.4)):
            blocks += [
                nn.Conv2d(c, width, 3, padding=1), nn.ELU(), nn.BatchNorm2d(width),
                nn.Conv2d(width, width, 3, padding=1), nn.ELU(), nn.BatchNorm2d(width),
                nn.MaxPool2d(2), nn.Dropout(drop),
            ]
            c = width
        self.features = nn.Sequential(*blocks, nn.Flatten())
        n = _flat_features("vgg-cifar", self.features, input_shape)
        self.classifier = nn.Linear(n, num_classes)
        keras_init_(self)

    def forward(self, x):
        return self.classifier(self.features(x))


class ShortcutA(nn.Module):
    """ResNet option A shortcut: stride-2 subsampling and zero-padding of the new channels."""

    def __init__(self, extra_channels: int):
        super().__init__()
        self.extra = extra_channels

    def forward(self, x):
        pad = self.extra // 2
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, self.extra - pad))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or in_planes != planes:
            self.shortcut: nn.Module = ShortcutA(planes - in_planes)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for CIFAR (He et al. 2016, section 4.2), option A shortcuts."""

    def __init__(self, depth: int, num_classes: int = 10, input_shape: Sequence[int] = (3, 32, 32)):
        super().__init__()
        name = f"resnet{depth}"
        c, _, _ = _image_shape(name, input_shape)
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(c, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
        _flat_features(name, nn.Sequential(self.conv1, self.layer1, self.layer2, self.layer3),
                       input_shape)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


class RepeatChannels(nn.Module):
    """Repeat a single-channel image to ``channels`` channels in front of ``model``."""

    def __init__(self, model: nn.Module, channels: int = 3):
        super().__init__()
        self.model = model
        self.channels = channels

    def forward(self, x):
        if x.shape[1] == 1:
            x = x.expand(-1, self.channels, -1, -1)
        return self.model(x)


def torchvision_model(name: str, num_classes: int, input_shape: Sequence[int]) -> nn.Module:
    """``torchvision:NAME``: a torchvision classification model with random weights."""
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join('torchvision:' + c for c in close)}?" if close else (
            "; see torchvision.models.list_models()")
        raise InputError(f"unknown torchvision model {name!r}{hint}")
    c, _, _ = _image_shape(f"torchvision:{name}", input_shape)
    model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    return RepeatChannels(model) if c == 1 else model


#: name -> factory(num_classes, input_shape).
MODELS: dict[str, Callable[[int, Shape], nn.Module]] = {
    "mlp": mlp,
    "lenet5": lambda k, s: LeNet5(k, s),
    "lenet5-caffe": lambda k, s: LeNet5Caffe(k, s),
    "lenet-300-100": lenet_300_100,
    "vgg-cifar": lambda k, s: VGGCifar(k, s),
    "resnet20": lambda k, s: CifarResNet(20, k, s),
    "resnet56": lambda k, s: CifarResNet(56, k, s),
}


def known_models() -> list[str]:
    """The built-in model names (plus the ``torchvision:NAME`` and ``package.module:factory`` forms)."""
    return list(MODELS)


def check_model_name(name: str) -> None:
    """Raise :class:`InputError` for a model name that cannot be built (imports user factories)."""
    if name in MODELS:
        return
    if name.startswith("torchvision:"):
        import torchvision

        tv = name.split(":", 1)[1]
        if tv not in torchvision.models.list_models(module=torchvision.models):
            torchvision_model(tv, 10, (3, 32, 32))  # raises with suggestions
        return
    if is_import_path(name):
        load_object(name, "model factory")
        return
    raise InputError(
        f"unknown model {name!r}; known: {', '.join(MODELS)}, torchvision:NAME or package.module:factory"
    )


def build_model(name: str, num_classes: int, input_shape: Sequence[int]) -> nn.Module:
    """Build model ``name`` for ``num_classes`` classes and inputs of ``input_shape`` (one sample).

    Uses the global torch RNG for the initial weights: seed it first for reproducible runs.
    Raises :class:`InputError` for an unknown name or an input shape the model cannot take.
    """
    check_model_name(name)
    shape = tuple(int(s) for s in input_shape)
    if name in MODELS:
        model = MODELS[name](int(num_classes), shape)
    elif name.startswith("torchvision:"):
        model = torchvision_model(name.split(":", 1)[1], int(num_classes), shape)
    else:
        factory = load_object(name, "model factory")
        try:
            model = factory(int(num_classes), shape)
        except Exception as err:  # the user's code: its failure is their input, in one line
            raise InputError(f"model factory {name!r} failed: {type(err).__name__}: "
                             f"{first_line(err)}") from None
        if not isinstance(model, nn.Module):
            raise InputError(f"model factory {name!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def check_fits(model: nn.Module, name: str, sample: torch.Tensor, num_classes: int) -> None:
    """Run ``model`` on a couple of samples; an :class:`InputError` if the data does not fit it
    or the output is not ``(batch, num_classes)`` logits."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(sample)
    except RuntimeError as err:
        raise _does_not_fit(name, sample.shape[1:], str(err).splitlines()[0]) from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.shape != (sample.shape[0], num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise _does_not_fit(
            name, sample.shape[1:], f"its output is {got}, expected (batch, {num_classes}) logits"
        )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
