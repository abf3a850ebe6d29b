"""``pamm demo``: the command line it builds, its errors, and a real headless launch."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from app.demo_cli import APP_ENTRY, streamlit_command
from app.harness import free_port
from pamm_lab.cli import main


def test_command_is_headless_streamlit_on_the_app():
    cmd = streamlit_command(8501, "0.0.0.0")
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(APP_ENTRY)]
    assert APP_ENTRY.is_file() and APP_ENTRY.parent.name == "app"
    flags = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert flags == {
        "--server.headless": "true",
        "--server.port": "8501",
        "--browser.gatherUsageStats": "false",
        "--server.enableStaticServing": "true",  # 3Dmol.js served once, not inlined
        "--server.address": "0.0.0.0",
    }


def test_bad_port_is_a_clear_error(capsys):
    assert main(["demo", "--port", "70000"]) == 2
    assert "--port 70000 is not a TCP port" in capsys.readouterr().err


@pytest.mark.slow
def test_pamm_demo_serves_the_dashboard(runs_root, app_env):
    port = free_port()
    env = {**os.environ, "PAMM_RUNS_ROOT": str(runs_root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pamm_lab", "demo", "--run", app_env.name, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "pamm demo never became healthy"
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:
            assert r.status == 200 and b'id="root"' in r.read()  # the Streamlit front end
    finally:
        proc.terminate()
        proc.wait(timeout=20)
