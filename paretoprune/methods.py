"""The training methods paretoprune offers, as data: the one plug-in point for a new method.

A method is "a way to train a pruned network with one scalar parameter" (the scalarization
weight λ of the weighted sum, an l1 budget ε, a target sparsity, ...). Everything outside the
training layer -- the configuration, the planner, the store, the executors, the CLI -- knows a
method only through its :class:`Method` entry here, so a new method is added by

1. a :class:`Method` entry in :data:`METHODS` (this file: no torch);
2. its options, if any, as fields of :class:`paretoprune.config.TrainSpec` whose metadata names
   the method (``setting(..., methods=("name",))``);
3. a runner ``run(spec, *, init_state=None, epochs=None, on_epoch=None) -> RunResult`` in the
   module named by :attr:`Method.runner` (imported only in the process that trains).

How the planner treats the parameter (:attr:`Method.scalarization`):

* ``"weighted-sum"`` -- the parameter is a weight w in [0, 1] of ``(1 - w)·x + w·y``; the normal
  rule (dichotomic search) applies, and a gap closes when a new point is not below its segment.
* ``"constraint"`` -- the parameter fixes a bound on the second objective ``y`` (an ε-constraint:
  minimize ``x`` subject to ``y <= bound``); the planner bisects a gap in ``y`` and turns the bound
  into the parameter with :meth:`Method.parameter_for_bound`. Reaches non-convex fronts.
* ``"parameter"`` -- the parameter has no known geometric meaning: gaps are bisected in parameter
  space (the ``midpoint`` rule).

No torch, no pandas: the CLI validates ``--method`` without importing either.
"""

from __future__ import annotations

from dataclasses import dataclass

from paretoprune.errors import InputError

__all__ = ["METHODS", "SCALARIZATIONS", "Method", "get_method", "method_names"]

SCALARIZATIONS = ("weighted-sum", "constraint", "parameter")


