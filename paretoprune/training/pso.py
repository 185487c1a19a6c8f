"""``--method pso``: zero-norm minimization of a multilayer perceptron by two cooperating swarms.

A reconstruction from the abstract of Adam, Magoulas and Vrahatis (EANN 2012) with standard
cooperative PSO (a context vector made of each swarm's global best, van den Bergh and
Engelbrecht 2004) and binary PSO (Kennedy and Eberhart 1997); not the authors' code.
Gradient-free: no backward pass anywhere.

**The aggregate** of a network with weights ``w`` and connection mask ``m`` is

    F(w, m) = (1 - λ)·CE(w ⊙ m) + λ·‖m‖₀ / P

with ``λ`` = ``--zero-norm-weight`` (the sweep's parameter), ``CE`` the cross-entropy on a fixed,
seeded subset of ``--fitness-samples`` training samples and ``‖m‖₀/P`` the share of the ``P``
prunable connections left (the ``density`` column). Hidden nodes have a bit too: a node switched
off removes every connection into and out of it (and its bias), so nodes count through their
connections. ``F`` is a weighted sum of the rows' two objectives, ``loss`` and ``density``
(exactly so with ``--fitness-samples 0``, the whole training set): the sweep's weighted-sum
rule applies.

**Two swarms, one context.** Swarm A (real-valued PSO, ``--swarm-size`` particles) searches the
weights and biases of every linear layer; swarm B (binary PSO, as many particles) searches the
connection and node bits: a velocity ``v`` per bit, and each bit is drawn anew every iteration
as 1 with probability ``sigmoid(v)``. Both move by::

    v <- inertia·v + c1·r1·(personal best - x) + c2·r2·(global best - x)

with ``c1`` = ``--cognitive`` = ``c2`` = ``--social`` = 1.494; swarm A with the constriction
inertia ``--inertia`` 0.729 and velocities clamped to ``±VELOCITY_LIMIT`` times each layer's
initialization bound, swarm B with ``--bit-inertia`` 1 (the original binary PSO had no inertia:
below 1 the velocity of a bit that agrees with its attractors decays to 0, a coin flip) and
``|v| <= BIT_VELOCITY_LIMIT``. Each iteration (i) swarm A is scored in the context of swarm B's
global best mask, (ii) swarm B in the context of swarm A's (new) global best weights; a swarm's
global best changes only when a particle beats the aggregate of the current best pair in that
context, so the best aggregate never gets worse. Personal bests keep the score they had when
found (the usual cooperative PSO simplification).

**Start.** Particle 0 of swarm A is the model's seeded initialization (or the weights of a warm
start), the others are drawn from PyTorch's default ``nn.Linear`` initialization
``U(-1/√fan_in, 1/√fan_in)``. Particle 0 of swarm B is every connection (or the warm start's
masks), particle ``i`` a random mask of density ``1 - i/N``. For the first
:data:`WARMUP_SHARE` of the iterations swarm B waits and swarm A trains with every connection
on: at random weights every mask scores about ln(classes), and the empty mask, which costs
nothing, would win at once and starve swarm A of any signal. Every random number comes from one
generator seeded with ``--seed``: a run is deterministic on a given device.

**Cost.** Particles are a batch dimension: one iteration is two batched forward passes of
``N`` networks over the fitness subset, about ``2·N·B·P`` multiply-adds (``B`` samples, ``P``
weights) plus a few ``N × P`` element-wise updates. ``--epochs`` counts rounds of
``--swarm-iterations`` iterations (one history record each). The defaults (10 particles, 20
rounds of 100 iterations, 512 samples) take about 30 s of one CPU core for ``mlp`` on digits;
``tests/benchmarks/bench_relevance_pso.py`` measures where it stops scaling.

Only plain MLPs are supported: ``Flatten`` then ``Linear`` layers with ReLU, Tanh or Sigmoid
between them (``mlp``, ``lenet-300-100``, or a factory of your own built that way); other models
are refused with one line before a sweep writes anything (:func:`check_pso`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from paretoprune.config import TrainSpec
from paretoprune.errors import InputError
from paretoprune.training.loop import (
    PREDICTIONS,
    RunResult,
    load_data,
    load_state,
    make_model,
    resolve_device,
    run_metrics,
    run_state,
    seeded,
)
from paretoprune.training.pruning import Pruner, prunable_parameters

__all__ = ["BIT_VELOCITY_LIMIT", "VELOCITY_LIMIT", "WARMUP_SHARE", "CooperativeSwarms", "MLPShape",
           "check_pso", "mlp_shape", "run_pso", "shape_vector", "write_best"]

#: Share of the iterations in which swarm A moves alone, every connection on.
WARMUP_SHARE = 0.25
#: Swarm A's velocity limit, in units of each layer's initialization bound 1/√fan_in.
VELOCITY_LIMIT = 1.0
#: Swarm B's velocity limit: bit probabilities stay in [0.0025, 0.9975], so a bit can always
#: change, yet a settled particle flips only about 0.25 % of its bits per iteration (with the
#: more common limit 4, 1.8 %: hundreds of random flips in a 17,000-bit mask, and on digits
#: swarm B never improved on the dense mask at λ = 0.2).
BIT_VELOCITY_LIMIT = 6.0
_ACTIVATIONS = {nn.ReLU: torch.relu, nn.Tanh: torch.tanh, nn.Sigmoid: torch.sigmoid}


class MLPShape:
    """The linear layers of a plain MLP and the flat layouts the swarms use.

    * ``layers``: the ``nn.Linear`` modules in order; ``activations``: the function after each
      hidden layer;
    * swarm A's vector: per layer its weight (row-major) then its bias (``a_slices``);
    * swarm B's vector: the connection bits of the prunable parameters (``Pruner`` order), then
      one bit per hidden node (``node_slices``, layer by layer).
    """

    def __init__(self, model: nn.Module, prune: str, include_bias: bool):
        self.layers, self.activations = _linear_chain(model)
        sizes, self.a_slices, start = [], [], 0
        for layer in self.layers:
            w, b = layer.weight.numel(), (layer.bias.numel() if layer.bias is not None else 0)
            self.a_slices.append((slice(start, start + w), slice(start + w, start + w + b)))
            sizes.append(w + b)
            start += w + b
        self.dim_a = start
        index = {id(layer.weight): (i, "weight") for i, layer in enumerate(self.layers)}
        index.update({id(layer.bias): (i, "bias") for i, layer in enumerate(self.layers)
                      if layer.bias is not None})
        self.prunable: list[tuple[int, str, slice]] = []  # (layer, "weight"/"bias", bits)
        start = 0
        for _, name, p in prunable_parameters(model, prune, include_bias=include_bias):
            if id(p) not in index:
                raise InputError(f"--method pso: the prunable parameter {name} is not in the "
                                 "MLP's chain of linear layers")
            layer, kind = index[id(p)]
            self.prunable.append((layer, kind, slice(start, start + p.numel())))
            start += p.numel()
        self.n_connections = start
        self.node_slices = []
        for layer in self.layers[:-1]:
            self.node_slices.append(slice(start, start + layer.out_features))
            start += layer.out_features
        self.dim_b = start
        self.bounds = [1.0 / math.sqrt(layer.in_features) for layer in self.layers]

    def split_a(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """Swarm A positions ``(N, dim_a)`` as per-layer ``(W (N, out, in), b (N, out))``."""
        out = []
        for layer, (ws, bs) in zip(self.layers, self.a_slices, strict=True):
            w = x[:, ws].view(-1, layer.out_features, layer.in_features)
            out.append((w, x[:, bs] if bs.stop > bs.start else None))
        return out

    def effective_masks(self, bits: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Swarm B bits ``(N, dim_b)`` as per-layer multiplicative masks ``(N, out, in)`` and
        ``(N, out)`` for weights and biases: connection bits times the bits of the nodes the
        connection joins (a node's bias goes with the node)."""
        n = bits.shape[0]
        weight_masks, bias_masks = [], []
        for i, layer in enumerate(self.layers):
            out_nodes = (bits[:, self.node_slices[i]] if i < len(self.node_slices)
                         else bits.new_ones(n, layer.out_features))
            in_nodes = (bits[:, self.node_slices[i - 1]] if i > 0
                        else bits.new_ones(n, layer.in_features))
            weight_masks.append(out_nodes[:, :, None] * in_nodes[:, None, :])
            bias_masks.append(out_nodes)
        for layer, kind, part in self.prunable:
            target = weight_masks if kind == "weight" else bias_masks
            target[layer] = target[layer] * bits[:, part].view(n, *target[layer].shape[1:])
        return list(zip(weight_masks, bias_masks, strict=True))

    def density(self, bits: torch.Tensor) -> torch.Tensor:
        """Share of the prunable connections left, per particle: ``‖m‖₀ / P``."""
        masks = self.effective_masks(bits)
        kept = bits.new_zeros(bits.shape[0])
        for layer, kind, _ in self.prunable:
            m = masks[layer][0 if kind == "weight" else 1]
            kept = kept + m.reshape(bits.shape[0], -1).sum(dim=1)
        return kept / max(self.n_connections, 1)

    def forward(self, x: torch.Tensor, params, masks) -> torch.Tensor:
        """Logits ``(N, B, classes)`` of ``N`` networks on inputs ``x`` ``(B, ...)``: ``params``
        from :meth:`split_a` (batch N or 1), ``masks`` from :meth:`effective_masks`."""
        h = x.reshape(x.shape[0], -1).unsqueeze(0)  # (1, B, in)
        last = len(self.layers) - 1
        for i, ((w, b), (mw, mb)) in enumerate(zip(params, masks, strict=True)):
            w = w * mw
            out = torch.matmul(h, w.transpose(1, 2))
            if b is not None:
                out = out + (b * mb).unsqueeze(1)
            h = out if i == last else self.activations[i](out)
        return h


