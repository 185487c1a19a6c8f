"""The sweep directory: journal round trips, kills, corruption, identity, the lock, migration."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from paretoprune.errors import InputError, LockHeldError, StoreError
from paretoprune.store import SCHEMA_VERSION, StoreWarning, SweepStore, fingerprint

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"model": "lenet5", "epochs": 3, "lr": 0.01, "rule": "normal", "budget": 10}
IDENTITY = {"model": "lenet5", "epochs": 3, "lr": 0.01, "rule": "normal"}
WAIT_S = 60.0  # patience for subprocesses, never a pass/fail criterion


def make(path: Path, config: dict | None = None, identity: dict | None = None,
         **kwargs) -> SweepStore:
    return SweepStore.create_or_open(path, config or CONFIG, identity=identity or IDENTITY,
                                     **kwargs)


def ok_row(run: int, **extra) -> dict:
    return {"run": run, "role": "trial", "method": "smgd", "weight": run / 8,
            "loss": 0.5 + run, "l1": 10.0 - run, "status": "ok", **extra}


def st_runs(store: SweepStore) -> list[int]:
    return [row["run"] for row in store.rows()]


def journal_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes) but the lock file, which a writer
    creates before it looks: to show that nothing was changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert message and "\n" not in message
    return message


@contextlib.contextmanager
def disk_full(monkeypatch: pytest.MonkeyPatch, name: str, *, how: str = "fsync") -> Iterator[None]:
    """Writes to the next file whose path contains ``name`` fail as on a full disk.

    ``how``: "fsync" (fsync raises ENOSPC: atomic writes), "write" (os.write writes half,
    then raises ENOSPC), "short" (os.write writes half and says so).
    """
    real_open, real_write, real_fsync = os.open, os.write, os.fsync
    doomed: set[int] = set()

    def fake_open(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        (doomed.add if name in os.fspath(path) else doomed.discard)(fd)
        return fd

    def fake_write(fd, data):
        if fd in doomed and how in ("write", "short"):
            doomed.discard(fd)
            written = real_write(fd, bytes(data)[: len(data) // 2])
            if how == "short":
                return written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    def fake_fsync(fd):
        if fd in doomed and how == "fsync":
            doomed.discard(fd)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    with monkeypatch.context() as m:
        m.setattr(os, "open", fake_open)
        m.setattr(os, "write", fake_write)
        m.setattr(os, "fsync", fake_fsync)
        yield


# --------------------------------------------------------------------------------------------
# creating, round trips


def test_create_writes_layout_and_metadata(tmp_path):
    out = tmp_path / "deep" / "out"
    with make(out) as st:
        assert st.locked and st.schema_version == SCHEMA_VERSION == 2
        assert sorted(p.name for p in out.iterdir()) == [
            ".lock", "checkpoints", "journal.jsonl", "logs", "points.csv", "sweep.json"]
        meta = json.loads((out / "sweep.json").read_text())
        assert meta["schema_version"] == 2 and meta["kind"] == "paretoprune-sweep"
        assert meta["config"] == CONFIG == st.config and meta["identity"] == IDENTITY
        assert meta["fingerprint"] == fingerprint(IDENTITY) == st.fingerprint
        assert {"python", "paretoprune", "torch", "numpy", "pandas"} <= set(meta["versions"])
        assert meta["created"] == meta["updated"] and st.meta == meta
        assert (out / "journal.jsonl").read_bytes() == b""
        lock = json.loads((out / ".lock").read_text())
        assert lock["pid"] == os.getpid() and lock["hostname"] == socket.gethostname()
        assert {"started", "argv"} <= set(lock)
        pts = st.points()
        assert pts.empty and list(pts.columns) == ["run", "status", "error"]
        assert pts["run"].dtype == "int64"
        assert list(pd.read_csv(out / "points.csv").columns) == ["run", "status", "error"]
        assert st.rows() == [] and st.next_run() == 0
    assert not st.locked
    st.close()  # again: harmless
    assert SweepStore.is_sweep_dir(out) and not SweepStore.is_sweep_dir(tmp_path)


def test_append_round_trip_with_checkpoint_and_history(tmp_path):
    import numpy as np
    import torch

    out = tmp_path / "out"
    st = make(out)
    weights = torch.arange(6.0).reshape(2, 3)
    history = [{"epoch": 1, "loss": torch.tensor(0.5)}, {"epoch": 2, "loss": float("nan")}]
    error = 'diverged: loss is nan, "again"'
    st.append(ok_row(0, accuracy=np.float32(0.75), nnz=np.int64(12), seconds=1.5),
              checkpoint={"state": {"w": weights}, "weight": 0.5}, history=history)
    st.append({"run": 1, "role": "trial", "method": "smgd", "weight": 0.125,
               "loss": float("inf"), "status": "failed", "error": error})
    st.append(ok_row(2, weight=1 / 3, note="x,y"))

    assert journal_lines(out)[0] == {**ok_row(0), "accuracy": 0.75, "nnz": 12, "seconds": 1.5}
    assert journal_lines(out)[1]["loss"] is None  # infinities and NaN are written as null
    assert st.rows() == journal_lines(out) and st.next_run() == 3
    pts = st.points()
    assert list(pts.columns) == ["run", "role", "method", "weight", "loss", "l1", "accuracy",
                                 "nnz", "seconds", "note", "status", "error"]
    assert list(pts["run"]) == [0, 1, 2] and pts.loc[2, "weight"] == 1 / 3  # exact
    assert list(pts["status"]) == ["ok", "failed", "ok"] and list(pts["error"]) == ["", error, ""]
    assert pd.isna(pts.loc[1, "loss"]) and pts.loc[2, "note"] == "x,y"

    ckpt = st.load_checkpoint(0)
    assert torch.equal(ckpt["state"]["w"], weights) and ckpt["weight"] == 0.5
    assert st.checkpoint_path(0) == out / "checkpoints" / "run-0000.pt"
    assert st.history_path(7) == out / "logs" / "run-0007.jsonl"
    assert st.history(0) == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": None}]

    plain = pd.read_csv(out / "points.csv")  # plain pandas reads the same table
    assert list(plain.columns) == list(pts.columns) and list(plain["run"]) == [0, 1, 2]
    assert plain.loc[1, "error"] == error and plain.loc[2, "weight"] == 1 / 3
    again = SweepStore.open(out)  # a reader, while the writer holds the lock
    assert not again.locked and again.rows() == st.rows()
    pd.testing.assert_frame_equal(again.points(), pts)
    assert again.load_checkpoint(0)["weight"] == 0.5
    st.close()


def test_table_columns_and_dtypes(tmp_path):
    with make(tmp_path / "out") as st:
        st.append({"run": 0, "extra": "a", "n": 1, "m": 1, "flag": True, "half": True,
                   "none": None, "status": "ok", "method": "smgd"})
        st.append({"run": 1, "n": 2, "m": None, "flag": False, "status": "failed",
                   "error": "boom", "late": 2.5})
        pts = st.points()
    assert list(pts.columns) == ["run", "method", "extra", "n", "m", "flag", "half", "none",
                                 "late", "status", "error"]  # no role column: no row has one
    dtypes = {c: str(t) for c, t in pts.dtypes.items()}
    assert dtypes["run"] == dtypes["n"] == "int64"
    assert dtypes["m"] == dtypes["none"] == dtypes["late"] == "float64"
    assert dtypes["flag"] == "bool" and dtypes["half"] == "object"
    assert list(pts["method"]) == ["smgd", ""] and list(pts["error"]) == ["", "boom"]
    assert list(pts["extra"].fillna("")) == ["a", ""]
    assert pd.isna(pts.loc[1, "m"]) and pts.loc[1, "late"] == 2.5


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"run": 1}, "has no 'status'"),
        ({"status": "ok"}, "has no 'run'"),
        ({"run": -1, "status": "ok"}, "run -1 is not a non-negative integer"),
        ({"run": 2.5, "status": "ok"}, "run 2.5 is not"),
        ({"run": True, "status": "ok"}, "run True is not"),
        ({"run": "3", "status": "ok"}, "run '3' is not"),
        ({"run": 2**63, "status": "ok"}, "is not a non-negative integer"),
        ({"run": 1, "status": "maybe"}, "status 'maybe' is not one of ok, failed"),
        ({"run": 1, "status": "ok", "sizes": [1, 2]}, "'sizes' must be a number, string"),
        ({"run": 1, "status": "ok", "cfg": {"a": 1}}, "'cfg' must be a number, string"),
        ({"run": 0, "status": "ok"}, "run 0 is already in the journal"),
        ([("run", 1), ("status", "ok")], "must be a dict"),
    ],
)
def test_bad_rows_are_refused_and_write_nothing(tmp_path, row, message):
    out = tmp_path / "out"
    with make(out) as st:
        st.append(ok_row(0))
        before = snapshot(out)
        with pytest.raises(InputError, match=message):
            st.append(row, checkpoint={"a": 1}, history=[{"epoch": 1}])
        with pytest.raises(InputError, match="log entry 1 of run 1 must be a dict"):
            st.append(ok_row(1), checkpoint={"a": 1}, history=[{"epoch": 1}, [2]])
        assert snapshot(out) == before and st.next_run() == 1
        with pytest.raises(InputError, match="run id is an integer"):
            st.checkpoint_path(-1)


def test_a_reader_cannot_write(tmp_path):
    make(tmp_path / "out").close()
    reader = SweepStore.open(tmp_path / "out")
    for write in (lambda: reader.append(ok_row(0)), reader.export):
        with pytest.raises(StoreError, match="not open for writing"):
            write()
    writer = make(tmp_path / "out")
    writer.close()
    with pytest.raises(StoreError, match="not open for writing"):
        writer.append(ok_row(0))


def test_export_writes_the_callers_frame(tmp_path):
    with make(tmp_path / "out") as st:
        st.append(ok_row(0))
        frame = st.points()
        frame["pareto"] = [True]
        assert st.export(frame) == tmp_path / "out" / "points.csv"
        assert list(pd.read_csv(st.export(frame))["pareto"]) == [True]
        with pytest.raises(InputError, match="DataFrame"):
            st.export([1, 2])


def test_missing_or_damaged_checkpoint_and_log(tmp_path):
    st = make(tmp_path / "out")
    st.append(ok_row(0), checkpoint={"a": 1}, history=[{"epoch": 1}])
    with pytest.raises(StoreError, match=r"run 1 has no checkpoint .*run-0001\.pt is missing"):
        st.load_checkpoint(1)
    with pytest.raises(StoreError, match="run 1 has no log"):
        st.history(1)
    st.checkpoint_path(0).write_bytes(b"\x00garbage")
    with pytest.raises(StoreError, match=r"checkpoint .*run-0000\.pt is unreadable"):
        st.load_checkpoint(0)
    import torch

    torch.save([1, 2], st.checkpoint_path(0))
    with pytest.raises(StoreError, match="does not hold a dict"):
        st.load_checkpoint(0)
    st.history_path(0).write_text('{"epoch": 1}\n{"epoch": 2, "lo\n')
    with pytest.raises(StoreError, match=r"run-0000\.jsonl is corrupted \(line 2"):
        st.history(0)
    st.close()


# --------------------------------------------------------------------------------------------
# identity


def test_fingerprint_is_stable():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": (1.0, 2), "a": 1.0})
    assert fingerprint({"t": {"x": 1, "y": 2}}) == fingerprint({"t": {"y": 2.0, "x": 1}})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert fingerprint({"a": True}) != fingerprint({"a": 1})
    assert len(fingerprint({})) == 16


def test_resume_with_the_same_identity(tmp_path):
    out = tmp_path / "out"
    with make(out) as st:
        st.append(ok_row(0), checkpoint={"a": 1})
        created = st.meta["created"]
    (out / "points.csv").unlink()  # as if killed between a journal line and the export
    time.sleep(1.1)  # "updated" has a resolution of seconds
    with make(out, {**CONFIG, "budget": 20}, {**IDENTITY, "epochs": 3.0}) as again:
        assert again.rows() == [ok_row(0)] and again.next_run() == 1
        assert again.config["budget"] == 20
        assert again.meta["created"] == created != again.meta["updated"]
        assert list(pd.read_csv(out / "points.csv")["run"]) == [0]  # exported again
    assert SweepStore.open(out).config["budget"] == 20


def test_different_identity_names_each_setting(tmp_path):
    out = tmp_path / "runs" / "digits"
    make(out, identity={"model": "lenet5", "epochs": 20, "rule": "normal"}).close()
    before = snapshot(out)
    with pytest.raises(StoreError) as info:
        make(out, identity={"model": "lenet5", "epochs": 5, "rule": "normal"})
    assert one_line(info) == (
        f"{out} holds a different sweep: epochs is 20 there, 5 here; rerun with the stored "
        "settings to resume it, use --force to move it aside, or pick another directory")
    with pytest.raises(StoreError) as info:
        make(out, identity={"model": "mlp", "epochs": 5, "seed": 1, "rule": "normal"})
    assert "model is lenet5 there, mlp here, epochs is 20 there, 5 here, seed is unset there, " \
           "1 here;" in one_line(info)

    nested = tmp_path / "nested"
    make(nested, identity={"train": {"epochs": 20, "lr": 0.1}, "rule": "normal"}).close()
    with pytest.raises(StoreError, match=r"holds a different sweep: train\.epochs is 20 there, "
                                         r"5 here, rule is normal there, unset here;"):
        make(nested, identity={"train": {"epochs": 5, "lr": 0.1}})
    assert snapshot(out) == before


def test_force_moves_a_different_sweep_aside(tmp_path):
    out = tmp_path / "out"
    with make(out) as st:
        st.append(ok_row(0), checkpoint={"a": 1}, history=[{"epoch": 1}])
    before = snapshot(out)
    other = {**IDENTITY, "model": "mlp"}
    with pytest.warns(StoreWarning, match="moved the previous contents"):
        new = make(out, {**CONFIG, "model": "mlp"}, other, force=True)
    assert new.rows() == [] and new.identity == other and new.locked
    new.close()
    [aside] = tmp_path.glob("out.old-*")
    assert snapshot(aside) == before
    assert SweepStore.open(aside).rows() == [ok_row(0)]


def test_foreign_directory_is_refused_untouched_or_moved_aside(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(StoreError, match="not a sweep directory .*'thesis.tex'.*--force") as info:
        make(out)
    one_line(info)
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]  # not even a lock file
    with pytest.warns(StoreWarning, match="moved the previous contents"):
        make(out, force=True).close()
    [aside] = tmp_path.glob("out.old-*")
    assert snapshot(aside) == {"thesis.tex": b"precious"}

    # what a creation killed before its sweep.json leaves is no foreign folder
    left = tmp_path / "left"
    (left / "checkpoints").mkdir(parents=True)
    (left / "journal.jsonl").write_bytes(b"")
    (left / ".tmp-sweep.json.abc").write_text("{")
    (left / ".lock").write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(left).close()
    assert SweepStore.open(left).rows() == [] and not list(left.glob(".tmp-*"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        make(tmp_path / "file")
    with pytest.raises(StoreError, match="does not exist"):
        SweepStore.open(tmp_path / "nope")
    with pytest.raises(StoreError, match="not a paretoprune sweep directory"):
        SweepStore.open(aside)


# --------------------------------------------------------------------------------------------
# kills: torn journal lines, stray temporary files, SIGKILL for real


def _store_with_rows(out: Path, n: int = 2) -> bytes:
    with make(out) as st:
        for run in range(n):
            st.append(ok_row(run), checkpoint={"run": run})
    return (out / "journal.jsonl").read_bytes()


@pytest.mark.parametrize(
    "tail",
    [b'{"run":2,"role":"tri', b'{"run":2,"status":"ok"}', b"\x00\x00\x00\x00", b"\x00\x00\x00\n"],
    ids=["half-line", "no-newline", "zeros", "zeros-newline"],
)
def test_torn_last_line_is_ignored_then_cut_off(tmp_path, tail):
    out = tmp_path / "out"
    good = _store_with_rows(out)
    (out / "journal.jsonl").write_bytes(good + tail)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # readers say nothing
        assert [r["run"] for r in SweepStore.open(out).rows()] == [0, 1]
    with pytest.warns(StoreWarning, match=r"journal\.jsonl of .* ended with an unfinished "
                                          rf"append \({len(tail)} bytes"):
        st = make(out)
    assert (out / "journal.jsonl").read_bytes() == good
    st.append(ok_row(2))
    st.close()
    assert [r["run"] for r in SweepStore.open(out).rows()] == [0, 1, 2]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"status": "ok"}', "it has no 'run'"),
        (b'{"run": -1, "status": "ok"}', "run -1 is not a non-negative integer"),
        (b'{"run": 1e300, "status": "ok"}', "run 1e+300 is not"),
        (b'{"run": 2.5, "status": "ok"}', "run 2.5 is not"),
        (b'{"run": 0, "status": "ok"}', "run 0 is already in the journal"),
        (b'{"run": 7, "status": "done"}', "status 'done' is not one of"),
        (b'{"run": 7, "status": "ok", "x": [1]}', "'x' must be a number, string, bool or None"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_bad_journal_line_before_the_last_is_never_overwritten(tmp_path, bad, message):
    out = tmp_path / "out"
    first, second = _store_with_rows(out).splitlines(keepends=True)
    (out / "journal.jsonl").write_bytes(first + bad + b"\n" + second)
    before = snapshot(out)
    expected = (re.escape(f"journal.jsonl of {out} is corrupted (line 2: {message}")
                + r".*\); nothing was changed")
    with pytest.raises(StoreError, match=expected) as info:
        SweepStore.open(out)
    one_line(info)
    with pytest.raises(StoreError, match=expected):
        make(out)
    assert snapshot(out) == before
    (out / "journal.jsonl").unlink()
    with pytest.raises(StoreError, match="journal.jsonl of .* is missing"):
        SweepStore.open(out)


def test_stray_temporary_files_are_ignored_then_removed(tmp_path):
    out = tmp_path / "out"
    _store_with_rows(out, 1)
    strays = [out / ".tmp-points.csv.abc123", out / "checkpoints" / ".tmp-run-0001.pt.abc",
              out / "logs" / ".tmp-run-0001.jsonl.abc", out / ".tmp-journal.jsonl.x"]
    for stray in strays:
        stray.write_bytes(b"half")
    assert [r["run"] for r in SweepStore.open(out).rows()] == [0]  # readers ignore them
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(out).close()
    assert not [p for p in strays if p.exists()] and not list(out.rglob(".tmp-*"))


KILLED_WRITER = textwrap.dedent(
    """
    import json, os, signal, sys, warnings
    import torch  # before "ready": the kill should land among appends, not imports
    from paretoprune.store import SweepStore
    warnings.simplefilter("ignore")  # the cut-off of a torn line, reported to the test anyway
    st = SweepStore.create_or_open(sys.argv[1], json.loads(sys.argv[2]),
                                   identity=json.loads(sys.argv[3]))
    run = st.next_run()
    if sys.argv[4:] == ["mid-line"]:  # die by SIGKILL halfway through writing a journal line
        real_write = os.write
        def write(fd, data):
            if bytes(data).startswith(b'{"run":'):
                real_write(fd, bytes(data)[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
            return real_write(fd, data)
        os.write = write
    print("ready", flush=True)
    while True:
        st.append({"run": run, "weight": run / 7, "note": "x" * (run % 50),
                   "status": "failed" if run % 5 == 4 else "ok"},
                  checkpoint={"run": run, "pad": torch.zeros(run % 7 * 1000)},
                  history=[{"epoch": e, "run": run} for e in range(3)])
        run += 1
    """
)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_finished_run(tmp_path):
    out = tmp_path / "out"
    make(out).close()
    rng = random.Random(7)
    for _ in range(5):
        with subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(out), json.dumps(CONFIG),
             json.dumps(IDENTITY)], stdout=subprocess.PIPE, text=True, cwd=ROOT,
        ) as proc:
            try:
                assert proc.stdout.readline().strip() == "ready"
                time.sleep(rng.uniform(0.05, 0.5))
            finally:
                proc.kill()  # SIGKILL: no handler, no finally, no atexit runs
                proc.wait(timeout=WAIT_S)
        reader = SweepStore.open(out)  # no lock needed, whatever the kill left
        runs = [row["run"] for row in reader.rows()]
        assert runs == list(range(len(runs)))
        for run in runs:  # every finished run has its checkpoint and log
            assert reader.load_checkpoint(run)["run"] == run
            assert [e["epoch"] for e in reader.history(run)] == [0, 1, 2]
        assert [row["weight"] for row in reader.rows()] == [run / 7 for run in runs]
    assert len(runs) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreWarning)  # a torn last line, if the kill made one
        st = make(out)  # the lock of the killed writer is free: a new writer continues
    with st:
        st.append(ok_row(len(runs)), checkpoint={"run": len(runs)})
        assert list(pd.read_csv(out / "points.csv")["run"]) == [*runs, len(runs)]
    assert not list(out.rglob(".tmp-*"))


@pytest.mark.slow
def test_writer_killed_halfway_through_a_journal_line(tmp_path):
    out = tmp_path / "out"
    good = _store_with_rows(out)
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(out), json.dumps(CONFIG), json.dumps(IDENTITY),
         "mid-line"], capture_output=True, text=True, cwd=ROOT, timeout=WAIT_S)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    raw = (out / "journal.jsonl").read_bytes()
    assert raw.startswith(good) and len(raw) > len(good) and not raw.endswith(b"\n")
    assert st_runs(SweepStore.open(out)) == [0, 1]  # run 2 never finished: not there
    assert SweepStore.open(out).load_checkpoint(0) == {"run": 0}
    with pytest.warns(StoreWarning, match="unfinished append"):
        st = make(out)  # the dead writer's lock is free; its half line is cut off
    with st:
        assert (out / "journal.jsonl").read_bytes() == good
        st.append(ok_row(2), checkpoint={"run": 2})  # run 2 again, over its orphan checkpoint
        assert st.load_checkpoint(2) == {"run": 2}
    assert st_runs(SweepStore.open(out)) == [0, 1, 2]


# --------------------------------------------------------------------------------------------
# disk full


@pytest.mark.parametrize(
    ("name", "what"), [("run-0001.pt", "checkpoint"), ("run-0001.jsonl", "log")])
def test_disk_full_while_writing_a_checkpoint_or_log(tmp_path, monkeypatch, name, what):
    out = tmp_path / "out"
    st = make(out)
    st.append(ok_row(0))
    journal = (out / "journal.jsonl").read_bytes()
    with disk_full(monkeypatch, name), pytest.raises(StoreError) as info:
        st.append(ok_row(1), checkpoint={"a": 1}, history=[{"epoch": 1}])
    assert f"cannot write {what}" in one_line(info) and "No space left on device" in str(info.value)
    assert (out / "journal.jsonl").read_bytes() == journal and st.next_run() == 1
    assert not list(out.rglob(name)) and not list(out.rglob(".tmp-*"))
    st.append(ok_row(1), checkpoint={"a": 1}, history=[{"epoch": 1}])  # room again: fine
    assert st.load_checkpoint(1) == {"a": 1} and st.history(1) == [{"epoch": 1}]
    st.close()


@pytest.mark.parametrize("how", ["write", "short", "fsync"])
def test_disk_full_while_appending_to_the_journal(tmp_path, monkeypatch, how):
    out = tmp_path / "out"
    st = make(out)
    st.append(ok_row(0))
    journal = (out / "journal.jsonl").read_bytes()
    with disk_full(monkeypatch, "journal.jsonl", how=how), pytest.raises(StoreError) as info:
        st.append(ok_row(1))
    assert one_line(info).startswith("cannot record run 1 in ")
    assert "No space left on device" in str(info.value)
    assert (out / "journal.jsonl").read_bytes() == journal  # no half line left behind
    assert [r["run"] for r in st.rows()] == [0]
    st.append(ok_row(1))
    st.close()
    assert [r["run"] for r in SweepStore.open(out).rows()] == [0, 1]


def test_disk_full_while_exporting_the_table(tmp_path, monkeypatch):
    out = tmp_path / "out"
    st = make(out)
    st.append(ok_row(0))
    table = (out / "points.csv").read_bytes()
    with disk_full(monkeypatch, "points.csv"), pytest.raises(StoreError) as info:
        st.append(ok_row(1))
    assert "cannot write points table" in one_line(info)
    assert "(run 1 itself is saved in journal.jsonl)" in str(info.value)
    assert (out / "points.csv").read_bytes() == table and not list(out.glob(".tmp-*"))
    st.close()
    assert [r["run"] for r in SweepStore.open(out).rows()] == [0, 1]
    make(out).close()  # the next writer exports the table again
    assert list(pd.read_csv(out / "points.csv")["run"]) == [0, 1]


def test_disk_full_while_writing_sweep_json_releases_the_lock(tmp_path, monkeypatch):
    out = tmp_path / "out"
    with disk_full(monkeypatch, "sweep.json"), pytest.raises(StoreError) as info:
        make(out)
    assert "cannot write sweep file" in one_line(info)
    assert not (out / "sweep.json").exists()
    make(out).close()  # the folder is not foreign, and the lock is free


# --------------------------------------------------------------------------------------------
# sweep.json


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b'{"schema_version": 2, "kind": "paretoprune-sw', "is not valid JSON"),
        (b"\xff\xfe\x00garbage", "is not valid JSON"),
        (b"[" * 100_000, "is not valid JSON"),
        (b"[1, 2]", "is not a paretoprune sweep file"),
        (b'{"schema_version": 2, "kind": "something-else"}', "is not a paretoprune sweep file"),
        (b'{"schema_version": "2", "kind": "paretoprune-sweep"}', "has no valid schema_version"),
        (b'{"schema_version": 3, "kind": "paretoprune-sweep"}',
         r"was written by a newer paretoprune \(schema 3\); this version reads schema 2: "
         "upgrade paretoprune"),
        (b'{"schema_version": 2, "kind": "paretoprune-sweep", "config": {}, "identity": {}}',
         "is missing 'fingerprint'"),
        (b'{"schema_version": 2, "kind": "paretoprune-sweep", "config": {}, "fingerprint": "a"}',
         "is missing 'identity'"),
    ],
    ids=["empty", "truncated", "binary", "deep", "list", "kind", "version-text", "newer",
         "no-fingerprint", "no-identity"],
)
def test_unusable_sweep_json_is_a_store_error(tmp_path, content, message):
    out = tmp_path / "out"
    _store_with_rows(out, 1)
    (out / "sweep.json").write_bytes(content)
    before = snapshot(out)
    with pytest.raises(StoreError, match=message) as info:
        SweepStore.open(out)
    assert f"{out / 'sweep.json'} " in one_line(info)
    with pytest.raises(StoreError, match=message):
        make(out)
    assert not SweepStore.is_sweep_dir(out)
    assert snapshot(out) == before


def test_force_moves_an_unusable_sweep_aside(tmp_path):
    out = tmp_path / "out"
    _store_with_rows(out, 1)
    (out / "sweep.json").write_bytes(b'{"schema_version": 3, "kind": "paretoprune-sweep"}')
    with pytest.warns(StoreWarning, match="moved the previous contents"):
        make(out, force=True).close()
    [aside] = tmp_path.glob("out.old-*")
    assert (aside / "journal.jsonl").exists() and SweepStore.open(out).rows() == []


# --------------------------------------------------------------------------------------------
# the lock

LOCK_HOLDER = textwrap.dedent(
    """
    import json, sys, time
    from paretoprune.store import SweepStore
    st = SweepStore.create_or_open(sys.argv[1], json.loads(sys.argv[2]),
                                   identity=json.loads(sys.argv[3]))
    print("locked", flush=True)
    time.sleep(600)
    """
)


@contextlib.contextmanager
def lock_holder(out: Path) -> Iterator[subprocess.Popen]:
    """Another process holding the lock of the sweep ``out``; killed at the end."""
    with subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(out), json.dumps(CONFIG), json.dumps(IDENTITY)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
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
def test_second_writer_is_refused_and_a_killed_holders_lock_is_free(tmp_path):
    out = tmp_path / "out"
    _store_with_rows(out, 1)
    with lock_holder(out) as proc:
        before = snapshot(out)
        with pytest.raises(LockHeldError) as info:
            make(out, {**CONFIG, "budget": 99})  # would rewrite sweep.json: refused first
        assert one_line(info) == (
            f"sweep {out} is locked by pid {proc.pid} on host {socket.gethostname()} since "
            f"{json.loads((out / '.lock').read_text())['started']}; wait for it or stop it")
        with pytest.raises(LockHeldError, match=f"pid {proc.pid}"):
            make(out, identity={**IDENTITY, "model": "mlp"}, force=True)  # no pulling it away
        assert snapshot(out) == before and not list(tmp_path.glob("out.old-*"))
        assert [r["run"] for r in SweepStore.open(out).rows()] == [0]  # readers need no lock
        proc.kill()  # SIGKILL: the kernel releases its lock
        proc.wait(timeout=WAIT_S)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            st = make(out)
        assert st.locked and json.loads((out / ".lock").read_text())["pid"] == os.getpid()
        st.append(ok_row(1))
        st.close()
    assert (out / ".lock").read_bytes() == b""  # the holder's details went with the lock


def test_a_refusal_names_the_holder_even_while_it_writes_its_details(tmp_path):
    """The holder writes its pid just after it locks: a writer refused in between waits for
    the details instead of saying "another process"."""
    out = tmp_path / "out"
    first = make(out)
    details = (out / ".lock").read_bytes()
    (out / ".lock").write_bytes(b"")  # as if the holder had locked and not yet written
    writer = threading.Timer(0.1, lambda: (out / ".lock").write_bytes(details))
    writer.start()
    try:
        with pytest.raises(LockHeldError) as info:
            make(out)
    finally:
        writer.join()
    assert f"locked by pid {os.getpid()} on host {socket.gethostname()} since " in one_line(info)
    first.close()


def test_second_writer_in_the_same_process_is_refused(tmp_path):
    out = tmp_path / "out"
    first = make(out)
    with pytest.raises(LockHeldError, match=f"locked by pid {os.getpid()} on host"):
        make(out)
    assert first.locked
    first.close()
    with make(out) as second:
        second.append(ok_row(0))


def test_without_flock_writing_is_refused_in_one_line(tmp_path, monkeypatch):
    make(tmp_path / "out").close()
    monkeypatch.setitem(sys.modules, "fcntl", None)  # as on a platform without fcntl
    with pytest.raises(StoreError, match=r"needs POSIX file locks \(fcntl\.flock\)") as info:
        make(tmp_path / "out")
    one_line(info)
    assert SweepStore.open(tmp_path / "out").rows() == []  # readers need no lock


@pytest.mark.parametrize("kind", ["dangling-symlink", "symlink", "folder"])
def test_unusable_lock_file_is_a_store_error(tmp_path, kind):
    out = tmp_path / "out"
    make(out).close()
    (out / ".lock").unlink()
    target = tmp_path / "target"
    if kind == "folder":
        (out / ".lock").mkdir()
        expected = "is a folder, not a lock file; remove it"
    else:
        if kind == "symlink":
            target.write_text("keep")
        (out / ".lock").symlink_to(target)
        expected = "is a symbolic link .*target.*, not a lock file; remove it"
    with pytest.raises(StoreError, match=expected) as info:
        make(out)
    assert str(out / ".lock") in one_line(info)
    assert (target.read_text() == "keep") if kind == "symlink" else not target.exists()
    assert SweepStore.open(out).rows() == []  # readers need no lock


# --------------------------------------------------------------------------------------------
# 0.1's development format, settings added later


def test_a_development_schema_1_sweep_is_refused_untouched(tmp_path):
    """0.1's format was never released: it is named in one line, not read or converted."""
    out = tmp_path / "old"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps(
        {"schema_version": 1, "kind": "paretoprune-sweep", "fingerprint": fingerprint(IDENTITY),
         "identity": IDENTITY, "config": CONFIG}))
    (out / "points.csv").write_text("run,weight,status\n0,0.5,ok\n")
    before = snapshot(out)
    for attempt in (lambda: SweepStore.open(out), lambda: make(out)):
        with pytest.raises(StoreError) as info:
            attempt()
        assert "has schema 1, a development format this version does not read" in one_line(info)
    assert snapshot(out) == before and not SweepStore.is_sweep_dir(out)


def test_settings_added_since_a_sweep_was_made_are_no_difference(tmp_path):
    out = tmp_path / "out"
    make(out).close()
    newer = {**IDENTITY, "added_later": 3}
    with make(out, identity=newer) as st:  # resumes, and records today's identity
        assert st.identity == newer and st.fingerprint == fingerprint(newer)
    with pytest.raises(StoreError, match="added_later is 3 there, 4 here"):
        make(out, identity={**IDENTITY, "added_later": 4})


def test_before_writing_runs_under_the_lock_and_a_failure_leaves_nothing(tmp_path):
    out = tmp_path / "new"
    seen = []

    def check():
        seen.append(sorted(p.name for p in out.iterdir()))
        with pytest.raises(LockHeldError):  # the lock is held while it runs
            make(out)
        raise InputError("the dataset is missing")

    with pytest.raises(InputError, match="dataset is missing"):
        make(out, before_writing=check)
    assert seen == [[".lock"]] and not out.exists()  # a folder it created is gone again
    with make(out, before_writing=lambda: seen.append("ok")) as st:
        assert seen[-1] == "ok" and st.locked and (out / "sweep.json").exists()
