"""How many cells run at once, and what makes a cold cell cheap (issue 23): the cores budget, the load a cell's
processes put on the machine, bytecode written on first import, and failing-first trials.

The budget's rules are checked on threads that hold it; the load on real process trees that burn real CPU; the
bytecode hook in real venvs of Python 3.6 and of the host's Python; the scheduling end to end on real cells.
"""
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from faultkit import FAULT_CELL, GOOD_CELL, make_project, tfpin

from tfpin import load, procs, schedule
from tfpin.cell import envs
from tfpin.cell.interpreters import find

PLUGINS = Path(__file__).resolve().parents[2] / "tfpin" / "cellplugin"
# Burns argv[1] seconds of its own CPU: the same work whatever else the machine is doing.
BURN = "import sys, time\nwhile time.process_time() < float(sys.argv[1]): pass\n"


def test_budget_serves_units_in_order_and_by_the_cores_they_want():
    cores = schedule.Cores(2)
    events, lock = [], threading.Lock()

    def unit(order, weight, seconds):
        with cores.hold(order, weight):
            with lock:
                events.append(("start", order, time.monotonic()))
            time.sleep(seconds)
            with lock:
                events.append(("end", order, time.monotonic()))

    # Unit 0 wants both cores; 1 and 2 want one each and must wait for 0, then run side by side.
    threads = [threading.Thread(target=unit, args=(0, 2.0, 0.6))]
    threads[0].start()
    time.sleep(0.1)
    threads += [threading.Thread(target=unit, args=(i, 1.0, 0.6)) for i in (2, 1)]
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join()
    when = {(kind, order): t for kind, order, t in events}
    assert when[("start", 1)] >= when[("end", 0)] and when[("start", 2)] >= when[("end", 0)]
    assert when[("start", 1)] <= when[("start", 2)]  # matrix order, though 2 asked first
    assert abs(when[("start", 1)] - when[("start", 2)]) < 0.3  # one core each: together
    # Half of what it wants must be free: a 1.3 beside a 1.3 starts (0.7 free), a 1.9 beside a 1.9 waits.
    for weight, together in ((1.3, True), (1.9, False)):
        first = cores.hold(0, weight)
        started = threading.Event()

        def second(weight=weight, started=started):
            with cores.hold(1, weight):
                started.set()

        t = threading.Thread(target=second)
        t.start()
        assert started.wait(0.5) is together
        first.__exit__(None, None, None)
        t.join()
        assert cores.used == 0


