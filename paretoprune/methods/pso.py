"""``--method pso``: gradient-free, MLPs only -- two cooperating particle swarms (weights;
connection and node bits) minimize ``(1-λ)·CE + λ·share of connections kept``. A reconstruction
from the abstract of Adam, Magoulas and Vrahatis, EANN 2012, with cooperative PSO (van den Bergh
and Engelbrecht 2004) and binary PSO (Kennedy and Eberhart 1997); not the authors' code. Runner:
:func:`paretoprune.training.pso.run_pso`; preflight: :func:`paretoprune.training.pso.check_pso`
(MLPs only)."""

from __future__ import annotations

from dataclasses import dataclass

from paretoprune.methods import weighted_sum
from paretoprune.methods.base import Method, MethodOptions
from paretoprune.settings import integer, number, setting


@dataclass(frozen=True)
class PsoOptions(MethodOptions):
    """The swarms' options."""

    zero_norm_weight: float = setting(
        0.2, "λ in [0, 1]: two particle swarms minimize (1-λ)·CE + λ·‖m‖0/P, the share of "
        "connections kept (pso: MLPs only, gradient-free; a reconstruction from the abstract of "
        "Adam, Magoulas & Vrahatis 2012 and standard cooperative / binary PSO, not the authors' "
        "code).", number(0, 1))
    swarm_size: int = setting(
        10, "Particles in each of the two swarms (weights; connection and node bits).",
        integer(2), metavar="N")
    swarm_iterations: int = setting(
        100, "Iterations of both swarms per epoch (--epochs of them).", integer(1), metavar="N")
    inertia: float = setting(
        0.729, "Inertia of the weight swarm's velocities (constriction).", number(0, 1))
    bit_inertia: float = setting(
        1.0, "Inertia of the bit swarm's velocities (1: Kennedy & Eberhart's binary PSO; below 1 "
        "a settled bit drifts back to a coin flip).", number(0, 1))
    cognitive: float = setting(
        1.494, "c1: pull towards each particle's own best.", number(0))
    social: float = setting(
        1.494, "c2: pull towards the swarm's best.", number(0))
    fitness_samples: int = setting(
        512, "Score particles on a fixed seeded subset of this many training samples (0: all).",
        integer(0), metavar="N")


METHOD = Method(
    name="pso",
    summary="gradient-free, MLPs only: two cooperating particle swarms (weights; "
            "connection and node bits) minimize (1-λ)·CE + λ·share of connections kept "
            "(a reconstruction from the abstract of Adam, Magoulas & Vrahatis 2012 and "
            "standard cooperative / binary PSO, not the authors' code)",
    options=PsoOptions,
    parameter="zero_norm_weight",
    range=(0.0, 1.0),
    # the aggregate is (1-λ)·CE + λ·density on the fitness subset: a weighted sum of
    # the two objectives (exactly so with --fitness-samples 0)
    scalarization="weighted-sum",
    runner="paretoprune.training.pso:run_pso",
    dense_reference=weighted_sum.dense_reference,
    finetune=weighted_sum.finetune,
    objectives=("loss", "density"),
    sparse_end_known=True,  # λ = 1: the empty mask
    optimizers=("pso",),
    origin="reconstruction from the abstract of Adam, Magoulas and Vrahatis, EANN 2012, "
           "with cooperative PSO (van den Bergh and Engelbrecht 2004) and binary PSO "
           "(Kennedy and Eberhart 1997); not the authors' code",
    preflight="paretoprune.training.pso:check_pso",
)
