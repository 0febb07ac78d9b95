"""The ``layergrad`` command: parse arguments, dispatch, turn errors into one readable line.

Each subcommand is a module in :mod:`worksheets.commands` listed in :data:`COMMANDS`.
Exit codes: 0 success; 1 a check found a failure; 2 bad input or usage (with one line on
standard error saying what was wrong and what is expected, never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from derive.errors import LayergradError

from worksheets.commands import (
    bench_cmd,
    check_cmd,
    demo_cmd,
    derive_cmd,
    experiment_cmd,
    export_cmd,
    notebook_cmd,
    sheet_cmd,
)

__all__ = ["COMMANDS", "main"]

COMMANDS = (derive_cmd, export_cmd, check_cmd, sheet_cmd, notebook_cmd, experiment_cmd, demo_cmd, bench_cmd)

EPILOG = """examples:
  layergrad derive dropout --format markdown
  layergrad export --api cs231n --dropout-p keep -o layers.py
  layergrad check layers.py
  layergrad sheet quiz8 -o out
  layergrad notebook dropout --student -o nb && jupyter lab nb
  layergrad demo -o out
  layergrad bench --quick --json bench.json --plot bench.png"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("layergrad")
    except PackageNotFoundError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layergrad",
        description="Derive neural-network layers symbolically, generate NumPy code, check it, teach it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"layergrad {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handler = {command.NAME: command.run for command in COMMANDS}[args.command]
    try:
        return handler(args)
    except LayergradError as exc:
        print(f"layergrad {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("layergrad: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
