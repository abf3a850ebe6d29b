"""``pamm demo``: open the dashboard on the bundled demo (or another analysis run).

Runs ``streamlit run app/streamlit_app.py`` headless on port 8501. The demo analysis
run (``$PAMM_RUNS_ROOT/demo``) is computed once, in a background process the first page
view starts (:mod:`app.first_start`; every page shows its progress), then reused;
``--prepare`` computes it in the terminal instead (same lock) and exits.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["APP_ENTRY", "add_arguments", "run", "streamlit_command"]

#: the dashboard's entry file (installed with the ``app`` package)
APP_ENTRY = Path(__file__).resolve().parent / "streamlit_app.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pamm demo``."""
    parser.add_argument(
        "--run",
        default=None,
        help="name of an analysis run under $PAMM_RUNS_ROOT (default: demo, built on first start)",
    )
    parser.add_argument("--port", type=int, default=8501, help="port to serve on (8501)")
    parser.add_argument(
        "--address",
        "--server.address",
        dest="address",
        default=None,
        help="address to bind (default: streamlit's; 0.0.0.0 in a container)",
    )
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="only compute the demo analysis run (with a progress bar) and exit",
    )


def streamlit_command(port: int, address: str | None = None) -> list[str]:
    """The ``streamlit run`` command line of the dashboard.

    Static serving is on so the 3D viewers load the vendored ``app/static/3Dmol-min.js``
    once instead of inlining 540 KB into every view.

    >>> streamlit_command(8501)[3:5] == ["run", str(APP_ENTRY)]
    True
    """
    if not 0 < port < 65536:
        raise ValueError(f"--port {port} is not a TCP port (1..65535)")
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(APP_ENTRY),
        "--server.headless", "true", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.enableStaticServing", "true",
    ]  # fmt: skip
    if address:
        cmd += ["--server.address", address]
    return cmd


def _prepare() -> int:
    from tqdm import tqdm

    from app.first_start import compute, demo_inputs
    from pamm.plumbing import configured_roots

    try:
        checkpoint, data = demo_inputs()
    except FileNotFoundError as err:
        print(f"pamm demo: {err}", file=sys.stderr)
        return 2
    out = configured_roots().runs / "demo"
    print(f"pamm demo: analysing {data} with {checkpoint.name} into {out}")
    with tqdm(total=1.0, unit="run", bar_format="{l_bar}{bar}| {desc}") as bar:

        def progress(fraction: float, message: str = "") -> None:
            bar.n = min(max(float(fraction), 0.0), 1.0)
            bar.set_description_str(message)
            bar.refresh()

        if not compute(out, progress, wait=True):
            print(f"pamm demo: {out} is there (computed earlier or by another process)")
    return 0


def run(args: argparse.Namespace) -> int:
    """Serve the dashboard (replaces this process with streamlit)."""
    if args.prepare:
        return _prepare()
    try:
        cmd = streamlit_command(args.port, args.address)
    except ValueError as err:
        print(f"pamm demo: {err}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if args.run:
        env["PAMM_RUN"] = args.run
    print(f"pamm demo: serving on http://{args.address or 'localhost'}:{args.port}", flush=True)
    os.execve(sys.executable, cmd, env)
    return 0  # not reached
