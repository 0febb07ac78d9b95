"""``layergrad notebook NAME``: write a Jupyter notebook for exploration (or its student version)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import defined_opts

__all__ = ["HELP", "NAME", "add_parser", "run"]

NAME = "notebook"
HELP = "write a Jupyter notebook: derivations, generated code, gradient checks, experiments"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME, help=HELP,
        description="Write an exploration notebook built from layergrad's derivations and generated code. "
        "Exercises use nbgrader's solution markers; --student writes the version without solutions. "
        "Open it with: jupyter lab DIR",
    )
    parser.add_argument("notebooks", nargs="*", metavar="NAME", help="notebooks to write, or 'all' (see --list)")
    parser.add_argument("--list", action="store_true", help="list the notebooks and exit")
    parser.add_argument("--student", action="store_true", help="write the student version (solutions removed)")
    parser.add_argument("--execute", action="store_true",
                        help="run the notebook top to bottom first, so that it opens with its outputs")
    parser.add_argument("-o", "--output", type=Path, default=Path("out"), help="folder (default: out)")
    parser.add_argument("--force", action="store_true", help="replace files layergrad did not write")
    defined_opts.add(parser)


def run(args: argparse.Namespace) -> int:
    if args.define:
        return defined_opts.run(args)
    from derive.errors import LayergradError
    from worksheets.jupyter import NOTEBOOKS, names, write_notebook

    if args.list:
        if args.notebooks:
            raise LayergradError(f"give notebooks or --list, not both (got {', '.join(args.notebooks)} and --list)")
        for entry in NOTEBOOKS.values():
            print(f"{entry.name:12s} {entry.summary}")
        return 0
    if not args.notebooks:
        raise LayergradError(f"name a notebook: {', '.join(NOTEBOOKS)} or all "
                             "(layergrad notebook --list describes them)")
    if args.student and args.execute:
        raise LayergradError("--student with --execute: a student notebook stops at its first exercise "
                             "(the stubs raise NotImplementedError until the student fills them in); "
                             "write it without --execute")
    for name in names(args.notebooks):
        path = write_notebook(name, args.output, student=args.student, run=args.execute, force=args.force)
        print(f"wrote {path}")
    print(f"open with: jupyter lab {args.output}")
    return 0
