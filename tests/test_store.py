"""The sweep directory: round trips, atomic writes, corruption, identity, and the lock."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from paretoprune import store as store_mod
from paretoprune.errors import InputError, LockHeldError, StoreError
from paretoprune.store import (
    STANDARD_COLUMNS,
    StoreWarning,
    SweepStore,
    fingerprint,
)

CONFIG = {"model": "lenet5", "dataset": "mnist5k", "lr": 0.01, "epochs": 3, "budget": 10}
IDENTITY = ["model", "dataset", "lr", "epochs"]
WAIT_S = 60.0  # patience for subprocesses, never a pass/fail criterion


def make(path: Path, config: dict | None = None, **kwargs) -> SweepStore:
    return SweepStore.create_or_open(path, config or CONFIG, identity_keys=IDENTITY, **kwargs)


def ok_row(run: int, weight: float, **extra) -> dict:
    row = {"run": run, "weight": weight, "loss": 0.1 + run, "l1": 10.0 - run, "status": "ok"}
    row.update(extra)
    return row


# --------------------------------------------------------------------------------------------
# creating, round trips


def test_create_writes_layout_and_metadata(tmp_path):
    out = tmp_path / "deep" / "out"
    st = make(out)
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoints",
        "logs",
        "points.csv",
        "sweep.json",
    ]
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["schema_version"] == store_mod.SCHEMA_VERSION == 1
    assert meta["kind"] == "paretoprune-sweep"
    assert meta["config"] == CONFIG
    assert meta["identity"] == {k: CONFIG[k] for k in IDENTITY}
    assert meta["fingerprint"] == fingerprint(meta["identity"]) == st.fingerprint
    assert {"python", "paretoprune", "torch", "numpy", "pandas"} <= set(meta["versions"])
    assert "created" in meta
    assert SweepStore.is_sweep_dir(out)
    # an empty table, readable by plain pandas as well
    assert list(pd.read_csv(out / "points.csv").columns) == list(STANDARD_COLUMNS)
    pts = st.points()
    assert pts.empty and list(pts.columns) == list(STANDARD_COLUMNS)
    assert st.config == CONFIG


def test_append_round_trip_with_checkpoint_and_history(tmp_path):
    import torch

    st = make(tmp_path / "out")
    weights = torch.arange(6.0).reshape(2, 3)
    history = [{"epoch": 1, "loss": 0.5, "l1": 3.25}, {"epoch": 2, "loss": float("nan")}]
    error = 'diverged: loss is nan, "again"\nsecond line'
    with st.lock():
        st.append(
            ok_row(0, 0.5, accuracy=0.97, sparsity=0.25, seconds=1.5),
            checkpoint={"state_dict": {"w": weights}, "weight": 0.5},
            history=history,
        )
        st.append({"run": 1, "weight": 0.125, "status": "failed", "error": error})
        st.append(ok_row(2, 1 / 3, gap="0.25:0.5", note="x,y"))

    pts = st.points()
    assert list(pts["run"]) == [0, 1, 2]
    assert list(pts.columns[: len(STANDARD_COLUMNS)]) == list(STANDARD_COLUMNS)
    assert list(pts.columns[len(STANDARD_COLUMNS) :]) == ["seconds", "note"]
    assert pts["run"].dtype == "int64" and pts["weight"].dtype == "float64"
    assert pts["pareto"].dtype == bool and not pts["pareto"].any()
    assert pts.loc[2, "weight"] == 1 / 3  # exact float round trip
    assert pts.loc[0, "accuracy"] == 0.97 and pts.loc[0, "sparsity"] == 0.25
    assert list(pts["status"]) == ["ok", "failed", "ok"]
    assert list(pts["error"]) == ["", error, ""]
    assert pd.isna(pts.loc[1, "loss"]) and list(pts["gap"]) == ["", "", "0.25:0.5"]
    assert pts.loc[2, "note"] == "x,y"

    ckpt = st.load_checkpoint(0)
    assert torch.equal(ckpt["state_dict"]["w"], weights) and ckpt["weight"] == 0.5
    assert st.checkpoint_path(0) == tmp_path / "out" / "checkpoints" / "run-0000.pt"
    got = st.history(0)
    assert got[0] == history[0] and got[1]["epoch"] == 2 and pd.isna(got[1]["loss"])
    assert (tmp_path / "out" / "logs" / "run-0000.jsonl").read_text().count("\n") == 2

    # plain pandas reads the same table
    plain = pd.read_csv(tmp_path / "out" / "points.csv")
    assert list(plain["run"]) == [0, 1, 2]
    assert plain.loc[1, "error"] == error
    assert list(plain["status"]) == ["ok", "failed", "ok"]
    assert st.next_run() == 3

    # a second store object (another process, later) reads the same
    again = SweepStore.open(tmp_path / "out")
    pd.testing.assert_frame_equal(again.points(), pts)
    assert again.config == CONFIG


def test_write_points_updates_a_column(tmp_path):
    st = make(tmp_path / "out")
    for run in range(3):
        st.append(ok_row(run, run / 2))
    pts = st.points()
    pts["pareto"] = [True, False, True]
    st.write_points(pts)
    assert list(st.points()["pareto"]) == [True, False, True]
    assert list(pd.read_csv(tmp_path / "out" / "points.csv")["pareto"]) == [True, False, True]


def test_bad_rows_are_refused(tmp_path):
    st = make(tmp_path / "out")
    st.append(ok_row(0, 0.5))
    before = st.points_path.read_bytes()
    with pytest.raises(InputError, match="needs 'status'"):
        st.append({"run": 1, "weight": 0.5})
    with pytest.raises(InputError, match="status must be one of"):
        st.append({"run": 1, "weight": 0.5, "status": "maybe"})
    with pytest.raises(InputError, match="non-negative integer"):
        st.append({"run": -1, "weight": 0.5, "status": "ok"})
    with pytest.raises(InputError, match="must be a number, string"):
        st.append({"run": 1, "weight": 0.5, "status": "ok", "sizes": [1, 2]})
    with pytest.raises(StoreError, match="run 0 is already in"):
        st.append(ok_row(0, 0.75))
    assert st.points_path.read_bytes() == before
    st.append(ok_row(0, 0.75), replace=True)
    assert list(st.points()["weight"]) == [0.75]


def test_missing_or_damaged_checkpoint_and_log(tmp_path):
    st = make(tmp_path / "out")
    st.append(ok_row(0, 0.5), checkpoint={"a": 1}, history=[{"epoch": 1}])
    with pytest.raises(StoreError, match="run 1 has no checkpoint"):
        st.load_checkpoint(1)
    with pytest.raises(StoreError, match="run 1 has no log"):
        st.history(1)
    st.checkpoint_path(0).write_bytes(b"\x00garbage")
    with pytest.raises(StoreError, match=r"checkpoint .*run-0000\.pt is unreadable"):
        st.load_checkpoint(0)
    st.history_path(0).write_text('{"epoch": 1}\n{"epoch": 2, "lo\n')
    with pytest.raises(StoreError, match=r"run-0000\.jsonl is corrupted \(line 2"):
        st.history(0)


# --------------------------------------------------------------------------------------------
# atomicity


def test_crash_before_replace_keeps_the_old_table(tmp_path, monkeypatch):
    st = make(tmp_path / "out")
    st.append(ok_row(0, 0.5))
    before = st.points_path.read_bytes()

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        st.append(ok_row(1, 0.25), checkpoint={"a": 1})
    monkeypatch.undo()

    assert st.points_path.read_bytes() == before
    assert list(st.points()["run"]) == [0]
    leftovers = [p.name for p in (tmp_path / "out").rglob(".tmp-*")]
    assert leftovers == []
    assert st.lock_holder() is None  # the implicit lock was released despite the error


def test_table_written_after_checkpoint(tmp_path, monkeypatch):
    """A crash while replacing the table leaves the checkpoint (no row without checkpoint)."""
    st = make(tmp_path / "out")
    real_replace = os.replace
    order = []

    def replace(src, dst):
        order.append(Path(dst).name)
        if Path(dst).name == "points.csv":
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError):
        st.append(ok_row(0, 0.5), checkpoint={"a": 1}, history=[{"epoch": 1}])
    monkeypatch.undo()
    assert order == ["run-0000.pt", "run-0000.jsonl", "points.csv"]
    assert st.points().empty
    # the retry (as a resumed sweep would do) succeeds and overwrites the orphan checkpoint
    st.append(ok_row(0, 0.5), checkpoint={"a": 2})
    assert st.load_checkpoint(0) == {"a": 2}


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from paretoprune.store import SweepStore
    st = SweepStore.open(sys.argv[1])
    with st.lock():
        for run in range(10**6):
            st.append({"run": run, "weight": run / 7, "loss": 1.0 / (run + 1), "l1": run * 0.5,
                       "status": "ok", "error": "", "note": "x" * (run % 50)},
                      checkpoint={"run": run})
            if run == 3:
                print("ready", flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_during_appends_leaves_a_readable_store(tmp_path):
    out = tmp_path / "out"
    make(out)
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(out)], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(0.3)  # let it write some more rows, then kill it mid-flight
        finally:
            proc.kill()
            proc.wait(timeout=WAIT_S)
    with pytest.warns(StoreWarning, match="stale lock"):
        st = make(out)  # resumes: the table is intact, the dead writer's lock is taken over
        st.acquire()
    try:
        pts = st.points()
        runs = list(pts["run"])
        assert len(runs) >= 4 and runs == list(range(len(runs)))
        assert list(pts["weight"]) == [r / 7 for r in runs]
        for run in runs:  # every row has its checkpoint
            assert st.load_checkpoint(run) == {"run": run}
        assert len(pd.read_csv(out / "points.csv")) == len(runs)
    finally:
        st.release()
    # the killed writer's temporary files were cleaned up by the next lock holder
    assert not list(out.rglob(".tmp-*"))


# --------------------------------------------------------------------------------------------
# corruption


def _table_with_rows(path: Path) -> SweepStore:
    st = make(path)
    for run in range(3):
        st.append(ok_row(run, run / 4))
    return st


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: b"\x89PNG\r\n\x1a\n\x00\x00garbage", "not UTF-8|NUL"),
        (lambda raw: raw[:-7], "last row is cut short"),
        (lambda raw: b"", "it is empty"),
        (lambda raw: b"run,loss\n0,1.0\n", "missing columns weight, status"),
        (lambda raw: raw + b"3,0.5,1,2,3,4,ok,,,False,extra,fields,here\n", "Expected"),
        (lambda raw: raw.replace(b"0.1,", b"abc,", 1), "column loss holds a non-number"),
        (lambda raw: raw + b"x,0.5,,,,,ok,,,False\n", "invalid run"),
        (lambda raw: raw + b"1,0.5,,,,,ok,,,False\n", "run 1 appears twice"),
        (lambda raw: raw + b"7,0.5,,,,,,,,False\n", "has no status"),
    ],
    ids=[
        "binary",
        "half-row",
        "empty",
        "no-columns",
        "extra-fields",
        "text-in-number",
        "bad-run",
        "duplicate-run",
        "no-status",
    ],
)
def test_corrupted_table_is_a_store_error(tmp_path, damage, message):
    out = tmp_path / "out"
    st = _table_with_rows(out)
    path = out / "points.csv"
    path.write_bytes(damage(path.read_bytes()))
    damaged = path.read_bytes()

    with pytest.raises(StoreError, match=message) as info:
        SweepStore.open(out).points()
    assert "points.csv" in str(info.value) and "\n" not in str(info.value)
    # a sweep refuses to continue on it, and never overwrites it
    with pytest.raises(StoreError, match="refusing to continue"):
        make(out)
    with pytest.raises(StoreError, match="points.csv"):
        st.append(ok_row(9, 0.9), checkpoint={"a": 1})
    assert path.read_bytes() == damaged
    assert not st.checkpoint_path(9).exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b'{"schema_version": 1, "kind": "paretoprune-sw', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b'{"schema_version": 1, "kind": "something-else"}', "not a paretoprune sweep file"),
        (b'{"schema_version": 99, "kind": "paretoprune-sweep"}', "newer than this"),
        (b'{"schema_version": 1, "kind": "paretoprune-sweep", "config": {}}', "fingerprint"),
        (b"[1, 2]", "not a paretoprune sweep file"),
    ],
    ids=["empty", "truncated", "binary", "wrong-kind", "newer", "no-fingerprint", "list"],
)
def test_corrupted_sweep_json_is_a_store_error(tmp_path, content, message):
    out = tmp_path / "out"
    make(out)
    (out / "sweep.json").write_bytes(content)
    with pytest.raises(StoreError, match=message) as info:
        SweepStore.open(out)
    assert "sweep.json" in str(info.value)
    assert not SweepStore.is_sweep_dir(out)
    with pytest.raises(StoreError, match="sweep.json"):
        make(out)
    assert (out / "sweep.json").read_bytes() == content


def test_open_needs_a_sweep_directory(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        SweepStore.open(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not a paretoprune sweep directory"):
        SweepStore.open(tmp_path / "plain")
    (tmp_path / "file").write_text("x")
    assert not SweepStore.is_sweep_dir(tmp_path / "file")
    with pytest.raises(StoreError, match="not a directory"):
        make(tmp_path / "file")


def test_foreign_directory_is_not_overwritten(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(StoreError, match="not a sweep directory.*thesis.tex"):
        make(out)
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
    with pytest.warns(StoreWarning, match="moved the previous contents"):
        make(out, force=True)
    [aside] = tmp_path.glob("out.old-*")
    assert (aside / "thesis.tex").read_text() == "precious"
    # a table without sweep.json is not adopted either
    other = tmp_path / "other"
    other.mkdir()
    (other / "points.csv").write_text("run,weight,status\n0,0.5,ok\n")
    with pytest.raises(StoreError, match="not a sweep directory.*points.csv"):
        make(other)
    # an empty directory, or one with only a left-over lock, is fine
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".lock").write_text("{}")
    os.utime(tmp_path / "empty" / ".lock", (0, 0))
    with pytest.warns(StoreWarning, match="empty or unreadable lock"):
        make(tmp_path / "empty", lock=True).release()


# --------------------------------------------------------------------------------------------
# identity


def test_fingerprint_is_stable():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": (1, 2), "a": 1.0})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert fingerprint({"a": True}) != fingerprint({"a": 1})


def test_resume_with_the_same_identity(tmp_path):
    out = tmp_path / "out"
    st = make(out)
    st.append(ok_row(0, 0.5))
    created = st.meta["created"]
    again = make(out, {**CONFIG, "budget": 20})  # budget is not part of the identity
    assert list(again.points()["run"]) == [0]
    assert again.config["budget"] == 20 and again.meta["created"] == created
    assert SweepStore.open(out).config["budget"] == 20


def test_identity_choices(tmp_path):
    a = SweepStore.create_or_open(tmp_path / "a", CONFIG, identity={"model": "lenet5"})
    assert a.identity == {"model": "lenet5"}
    SweepStore.create_or_open(tmp_path / "a", {**CONFIG, "lr": 1}, identity={"model": "lenet5"})
    b = SweepStore.create_or_open(tmp_path / "b", CONFIG)  # the whole config
    assert b.identity == CONFIG
    with pytest.raises(StoreError, match="budget 10 vs 11"):
        SweepStore.create_or_open(tmp_path / "b", {**CONFIG, "budget": 11})
    with pytest.raises(InputError, match="not both"):
        SweepStore.create_or_open(tmp_path / "c", CONFIG, identity={}, identity_keys=["model"])


def test_different_sweep_is_refused_then_moved_aside_with_force(tmp_path):
    out = tmp_path / "out"
    st = make(out)
    st.append(ok_row(0, 0.5), checkpoint={"a": 1})
    before = (out / "points.csv").read_bytes()
    other = {**CONFIG, "model": "mlp", "lr": 0.1}

    with pytest.raises(StoreError) as info:
        make(out, other)
    message = str(info.value)
    assert "holds a different sweep (lr 0.01 vs 0.1, model lenet5 vs mlp)" in message
    assert "--force" in message and "\n" not in message
    assert (out / "points.csv").read_bytes() == before

    with pytest.warns(StoreWarning, match="moved the previous contents"):
        new = make(out, other, force=True)
    assert new.points().empty and new.config["model"] == "mlp"
    [aside] = tmp_path.glob("out.old-*")
    assert (aside / "points.csv").read_bytes() == before
    assert (aside / "checkpoints" / "run-0000.pt").exists()
    assert SweepStore.open(aside).config["model"] == "lenet5"


# --------------------------------------------------------------------------------------------
# the lock

LOCK_HOLDER = textwrap.dedent(
    """
    import sys, time
    from paretoprune.store import SweepStore
    st = SweepStore.open(sys.argv[1])
    with st.lock():
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    print("released", flush=True)
    """
)


@contextlib.contextmanager
def lock_holder(out: Path, seconds: float = WAIT_S) -> Iterator[subprocess.Popen]:
    """A separate process holding the lock of ``out`` (for ``seconds``); killed at the end."""
    with subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(out), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            line = proc.stdout.readline().strip()
            if line != "locked":
                pytest.fail(f"the lock holder did not start: {line!r}")
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=WAIT_S)


@pytest.mark.slow
def test_lock_held_by_a_live_process(tmp_path):
    out = tmp_path / "out"
    st = make(out)
    with lock_holder(out) as proc:
        with pytest.raises(LockHeldError) as info:
            st.acquire()
        message = str(info.value)
        assert f"locked by pid {proc.pid} on host {socket.gethostname()} since" in message
        assert "wait for it or stop it" in message and "\n" not in message
        with pytest.raises(LockHeldError):
            st.append(ok_row(0, 0.5))
        meta_before = (out / "sweep.json").read_bytes()
        with pytest.raises(LockHeldError):
            make(out, lock=True)
        with pytest.raises(LockHeldError):
            make(out, {**CONFIG, "budget": 99})  # would rewrite sweep.json: refused
        assert (out / "sweep.json").read_bytes() == meta_before
        with pytest.raises(LockHeldError):  # force does not pull a live sweep away
            make(out, {**CONFIG, "model": "mlp"}, force=True)
        holder = st.lock_holder()
        assert holder["pid"] == proc.pid and holder["argv"][0] == "-c"
        assert st.points().empty and out.is_dir()


@pytest.mark.slow
def test_lock_is_released_on_exit_and_sigterm(tmp_path):
    out = tmp_path / "out"
    make(out)
    with lock_holder(out, seconds=0) as proc:
        assert proc.stdout.readline().strip() == "released"
        assert proc.wait(timeout=WAIT_S) == 0
    assert not (out / ".lock").exists()

    with lock_holder(out) as proc:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT_S) == 128 + signal.SIGTERM  # exited through SystemExit
    assert not (out / ".lock").exists()


@pytest.mark.slow
def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    out = tmp_path / "out"
    st = make(out)
    with lock_holder(out) as proc:
        proc.kill()
        proc.wait(timeout=WAIT_S)
    assert json.loads((out / ".lock").read_text())["pid"] == proc.pid
    with pytest.warns(StoreWarning, match=f"stale lock .* pid {proc.pid}, which is no longer"):
        st.acquire()
    try:
        assert st.locked and st.lock_holder()["pid"] == os.getpid()
        st.append(ok_row(0, 0.5))
    finally:
        st.release()
    assert not (out / ".lock").exists()
    assert not list(out.glob(".lock*"))


def _write_lock(out: Path, **info) -> None:
    base = {
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "started": "then",
        "argv": ["x"],
        "proc_start": store_mod._proc_start_time(os.getpid()),
    }
    base.update(info)
    (out / ".lock").write_text(json.dumps(base))


def test_lock_with_a_reused_pid_is_stale(tmp_path):
    if store_mod._proc_start_time(os.getpid()) is None:
        pytest.skip("no /proc on this platform: pid reuse cannot be detected")
    out = tmp_path / "out"
    st = make(out)
    _write_lock(out, proc_start="1")  # this pid is alive, but started at another time
    with pytest.warns(StoreWarning, match="no longer running"):
        st.acquire()
    st.release()


def test_lock_of_another_host_or_this_live_process_is_held(tmp_path):
    out = tmp_path / "out"
    st = make(out)
    _write_lock(out, hostname="elsewhere.example", pid=999_999_999)
    with pytest.raises(LockHeldError, match="pid 999999999 on host elsewhere.example"):
        st.acquire()
    _write_lock(out)  # a live process: this one, through another store object
    with pytest.raises(LockHeldError, match=f"pid {os.getpid()}"):
        st.acquire()
    assert json.loads((out / ".lock").read_text())["pid"] == os.getpid()


def test_empty_lock_file_is_stale_after_a_grace_period(tmp_path):
    out = tmp_path / "out"
    st = make(out)
    (out / ".lock").write_bytes(b"")
    old = time.time() - 3600
    os.utime(out / ".lock", (old, old))
    with pytest.warns(StoreWarning, match="empty or unreadable lock"):
        st.acquire()
    st.release()


def test_lock_is_reentrant_released_on_errors_and_never_frees_another(tmp_path):
    out = tmp_path / "out"
    st = make(out, lock=True)
    assert st.locked
    with st.lock():
        st.append(ok_row(0, 0.5))
        assert st.locked
    assert st.locked  # still held from create_or_open(lock=True)
    st.release()
    assert not st.locked and not (out / ".lock").exists()

    with pytest.raises(RuntimeError), st.lock():
        raise RuntimeError("training blew up")
    assert not (out / ".lock").exists()

    # a lock file replaced behind our back is left alone on release
    st.acquire()
    _write_lock(out, pid=1, hostname="elsewhere.example")
    st.release()
    assert json.loads((out / ".lock").read_text())["hostname"] == "elsewhere.example"


def test_lock_holder_cleans_stale_temp_files(tmp_path):
    out = tmp_path / "out"
    st = make(out)
    stray = out / ".tmp-points.csv.abc123"
    stray.write_text("half")
    (out / "checkpoints" / ".tmp-run-0001.pt.abc").write_bytes(b"half")
    assert list(st.points()["run"]) == []  # readers ignore them
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        st.acquire()
    st.release()
    assert not list(out.rglob(".tmp-*"))
