"""``layergrad export``: write a NumPy module with every layer in a course API, or a whole course package."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import defined_opts
from .habits import names, refuse

__all__ = ["HELP", "NAME", "add_parser", "run"]

NAME = "export"
HELP = "write a NumPy module with the layers in a course API, or a whole course package"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME, help=HELP,
        description="Generate a module with every layer's forward and backward functions (-o FILE), or a "
        "complete course package (--package DIR: layers, layer_utils, classifiers, solver, optim, "
        "gradient_check, data_utils; NumPy only) that a course notebook imports.",
    )
    parser.add_argument("--api", default="cs231n", choices=("cs231n",), help="function names and signatures")
    parser.add_argument("--dropout-p", choices=("keep", "drop"),
                        help="what dropout_param['p'] means: keep probability or drop rate")
    parser.add_argument("--dropout-draw", choices=("ge", "lt"),
                        help="how the mask is drawn, rand = np.random.rand(*x.shape): 'ge' keeps where rand >= p "
                        "(drop rate only; the default for it: CS231n 2017, CS182), 'lt' where rand < p (keep) or "
                        "rand < 1 - p (drop rate: the cs6353 notebook). Same law, different seeded numbers")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("-o", "--output", type=Path, help="the .py file to write")
    target.add_argument("--package", type=Path, metavar="DIR",
                        help="write the course package DIR/NAME (see --name) instead of one module")
    parser.add_argument("--name", help="with --package: the package's name, what notebooks import (default: cs231n)")
    parser.add_argument("--layers", type=names, action="extend", metavar="NAME,NAME",
                        help="only these layers (default: every layer with generated code; not with --package)")
    parser.add_argument("--force", action="store_true", help="replace a file layergrad did not write")
    parser.add_argument("--teaching-loops", action="store_true",
                        help="back the *_naive functions (conv, max pooling) with literal loops that mirror "
                        "the derived formulas line by line (slow; for reading). Default: vectorized code")
    defined_opts.add(parser)


def run(args: argparse.Namespace) -> int:
    if args.define:
        return defined_opts.run(args)
    from derive.dropout import Draw, draw_text
    from numeric.export import TEACHING_LOOPS, module_source
    from numeric.files import write_output
    from numeric.package import write_package

    if args.dropout_p is None:
        from derive.errors import LayergradError

        raise LayergradError("--dropout-p keep|drop is required: what dropout_param['p'] means")
    draw = Draw.parse(args.dropout_draw, args.dropout_p)
    how = f"dropout p = {args.dropout_p} convention, mask drawn as {draw_text(args.dropout_p, draw)}"
    if args.package is not None:
        refuse({"--layers": args.layers}, "to a single module (-o FILE): a course package needs every layer")
        paths = write_package(args.package, args.name or "cs231n", args.api, args.dropout_p, draw,
                              args.teaching_loops, args.force)
        print(f"wrote the package {args.package / (args.name or 'cs231n')} ({len(paths)} files; {args.api} API, {how})")
        return 0
    refuse({"--name": args.name}, "to a package (--package DIR)")
    if args.layers is not None and not set(args.layers) & set(TEACHING_LOOPS):
        refuse({"--teaching-loops": args.teaching_loops}, f"to layers with loops: {', '.join(TEACHING_LOOPS)}")
    source = module_source(args.api, args.dropout_p, args.layers, teaching_loops=args.teaching_loops, draw=draw)
    path = write_output(args.output, source, force=args.force)
    print(f"wrote {path} ({args.api} API, {how})")
    return 0
