"""What the benchmark scripts share: paths and data, training specs and seeds, dense references
and sweeps, the run cache, fronts and hypervolumes, seed-by-seed statistics, report tables.

Every script of this package runs from the repository root as ``python -m benchmarks.bench_NAME``
(``--help`` says what it measures); none is a test, and pytest does not collect this folder.
A script writes its figures to ``runs/benchmarks/NAME.json`` (for machines) and ``NAME.md``
(for people) and keeps work in progress in ``runs/benchmarks/.cache/`` (ignored by git).
Speed is reported as a ratio against a plain PyTorch baseline timed in the same process.

The house rules for claims, which these helpers serve: selection reads validation data, the
test set only reports; methods are compared seed by seed (:func:`paired`) with 95 % t-intervals,
and one is better only where the interval excludes zero (:func:`interval_side`); spreads are
reported beside means (:func:`mean_sd_text`).

Public names (stable: new scripts build on them; all imports of paretoprune are public API):

* paths and data -- :data:`ROOT`, :data:`OUT_DIR`, :data:`CACHE_DIR`, :func:`mnist_dir`,
  :func:`require_mnist`;
* specs and seeds -- :data:`SEEDS`, :func:`lenet_spec`, :func:`digits_spec`,
  :func:`dense_spec`;
* runs and sweeps -- :func:`train_dense`, :func:`sweep_trials`, :class:`RunCache`;
* fronts -- :data:`HV_REF`, :func:`usable_trials`, :func:`objective_points`,
  :func:`decision_points`, :func:`union_front_normalization`, :func:`hypervolume_in`;
* statistics -- :func:`summary`, :func:`paired`, :func:`interval_side`, :func:`at_level`,
  :func:`accuracy_at_levels`;
* reports -- :func:`pct`, :func:`pp`, :func:`mean_sd_text`, :func:`interval_text`,
  :func:`level_table`, :func:`json_safe`, :func:`command_line`, :func:`machine`, :func:`log`,
  :func:`restart_clock`, :func:`write_report`;
* the plain PyTorch baseline -- :func:`plain_loop`.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

#: The repository root (scripts run from here).
ROOT = Path(__file__).resolve().parents[1]
#: Where the scripts write their results (committed).
OUT_DIR = ROOT / "runs" / "benchmarks"
#: Work in progress: kept sweeps, the run cache (not committed).
CACHE_DIR = OUT_DIR / ".cache"
#: The seeds of a claim about methods (a script's ``--seeds`` default); the house rule asks for
#: five before calling one method better than another.
SEEDS = (0, 1, 2)
#: Hypervolume reference point in normalized coordinates (as the tool's).
HV_REF = (1.1, 1.1)


# ----------------------------------------------------------------------------------------------
# paths and data
# ----------------------------------------------------------------------------------------------

def mnist_dir() -> Path:
    """The mnist-5k folder: ``$PARETOPRUNE_SHARED_DATASETS/mnist-5k``, else
    ``../shared/datasets/mnist-5k`` beside the repository."""
    base = os.environ.get("PARETOPRUNE_SHARED_DATASETS")
    return Path(base) / "mnist-5k" if base else ROOT.parent / "shared" / "datasets" / "mnist-5k"


def require_mnist(script: str, hint: str = "") -> None:
    """Exit with status 2 and one line on stderr when mnist-5k is not in :func:`mnist_dir`."""
    if not (mnist_dir() / "MNIST" / "raw").is_dir():
        print(f"{script}: no MNIST data in {mnist_dir()} (set PARETOPRUNE_SHARED_DATASETS"
              f"{', or ' + hint if hint else ''})", file=sys.stderr)
        raise SystemExit(2)


# ----------------------------------------------------------------------------------------------
# training specs
# ----------------------------------------------------------------------------------------------

def lenet_spec(seed: int, epochs: int, *, val_split: str = "test", **changes):
    """LeNet-5 on mnist-5k as the MNIST benchmarks train it: Adam lr 1e-3, batch 32, CPU, one
    torch thread. Validation is ``val_split="test"`` by default: a seeded half of the 10,000
    test images validates and the other half tests; 10 % of the 5,000 training images would be
    500 images, where one point is 5 images -- too noisy to resolve a 1-point constraint.
    ``changes``: other settings as the command line gives them -- common
    :class:`~paretoprune.config.TrainSpec` fields and the method's options side by side
    (``method="gmp", gmp_scope="layer"``), or ``options=`` an object of its options class."""
    settings = dict(model="lenet5", dataset="mnist", data_dir=str(mnist_dir()), epochs=epochs,
                    batch_size=32, lr=1e-3, optimizer="adam", device="cpu", seed=seed,
                    val_split=val_split, threads=1)
    settings.update(changes)
    return _spec(settings)


def digits_spec(seed: int, **changes):
    """``paretoprune sweep``'s defaults (mlp on the bundled digits), on the CPU, one thread;
    ``changes`` as for :func:`lenet_spec`."""
    return _spec({"seed": seed, "device": "cpu", "threads": 1, **changes})


def _spec(settings: dict):
    """A spec from flat settings (:meth:`~paretoprune.config.TrainSpec.from_flat`), or from
    common fields plus a typed ``options`` object (``from_flat`` does not take one)."""
    from paretoprune.config import TrainSpec

    if "options" in settings:
        return TrainSpec(**settings)
    return TrainSpec.from_flat(settings)


def dense_spec(spec):
    """The dense reference of ``spec`` as a sweep of it trains it (role ``dense``: λ = 0 with
    pruning off): its method's ``dense_reference``."""
    return spec.method_info.dense_reference(spec)