def _linear_chain(model: nn.Module) -> tuple[list[nn.Linear], list]:
    """The linear layers and activations of a plain MLP, or one :class:`InputError` line."""
    leaves = [m for m in model.modules() if not list(m.children())]
    layers, activations, expect_linear = [], [], True
    for m in leaves:
        if isinstance(m, (nn.Flatten, nn.Identity, nn.Dropout)) and not layers:
            continue
        if isinstance(m, nn.Dropout):
            continue  # dropout is off at evaluation
        if expect_linear and isinstance(m, nn.Linear):
            layers.append(m)
            expect_linear = False
        elif not expect_linear and type(m) in _ACTIVATIONS:
            activations.append(_ACTIVATIONS[type(m)])
            expect_linear = True
        else:
            layers = []
            break
    if not layers or expect_linear or len(activations) != len(layers) - 1:
        kinds = sorted({type(m).__name__ for m in leaves} - {"Linear", "ReLU", "Flatten"})
        what = f" (it has {', '.join(kinds)})" if kinds else ""
        raise InputError("--method pso supports multilayer perceptrons only: Flatten, Linear and "
                         f"ReLU/Tanh/Sigmoid layers{what}; use mlp or lenet-300-100")
    return layers, activations


def mlp_shape(model: nn.Module, prune: str = "dense", include_bias: bool = False,
              sample: torch.Tensor | None = None) -> MLPShape:
    """The :class:`MLPShape` of ``model``; with ``sample`` it checks that the batched forward
    pass reproduces ``model(sample)`` (a model whose forward differs from its layer order is
    refused with one :class:`InputError` line)."""
    shape = MLPShape(model, prune, include_bias)
    if sample is not None:
        with torch.no_grad():
            was_training = model.training
            model.eval()
            expected = model(sample)
            model.train(was_training)
            vector = shape_vector(shape).unsqueeze(0)
            ones = vector.new_ones(1, shape.dim_b)
            got = shape.forward(sample, shape.split_a(vector), shape.effective_masks(ones))[0]
        if got.shape != expected.shape or not torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
            raise InputError("--method pso supports multilayer perceptrons only: this model's "
                             "forward pass is not its chain of linear layers")
    return shape


