"""``layergrad check MODULE``: check the layer functions a module defines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["NAME", "add_parser", "run"]

NAME = "check"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME, help="check the layer functions a module defines",
        description="Check gradients (central differences, random upstream gradients), dropout "
        "statistics (binomial bounds) and conventions of every layer function in MODULE. "
        "Exit code 0: all pass; 1: a check failed; 2: usage error or the module cannot be imported.",
    )
    parser.add_argument("module", type=Path, help="a Python file such as layers.py")
    parser.add_argument("--dropout-p", choices=("keep", "drop"),
                        help="the module's dropout convention (read from exported modules)")
    parser.add_argument("--json", action="store_true", help="print a machine-readable report")


def run(args: argparse.Namespace) -> int:
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