# ----------------------------------------------------------------------------------------------
# runs and sweeps
# ----------------------------------------------------------------------------------------------

def train_dense(spec, folder: Path) -> dict:
    """The metrics of ``spec``'s dense reference (:func:`dense_spec`), trained once (one torch
    thread) and kept as ``folder/dense.json``, so that every method of a seed shares it."""
    from paretoprune.training import train_run

    path = Path(folder) / "dense.json"
    if path.exists():
        return json.loads(path.read_text())
    import torch

    torch.set_num_threads(1)
    metrics = train_run(dense_spec(spec)).metrics
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(metrics), default=float))
    return metrics


#: The trial columns :func:`sweep_trials` keeps.
TRIAL_COLUMNS = ("run", "status", "loss", "l1", "sparsity", "sparsity_dense", "nnz", "val_acc",
                 "test_acc", "wall_time", "train_time", "epochs", "collapsed")


def sweep_trials(spec, folder: Path, budget: int, workers: int) -> tuple[list[dict], float]:
    """Run (or resume) a sweep of ``spec`` in ``folder`` with ``budget`` trials, ``workers``
    processes and no dense reference of its own; its trial rows (:data:`TRIAL_COLUMNS` and
    ``param``, the method's parameter) and the wall time this invocation spent on it."""
    from paretoprune.config import SweepConfig
    from paretoprune.sweep import run_sweep

    config = SweepConfig(train=spec, budget=budget, workers=workers, dense=False)
    began = time.perf_counter()
    frame = run_sweep(folder, config)
    wall = time.perf_counter() - began
    trials = frame[frame["role"].astype(str) == "trial"]
    param = config.method.parameter
    rows = []
    for record in json.loads(trials.to_json(orient="records")):
        row = {k: record.get(k) for k in TRIAL_COLUMNS}
        row["param"] = record.get(param)
        rows.append(row)
    return rows, wall


#: Files of paretoprune/training whose code decides what a weighted-sum or smgd run returns:
#: part of every cache key, so that a changed training loop trains again.
TRAINING_CODE = ("loop.py", "optim.py", "pruning.py", "datasets.py", "models.py", "schedules.py",
                 "cost.py", "structures.py", "smgd.py")
#: Methods whose runner reads only the epochs it trains, never ``spec.epochs``: a 10-epoch trial
#: of an epochs=30 sweep is then the same run as one of an epochs=10 sweep.
EPOCHS_BY_ARGUMENT = ("weighted-sum", "smgd")


@functools.cache
def training_code_fingerprint() -> str:
    """A digest of torch's version and the files :data:`TRAINING_CODE`."""
    import torch

    digest = hashlib.sha1(torch.__version__.encode())
    for name in TRAINING_CODE:
        path = ROOT / "paretoprune" / "training" / name
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()[:16]