def test_units_that_all_wait_to_grow_go_on_one_after_another():
    # Three cheap set-ups were let in side by side (0.6 each on two cores), then each wants its tests' 1.9, which
    # fits beside none of them: a budget that made every holder wait for the others hung here (found by the
    # benchmark's third warm run). Each unit is held, grown and given back by its own thread, as the cells are.
    cores = schedule.Cores(2)
    all_in = threading.Barrier(3, timeout=10)
    grown, lock = [], threading.Lock()

    def unit(i):
        with cores.hold(i, 0.6) as held:
            all_in.wait()
            held.resize(1.9)
            with lock:
                grown.append(i)
            time.sleep(0.2)

    threads = [threading.Thread(target=unit, args=(i,), daemon=True) for i in (2, 1, 0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert grown == [0, 1, 2]  # all went on, one at a time, in their order
    assert cores.used == pytest.approx(0) and cores.idle == pytest.approx(0)


def test_a_finished_set_up_waiting_for_its_tests_does_not_hold_back_an_earlier_cell():
    # digits_tf1's shape: cell 0's tests run on 1.0; cells 1 and 2 finished their set-ups (0.55 each) and want
    # their tests' 1.2. Cell 1 fits beside cell 0 (1.0 free of 2); what cell 2 holds while it waits runs
    # nothing and must not count. Cell 2 then waits for cell 0 or 1 to end.
    cores = schedule.Cores(2)
    tests0 = cores.hold(0, 1.0)
    both_set_up = threading.Barrier(2, timeout=10)
    grown, lock = {}, threading.Lock()
    release = threading.Event()

    def unit(i):
        with cores.hold(i, 0.55) as held:
            both_set_up.wait()
            if i == 2:
                time.sleep(0.2)  # cell 1 asks first, as its set-up was first in order
            held.resize(1.2)
            with lock:
                grown[i] = time.monotonic()
            release.wait(10)

    threads = [threading.Thread(target=unit, args=(i,), daemon=True) for i in (1, 2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    with lock:
        assert list(grown) == [1]  # beside cell 0, while cell 2 waits
    tests0.__exit__(None, None, None)
    time.sleep(0.6)
    with lock:
        assert sorted(grown) == [1, 2]
    release.set()
    for t in threads:
        t.join(10)
    assert cores.used == pytest.approx(0) and cores.idle == pytest.approx(0)


def test_a_phase_measures_the_cpu_and_the_cores_its_processes_use():
    with load.Meter() as meter:
        procs.metering(meter)
        try:
            burn = meter.phase()
            procs.run([sys.executable, "-c", "import subprocess, sys; ps = [subprocess.Popen([sys.executable, '-c', "
                       "sys.argv[1], '4']) for _ in range(2)]; [p.wait() for p in ps]", BURN])
            burned = burn.end().figures()
            idle = meter.phase()
            procs.run([sys.executable, "-c", "import time; time.sleep(4)"])
            slept = idle.end().figures()
        finally:
            procs.metering(None)
    # Two grandchildren burning 4 CPU seconds each: about 8 (reaped by their parent, counted through wait4) and two
    # runnable threads, however busy the machine is; a sleeping child: no CPU, no core.
    assert 8.0 <= burned["cpu_s"] <= 9.5, burned
    assert 1.5 <= burned["demand"] <= 2.6, burned
    assert slept["cpu_s"] < 0.5 and slept["demand"] < 0.3, slept


@pytest.mark.parametrize("python", ["3.6", "host"])
def test_bytecode_is_written_on_first_import_inside_the_env_only(tmp_path, python):
    interpreter = find("3.6")[0] if python == "3.6" else sys.executable
    env = tmp_path / "env"
    subprocess.run([interpreter, "-m", "venv", "--without-pip", env], check=True)
    envs.bytecode_on_import(env, lambda _text: None)
    (site,) = env.glob("lib/python*/site-packages")
    (site / "inside_env.py").write_text("VALUE = 41\n")
    tree = tmp_path / "project"
    tree.mkdir()
    (tree / "in_tree.py").write_text("VALUE = 1\n")
    run = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(tree))
    code = "import inside_env, in_tree, sys; print(inside_env.__cached__, sys.dont_write_bytecode)"
    out = subprocess.run([env / "bin" / "python", "-c", code], env=run, capture_output=True, text=True, check=True)
    cached = Path(out.stdout.split()[0])
    assert cached.exists() and out.stdout.split()[1] == "True"  # the flag stays as the user set it
    assert not (tree / "__pycache__").exists()  # the user's tree is never written
    # The next process loads that bytecode, and an edited module is recompiled, never served stale.
    (site / "inside_env.py").write_text("VALUE = 42  # edited, one byte longer\n")
    out = subprocess.run([env / "bin" / "python", "-c", "import inside_env; print(inside_env.VALUE)"], env=run,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "42"


def test_tests_that_failed_before_run_first(tmp_path):
    (tmp_path / "test_order.py").write_text(textwrap.dedent("""
        def test_a(): pass
        def test_b(): pass
        def test_c(): assert False, "the earlier failure"
    """))
    first = tmp_path / "first.txt"
    first.write_text("test_order.py::test_c\n")
    env = dict(os.environ, PYTHONPATH=str(PLUGINS), TFPIN_FIRST=str(first))
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "tfpin_order", "-x", "-v", "-p", "no:cacheprovider",
                          "test_order.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    ran = [ln.split()[0] for ln in out.stdout.splitlines() if ln.startswith("test_order.py::")]
    assert ran == ["test_order.py::test_c"], out.stdout  # first, and -x stops the trial there
    first.write_text("")
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "tfpin_order", "-v", "-p", "no:cacheprovider",
                          "test_order.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    ran = [ln.split()[0] for ln in out.stdout.splitlines() if ln.startswith("test_order.py::")]
    assert ran == ["test_order.py::test_a", "test_order.py::test_b", "test_order.py::test_c"]


BURNING_TEST = '''
import json
import os
import subprocess
import sys

BURN = "import sys, time\\nwhile time.process_time() < float(sys.argv[1]): pass\\n"


def test_burn():
    """BURN_PROCS processes burning BURN_S CPU seconds each: a suite that feeds that many cores."""
    ps = [subprocess.Popen([sys.executable, "-c", BURN, os.environ["BURN_S"]])
          for _ in range(int(os.environ["BURN_PROCS"]))]
    assert [p.wait() for p in ps] == [0] * len(ps)
'''


def _tests_overlapped(project) -> bool:
    """Whether the two cells' suites ran at the same time (from when each started and how long it took)."""
    spans = []
    for cell in (GOOD_CELL, FAULT_CELL):
        d = json.loads((project / "reports" / "cells" / (cell + ".json")).read_text())["durations"]
        spans.append((d["tests_started_at"], d["tests_started_at"] + d["tests_s"]))
    (a0, a1), (b0, b1) = sorted(spans)
    return b0 < a1 - 0.5


@pytest.mark.parametrize("burn_procs, alone_next_time", [(2, True), (1, False)])
def test_cells_run_as_many_at_once_as_the_cores_their_last_run_fed(tmp_path, burn_procs, alone_next_time):
    """With no history both cells start at once (one per core); the next run schedules by what each fed: a suite
    that keeps two cores busy runs alone, a one-process suite still runs beside the other."""
    if os.cpu_count() < 2 or len(os.sched_getaffinity(0)) != 2:
        pytest.skip("the expectations are those of a 2-core machine")
    project = make_project(tmp_path / "p", extra_env={"BURN_PROCS": str(burn_procs), "BURN_S": "6"})
    (project / "tests" / "test_burn.py").write_text(BURNING_TEST)
    first = tfpin(project, "matrix", timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "as many as 2 cores feed" in first.stdout
    assert _tests_overlapped(project)  # nothing known: one cell per core
    demands = [json.loads((project / "reports" / "cells" / (c + ".json")).read_text())["durations"]["tests_demand"]
               for c in (GOOD_CELL, FAULT_CELL)]
    assert all(burn_procs - 0.6 <= d <= burn_procs + 0.8 for d in demands), demands  # wanted, shared or not
    again = tfpin(project, "matrix", "--no-cache", timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _tests_overlapped(project) is not alone_next_time
    serial = tfpin(project, "matrix", "--no-cache", "-j", "1", timeout=600)
    assert serial.returncode == 0 and not _tests_overlapped(project)  # -j 1: one cell at a time
