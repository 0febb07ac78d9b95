"""The ``layergrad`` command: parse arguments, dispatch, turn errors into one readable line.

Exit codes: 0 success; 1 a check found a failure; 2 bad input or usage (with one line on
standard error saying what was wrong and what is expected, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from derive.errors import LayergradError

__all__ = ["main"]

EPILOG = """examples:
  layergrad derive dropout --format markdown
  layergrad export --api cs231n --dropout-p keep -o layers.py
  layergrad check layers.py
  layergrad demo -o out"""


def _parser() -> argparse.ArgumentParser:
    from derive.registry import LAYERS
    from derive.render import FORMATS

    parser = argparse.ArgumentParser(
        prog="layergrad",
        description="Derive neural-network layers symbolically, generate NumPy code, check it, teach it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"layergrad {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    derive = commands.add_parser(
        "derive", help="print a layer's derivations, step by step",
        description="Print every derivation of a layer with its assumptions, steps and rules.",
    )
    derive.add_argument("layer", nargs="?", help=f"one of: {', '.join(LAYERS)}")
    derive.add_argument("--format", default="text", choices=FORMATS, help="output format (default: text)")
    derive.add_argument("--dropout-p", choices=("keep", "drop"),
                        help="only this dropout convention (default: both)")
    derive.add_argument("--list", action="store_true", help="list the layers and exit")

    export = commands.add_parser(
        "export", help="write a NumPy module with the layers in a course API",
        description="Generate a module with every layer's forward and backward functions.",
    )
    export.add_argument("--api", default="cs231n", choices=("cs231n",), help="function names and signatures")
    export.add_argument("--dropout-p", required=True, choices=("keep", "drop"),
                        help="what dropout_param['p'] means: keep probability or drop rate")
    export.add_argument("-o", "--output", required=True, type=Path, help="the .py file to write")
    export.add_argument("--force", action="store_true", help="replace a file layergrad did not write")

    check = commands.add_parser(
        "check", help="check the layer functions a module defines",
        description="Check gradients (central differences, random upstream gradients), dropout "
        "statistics (binomial bounds) and conventions of every layer function in MODULE.",
    )
    check.add_argument("module", type=Path, help="a Python file such as layers.py")
    check.add_argument("--dropout-p", choices=("keep", "drop"),
                       help="the module's dropout convention (read from exported modules)")
    check.add_argument("--json", action="store_true", help="print a machine-readable report")

    demo = commands.add_parser(
        "demo", help="run the main job on built-in defaults",
        description="Derive every layer, export and check modules in both dropout conventions.",
    )
    demo.add_argument("-o", "--output", type=Path, default=Path("out"), help="folder (default: out)")
    demo.add_argument("--force", action="store_true", help="replace files layergrad did not write")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("layergrad")
    except PackageNotFoundError:
        return "unknown"


def _derive(args: argparse.Namespace) -> int:
    from derive.registry import LAYERS, layer
    from derive.render import render_all

    if args.list or args.layer is None:
        for entry in LAYERS.values():
            print(f"{entry.name:12s} {entry.summary}")
        return 0
    entry = layer(args.layer)
    options = {"convention": args.dropout_p} if args.dropout_p and entry.name == "dropout" else {}
    print(render_all(entry.derivations(**options), args.format, title=entry.name), end="")
    return 0


def _export(args: argparse.Namespace) -> int:
    from numeric.export import module_source
    from numeric.files import write_output

    path = write_output(args.output, module_source(args.api, args.dropout_p), force=args.force)
    print(f"wrote {path} ({args.api} API, dropout p = {args.dropout_p} convention)")
    return 0


def _check(args: argparse.Namespace) -> int:
    from numeric.checks import check_module, load_module

    verdicts = check_module(load_module(args.module), args.dropout_p)
    failed = [v for v in verdicts if not v.passed]
    if args.json:
        report = {
            "module": str(args.module),
            "passed": not failed,
            "checks": [v.__dict__ | {"where": list(v.where) if v.where else None} for v in verdicts],
        }
        print(json.dumps(report, indent=2))
    else:
        for v in verdicts:
            print(v.line())
        print(f"{len(verdicts) - len(failed)} of {len(verdicts)} checks passed")
    return 1 if failed else 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run

    return 0 if run(args.output, force=args.force) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handler = {"derive": _derive, "export": _export, "check": _check, "demo": _demo}[args.command]
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