def _digest(obj, h) -> None:
    import torch

    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"{t.dtype}{tuple(obj.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            h.update(repr(k).encode())
            _digest(obj[k], h)
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for v in obj:
            _digest(v, h)
        h.update(b"]")
    else:
        h.update(repr(obj).encode())


class RunCache:
    """Training runs kept on disk, one file per run (weights included), so that a benchmark run
    again -- or another benchmark that trains the same run -- reads them instead of training.

    A run's key (:meth:`key`) is its spec's identity fields, the epochs it trains, a digest of
    its initial weights (warm starts, fine-tuning) and :func:`training_code_fingerprint`.
    Training on the CPU is deterministic, so a cached run is the run. One process trains a key
    at a time (a file lock); the others wait and then read its result. With ``cold`` set, every
    run trains (for timing) and is stored, none is read.

    ``trained``, ``cached`` and ``train_s`` count this process's runs; ``last`` says how the
    latest one came (for progress lines).
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else CACHE_DIR / "runs"
        self.cold = False
        self.reset_counts()

    def reset_counts(self) -> None:
        self.trained, self.cached, self.train_s, self.last = 0, 0, 0.0, ""

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.pt"))) if self.folder.exists() else 0

    def clear(self) -> None:
        """Delete every stored run."""
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def key(spec, epochs: int | None = None, init_state: dict | None = None) -> str:
        """The key of one run: its spec's identity (the parameter rounded to 12 digits, so that
        1/3 of a 4-grid is 5/15 of a 16-grid), the epochs it trains, a digest of its initial
        weights and of the training code."""
        trained = spec.epochs if epochs is None else int(epochs)
        ident = spec.identity()
        if spec.method in EPOCHS_BY_ARGUMENT:
            ident["epochs"] = trained
        parameter = spec.method_info.parameter
        if parameter and isinstance(ident.get(parameter), float):
            ident[parameter] = float(f"{ident[parameter]:.12g}")
        init = None
        if init_state is not None:
            h = hashlib.sha1()
            _digest(init_state, h)
            init = h.hexdigest()
        payload = {"spec": ident, "trained_epochs": trained, "init": init,
                   "code": training_code_fingerprint(), "cache": 2}
        return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()
                            ).hexdigest()[:24]

    @contextlib.contextmanager
    def _lock(self, key: str):
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"{key}.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _load(self, path: Path) -> dict | None:
        if not path.exists():
            return None
        import torch

        try:
            return torch.load(path, map_location="cpu", weights_only=False)["result"]
        except Exception:  # unreadable: train it again
            return None

    def _save(self, path: Path, result: dict) -> None:
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        torch.save({"result": result}, tmp)
        os.replace(tmp, path)

    def run_point(self, spec, *, init_state=None, epochs=None, progress=None) -> dict:
        """:func:`paretoprune.training.run_point` through the cache."""
        from paretoprune.training import run_point

        key = self.key(spec, epochs, init_state)
        path = self.folder / f"{key}.pt"
        with contextlib.nullcontext() if self.cold else self._lock(key):
            result = None if self.cold else self._load(path)
            if result is not None:
                self.cached += 1
                self.last = "cache"
                result["_spec"] = spec.to_dict()
                return result
            began = time.perf_counter()
            result = run_point(spec, init_state=init_state, epochs=epochs, progress=progress)
            took = time.perf_counter() - began
            self._save(path, result)
        self.trained += 1
        self.train_s += took
        self.last = f"trained {took:.0f} s"
        return result

    def run_sweep(self, folder: Path, config, *, reporter=None):
        """:func:`paretoprune.sweep.run_sweep` (planner, store, selection: the real tool) with
        its training runs read from and written to this cache. The sweep must be serial
        (``executor="serial"``): its runs train in this process."""
        import paretoprune.sweep as sweep_module

        if config.executor_name != "serial":
            raise ValueError("RunCache.run_sweep needs a serial sweep (executor='serial')")

        def run_job(job, progress=None) -> dict:
            return self.run_point(job.spec, init_state=job.init_state, epochs=job.epochs,
                                  progress=progress)

        # the sweep's worker function is a module attribute it looks up for every job
        original = sweep_module.run_job
        sweep_module.run_job = run_job
        try:
            return sweep_module.run_sweep(folder, config, reporter=reporter)
        finally:
            sweep_module.run_job = original


# ----------------------------------------------------------------------------------------------
# fronts and hypervolumes
# ----------------------------------------------------------------------------------------------

def number(value, default: float = math.nan) -> float:
    """``value`` as a finite float, else ``default`` (None, NaN, text)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