@dataclass(frozen=True)
class Method:
    """What the rest of paretoprune needs to know about a training method.

    Attributes:
        name: the ``--method`` name.
        summary: one line for ``--help`` and the README.
        parameter: the :class:`~paretoprune.config.TrainSpec` field a sweep varies (``weight``
            for the weighted sum), or None for a single-run method that a sweep cannot vary.
        range: the default sweep range ``(lo, hi)`` of the parameter.
        scalarization: how the planner splits a gap (see the module docstring).
        objectives: the two table columns the planner's front is made of (both minimized).
        dense_end: ``"lo"`` or ``"hi"``: the end of the range that gives the densest network
            (warm starts continue from denser runs).
        sparse_end_known: True when the sparse end of the default range is the all-zero network
            (e.g. λ = 1): the planner does not train it, it brackets the collapse edge instead.
        optimizers: the ``--optimizer`` values it accepts; the first is its default.
        runner: ``"module:function"`` of its training function (imported in the worker only).
        origin: where the method comes from; a reconstruction from an abstract says so here, and
            ``--help`` and the README repeat it.
        structured: True when it removes whole units/filters/blocks (``export --shrink``).
        size: the column that says how big one of its networks is (``nnz``: nonzero
            prunable weights; ``flops`` for a structured method): selection picks the
            smallest network within the allowed drop by it.
        scale: how the planner bisects the parameter, ``linear`` or ``sparse-log`` (in
            ``-ln(1 - λ)``: a weight whose useful values crowd near its sparse end 1; see
            :data:`paretoprune.planner.SCALES`).
        preflight: ``"module:function"`` called as ``function(spec, model, data)`` before a
            sweep writes anything (after the model is built): bad input only this method
            refuses raises its one-line :class:`InputError` there. Empty: no such check.
    """

    name: str
    summary: str
    parameter: str | None
    range: tuple[float, float]
    scalarization: str
    runner: str
    objectives: tuple[str, str] = ("loss", "l1")
    dense_end: str = "lo"
    sparse_end_known: bool = False
    optimizers: tuple[str, ...] = ("adam", "sgd", "rmsprop")
    origin: str = ""
    structured: bool = False
    preflight: str = ""
    size: str = "nnz"
    scale: str = "linear"

    @property
    def rules(self) -> tuple[str, ...]:
        """The planner rules that make sense for this method; the first is the default."""
        if self.scalarization == "weighted-sum":
            return ("normal", "midpoint", "grid", "random")
        if self.scalarization == "constraint":
            return ("bound", "midpoint", "grid", "random")
        return ("midpoint", "grid", "random")

    def parameter_for_bound(self, bound: float) -> float:
        """The parameter value that bounds the second objective by ``bound`` (constraint
        methods); the identity unless the method's parameter is, e.g., a sparsity."""
        return 1.0 - bound if self.objectives[1] == "density" else float(bound)

    def bound_for_parameter(self, value: float) -> float:
        """The inverse of :meth:`parameter_for_bound`."""
        return 1.0 - value if self.objectives[1] == "density" else float(value)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            name="weighted-sum",
            summary="train on (1-λ)·CE + λ·l1 with intra-training pruning, one run per λ "
                    "(Reiners, Klamroth, Stiglmayr 2022)",
            parameter="weight",
            range=(0.0, 1.0),
            scalarization="weighted-sum",
            runner="paretoprune.training.weighted_sum:run_weighted_sum",
            sparse_end_known=True,
            # useful λ crowd near 1 (LeNet-5: 0.88-0.99 for 92-99.4 % sparsity): bisect in
            # -ln(1 - λ), so runs spread evenly in sparsity near the sparse end
            scale="sparse-log",
            origin="Reiners, Klamroth and Stiglmayr, arXiv 2008.13590",
        ),
        Method(
            name="smgd",
            summary="one run along the common descent direction of CE and l1 (stochastic "
                    "multi-gradient descent; --optimizer smgd, madam or mrmsprop)",
            parameter="weight",  # only with --fixed-weights; else the run chooses its weights
            range=(0.0, 1.0),
            scalarization="weighted-sum",
            runner="paretoprune.training.loop:run_multi_gradient",
            optimizers=("smgd", "madam", "mrmsprop"),
            origin="Liu and Vicente, arXiv 1907.04472; Reiners et al., arXiv 2008.13590",
        ),
        Method(
            name="epsilon",
            summary="minimize CE subject to l1 <= ε·l1_init: the prunable weights are projected "
                    "onto the l1 ball after every step (Duchi et al. 2008), the budget ramped "
                    "in; --target-sparsity S instead keeps the largest weights, exactly S zero",
            parameter="epsilon",
            # ε = 1: no more l1 than at initialization, nearly unconstrained (a trained dense
            # net has l1 of about 1.0-1.2); ε -> 0 is the all-zero network
            range=(0.0, 1.0),
            scalarization="constraint",
            runner="paretoprune.training.epsilon:run_epsilon",
            objectives=("loss", "l1"),
            dense_end="hi",
            sparse_end_known=True,
            origin="ε-constraint scalarization (Haimes et al. 1971) with the l1-ball projection "
                   "of Duchi, Shalev-Shwartz, Singer and Chandra, ICML 2008",
        ),
        Method(
            name="gmp",
            summary="gradual magnitude pruning: cross-entropy only, the smallest weights masked "
                    "to the target sparsity along a cubic schedule (Zhu and Gupta 2017)",
            parameter="target_sparsity",
            range=(0.0, 1.0),  # S = 1 is the all-zero network (never trained)
            scalarization="constraint",
            runner="paretoprune.training.gmp:run_gmp",
            objectives=("loss", "density"),
            dense_end="lo",
            sparse_end_known=True,
            origin="Zhu and Gupta, arXiv 1710.01878",
        ),
        Method(
            name="gates",
            summary="hard-concrete gates on units, filters and residual blocks, trained with "
                    "the weights on (1-w)·CE + w·expected complexity (a FLOPs/parameter mix); "
                    "removed structures are cut out by export --shrink (a reconstruction from "
                    "the abstract of Guenter & Sideris 2024 with the gates of Louizos et al. "
                    "2018)",
            parameter="complexity_weight",
            range=(0.0, 1.0),
            # a weight of the weighted sum (1-w)·CE + w·complexity, both objectives minimized
            # and the complexity normalized to [0, 1]: the normal rule's geometry holds
            scalarization="weighted-sum",
            runner="paretoprune.training.gates:run_gates",
            objectives=("loss", "complexity"),
            sparse_end_known=True,  # w = 1: every gate closes, nothing is learned
            origin="reconstruction from the abstract of Guenter and Sideris, arXiv 2411.09127, "
                   "and hard-concrete gates (Louizos, Welling and Kingma, arXiv 1712.01312)",
            structured=True,
            size="flops",  # what removed structures save; nnz hardly moves with conv filters
            preflight="paretoprune.training.gates:check_gates",
        ),
        Method(
            name="relevance",
            summary="relevance-based selective decay: weights insensitive to the loss are shrunk "
                    "after each step, and when the validation loss plateaus the largest "
                    "magnitude threshold within --tolerance is pruned (a reconstruction from the "
                    "abstract of Bonetta et al. 2022 and LOBSTER, not the authors' code)",
            parameter="decay",
            # λ = 0: no decay, pruning steps only; on digits λ of about 60 and more collapses
            # the MLP, λ = 30 keeps LeNet-5 on mnist-5k usable at 99.8 % dense sparsity
            range=(0.0, 30.0),
            # λ has no geometric meaning on (loss, density): bisect the parameter
            scalarization="parameter",
            runner="paretoprune.training.relevance:run_relevance",
            objectives=("loss", "density"),
            origin="reconstruction from the abstract of Bonetta et al., arXiv 2204.04977, in the "
                   "published form of LOBSTER (Tartaglione et al., arXiv 2011.09905); not the "
                   "authors' code",
        ),
        Method(
            name="pso",
            summary="gradient-free, MLPs only: two cooperating particle swarms (weights; "
                    "connection and node bits) minimize (1-λ)·CE + λ·share of connections kept "
                    "(a reconstruction from the abstract of Adam, Magoulas & Vrahatis 2012 and "
                    "standard cooperative / binary PSO, not the authors' code)",
            parameter="zero_norm_weight",
            range=(0.0, 1.0),
            # the aggregate is (1-λ)·CE + λ·density on the fitness subset: a weighted sum of
            # the two objectives (exactly so with --fitness-samples 0)
            scalarization="weighted-sum",
            runner="paretoprune.training.pso:run_pso",
            objectives=("loss", "density"),
            sparse_end_known=True,  # λ = 1: the empty mask
            optimizers=("pso",),
            origin="reconstruction from the abstract of Adam, Magoulas and Vrahatis, EANN 2012, "
                   "with cooperative PSO (van den Bergh and Engelbrecht 2004) and binary PSO "
                   "(Kennedy and Eberhart 1997); not the authors' code",
            preflight="paretoprune.training.pso:check_pso",
        ),
    )
}


def method_names() -> tuple[str, ...]:
    """The names ``--method`` accepts."""
    return tuple(METHODS)


def get_method(name: str) -> Method:
    """The method called ``name``; :class:`InputError` naming the known ones otherwise."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise InputError(
            f"unknown method {name!r}; choose one of {', '.join(METHODS)}"
        ) from None
