"""Executors: results as they finish, failures as outcomes, dead workers, Ctrl-C, Ray."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _workers import ExitOnUnpickle, work

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

BASIC_ITEMS = [("value", 1), ("raise", "boom"), ("value", 5), ("pid", None), ("value", 0.5)]


def check_basic(results: list, expect_pid_other_than_ours: bool) -> None:
    assert sorted(i for i, _ in results) == list(range(len(BASIC_ITEMS)))
    out = dict(results)
    assert out[0] == 2 and out[2] == 10 and out[4] == 1.0
    assert type(out[1]) is ValueError and str(out[1]) == "boom"
    assert (out[3] != os.getpid()) is expect_pid_other_than_ours


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


def assert_yields_as_finished(ex, tmp_path: Path) -> None:
    """Item 0 cannot finish before the caller has received item 1 (then it creates the file
    item 0 waits for): an executor that yields in input order would wait for item 0 forever
    (a minute, then item 0 fails with TimeoutError)."""
    flag = tmp_path / "flag"
    results = []
    for index, outcome in ex.map(work, [("wait_file", (str(flag), "second")), ("value", 21)]):
        results.append((index, outcome))
        if index == 1:
            flag.touch()
    assert results == [(1, 42), (0, "second")]


def pids_in(marker: Path) -> list[int]:
    return [int(x) for x in marker.read_text().split()] if marker.exists() else []


# --------------------------------------------------------------------------------------------
# make_executor and serial


def test_make_executor_names_and_arguments():
    with make_executor() as ex:
        assert isinstance(ex, SerialExecutor) and ex.workers == 1
        assert isinstance(ex, Executor)
    with make_executor("process", workers=3) as ex:
        assert isinstance(ex, ProcessExecutor) and ex.workers == 3
    with pytest.raises(InputError, match="unknown executor 'threads'; choose one of serial"):
        make_executor("threads")
    with pytest.raises(InputError, match="workers must be a positive integer"):
        make_executor("process", workers=0)
    with pytest.raises(InputError, match="gpus_per_run must be a number >= 0"):
        make_executor("ray", gpus_per_run=-1)


def test_ray_missing_is_an_input_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes ``import ray`` fail
    with pytest.raises(InputError) as info:
        make_executor("ray", workers=2)
    assert str(info.value) == 'the ray executor needs Ray: pip install "paretoprune[ray]"'


def test_serial_yields_everything_and_captures_exceptions():
    with SerialExecutor() as ex:
        results = list(ex.map(work, BASIC_ITEMS))
    assert [i for i, _ in results] == list(range(len(BASIC_ITEMS)))
    check_basic(results, expect_pid_other_than_ours=False)


def test_serial_lets_ctrl_c_through():
    def interrupt(item):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(SerialExecutor().map(interrupt, [1]))


# --------------------------------------------------------------------------------------------
# processes


@pytest.fixture(scope="module")
def process_ex():
    ex = ProcessExecutor(2)
    yield ex
    ex.close()


@pytest.mark.slow
def test_process_results_and_exceptions(process_ex):
    results = list(process_ex.map(work, BASIC_ITEMS))
    check_basic(results, expect_pid_other_than_ours=True)
    # the traceback of a worker's exception comes along as text
    assert "raise ValueError(value)" in dict(results)[1].remote_traceback
    # persistent pool: further maps reuse the same 2 workers (a new pool means new pids)
    pids = {pid for _ in range(3) for _, pid in process_ex.map(work, [("pid", None)] * 4)}
    assert len(pids | {dict(results)[3]}) <= 2


@pytest.mark.slow
def test_process_yields_in_order_of_completion(process_ex, tmp_path):
    assert_yields_as_finished(process_ex, tmp_path)


@pytest.mark.slow
def test_process_outcomes_that_cannot_travel(process_ex):
    items = [("unpicklable_error", None), ("value", 2), ("unpicklable_result", None)]
    results = dict(process_ex.map(work, items))
    assert isinstance(results[0], RemoteError)
    assert str(results[0]) == "UnpicklableError: cannot travel"
    assert "UnpicklableError" in results[0].remote_traceback
    assert results[1] == 4
    assert isinstance(results[2], RemoteError)
    assert "the result of fn(('unpicklable_result', None)) cannot be pickled" in str(results[2])
    # a function that cannot be pickled fails its items, not the map
    results = list(process_ex.map(lambda x: x, [1, 2]))
    assert sorted(i for i, _ in results) == [0, 1]
    assert all(isinstance(o, Exception) for _, o in results)


@pytest.mark.slow
@pytest.mark.parametrize(("code", "text"), [(None, "exit code -9, SIGKILL"), (3, "exit code 3")])
def test_process_worker_death_is_an_outcome(process_ex, code, text):
    items = [("value", 1), ("die", code), ("value", 2), ("value", 3), ("raise", "x")]
    results = list(process_ex.map(work, items))
    assert sorted(i for i, _ in results) == list(range(len(items)))
    out = dict(results)
    assert isinstance(out[1], WorkerDied)
    assert str(out[1]) == f"worker process died ({text}) while running item 1 (('die', {code}))"
    assert out[0] == 2 and out[2] == 4 and out[3] == 6 and isinstance(out[4], ValueError)
    # the pool was recreated: the executor keeps working
    assert list(process_ex.map(work, [("value", 21)])) == [(0, 42)]


@pytest.mark.slow
@pytest.mark.parametrize("max_resubmits", [1, 0])
def test_process_innocent_items_are_resubmitted_once(tmp_path, max_resubmits):
    marker, flag = tmp_path / "marker", tmp_path / "flag"
    # item 0 is running (it has written its pid) when item 1's worker kills itself; item 0
    # cannot finish before the test sees item 1's WorkerDied and creates ``flag``
    items = [
        ("mark_then_wait", (str(marker), str(flag), "survived")),
        ("die_when", (str(marker), None)),
    ]
    results = []
    with ProcessExecutor(2, max_resubmits=max_resubmits) as ex:
        for index, outcome in ex.map(work, items):
            results.append((index, outcome))
            if index == 1:
                flag.touch()
    out = dict(results)
    assert isinstance(out[1], WorkerDied) and "exit code -9" in str(out[1])
    if max_resubmits:
        assert [i for i, _ in results] == [1, 0]
        assert out[0] == "survived"
        first, second = pids_in(marker)  # it ran twice, in two different workers
        assert first != second
    else:
        assert isinstance(out[0], WorkerDied)
        assert "was stopped (exit code -15, SIGTERM) while running item 0" in str(out[0])
        assert str(out[0]).endswith("because another worker died")
        assert len(pids_in(marker)) == 1


@pytest.mark.slow
def test_process_workers_that_cannot_run_anything_do_not_loop_forever():
    with ProcessExecutor(1) as ex:
        results = list(ex.map(work, [ExitOnUnpickle(5), ExitOnUnpickle(5)]))
    assert sorted(i for i, _ in results) == [0, 1]
    for _, outcome in results:
        assert isinstance(outcome, WorkerDied)
        assert "keep dying before they run anything (exit code 5" in str(outcome)


@pytest.mark.slow
def test_process_ctrl_c_stops_the_workers(tmp_path):
    never = tmp_path / "never"
    markers = [tmp_path / "m0", tmp_path / "m1"]
    items = [("mark_then_wait", (str(m), str(never), i)) for i, m in enumerate(markers)]

    def interrupt_when_running():
        deadline = time.monotonic() + WAIT_S
        while not all(pids_in(m) for m in markers) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    with ProcessExecutor(2) as ex:
        thread = threading.Thread(target=interrupt_when_running, daemon=True)
        thread.start()
        with pytest.raises(KeyboardInterrupt):
            for _ in ex.map(work, items):
                pass
        thread.join()
        pids = [pids_in(m)[0] for m in markers]
        wait_until(lambda: not any(pid_alive(p) for p in pids), "workers to be stopped")
        # the executor starts a fresh pool for the next map
        assert list(ex.map(work, [("value", 4)])) == [(0, 8)]


@pytest.mark.slow
def test_process_abandoned_map_stops_running_items(tmp_path):
    marker, never = tmp_path / "m", tmp_path / "never"
    with ProcessExecutor(2) as ex:
        gen = ex.map(work, [("value", 1), ("mark_then_wait", (str(marker), str(never), 0))])
        assert next(gen) == (0, 2)
        wait_until(lambda: pids_in(marker), "the second item to start")
        gen.close()
        [pid] = pids_in(marker)
        wait_until(lambda: not pid_alive(pid), "the abandoned worker to be stopped")


def test_process_map_after_close_is_an_error():
    ex = ProcessExecutor(1)
    ex.close()
    ex.close()
    with pytest.raises(RuntimeError, match="closed"):
        list(ex.map(work, [("value", 1)]))


SPAWN_SYS_PATH = """
import sys
sys.path.insert(0, sys.argv[1])
from paretoprune.executors import ProcessExecutor
import helper_mod_for_spawn as h
if __name__ == "__main__":
    with ProcessExecutor(1) as ex:
        print(list(ex.map(h.triple, [2])))
