"""Executors: an asynchronous pool of jobs -- outcomes, completion order, reused workers,
progress, dead workers, Ctrl-C, a killed driver, and Ray on a real local runtime."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _workers import work

from paretoprune.errors import InputError
from paretoprune.executors import (
    Executor,
    ProcessExecutor,
    RemoteError,
    SerialExecutor,
    WorkerDied,
    make_executor,
)

WAIT_S = 60.0  # patience for processes, never a pass/fail criterion
TESTS_DIR = str(Path(__file__).resolve().parent)

BASIC = [("value", 1), ("raise", "boom"), ("value", 5), ("pid", None), ("value", 0.5)]


class Records:
    """An ``on_progress`` that keeps what it gets (it may be called from a driver thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[int, dict]] = []

    def __call__(self, job: int, record: dict) -> None:
        with self.lock:
            self.items.append((job, record))

    def of(self, job: int) -> list[dict]:
        with self.lock:
            return [record for j, record in self.items if j == job]


def run_all(ex: Executor, items: list) -> dict[int, object]:
    """Submit every item (waiting for a free slot when needed); job id -> outcome, in the
    order the jobs finished."""
    out: dict[int, object] = {}
    for item in items:
        if not ex.free:
            out.update([ex.wait()])
        ex.submit(work, item)
    while ex.running:
        out.update([ex.wait()])
    return out


def by_job(out: dict[int, object]) -> list:
    return [out[job] for job in sorted(out)]


def check_basic(outcomes: list, expect_other_pid: bool) -> None:
    assert outcomes[0] == 2 and outcomes[2] == 10 and outcomes[4] == 1.0
    assert type(outcomes[1]) is ValueError and str(outcomes[1]) == "boom"
    assert (outcomes[3] != os.getpid()) is expect_other_pid


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not reaped yet) counts as dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def wait_until(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.02)


def pids_in(marker: Path) -> list[int]:
    return [int(x) for x in marker.read_text().split()] if marker.exists() else []


def check_asynchronous(ex: Executor, records: Records, tmp_path: Path) -> None:
    """A short job submitted after a long one finishes first; its freed slot takes a new job
    while the long one still runs (it cannot end before the test creates ``flag``). Every
    record of a job has reached on_progress when wait() returns that job."""
    flag = tmp_path / "flag"
    long = ex.submit(work, ("wait_file", (str(flag), "long")))
    short = ex.submit(work, ("progress", ([{"epoch": 0}, {"epoch": 1}], "short")))
    assert (ex.running, ex.free) == (2, 0)
    assert ex.wait() == (short, "short")
    assert records.of(short) == [{"epoch": 0}, {"epoch": 1}]
    again = ex.submit(work, ("progress", ([{"epoch": 7}], "again")))
    assert ex.wait() == (again, "again")
    assert records.of(again) == [{"epoch": 7}]
    assert ex.running == 1
    flag.touch()
    assert ex.wait() == (long, "long")
    assert records.of(long) == [] and (ex.running, ex.free) == (0, 2)


# --------------------------------------------------------------------------------------------
# make_executor, the protocol, serial


def test_make_executor_names_and_arguments():
    with make_executor("serial") as ex:
        assert isinstance(ex, SerialExecutor) and (ex.slots, ex.running, ex.free) == (1, 0, 1)
    with make_executor("process", workers=3) as ex:
        assert isinstance(ex, ProcessExecutor) and isinstance(ex, Executor) and ex.slots == 3
    with pytest.raises(InputError, match="unknown executor 'threads'; choose one of serial"):
        make_executor("threads")
    with pytest.raises(InputError, match="workers must be a positive integer"):
        make_executor("process", workers=0)
    with pytest.raises(InputError, match="threads must be a positive integer"):
        make_executor("serial", threads=0)
    with pytest.raises(InputError, match="gpus_per_run must be a finite number >= 0"):
        make_executor("ray", gpus_per_run=-1)


def test_ray_missing_is_an_input_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes ``import ray`` fail
    with pytest.raises(InputError) as info:
        make_executor("ray", workers=2)
    assert str(info.value) == 'the ray executor needs Ray: pip install "paretoprune[ray]"'


