"""``paretoprune train``: one training run of one weight.

The training options (:func:`training_options`) are shared with ``paretoprune sweep``; their
defaults are :class:`~paretoprune.training.TrainSpec`'s, and :func:`spec_from_options` turns them
into a validated spec. Bad values raise :class:`~paretoprune.errors.InputError` (one line on
stderr, exit code 2).
"""

from __future__ import annotations

import sys
from dataclasses import fields

import click

from paretoprune.cli.common import emit, format_option
from paretoprune.errors import InputError, TrainingError

# Defaults and choices are written out here (rather than read from paretoprune.training) so that
# importing the CLI does not import torch; tests check they equal TrainSpec's.
DEFAULTS = {
    "model": "mlp", "dataset": "digits", "optimizer": "adam", "epochs": 20, "batch_size": 32,
    "lr": 1e-3, "threshold": 1e-3, "prune": "dense", "prune_every": 1, "regrow": False,
    "prune_bias": False, "schedule": "constant", "momentum": 0.9, "weight_decay": 0.0,
    "fixed_weights": False, "mo_l1_scale": "raw", "device": "auto", "seed": 0, "val_fraction": 0.0, "data_dir": None,
    "download": False, "max_train_samples": None,
}

_OPTIONS = [
    click.option("--model", default=DEFAULTS["model"], show_default=True, metavar="NAME",
                 help="mlp, lenet5, lenet5-caffe, lenet-300-100, vgg-cifar, resnet20, resnet56, "
                      "torchvision:NAME, or package.module:factory."),
    click.option("--dataset", default=DEFAULTS["dataset"], show_default=True, metavar="NAME",
                 help="digits (bundled, offline), mnist, fashion-mnist, cifar10, cifar100, or "
                      "package.module:factory."),
    click.option("--optimizer", default=DEFAULTS["optimizer"], show_default=True, metavar="NAME",
                 help="Weighted sum: sgd (momentum 0.9), adam, rmsprop. Multiobjective (the "
                      "weight is ignored unless --fixed-weights): smgd, madam, mrmsprop."),
    click.option("--epochs", type=int, default=DEFAULTS["epochs"], show_default=True),
    click.option("--batch-size", type=int, default=DEFAULTS["batch_size"], show_default=True),
    click.option("--lr", type=float, default=DEFAULTS["lr"], show_default=True,
                 help="Learning rate."),
    click.option("--schedule", default=DEFAULTS["schedule"], show_default=True,
                 help="Learning-rate schedule per epoch: constant, cosine, sigmoid (lr to 0.1 lr, "
                      "centred at 75% of the epochs)."),
    click.option("--threshold", type=float, default=DEFAULTS["threshold"], show_default=True,
                 help="Weights with |w| below it are pruned (0: no pruning)."),
    click.option("--prune", default=DEFAULTS["prune"], show_default=True,
                 help="Which weights are prunable and penalized: dense, conv or all."),
    click.option("--prune-every", type=int, default=DEFAULTS["prune_every"], show_default=True,
                 help="Prune after every K optimizer steps."),
    click.option("--regrow/--no-regrow", default=DEFAULTS["regrow"], show_default=True,
                 help="Let pruned weights grow back (the seed's behaviour) instead of "
                      "persistent masks."),
    click.option("--prune-bias", is_flag=True, default=DEFAULTS["prune_bias"],
                 help="Prune and penalize biases too."),
    click.option("--momentum", type=float, default=DEFAULTS["momentum"], show_default=True,
                 help="Momentum of sgd and smgd."),
    click.option("--weight-decay", type=float, default=DEFAULTS["weight_decay"], show_default=True,
                 help="L2 on the kernels that are not prunable."),
    click.option("--fixed-weights", is_flag=True, default=DEFAULTS["fixed_weights"],
                 help="smgd/madam/mrmsprop: combine the objectives with (1-weight, weight) "
                      "instead of the min-norm weights."),
    click.option("--mo-l1-scale", type=click.Choice(["raw", "init"]),
                 default=DEFAULTS["mo_l1_scale"], show_default=True,
                 help="smgd/madam/mrmsprop: the l1 gradient they balance, sign(w) (raw, the "
                      "seed's) or sign(w)/l1_init (init, the weighted sum's scale)."),
    click.option("--val-fraction", type=float, default=DEFAULTS["val_fraction"], show_default=True,
                 help="Share of the training data held out for validation."),
    click.option("--max-train-samples", type=int, default=None,
                 help="Train on a seeded random subset of this many samples."),
    click.option("--data-dir", default=None, metavar="DIR",
                 help="Folder of the torchvision datasets [default: "
                      "$XDG_CACHE_HOME/paretoprune/data, i.e. ~/.cache/paretoprune/data]."),
    click.option("--download", is_flag=True, default=DEFAULTS["download"],
                 help="Download a missing torchvision dataset into the data folder."),
    click.option("--device", default=DEFAULTS["device"], show_default=True,
                 help="auto, cpu, cuda, cuda:N or mps."),
    click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True,
                 help="Seed of the initial weights, batch order, dropout and data splits."),
]

