"""The public API at the package top level, and the torch-free layers staying torch-free."""


import numpy as np
import pandas as pd
from _fresh import loads

import paretoprune


def test_top_level_names_work():
    points = np.array([[0.0, 1.0], [0.25, 0.25], [1.0, 0.0], [0.8, 0.8]])
    assert paretoprune.pareto_mask(points).tolist() == [True, True, True, False]
    # staircase: 2*1 + 1.75*0.75 + 1*0.25
    assert paretoprune.hypervolume(points, ref=(2.0, 2.0)) == 3.5625
    ranked = paretoprune.knee(pd.DataFrame(points, columns=["loss", "l1"]))
    assert ranked.index[0] == 1
    # importing the module must not shadow the function
    from paretoprune import exploration

    assert callable(paretoprune.explore) and paretoprune.explore is exploration.explore
    assert set(paretoprune.__all__) >= {"pareto_mask", "hypervolume", "knee", "explore"}


def test_points_commands_do_not_import_torch():
    assert not loads("import paretoprune.cli.points, paretoprune.presentation.plot, "
                     "paretoprune.exploration", "torch")


def test_the_statistics_row_rules_and_selection_do_not_import_torch():
    assert not loads("import paretoprune.stats, paretoprune.rows, paretoprune.selection, "
                     "paretoprune.tables", "torch")


def test_the_train_command_loads_without_torch():
    # its options come from paretoprune.config: parsing and checking them needs no torch
    assert not loads("import paretoprune.cli.train, paretoprune.config, paretoprune.methods",
                     "torch")


def test_the_training_package_reexports_the_config_and_the_new_layers():
    import paretoprune.config
    import paretoprune.training as training

    assert training.TrainSpec is paretoprune.config.TrainSpec
    for name in ("GradientRun", "RunResult", "train_run", "preflight", "checkpoint_payload",
                 "save_checkpoint", "load_checkpoint", "model_from_checkpoint", "export_state",
                 "lr_at", "SMGD", "MAdam", "MRMSProp"):
        assert name in training.__all__ and callable(getattr(training, name)), name