@pytest.mark.parametrize("name", ["serial", "process"])
def test_slots_job_ids_and_closing(name):
    ex = make_executor(name, workers=2)
    with pytest.raises(RuntimeError, match="no job is running"):
        ex.wait()
    assert [ex.submit(work, ("value", 1)), ex.submit(work, ("value", 2))] == [0, 1]
    with pytest.raises(RuntimeError, match="all 2 slots are busy"):
        ex.submit(work, ("value", 3))
    assert sorted([ex.wait(), ex.wait()]) == [(0, 2), (1, 4)]
    assert ex.submit(work, ("value", 3)) == 2
    ex.close()
    ex.close()
    assert ex.running == 0
    with pytest.raises(RuntimeError, match="closed"):
        ex.submit(work, ("value", 1))


def test_serial_runs_jobs_in_order_with_outcomes_and_progress():
    records = Records()
    with SerialExecutor(2, on_progress=records) as ex:
        out = run_all(ex, [*BASIC, ("progress", ([{"loss": 1.0}], "done"))])
    assert list(out) == list(range(6))  # finished in submission order
    check_basic(by_job(out), expect_other_pid=False)
    assert out[5] == "done" and records.items == [(5, {"loss": 1.0})]


def test_serial_lets_ctrl_c_through():
    def interrupt(item, progress):
        raise KeyboardInterrupt

    with SerialExecutor() as ex:
        ex.submit(interrupt, 1)
        with pytest.raises(KeyboardInterrupt):
            ex.wait()
        assert ex.running == 0


# --------------------------------------------------------------------------------------------
# processes


@pytest.fixture(scope="module")
def process_pool():
    records = Records()
    with ProcessExecutor(2, on_progress=records) as ex:
        yield ex, records


@pytest.mark.slow
def test_process_outcomes(process_pool):
    ex, _ = process_pool
    outcomes = by_job(run_all(ex, BASIC))
    check_basic(outcomes, expect_other_pid=True)
    assert "raise ValueError(value)" in outcomes[1].remote_traceback  # the worker's traceback
    # outcomes that cannot travel back become clear errors, not a broken executor
    error, result = by_job(run_all(ex, [("unpicklable_error", None), ("unpicklable_result", None)]))
    assert isinstance(error, RemoteError) and str(error).startswith(
        "UnpicklableError: cannot travel (raised in a worker; it cannot be pickled back")
    assert "UnpicklableError" in error.remote_traceback
    assert isinstance(result, RemoteError)
    assert str(result).startswith("the result (lock) cannot be pickled")
    # so does a function that cannot be sent to a worker
    job = ex.submit(lambda item, progress: item, 1)
    outcome = ex.wait()
    assert outcome[0] == job and isinstance(outcome[1], Exception)
    assert by_job(run_all(ex, [("value", 4)])) == [8]


@pytest.mark.slow
def test_process_is_asynchronous_and_reports_progress(process_pool, tmp_path):
    ex, records = process_pool
    check_asynchronous(ex, records, tmp_path)


@pytest.mark.slow
def test_process_workers_are_reused_and_keep_their_state():
    with ProcessExecutor(1) as ex:
        first, second, torch = by_job(
            run_all(ex, [("remember", "a"), ("remember", "b"), ("torch_threads", None)]))
    assert first == second and first[1] == "a"  # same process, same module state
    assert torch is None  # workers load torch only when asked to set its threads


@pytest.mark.slow
def test_process_threads_sets_torch_threads_in_the_workers():
    with ProcessExecutor(1, threads=3) as ex:
        assert by_job(run_all(ex, [("torch_threads", None)])) == [3]


@pytest.mark.slow
@pytest.mark.parametrize(("code", "text"), [(None, "killed by SIGKILL"), (3, "exit code 3")])
def test_process_dead_worker_fails_only_its_job(process_pool, tmp_path, code, text):
    ex, _ = process_pool
    marker, flag = tmp_path / "marker", tmp_path / "flag"
    # the job on the other slot has started before the worker dies, and finishes afterwards
    survivor = ex.submit(work, ("mark_then_wait", (str(marker), str(flag), "survived")))
    doomed = ex.submit(work, ("die_when", (str(marker), code)))
    job, outcome = ex.wait()
    assert job == doomed and isinstance(outcome, WorkerDied)
    assert str(outcome).endswith(f"died ({text})")  # the caller names its run
    # the dead slot takes a new job on a fresh worker while the survivor still runs
    fresh = ex.submit(work, ("pid", None))
    job, pid = ex.wait()
    assert job == fresh and pid != pids_in(marker)[0]
    flag.touch()
    assert ex.wait() == (survivor, "survived")


