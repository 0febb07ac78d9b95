"""``layergrad export``: write a NumPy module with every layer in a course API."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import defined_opts
from .habits import names, refuse

__all__ = ["HELP", "NAME", "add_parser", "run"]

NAME = "export"
HELP = "write a NumPy module with the layers in a course API"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME, help=HELP,
        description="Generate a module with every layer's forward and backward functions.",
    )
    parser.add_argument("--api", default="cs231n", choices=("cs231n",), help="function names and signatures")
    parser.add_argument("--dropout-p", choices=("keep", "drop"),
                        help="what dropout_param['p'] means: keep probability or drop rate")
    parser.add_argument("--layers", type=names, action="extend", metavar="NAME,NAME",
                        help="only these layers (default: every layer with generated code)")
    parser.add_argument("-o", "--output", required=True, type=Path, help="the .py file to write")
    parser.add_argument("--force", action="store_true", help="replace a file layergrad did not write")
    parser.add_argument("--teaching-loops", action="store_true",
                        help="back the *_naive functions (conv, max pooling) with literal loops that mirror "
                        "the derived formulas line by line (slow; for reading). Default: vectorized code")
    defined_opts.add(parser)


def run(args: argparse.Namespace) -> int:
    if args.define:
        return defined_opts.run(args)
    from numeric.export import TEACHING_LOOPS, module_source
    from numeric.files import write_output

    if args.layers is not None and not set(args.layers) & set(TEACHING_LOOPS):
        refuse({"--teaching-loops": args.teaching_loops}, f"to layers with loops: {', '.join(TEACHING_LOOPS)}")
    if args.dropout_p is None:
        from derive.errors import LayergradError

        raise LayergradError("--dropout-p keep|drop is required: what dropout_param['p'] means")
    source = module_source(args.api, args.dropout_p, args.layers, teaching_loops=args.teaching_loops)
    path = write_output(args.output, source, force=args.force)
    print(f"wrote {path} ({args.api} API, dropout p = {args.dropout_p} convention)")
    return 0
