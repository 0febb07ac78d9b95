"""``layergrad demo``: the main job on built-in defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["HELP", "NAME", "add_parser", "run"]

NAME = "demo"
HELP = "run the main job on built-in defaults"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME, help=HELP,
        description="Write everything layergrad makes on its built-in defaults into one folder.",
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("out"), help="folder (default: out)")
    parser.add_argument("--force", action="store_true", help="replace files layergrad did not write")


def run(args: argparse.Namespace) -> int:
    from worksheets.demo import run as run_demo

    return 0 if run_demo(args.output, force=args.force) else 1