@pytest.mark.slow
def test_process_inline_slot_is_a_thread_of_the_driver(tmp_path):
    records = Records()
    with ProcessExecutor(2, on_progress=records, inline=True) as ex:
        assert by_job(run_all(ex, [("value", 1), ("raise", "boom")]))[0] == 2
        job = ex.submit(work, ("raise", "here"))  # slot 0, the inline one, is free again
        done, error = ex.wait()
        assert done == job and type(error) is ValueError and str(error) == "here"
        assert not hasattr(error, "remote_traceback")  # raised in this process
        check_asynchronous(ex, records, tmp_path)
        pids = by_job(run_all(ex, [("pid", None), ("pid", None)]))  # both slots, in order
    assert pids[0] == os.getpid() and pids[1] != os.getpid()
    # on close, a job still running in the inline slot stops at its next progress record
    flag, returned = tmp_path / "late", tmp_path / "returned"
    ex = ProcessExecutor(1, inline=True)
    ex.submit(work, ("progress_when", (str(flag), str(returned))))
    ex.close()
    flag.touch()
    wait_until(lambda: not any(t.name.startswith("paretoprune-inline")
                               for t in threading.enumerate()), "the inline job to stop")
    assert not returned.exists()


@pytest.mark.slow
def test_process_ctrl_c_then_close_stops_the_workers(tmp_path):
    never = tmp_path / "never"
    markers = [tmp_path / "m0", tmp_path / "m1"]

    def interrupt_when_running():
        deadline = time.monotonic() + WAIT_S
        while not all(pids_in(m) for m in markers) and time.monotonic() < deadline:
            time.sleep(0.02)
        # to this thread, not the main one, as the kernel may deliver a Ctrl-C
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    with ProcessExecutor(2) as ex:
        for m in markers:
            ex.submit(work, ("mark_then_wait", (str(m), str(never), 0)))
        thread = threading.Thread(target=interrupt_when_running, daemon=True)
        thread.start()
        with pytest.raises(KeyboardInterrupt):
            ex.wait()
        thread.join()
    # it came while the jobs still waited, not after one gave up and ended the wait
    assert not any(Path(f"{m}.gave-up").exists() for m in markers)
    pids = [pids_in(m)[0] for m in markers]
    wait_until(lambda: not any(pid_alive(p) for p in pids), "workers to be stopped")
    with pytest.raises(RuntimeError, match="closed"):
        ex.submit(work, ("value", 1))


@pytest.mark.slow
def test_process_close_stops_and_joins_a_running_inline_job(tmp_path):
    """close() leaves no thread running a job: a thread still inside torch when Python exits
    makes torch abort the process ("terminate called without an active exception")."""
    started = tmp_path / "started"
    ex = ProcessExecutor(1, inline=True)
    ex.submit(work, ("mark_then_wait", (str(started), str(tmp_path / "never"), 0)))
    wait_until(started.exists, "the inline job to start")
    ex.close()  # the job waits for a file that never comes and sends no progress
    assert not [t for t in threading.enumerate() if t.name.startswith("paretoprune-inline")]
    assert not Path(f"{started}.gave-up").exists()  # stopped, not ended by its own patience


SIGINT_AT_BIRTH = """
import multiprocessing, os, signal, sys, time
if multiprocessing.parent_process() is not None:
    time.sleep(1.0)  # a worker imports this main module again: a slow import, as the CLI's
sys.path.insert(0, sys.argv[1])
from _workers import work
from paretoprune.executors import ProcessExecutor
if __name__ == "__main__":
    got = []
    signal.signal(signal.SIGINT, lambda *a: got.append(1))  # the driver handles Ctrl-C itself
    with ProcessExecutor(2, preload=("paretoprune.training",)) as ex:
        for _ in range(100):  # Ctrl-C to the whole group while the workers start and import
            os.killpg(0, signal.SIGINT)
            time.sleep(0.02)
        for _ in range(2):
            ex.submit(work, ("pid", None))
        print(sorted(type(ex.wait()[1]).__name__ for _ in range(2)), len(got))
"""