def usable_trials(rows: Iterable[Mapping], reference: Mapping | None = None) -> list[Mapping]:
    """The rows that may join a front: ok trials (rows without a role count as trials) with
    nonzero weights that did not collapse. Collapse is measured against ``reference`` (the dense
    run's metrics: ``val_acc``, ``num_classes``) when it is given, else read from the rows'
    ``collapsed`` column."""
    from paretoprune.selection import is_collapsed

    out = []
    for r in rows:
        if r.get("status") != "ok" or r.get("role", "trial") != "trial":
            continue
        if reference is not None:
            collapsed = is_collapsed({"num_classes": reference.get("num_classes"), **r},
                                     "val_acc", number(reference.get("val_acc")))
        else:
            collapsed = r.get("collapsed") is True
        if collapsed or not number(r.get("nnz"), 0) > 0:
            continue
        out.append(r)
    return out


def objective_points(rows: Iterable[Mapping]) -> np.ndarray:
    """The training objectives (loss, l1) of the rows where both are finite."""
    pts = [(number(r.get("loss")), number(r.get("l1"))) for r in rows]
    return np.array([p for p in pts if all(map(math.isfinite, p))], dtype=float).reshape(-1, 2)


def decision_points(rows: Iterable[Mapping], scale: str = "log") -> np.ndarray:
    """The decision space (validation error, log10 of the nonzero prunable weights; ``scale=
    "linear"``: the count itself) of the rows with a finite validation accuracy."""
    pts = [(1.0 - number(r.get("val_acc")),
            math.log10(number(r.get("nnz"))) if scale == "log" else number(r.get("nnz")))
           for r in rows if math.isfinite(number(r.get("val_acc")))]
    return np.array(pts, dtype=float).reshape(-1, 2)


def union_front_normalization(points: np.ndarray):
    """The normalization of the nondominated front of ``points`` (every method's points of a
    seed together) and that front's hypervolume in it: a method's hypervolume divided by it is
    its share of what all methods found."""
    from paretoprune.pareto import Normalization, front, hypervolume

    union = front(points)
    norm = Normalization.from_points(union)
    return norm, hypervolume(norm.apply(union), HV_REF, strict=False)


def hypervolume_in(points: np.ndarray, norm) -> float:
    """The hypervolume of ``points`` in the normalization ``norm`` (0 for no points)."""
    from paretoprune.pareto import hypervolume

    return hypervolume(norm.apply(points), HV_REF, strict=False) if len(points) else 0.0


# ----------------------------------------------------------------------------------------------
# statistics over seeds
# ----------------------------------------------------------------------------------------------

def summary(values: Iterable) -> dict:
    """``n``, ``mean``, ``sd`` and the two-sided 95 % Student-t interval of the mean (``lo``,
    ``hi``) of the finite ``values``, and the values themselves. ``sd``, ``lo`` and ``hi`` are
    None below two values; everything but ``n`` and ``values`` is None for none."""
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(values)
    out = {"n": n, "mean": statistics.fmean(values) if n else None, "sd": None, "lo": None,
           "hi": None, "values": values}
    if n >= 2:
        from scipy.stats import t

        out["sd"] = statistics.stdev(values)
        half = float(t.ppf(0.975, n - 1)) * out["sd"] / math.sqrt(n)
        out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
    return out


def paired(a: Mapping, b: Mapping) -> dict:
    """Seed-by-seed differences ``a[seed] - b[seed]`` over the seeds both have a finite value
    for (``per_seed``), with their :func:`summary`."""
    diffs = {str(k): float(a[k]) - float(b[k]) for k in a
             if k in b and math.isfinite(number(a[k])) and math.isfinite(number(b[k]))}
    return {"per_seed": diffs, **summary(diffs.values())}


def interval_side(interval: Mapping) -> int:
    """+1 where the 95 % interval lies above zero, -1 where below, 0 where it holds zero or is
    not known (fewer than two seeds): the only grounds for calling one method better."""
    if interval.get("lo") is not None and interval["lo"] > 0:
        return 1
    if interval.get("hi") is not None and interval["hi"] < 0:
        return -1
    return 0