def check_pso(spec: TrainSpec, model: nn.Module, data) -> None:
    """The method's preflight: one :class:`InputError` line unless ``model`` is a plain MLP
    whose batched forward pass reproduces its own (see :func:`mlp_shape`)."""
    mlp_shape(model, spec.prune, spec.prune_bias, sample=data.x_train[:4].to("cpu"))


def shape_vector(shape: MLPShape) -> torch.Tensor:
    """The model's current weights and biases as one swarm A position."""
    parts = []
    for layer in shape.layers:
        parts.append(layer.weight.detach().reshape(-1))
        if layer.bias is not None:
            parts.append(layer.bias.detach().reshape(-1))
    return torch.cat(parts)


class CooperativeSwarms:
    """Swarm A (weights, real PSO) and swarm B (bits, binary PSO) minimizing the aggregate
    ``(1 - λ)·CE + λ·density`` on ``(x, y)`` (see the module docstring).

    ``start`` is particle 0 of swarm A, ``start_bits`` particle 0 of swarm B. :meth:`iterate`
    runs iterations; ``best_weights``, ``best_bits`` and ``best`` (the aggregate, a float) hold
    the best pair.
    """

    def __init__(self, shape: MLPShape, x: torch.Tensor, y: torch.Tensor, *, weight: float,
                 particles: int, generator: torch.Generator, start: torch.Tensor,
                 start_bits: torch.Tensor | None = None, warmup: int = 0,
                 inertia: float = 0.729, bit_inertia: float = 1.0, c1: float = 1.494,
                 c2: float = 1.494):
        self.shape, self.x, self.y = shape, x, y
        self.weight, self.c1, self.c2 = float(weight), c1, c2
        self.inertia, self.bit_inertia = inertia, bit_inertia
        self.generator = generator
        n, device, dtype = int(particles), start.device, start.dtype
        self.n = n
        # swarm A: per-coordinate bound of the default initialization
        bound = torch.empty(shape.dim_a, device=device, dtype=dtype)
        for (ws, bs), b in zip(shape.a_slices, shape.bounds, strict=True):
            bound[ws.start:bs.stop] = b
        self.v_limit = VELOCITY_LIMIT * bound
        self.xa = (self._uniform(n, shape.dim_a) * 2.0 - 1.0) * bound
        self.xa[0] = start
        self.va = (self._uniform(n, shape.dim_a) * 2.0 - 1.0) * self.v_limit * 0.1
        # swarm B: particle i has density about 1 - i/n
        density = 1.0 - torch.arange(n, device=device, dtype=dtype) / n
        self.xb = (self._uniform(n, shape.dim_b) < density[:, None]).to(dtype)
        self.xb[0] = 1.0 if start_bits is None else start_bits
        p = density.clamp(1e-3, 1 - 1e-3)
        self.vb = torch.log(p / (1 - p)).clamp(-BIT_VELOCITY_LIMIT, BIT_VELOCITY_LIMIT)[:, None] \
            .expand(n, shape.dim_b).clone()
        # the best pair starts as particle 0 of each swarm (every connection on)
        self.best_weights, self.best_bits = self.xa[0].clone(), self.xb[0].clone()
        self.best = float(self.score_bits(self.best_bits.unsqueeze(0))[0])
        self.pa, self.fa = self.xa.clone(), self.score_weights(self.xa)
        self._take_best_weights()
        self.pb: torch.Tensor | None = None  # swarm B's personal bests, once it starts
        self.fb: torch.Tensor | None = None
        self.warmup = int(warmup)
        self.iterations = 0

    def _uniform(self, *size: int) -> torch.Tensor:
        return torch.rand(*size, generator=self.generator, device=self.generator.device)

    # -- scores -----------------------------------------------------------------------------
    def _aggregate(self, logits: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
        n, b, c = logits.shape
        ce = F.cross_entropy(logits.reshape(n * b, c), self.y.repeat(n), reduction="none")
        return (1.0 - self.weight) * ce.view(n, b).mean(dim=1) + self.weight * density

    @torch.no_grad()
    def score_weights(self, xa: torch.Tensor) -> torch.Tensor:
        """The aggregate of each weight particle in the context of the best bits."""
        bits = self.best_bits.unsqueeze(0)
        masks = self.shape.effective_masks(bits)
        logits = self.shape.forward(self.x, self.shape.split_a(xa), masks)
        return self._aggregate(logits, self.shape.density(bits).expand(xa.shape[0]))

    @torch.no_grad()
    def score_bits(self, xb: torch.Tensor) -> torch.Tensor:
        """The aggregate of each bit particle in the context of the best weights."""
        params = self.shape.split_a(self.best_weights.unsqueeze(0))
        logits = self.shape.forward(self.x, params, self.shape.effective_masks(xb))
        return self._aggregate(logits, self.shape.density(xb))

    # -- updates ----------------------------------------------------------------------------
    def _take_best_weights(self) -> None:
        i = int(torch.argmin(self.fa))
        if float(self.fa[i]) < self.best:
            self.best, self.best_weights = float(self.fa[i]), self.pa[i].clone()

    def _take_best_bits(self) -> None:
        i = int(torch.argmin(self.fb))
        if float(self.fb[i]) < self.best:
            self.best, self.best_bits = float(self.fb[i]), self.pb[i].clone()

    def _velocity(self, v, x, personal, best, inertia) -> torch.Tensor:
        r1 = self._uniform(*x.shape)
        r2 = self._uniform(*x.shape)
        return v.mul_(inertia).add_(self.c1 * r1 * (personal - x)).add_(
            self.c2 * r2 * (best.unsqueeze(0) - x))

    @torch.no_grad()
    def iterate(self, count: int = 1) -> None:
        """``count`` iterations: swarm A moves and is scored with the best bits, then swarm B
        with the (new) best weights."""
        for _ in range(count):
            # swarm A
            self.va = self._velocity(self.va, self.xa, self.pa, self.best_weights, self.inertia)
            self.va = torch.maximum(torch.minimum(self.va, self.v_limit), -self.v_limit)
            self.xa.add_(self.va)
            f = self.score_weights(self.xa)
            better = f < self.fa
            self.pa[better], self.fa[better] = self.xa[better], f[better]
            self._take_best_weights()
            self.iterations += 1
            if self.iterations <= self.warmup:
                continue  # swarm B waits (see the module docstring)
            # swarm B, in the context of swarm A's best
            if self.pb is None:  # its first iteration: the starting positions
                self.pb, self.fb = self.xb.clone(), self.score_bits(self.xb)
                self._take_best_bits()
                continue
            self.vb = self._velocity(self.vb, self.xb, self.pb, self.best_bits, self.bit_inertia)
            self.vb.clamp_(-BIT_VELOCITY_LIMIT, BIT_VELOCITY_LIMIT)
            self.xb = (self._uniform(*self.xb.shape) < torch.sigmoid(self.vb)).to(self.xb.dtype)
            f = self.score_bits(self.xb)
            better = f < self.fb
            self.pb[better], self.fb[better] = self.xb[better], f[better]
            self._take_best_bits()

    @torch.no_grad()
    def best_ce(self) -> float:
        """The cross-entropy part of the best pair's aggregate."""
        params = self.shape.split_a(self.best_weights.unsqueeze(0))
        logits = self.shape.forward(self.x, params,
                                    self.shape.effective_masks(self.best_bits.unsqueeze(0)))
        return float(F.cross_entropy(logits[0], self.y))


@torch.no_grad()
def write_best(shape: MLPShape, swarms: CooperativeSwarms) -> None:
    """Copy the best pair into the model: weights times their effective masks."""
    params = shape.split_a(swarms.best_weights.unsqueeze(0))
    masks = shape.effective_masks(swarms.best_bits.unsqueeze(0))
    for layer, (w, b), (mw, mb) in zip(shape.layers, params, masks, strict=True):
        layer.weight.copy_((w * mw)[0])
        if layer.bias is not None:
            layer.bias.copy_((b * mb)[0])


def _masks_of(shape: MLPShape, pruner: Pruner, bits: torch.Tensor) -> dict[str, torch.Tensor]:
    """The pruner's masks (by parameter name) of a swarm B position."""
    masks = shape.effective_masks(bits.unsqueeze(0))
    out = {}
    for name, (layer, kind, _) in zip(pruner.names, shape.prunable, strict=True):
        out[name] = masks[layer][0 if kind == "weight" else 1][0] != 0
    return out


def run_pso(spec: TrainSpec, *, init_state: dict | None = None, epochs: int | None = None,
            on_epoch: Callable[[dict], None] | None = None) -> RunResult:
    """Runner of ``--method pso``: ``epochs`` (default ``spec.epochs``) rounds of
    ``spec.options.swarm_iterations`` iterations of both swarms; one history record per round."""
    if not isinstance(spec, TrainSpec):
        raise InputError(f"spec must be a TrainSpec, got {type(spec).__name__}")
    epochs = spec.epochs if epochs is None else int(epochs)
    if epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}")
    started = time.perf_counter()
    device = resolve_device(spec.device)
    data = load_data(spec).to(device)
    with seeded(spec.seed, device):
        model = make_model(spec, data, device)
    shape = mlp_shape(model, spec.prune, spec.prune_bias, sample=data.x_train[:4])
    pruner = Pruner(model, spec.prune, threshold=spec.threshold, persistent=not spec.regrow,
                    include_bias=spec.prune_bias, prune_every=spec.prune_every)
    if pruner.numel == 0:
        raise InputError(f"model {spec.model!r} has no prunable weights for --prune {spec.prune}")
    l1_init = float(pruner.l1())
    start_bits = None
    if init_state is not None:
        load_state(model, pruner, init_state)
        start_bits = _bits_of(shape, pruner)
    options = spec.options
    generator = torch.Generator(device=device).manual_seed(spec.seed)
    x, y = data.x_train, data.y_train
    if options.fitness_samples and options.fitness_samples < x.shape[0]:
        pick = torch.randperm(x.shape[0], generator=generator, device=device)
        pick = pick[:options.fitness_samples]
        x, y = x[pick], y[pick]
    loop_start, loop_cpu = time.perf_counter(), time.process_time()
    swarms = CooperativeSwarms(
        shape, x, y, weight=options.zero_norm_weight, particles=options.swarm_size,
        inertia=options.inertia, bit_inertia=options.bit_inertia, c1=options.cognitive,
        c2=options.social,
        generator=generator,
        start=shape_vector(shape).to(device, torch.float32), start_bits=start_bits,
        warmup=int(WARMUP_SHARE * epochs * options.swarm_iterations))
    history, status, error = [], "ok", ""
    for epoch in range(epochs):
        swarms.iterate(options.swarm_iterations)
        density = float(shape.density(swarms.best_bits.unsqueeze(0))[0])
        record = {"epoch": epoch + 1, "epochs": epochs, "loss": swarms.best_ce(),
                  "fitness": swarms.best, "density": density, "sparsity": 1.0 - density,
                  "nnz": int(round(density * shape.n_connections)),
                  "iterations": swarms.iterations, "lr": math.nan,
                  "time": time.perf_counter() - started}
        write_best(shape, swarms)
        l1_raw = float(pruner.l1())
        record.update(l1=l1_raw / l1_init, l1_raw=l1_raw)
        history.append(record)
        if on_epoch is not None:
            on_epoch(dict(record))
        if not math.isfinite(record["fitness"]):
            status, error = "failed", f"the swarms diverged in epoch {epoch + 1}"
            break
    train_time, train_cpu_time = time.perf_counter() - loop_start, time.process_time() - loop_cpu
    write_best(shape, swarms)
    pruner.set_masks(_masks_of(shape, pruner, swarms.best_bits))
    metrics = {"zero_norm_weight": options.zero_norm_weight, "fitness": swarms.best,
               **run_metrics(spec, model, pruner, data, l1_init, status == "ok")}
    metrics.update(epochs=len(history), wall_time=time.perf_counter() - started,
                   train_time=train_time, train_cpu_time=train_cpu_time, seed=spec.seed,
                   model=spec.model, dataset=spec.dataset, method=spec.method,
                   optimizer=spec.optimizer, status=status, error=error)
    predictions = metrics.pop(PREDICTIONS, {})
    return RunResult(metrics=metrics, state=run_state(spec, model, pruner, data, l1_init),
                     history=history, predictions=predictions)


def _bits_of(shape: MLPShape, pruner: Pruner) -> torch.Tensor:
    """A swarm B position for the pruner's masks (nodes all on)."""
    bits = pruner.flat.new_ones(shape.dim_b)
    masks = pruner.masks()
    for name, (_, _, part) in zip(pruner.names, shape.prunable, strict=True):
        bits[part] = masks[name].reshape(-1).to(bits.dtype)
    return bits
