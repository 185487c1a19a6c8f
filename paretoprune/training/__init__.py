"""Training runs for the biobjective pruning problem (f1 = cross-entropy, f2 = l1 of the
prunable weights), with intra-training pruning.

What a sweep calls::

    spec = TrainSpec(model="mlp", dataset="digits", epochs=20)   # validated on construction
    result = train_run(spec.with_parameter(0.3))  # RunResult(metrics, state, history)
    evaluate = evaluator(spec)                  # evaluate(0.3): metrics + "_state" + ...

``TrainSpec`` lives in :mod:`paretoprune.config` (no torch); it is re-exported here.

The l1 objective is on the scale ``l1 = l1_raw / l1_init`` (1 at the dense, seeded start, 0 for
an all-zero network); weighted-sum runs minimize ``(1 - weight) * CE + weight * l1``.
"""

from paretoprune.config import TrainSpec
from paretoprune.training.checkpoint import (
    checkpoint_payload,
    export_state,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from paretoprune.training.datasets import (
    DataBundle,
    default_data_dir,
    epoch_batches,
    known_datasets,
    load_dataset,
)
from paretoprune.training.loop import (
    GradientRun,
    RunResult,
    evaluate_split,
    evaluator,
    preflight,
    resolve_device,
    run_point,
    train_run,
)
from paretoprune.training.models import build_model, count_parameters, known_models
from paretoprune.training.optim import (
    SMGD,
    MAdam,
    MRMSProp,
    MultiObjectiveOptimizer,
    min_norm_weights,
)
from paretoprune.training.pruning import (
    Pruner,
    apply_torch_prune,
    dense_kernels,
    prunable_parameters,
)
from paretoprune.training.schedules import lr_at

__all__ = [
    "SMGD",
    "DataBundle",
    "GradientRun",
    "MAdam",
    "MRMSProp",
    "MultiObjectiveOptimizer",
    "Pruner",
    "RunResult",
    "TrainSpec",
    "apply_torch_prune",
    "build_model",
    "checkpoint_payload",
    "count_parameters",
    "default_data_dir",
    "dense_kernels",
    "epoch_batches",
    "evaluate_split",
    "evaluator",
    "export_state",
    "known_datasets",
    "known_models",
    "load_checkpoint",
    "load_dataset",
    "lr_at",
    "min_norm_weights",
    "model_from_checkpoint",
    "preflight",
    "prunable_parameters",
    "resolve_device",
    "run_point",
    "save_checkpoint",
    "train_run",
]
