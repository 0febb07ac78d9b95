"""The ``layergrad`` command: parse arguments, dispatch, turn errors into one readable line.

Each subcommand is a module in :mod:`worksheets.commands` listed in :data:`COMMANDS`, with its
``NAME``, a one-line ``HELP``, ``add_parser(subparsers)`` and ``run(args) -> int``. Only the
subcommand being run builds its full parser, so ``layergrad --help`` imports nothing heavy.
Exit codes: 0 success; 1 a check found a failure; 2 bad input or usage (with one line on
standard error saying what was wrong and what is expected, never a traceback). The habits every
subcommand keeps are in :mod:`worksheets.commands.habits`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from derive.errors import LayergradError
from worksheets.commands import (
    autograder_cmd,
    bench_cmd,
    check_cmd,
    demo_cmd,
    derive_cmd,
    experiment_cmd,
    export_cmd,
    notebook_cmd,
    sheet_cmd,
)
from worksheets.commands.habits import QuietStdout

__all__ = ["COMMANDS", "main"]

COMMANDS = (derive_cmd, export_cmd, check_cmd, sheet_cmd, notebook_cmd, experiment_cmd, demo_cmd, bench_cmd,
            autograder_cmd)

EPILOG = """examples:
  layergrad derive dropout --format markdown
  layergrad export --api cs231n --dropout-p keep -o out/layers.py
  layergrad check examples/student_layers.py --dropout-p keep
  layergrad sheet quiz8 -o out
  layergrad notebook dropout --student -o out/nb && jupyter lab out/nb
  layergrad demo -o out
  layergrad bench --quick --json out/bench.json --plot out/bench.png
  layergrad autograder --gradescope --points points.toml -o autograder.zip

every subcommand: lists as NAME,NAME (or the option repeated); a flag that does not apply is an
error; exit code 0 done, 1 a check failed, 2 bad input (one line on standard error)."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("layergrad")
    except PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (reading package metadata takes time)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_) -> None:
        print(f"layergrad {_version()}")
        parser.exit()


def _parser(chosen: str | None) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The parser, with the full parser of the ``chosen`` subcommand and one-line stubs of the others."""
    parser = argparse.ArgumentParser(
        prog="layergrad",
        description="Derive neural-network layers symbolically, generate NumPy code, check it, teach it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        if chosen == command.NAME:
            command.add_parser(commands)
        else:
            commands.add_parser(command.NAME, help=command.HELP)
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    stdout, sys.stdout = sys.stdout, QuietStdout(sys.stdout)
    try:
        return _dispatch(argv)
    finally:
        sys.stdout.flush()
        sys.stdout = stdout


def _dispatch(argv: list[str]) -> int:
    chosen = next((word for word in argv if not word.startswith("-")), None)
    parser, commands = _parser(chosen)
    args, unknown = parser.parse_known_args(argv)
    if args.command is None:
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        parser.print_help()
        return 2
    if unknown:  # said by the subcommand's parser, with its usage
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
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