#: A sparsity "at" a level: the rounding of one weight in 59k is 1e-5.
LEVEL_TOLERANCE = 1e-5


def at_level(rows: Iterable[Mapping], level: float, sparsity: str = "sparsity_dense"
             ) -> Mapping | None:
    """The test accuracy at a sparsity ``level`` of the networks chosen on validation, as
    ``paretoprune compare`` reads it (:func:`paretoprune.table_analysis.accuracy_at`): the front of
    validation accuracy against ``sparsity`` of the ok, non-collapsed runs, their test accuracy
    interpolated linearly in log nonzero weights between the two around ``level`` -- methods
    compared at matched nonzero weights, not where a run happens to land. ``{"test_acc",
    sparsity}``, or None when ``level`` lies outside those networks' sparsity range (beyond
    :data:`LEVEL_TOLERANCE`: no extrapolation)."""
    import pandas as pd

    from paretoprune.table_analysis import accuracy_at, front_rows, usable_rows

    frame = pd.DataFrame(list(rows))
    if frame.empty or sparsity not in frame or not usable_rows(frame).any():
        return None
    chosen = front_rows(frame, sparsity, "val_acc", sense=("max", "max"))[sparsity]
    if not chosen.min() - LEVEL_TOLERANCE <= level <= chosen.max() + LEVEL_TOLERANCE:
        return None
    value = accuracy_at(frame, [level], metric="test_acc", select="val_acc",
                        sparsity=sparsity)["value"].iloc[0]
    return {"test_acc": float(value), sparsity: float(level)}


def accuracy_at_levels(rows_by_seed: Mapping, levels: Sequence[float]) -> dict:
    """For each level (key ``f"{level:g}"``): the :func:`at_level` reading of every seed
    (``per_seed``), the :func:`summary` of their test accuracies and the seeds without one."""
    out = {}
    for level in levels:
        chosen = {str(s): at_level(rows, level) for s, rows in rows_by_seed.items()}
        out[f"{level:g}"] = {
            "per_seed": chosen,
            "test_acc": summary(c["test_acc"] for c in chosen.values() if c),
            "missing_seeds": [s for s, c in chosen.items() if c is None],
        }
    return out


# ----------------------------------------------------------------------------------------------
# reports
# ----------------------------------------------------------------------------------------------

def pct(value, digits: int = 2) -> str:
    """``0.9812`` -> ``"98.12 %"``; "—" for a missing value."""
    value = number(value)
    return "—" if not math.isfinite(value) else f"{100 * value:.{digits}f} %"


def pp(value) -> str:
    """A difference of two shares in signed points: ``0.0123`` -> ``"+1.23"``; "—" if missing."""
    value = number(value)
    return "—" if not math.isfinite(value) else f"{100 * value:+.2f}"


def mean_sd_text(s: Mapping, percent: bool = True, digits: int = 2) -> str:
    """A :func:`summary` as ``"mean ± sd"`` (in percent unless ``percent=False``); the mean alone
    for one value, "—" for none."""
    if not s or not s.get("n"):
        return "—"
    scale = 100 if percent else 1
    if s.get("sd") is None:
        return f"{scale * s['mean']:.{digits}f}"
    return f"{scale * s['mean']:.{digits}f} ± {scale * s['sd']:.{digits}f}"


def interval_text(s: Mapping, digits: int = 2, points: bool = False) -> str:
    """A :func:`summary` of differences as ``"+mean [lo, hi]"`` (``points``: shares as signed
    points); ``"+mean (one seed)"`` without an interval, "—" for none."""
    if not s or s.get("mean") is None:
        return "—"

    def show(v):
        return pp(v) if points else f"{v:+.{digits}f}"

    if s.get("lo") is None:
        return f"{show(s['mean'])} (one seed)"
    return f"{show(s['mean'])} [{show(s['lo'])}, {show(s['hi'])}]"


