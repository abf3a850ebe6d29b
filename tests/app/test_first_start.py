"""Demo first start in one background process per run directory, under a lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def wait_for(run_dir: Path, states: set[str], timeout: float = 900.0):
    from app.first_start import status

    deadline = time.monotonic() + timeout
    while (state := status(run_dir)).state not in states:
        assert time.monotonic() < deadline, f"still {state} after {timeout} s"
        time.sleep(0.2)
    return state


def analyses_started(run_dir: Path) -> int:
    log = run_dir.parent / f".{run_dir.name}.first-start.log"
    return log.read_text().count("first start: analysis of") if log.exists() else 0


def staging(run_dir: Path) -> list[Path]:
    return list(run_dir.parent.glob(f".{run_dir.name}.staging-*"))


def test_a_status_probe_does_not_turn_a_start_away(tmp_path):
    """status() takes the lock for an instant to see whether it is held; a process
    starting at that moment must still get it (and one holding it for long must not)."""
    import fcntl

    from app import first_start

    run_dir = tmp_path / "runs" / "demo"
    run_dir.parent.mkdir(parents=True)
    with first_start._sidecar(run_dir, "lock").open("a") as other:
        fcntl.flock(other, fcntl.LOCK_EX)  # a probe (or another process) holds it now
        threading.Timer(0.3, fcntl.flock, (other, fcntl.LOCK_UN)).start()
        with first_start._locked(run_dir, wait=False) as mine:
            assert mine
        fcntl.flock(other, fcntl.LOCK_EX)  # held for longer than the retries last
        with first_start._locked(run_dir, wait=False) as mine:
            assert not mine
        assert first_start.status(run_dir).state == "running"


def test_concurrent_starts_run_one_analysis(demo_roots):
    from analysis import load_run
    from app.first_start import start

    run_dir = demo_roots
    threads = [threading.Thread(target=start, args=(run_dir,)) for _ in range(3)]
    for t in threads:
        t.start()
    # and another server process (or `python -m app.first_start`) at the same time, logging
    # where the others do, so whichever wins the lock is counted
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log = (run_dir.parent / f".{run_dir.name}.first-start.log").open("ab")
    other = subprocess.Popen(
        [sys.executable, "-m", "app.first_start", str(run_dir)], stdout=log, stderr=log
    )
    for t in threads:
        t.join()
    assert wait_for(run_dir, {"done", "failed"}).state == "done"
    assert other.wait(timeout=900) == 0
    log.close()
    assert analyses_started(run_dir) == 1
    assert load_run(run_dir).manifest["settings"]["max_per_family"] == 40
    assert not staging(run_dir)
    assert start(run_dir) is False  # done: nothing more to start


def test_a_killed_start_is_cleaned_and_resumed(demo_roots):
    from app import first_start

    run_dir = demo_roots
    assert first_start.start(run_dir)
    child = first_start._CHILDREN[str(run_dir)]
    deadline = time.monotonic() + 900
    while not staging(run_dir):  # the analysis is under way
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert first_start.status(run_dir).state == "absent"  # lock freed by the kernel
    assert staging(run_dir) and not (run_dir / "manifest.json").exists()
    assert first_start.start(run_dir)
    assert wait_for(run_dir, {"done", "failed"}).state == "done"
    assert not staging(run_dir) and analyses_started(run_dir) == 2


def test_a_terminated_start_removes_its_staging_and_says_so(demo_roots):
    from app import first_start

    run_dir = demo_roots
    assert first_start.start(run_dir)
    child = first_start._CHILDREN[str(run_dir)]
    deadline = time.monotonic() + 900
    while not staging(run_dir):
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    child.terminate()
    assert child.wait(timeout=60) != 0
    state = first_start.status(run_dir)
    assert state.state == "failed" and "signal 15" in state.message
    assert not staging(run_dir) and not run_dir.exists()


def _watch_first_start(tab, url: str) -> None:
    """Open the dashboard in ``tab`` and wait until it shows the first start's progress."""
    tab.goto(url)
    tab.get_by_text("First start").first.wait_for(timeout=300_000)


def _wait_for_run(tab) -> None:
    """Wait until ``tab`` shows the overview of the finished run."""
    tab.get_by_text("Headline numbers").first.wait_for(timeout=900_000)


@pytest.mark.browser
def test_two_tabs_wait_for_one_analysis(demo_roots, browser):
    from app.harness import new_page, streamlit_server

    with streamlit_server() as url:
        tabs = [new_page(browser), new_page(browser)]
        for tab in tabs:
            _watch_first_start(tab, url)  # both show the same run's progress
        for tab in tabs:
            _wait_for_run(tab)
            assert tab.locator('[data-testid="stException"]').count() == 0
    assert analyses_started(demo_roots) == 1


@pytest.mark.browser
def test_closing_the_tab_does_not_stop_the_first_start(demo_roots, browser):
    from app.harness import new_page, streamlit_server

    with streamlit_server() as url:
        tab = new_page(browser)
        _watch_first_start(tab, url)
        tab.close()  # the visitor leaves while the analysis runs
        assert wait_for(demo_roots, {"done", "failed"}).state == "done"
        tab = new_page(browser)
        tab.goto(url)
        _wait_for_run(tab)
    assert analyses_started(demo_roots) == 1 and not staging(demo_roots)
