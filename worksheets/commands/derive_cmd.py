"""``layergrad derive LAYER``: print a layer's derivations, step by step."""

from __future__ import annotations

import argparse

from . import defined_opts

__all__ = ["NAME", "add_parser", "run"]

NAME = "derive"


def add_parser(commands: argparse._SubParsersAction) -> None:
    from derive.conv import EXAMPLES
    from derive.registry import LAYERS
    from derive.render import FORMATS

    parser = commands.add_parser(
        NAME, help="print a layer's derivations, step by step",
        description="Print every derivation of a layer with its assumptions, steps and rules.",
    )
    parser.add_argument("layer", nargs="?", help=f"one of: {', '.join(LAYERS)}")
    parser.add_argument("--format", default="text", choices=FORMATS, help="output format (default: text)")
    parser.add_argument("--dropout-p", choices=("keep", "drop"),
                        help="dropout only: show this convention (default: both)")
    parser.add_argument("--example", choices=EXAMPLES,
                        help="conv only: a worked example instead of the general layer "
                        "(quiz: Quiz 8's 3×3 input with a 2×2 filter, entry by entry)")
    parser.add_argument("--list", action="store_true", help="list the layers and exit")
    defined_opts.add(parser)


def run(args: argparse.Namespace) -> int:
    from derive.errors import LayergradError
    from derive.registry import LAYERS, layer
    from derive.render import render_all

    if args.define:
        return defined_opts.run(args)
    if args.list or args.layer is None:
        for entry in LAYERS.values():
            print(f"{entry.name:12s} {entry.summary}")
        return 0
    entry = layer(args.layer)
    options = {"convention": args.dropout_p} if args.dropout_p and entry.name == "dropout" else {}
    if args.example:
        if entry.name != "conv":
            raise LayergradError(f"--example is for the conv layer only, not {entry.name!r}")
        options = {"example": args.example}
    print(render_all(entry.derivations(**options), args.format, title=entry.name), end="")
    return 0
