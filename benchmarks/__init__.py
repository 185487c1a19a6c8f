"""paretoprune's benchmarks: scripts that measure the tool (they are not tests).

Run each from the repository root as ``python -m benchmarks.bench_NAME`` (``--help`` for its
options; most have ``--quick``, a smoke run of a few minutes). Results go to
``runs/benchmarks/``; what the scripts share is in :mod:`benchmarks.common`.

* ``bench_pareto_core`` -- the nondominated filter and hypervolume on 10^6 points;
* ``bench_plot`` -- ``paretoprune plot`` on tables of 10^6 runs;
* ``bench_training`` -- the training loop against a plain PyTorch loop in the same process;
* ``bench_parallel`` -- a sweep with two workers against one;
* ``bench_digits_rules`` -- the next-weight rules on the digits quick start;
* ``bench_front`` -- the front suite on MNIST (LeNet-5 / mnist-5k);
* ``bench_methods`` -- weighted sum, ε-constraint and GMP at equal epochs;
* ``bench_gates`` -- structured gates: FLOPs and measured latency;
* ``bench_relevance_pso`` -- relevance-based decay and cooperative PSO beside the weighted sum.
"""