def level_table(levels_by_label: Mapping, labels: Sequence[str], seeds: Sequence[int],
                levels: Sequence[float]) -> list[str]:
    """Markdown lines: per method and seed, the test accuracy :func:`accuracy_at_levels` read
    at each level ("—" where the level lies outside the networks chosen on validation)."""
    lines = ["| method | seed | " + " | ".join(f"{lv:.0%}" for lv in levels) + " |",
             "|---|---|" + "---|" * len(levels)]
    for label in labels:
        for s in seeds:
            cells = []
            for lv in levels:
                c = levels_by_label[label][f"{lv:g}"]["per_seed"][str(s)]
                cells.append("—" if c is None else pct(c["test_acc"]))
            lines.append(f"| {label} | {s} | " + " | ".join(cells) + " |")
    return lines


def json_safe(obj):
    """JSON-safe: numpy scalars to Python, non-finite floats to None, tuples to lists."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def command_line(module: str, argv: Sequence[str] | None = None) -> str:
    """The command that reproduces this invocation: ``python -m MODULE ARGS`` (``argv``: the
    arguments given to ``main``, else the process's)."""
    name = module if module.startswith("benchmarks.") else f"benchmarks.{module}"
    return shlex.join(["python", "-m", name, *(sys.argv[1:] if argv is None else argv)])


def machine(workers: int | None = None) -> str:
    """One line about where the figures were measured: cores, worker processes, platform,
    Python and torch versions, the load average now."""
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "absent"
    return (f"{os.cpu_count()} CPU cores"
            + (f", {workers} worker processes, 1 torch thread per run" if workers else "")
            + f"; {platform.platform()}, python {platform.python_version()}, torch "
            f"{torch_version}; load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


_started = time.time()


def restart_clock(at: float | None = None) -> None:
    """Let :func:`log` count from ``at`` (default: now); a worker process is given its
    parent's start so that their lines agree."""
    global _started
    _started = time.time() if at is None else at


def log(text: str, since: float | None = None) -> None:
    """Print ``[mmm:ss] text`` (time since the module was imported, or ``since``), flushed."""
    s = int(time.time() - (_started if since is None else since))
    print(f"[{s // 60:3d}:{s % 60:02d}] {text}", flush=True)


def write_report(stem: str, report: Mapping, markdown: str, out_dir: Path | None = None) -> Path:
    """Write ``stem.json`` (:func:`json_safe`) and ``stem.md`` to ``out_dir`` (default
    :data:`OUT_DIR`), print the Markdown and where it went; return the Markdown's path."""
    out_dir = OUT_DIR if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.json").write_text(json.dumps(json_safe(report), indent=2, default=str)
                                          + "\n")
    path = out_dir / f"{stem}.md"
    path.write_text(markdown)
    print(markdown, flush=True)
    print(f"wrote {path} and {stem}.json", flush=True)
    return path


# ----------------------------------------------------------------------------------------------
# the plain PyTorch baseline
# ----------------------------------------------------------------------------------------------

def plain_loop(spec, data, device, fused: bool = False) -> dict:
    """The baseline that speed is measured against: the training loop anyone would write --
    ``torch.optim.Adam(lr=spec.lr)`` (``fused``: the fused kernel paretoprune uses),
    cross-entropy, no penalty, no pruning -- on the same in-memory ``data``
    (:func:`paretoprune.training.loop.load_data`), initial weights and batch order as a
    paretoprune run of ``spec``. Returns its loop's wall and CPU time, test accuracy and
    sparsity."""
    import torch
    from torch.nn import functional as F

    from paretoprune.training import epoch_batches, evaluate_split
    from paretoprune.training.loop import make_model, seeded

    with seeded(spec.seed, device):
        model = make_model(spec, data, device)
        optimizer = torch.optim.Adam(model.parameters(), lr=spec.lr, fused=fused)
        generator = torch.Generator().manual_seed(spec.seed)
        model.train()
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(spec.epochs):
            for xb, yb in epoch_batches(data.x_train, data.y_train, spec.batch_size, generator):
                optimizer.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                optimizer.step()
        train_time = time.perf_counter() - start
        train_cpu_time = time.process_time() - cpu_start
    _, test_acc = evaluate_split(model, data.x_test, data.y_test)
    weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    total = sum(w.numel() for w in weights)
    return {"train_time": train_time, "train_cpu_time": train_cpu_time, "test_acc": test_acc,
            "sparsity": zeros / total, "sparsity_dense": zeros / total}
