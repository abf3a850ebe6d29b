"""Drive the dashboard for real: a headless ``streamlit run`` server and Debian chromium.

Shared by the browser tests (``tests/app/test_browser.py``) and
``benchmarks/app_latency.py``. No ``playwright install``: chromium comes from the
Debian package at ``/usr/bin/chromium`` (or ``$PAMM_CHROMIUM``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from app.demo_cli import streamlit_command

__all__ = [
    "APP_DIR",
    "CHROMIUM_ARGS",
    "PAGES",
    "chromium_path",
    "free_port",
    "launch_chromium",
    "new_page",
    "streamlit_server",
    "wait_until_idle",
]

APP_DIR = Path(__file__).resolve().parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: url path -> (sidebar link, page heading), as declared in app/streamlit_app.py
PAGES = {
    "": ("Overview", "PaMM Lab — overview"),
    "motifs": ("Motif browser", "Motif browser"),
    "buckets": ("Bucket inspector", "Bucket inspector"),
    "environment": ("Environment viewer", "Environment viewer"),
    "families": ("Family comparison", "Family comparison"),
    "profiles": ("Motif profiles", "Motif profiles"),
    "embedding": ("Embedding map", "Embedding map"),
    "try_structure": ("Try a structure", "Try a structure"),
}


def chromium_path() -> str | None:
    """Path of a chromium executable, or None if this machine has none."""
    for candidate in (os.environ.get("PAMM_CHROMIUM"), "/usr/bin/chromium", "chromium"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


def free_port() -> int:
    """A currently free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(
    env: dict[str, str] | None = None, *, port: int | None = None, timeout: float = 240.0
) -> Iterator[str]:
    """Run the dashboard headless on localhost; yields its base URL, stops it on exit.

    ``env`` entries (e.g. ``PAMM_RUNS_ROOT``, ``PAMM_RUN``) are added to the environment.
    """
    port = port or free_port()
    cmd = [*streamlit_command(port, "127.0.0.1"), "--server.fileWatcherType", "none"]
    log = open(os.devnull, "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        cmd, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
        cwd=APP_DIR.parent,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode}: {cmd}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not become healthy within {timeout} s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def launch_chromium(playwright):
    """Launch the system chromium through Playwright (no downloaded browser)."""
    path = chromium_path()
    if path is None:
        raise FileNotFoundError("no chromium executable (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)


#: Records when the page's main thread was last busy (a task > 50 ms, incl. same-origin
#: iframes such as the 3Dmol viewer): rendering that goes on after Streamlit's script
#: finished (plotly layout, data grids, WebGL scenes) counts towards the page.
_LONGTASK_JS = """
window.__pammLastBusy = 0;
window.__pammNoteBusy = (entries) => {
  for (const e of entries) {
    window.__pammLastBusy = Math.max(window.__pammLastBusy, e.startTime + e.duration);
  }
};
try {
  window.__pammBusyObserver = new PerformanceObserver((l) => window.__pammNoteBusy(l.getEntries()));
  window.__pammBusyObserver.observe({type: "longtask", buffered: true});
} catch (err) { window.__pammBusyObserver = null; }
"""


def new_page(browser, *, timeout: float = 180.0):
    """A 1400x1000 page whose actions and navigations wait up to ``timeout`` s."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(_LONGTASK_JS)
    page.set_default_timeout(timeout * 1000)
    page.set_default_navigation_timeout(timeout * 1000)
    return page


_IDLE_JS = """() => {
  const busy = document.querySelector('[data-testid="stStatusWidgetRunningIcon"]');
  const now = performance.now();
  if (busy) { window.__pammIdleSince = null; return false; }
  if (!window.__pammIdleSince) { window.__pammIdleSince = now; }
  return now - window.__pammIdleSince > 300;
}"""

_SETTLED_JS = """() => {
  if (window.__pammBusyObserver) {
    window.__pammNoteBusy(window.__pammBusyObserver.takeRecords());
  }
  return performance.now() - (window.__pammLastBusy || 0) > 300;
}"""


def wait_until_idle(page, title: str, *, timeout: float = 180.0) -> float:
    """Wait until the page shows ``title`` and Streamlit has stopped running for 0.3 s.

    Returns how long ago (s) the page became idle, so a timer can stop at that moment
    rather than after the 0.3 s confirmation window.
    """
    page.get_by_role("heading", name=title).first.wait_for(timeout=timeout * 1000)
    page.evaluate("() => { window.__pammIdleSince = null; }")
    page.wait_for_function(_IDLE_JS, timeout=timeout * 1000, polling=50)
    since = "() => window.__pammIdleSince ? (performance.now() - window.__pammIdleSince) / 1000 : 0"
    return page.evaluate(since)


def wait_until_settled(page, *, timeout: float = 180.0) -> float:
    """Wait until the browser's main thread has run no long task (> 50 ms) for 0.3 s:
    everything drawn, including plotly charts, data grids and 3Dmol scenes in iframes.

    Call right after :func:`wait_until_idle`. Returns how long ago (s) the page settled:
    the end of the last long task, or this call if there was none since, so a timer can
    stop at that moment.
    """
    page.evaluate("() => { window.__pammSettleCall = performance.now(); }")
    page.wait_for_function(_SETTLED_JS, timeout=timeout * 1000, polling=50)
    return page.evaluate(
        "() => (performance.now() - Math.max(window.__pammLastBusy || 0,"
        " window.__pammSettleCall)) / 1000"
    )