#: The click parameter names that :func:`training_options` adds (and spec_from_options reads).
TRAINING_OPTION_NAMES = (
    "model", "dataset", "optimizer", "epochs", "batch_size", "lr", "schedule", "threshold",
    "prune", "prune_every", "regrow", "prune_bias", "momentum", "weight_decay", "fixed_weights",
    "mo_l1_scale",
    "val_fraction", "max_train_samples", "data_dir", "download", "device", "seed",
)


def training_options(f):
    """Add the training options (everything in a TrainSpec that a command line sets)."""
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def spec_from_options(options: dict | None = None, /, **values):
    """A validated :class:`~paretoprune.training.TrainSpec` from training option values (a dict
    and/or keywords); keys that are not training options are ignored."""
    from paretoprune.training import TrainSpec

    merged = {**(options or {}), **values}
    known = {f.name for f in fields(TrainSpec)}
    return TrainSpec(**{k: v for k, v in merged.items() if k in known and k in TRAINING_OPTION_NAMES})


class _EpochBar:
    """A rich progress bar per epoch on standard error (only on a terminal, not with --quiet)."""

    def __init__(self, total: int, enabled: bool):
        self.progress = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
            TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
            console=Console(stderr=True), transient=True,
        )
        self.task = self.progress.add_task("train", total=total, info="")

    def __enter__(self):
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, record: dict) -> None:
        if self.progress is None:
            return
        info = f"loss {record['loss']:.4f}  l1 {record['l1']:.4f}  sparsity {record['sparsity']:.1%}"
        if "c2" in record:
            info += f"  c2 {record['c2']:.3f}"
        self.progress.update(self.task, completed=record["epoch"], info=info)


@click.command("train")
@click.option("--weight", type=float, default=0.5, show_default=True,
              help="λ in [0, 1]: minimize (1-λ)·CE + λ·l1, l1 relative to the dense start "
                   "(ignored by smgd/madam/mrmsprop unless --fixed-weights).")
@training_options
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, metavar="PATH",
              help="Write a checkpoint (weights, masks, settings, metrics) to this file.")
@click.option("--threads", type=int, default=None,
              help="torch intra-op CPU threads [default: torch's choice]; 1 is often fastest for "
                   "small models on a busy machine.")
@format_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train_command(weight, out, threads, fmt, quiet, **training):
    """Train one network with intra-training pruning and print its metrics.

    The run minimizes (1-λ)·cross-entropy + λ·l1, where l1 is the l1 norm of the prunable weights
    divided by its value at the dense initialization; weights below --threshold are zeroed after
    every step. Defaults train a small MLP on the bundled digits in a few seconds.
    """
    from paretoprune.training import check_weight, save_checkpoint, train_run

    spec = spec_from_options(**training)
    weight = check_weight(weight)
    if threads is not None:
        if threads < 1:
            raise InputError(f"threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)
    bar = _EpochBar(spec.epochs, enabled=not quiet and sys.stderr.isatty())
    with bar:
        result = train_run(spec, weight, on_epoch=bar)
    metrics = result.metrics
    if out:
        save_checkpoint(out, result.state, spec=spec, weight=weight, metrics=metrics,
                        history=result.history)
    if fmt == "table":
        rows = [{"metric": k, "value": v} for k, v in metrics.items()]
        emit(rows, fmt, title=f"{spec.model} on {spec.dataset}, weight {weight:g}")
    else:
        emit([metrics], fmt)
    if metrics["status"] != "ok":
        raise TrainingError(f"training failed: {metrics['error']}")