@pytest.mark.slow
def test_process_workers_leave_ctrl_c_to_the_driver_from_birth(tmp_path):
    """Workers are born ignoring SIGINT: a Ctrl-C while they start and import neither kills
    them nor prints their traceback."""
    script = tmp_path / "driver.py"
    script.write_text(SIGINT_AT_BIRTH)
    out = subprocess.run([sys.executable, str(script), TESTS_DIR], capture_output=True,
                         text=True, timeout=WAIT_S * 5, start_new_session=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['int', 'int'] 100", out.stdout
    assert "Traceback" not in out.stderr and "KeyboardInterrupt" not in out.stderr, out.stderr


SPAWN_SYS_PATH = """
import sys
sys.path.insert(0, sys.argv[1])
from paretoprune.executors import ProcessExecutor
import helper_mod_for_spawn as h
if __name__ == "__main__":
    with ProcessExecutor(1) as ex:
        ex.submit(h.triple, 2)
        print(ex.wait())
"""


@pytest.mark.slow
def test_process_workers_see_the_parent_sys_path(tmp_path):
    """Spawned workers import ``fn`` by name from a directory only the parent added."""
    (tmp_path / "helper_mod_for_spawn.py").write_text("def triple(x, progress):\n    return 3 * x\n")
    script = tmp_path / "main.py"
    script.write_text(SPAWN_SYS_PATH)
    out = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                         text=True, timeout=WAIT_S * 2, cwd=tmp_path.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(0, 6)"


KILLED_DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
from _workers import work
from paretoprune.executors import make_executor
if __name__ == "__main__":
    ex = make_executor("process", workers=2)
    for marker in sys.argv[2:4]:
        ex.submit(work, ("mark_then_wait", (marker, sys.argv[4], 0)))
    ex.wait()
"""


@pytest.mark.slow
def test_process_killed_driver_leaves_nothing_behind(tmp_path):
    """SIGKILL the driver of a 2-slot sweep: its workers exit, its resource tracker cleans up
    without a "leaked semaphore objects" warning, and nothing lands in the temp folder."""
    markers, temp = [tmp_path / "m0", tmp_path / "m1"], tmp_path / "temp"
    temp.mkdir()
    args = [sys.executable, "-c", KILLED_DRIVER, TESTS_DIR, *map(str, markers), str(temp / "x")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(temp)})
    stderr: list[bytes] = []  # EOF once the driver, its workers and its tracker have all exited
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
    reader.start()
    try:
        wait_until(lambda: all(pids_in(m) for m in markers), "both jobs to start")
    finally:
        proc.kill()  # SIGKILL: no cleanup at all in the driver
        proc.wait(timeout=WAIT_S)
    pids = [pids_in(m)[0] for m in markers]
    wait_until(lambda: not any(pid_alive(p) for p in pids), "orphaned workers to exit")
    reader.join(WAIT_S)
    assert not reader.is_alive(), "something still holds the driver's stderr"
    assert b"leaked" not in stderr[0] and b"Traceback" not in stderr[0], stderr[0].decode()
    assert list(temp.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Ray (a real local runtime)


@pytest.fixture(scope="module")
def ray_pool():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'paretoprune[ray]')")
    if ray.is_initialized():
        pytest.skip("a Ray runtime is already running in this process")
    from paretoprune.executors import RayExecutor

    records = Records()
    with RayExecutor(2, on_progress=records) as ex:
        yield ex, records
    assert not ray.is_initialized()  # it shut down the runtime it started


@pytest.mark.ray
@pytest.mark.slow
def test_ray_outcomes_and_dead_worker(ray_pool):
    ex, _ = ray_pool
    out = run_all(ex, [*BASIC, ("unpicklable_error", None), ("die", None), ("value", 4)])
    outcomes = by_job(out)
    check_basic(outcomes[:5], expect_other_pid=True)
    assert isinstance(outcomes[5], RemoteError) and str(outcomes[5]).startswith("Unpicklable")
    assert isinstance(outcomes[6], WorkerDied)
    assert str(outcomes[6]) == "its Ray worker died (WorkerCrashedError)"
    assert outcomes[7] == 8  # the executor keeps working after a crash


@pytest.mark.ray
@pytest.mark.slow
def test_ray_is_asynchronous_and_reports_progress(ray_pool, tmp_path):
    ex, records = ray_pool
    check_asynchronous(ex, records, tmp_path)


@pytest.mark.ray
@pytest.mark.slow
def test_ray_close_cancels_running_tasks(ray_pool, tmp_path):
    import ray

    from paretoprune.executors import RayExecutor

    marker, never = tmp_path / "m", tmp_path / "never"
    with RayExecutor(1) as ex:  # on the runtime already running: left running on close
        ex.submit(work, ("mark_then_wait", (str(marker), str(never), 0)))
        wait_until(lambda: pids_in(marker), "the task to start")
    [pid] = pids_in(marker)
    wait_until(lambda: not pid_alive(pid), "the cancelled task's worker to be stopped")
    assert ray.is_initialized()
    with pytest.raises(RuntimeError, match="closed"):
        ex.submit(work, ("value", 1))
