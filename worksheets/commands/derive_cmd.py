"""``layergrad derive LAYER``: print a layer's derivations, step by step."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "NAME", "add_parser", "run"]

NAME = "derive"
HELP = "print a layer's derivations, step by step"


def add_parser(commands: argparse._SubParsersAction) -> None:
    from derive.conv import EXAMPLES
    from derive.registry import LAYERS
    from derive.render import FORMATS

    parser = commands.add_parser(
        NAME, help=HELP,
        description="Print every derivation of a layer with its assumptions, steps and rules.",
    )
    parser.add_argument("layer", nargs="?", help=f"one of: {', '.join(LAYERS)}")
    parser.add_argument("--format", default="text", choices=FORMATS, help="output format (default: text)")
    parser.add_argument("--dropout-p", choices=("keep", "drop"),
                        help="dropout only: show this convention (default: both)")
    parser.add_argument("--dropout-draw", choices=("ge", "lt"),
                        help="dropout with --dropout-p: the mask draw the forward pass states (ge: rand >= p, the "
                        "drop rate's default; lt: rand < p or rand < 1 - p)")
    parser.add_argument("--example", choices=EXAMPLES,
                        help="conv only: a worked example instead of the general layer "
                        "(quiz: Quiz 8's 3×3 input with a 2×2 filter, entry by entry)")
    parser.add_argument("--list", action="store_true", help="list the layers and exit")


def run(args: argparse.Namespace) -> int:
    from derive.errors import LayergradError
    from derive.registry import LAYERS, layer
    from derive.render import render_all

    from .habits import refuse

    if args.list:
        if args.layer is not None:
            raise LayergradError(f"give a layer or --list, not both (got {args.layer!r} and --list)")
        refuse({"--dropout-p": args.dropout_p, "--dropout-draw": args.dropout_draw, "--example": args.example},
               "to a layer's derivations, not to --list")
        for entry in LAYERS.values():
            print(f"{entry.name:12s} {entry.summary}")
        return 0
    if args.layer is None:
        raise LayergradError(f"name a layer: {', '.join(LAYERS)} (layergrad derive --list describes them)")
    entry = layer(args.layer)
    if entry.name != "dropout":
        refuse({"--dropout-p": args.dropout_p, "--dropout-draw": args.dropout_draw},
               f"to the dropout layer, not {entry.name}")
    if not args.dropout_p:
        refuse({"--dropout-draw": args.dropout_draw}, "with --dropout-p keep or drop")
    if entry.name != "conv":
        refuse({"--example": args.example}, f"to the conv layer, not {entry.name}")
    options = {"convention": args.dropout_p} if args.dropout_p else {}
    if args.dropout_draw:
        options["draw"] = args.dropout_draw
    if args.example:
        options = {"example": args.example}
    print(render_all(entry.derivations(**options), args.format, title=entry.name), end="")
    return 0