"""


@pytest.mark.slow
def test_process_workers_see_the_parent_sys_path(tmp_path):
    """Spawned workers import ``fn`` by name from a directory only the parent added."""
    (tmp_path / "helper_mod_for_spawn.py").write_text("def triple(x):\n    return 3 * x\n")
    script = tmp_path / "main.py"
    script.write_text(SPAWN_SYS_PATH)
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=WAIT_S * 2,
        cwd=tmp_path.parent,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[(0, 6)]"


ORPHANING_PARENT = """
import sys
sys.path.insert(0, sys.argv[1])
from _workers import work
from paretoprune.executors import ProcessExecutor
if __name__ == "__main__":
    markers, never = sys.argv[2:4], sys.argv[4]
    ex = ProcessExecutor(2)
    list(ex.map(work, [("mark_then_wait", (m, never, 0)) for m in markers]))
"""


@pytest.mark.slow
def test_process_workers_exit_when_the_parent_is_killed(tmp_path):
    markers = [tmp_path / "m0", tmp_path / "m1"]
    tests_dir = str(Path(__file__).resolve().parent)
    args = [sys.executable, "-c", ORPHANING_PARENT, tests_dir, *map(str, markers)]
    proc = subprocess.Popen([*args, str(tmp_path / "never")])
    try:
        wait_until(lambda: all(pids_in(m) for m in markers), "both items to start")
    finally:
        proc.kill()  # SIGKILL: no cleanup at all in the parent
        proc.wait(timeout=WAIT_S)
    pids = [pids_in(m)[0] for m in markers]
    wait_until(lambda: not any(pid_alive(p) for p in pids), "orphaned workers to exit")


# --------------------------------------------------------------------------------------------
# Ray (a real local runtime)


@pytest.fixture(scope="module")
def ray_ex():
    try:
        import ray
    except ImportError:
        pytest.skip("ray is not installed (pip install 'paretoprune[ray]')")
    if ray.is_initialized():
        pytest.skip("a Ray runtime is already running in this process")
    from paretoprune.executors import RayExecutor

    ex = RayExecutor(2)
    assert ex.startup_seconds >= 0
    yield ex
    ex.close()
    assert not ray.is_initialized()  # it shut down the runtime it started


@pytest.mark.ray
@pytest.mark.slow
def test_ray_results_exceptions_and_dead_worker(ray_ex):
    results = list(ray_ex.map(work, [*BASIC_ITEMS, ("die", None)]))
    check_basic([r for r in results if r[0] < len(BASIC_ITEMS)], expect_pid_other_than_ours=True)
    out = dict(results)
    assert isinstance(out[5], WorkerDied)
    assert str(out[5]).startswith("ray worker died (WorkerCrashedError) while running item 5")
    # the executor keeps working after a crash
    assert list(ray_ex.map(work, [("value", 4)])) == [(0, 8)]


@pytest.mark.ray
@pytest.mark.slow
def test_ray_yields_in_order_of_completion(ray_ex, tmp_path):
    assert_yields_as_finished(ray_ex, tmp_path)


@pytest.mark.ray
@pytest.mark.slow
def test_ray_abandoned_map_cancels_running_tasks(ray_ex, tmp_path):
    marker, never = tmp_path / "m", tmp_path / "never"
    gen = ray_ex.map(work, [("value", 1), ("mark_then_wait", (str(marker), str(never), 0))])
    assert next(gen) == (0, 2)
    wait_until(lambda: pids_in(marker), "the second task to start")
    gen.close()
    [pid] = pids_in(marker)
    wait_until(lambda: not pid_alive(pid), "the cancelled task's worker to be stopped")
