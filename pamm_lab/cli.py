"""The ``pamm`` command: a thin dispatcher over per-command modules of every layer.

Each command lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported lazily so ``pamm --help`` stays fast and a
command's heavy dependencies load only when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: command name -> (module path, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("app.demo_cli", "open the dashboard on the bundled demo (or a given run)"),
    "generate": ("pamm.data.generate_cli", "generate a synthetic dataset (oxide demo data)"),
    "train": ("pamm.train_cli", "train a PaMM/baseline model with fairchem's CLI"),
    "attach": ("pamm.attach_cli", "add zero-initialised PaMM memory to an eSCN-MD checkpoint"),
    "analyze": ("analysis.cli", "write an analysis run directory for the dashboard"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(prog="pamm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_module_path, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pamm`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    top = build_parser()
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        top.parse_args(argv)  # prints help or a clear "invalid choice" error
        return 2
    name, rest = argv[0], argv[1:]
    module_path, help_text = COMMANDS[name]
    try:
        module = importlib.import_module(module_path)
    except ModuleNotFoundError as err:
        if err.name and module_path.startswith(err.name):
            print(f"pamm {name}: not available in this installation ({err})", file=sys.stderr)
            return 2
        raise
    parser = argparse.ArgumentParser(prog=f"pamm {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
