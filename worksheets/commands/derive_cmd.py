"""``layergrad derive LAYER``: print a layer's derivations, step by step; with ``--audit``, how
each step is justified and whether every mutant of it is refused (:mod:`derive.audit`)."""

from __future__ import annotations

import argparse

from . import defined_opts

__all__ = ["HELP", "NAME", "add_parser", "audit_layers", "run"]

NAME = "derive"
HELP = "print a layer's derivations, step by step"


def add_parser(commands: argparse._SubParsersAction) -> None:
    from derive.choices import EXAMPLES, FORMATS, LAYER_NAMES

    parser = commands.add_parser(
        NAME, help=HELP,
        description="Print every derivation of a layer with its assumptions, steps and rules.",
    )
    parser.add_argument("layer", nargs="?", help=f"one of: {', '.join(LAYER_NAMES)}")
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
    parser.add_argument("--audit", action="store_true",
                        help="audit every derivation of the layer (every layer when none is named): how each "
                        "step is justified, and four mutants of each step (sign, swapped indices, factor 2, "
                        "dropped term), all of which must be refused; exit 1 if a step rests on a bare "
                        "assumption or a mutant survives (with --define, the defined layers' derivations)")
    defined_opts.add(parser)


def run(args: argparse.Namespace) -> int:
    if args.define:
        return defined_opts.run(args)
    from derive.errors import LayergradError
    from derive.registry import LAYERS, layer
    from derive.render import render_all

    from .habits import refuse

    if args.audit:
        if args.list:
            raise LayergradError("give --audit or --list, not both")
        return _audit(args)
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


def _shipped(entry, args: argparse.Namespace) -> list:
    """Every derivation the layer ships: every convention, and conv's worked example too."""
    from derive.conv import EXAMPLES

    if args.example:
        return entry.derivations(example=args.example)
    if args.dropout_p and entry.name == "dropout":
        return entry.derivations(convention=args.dropout_p)
    out = entry.derivations()
    if entry.name == "conv":
        for example in EXAMPLES:
            out += entry.derivations(example=example)
    return out


def _audit(args: argparse.Namespace) -> int:
    from derive.errors import LayergradError
    from derive.registry import LAYERS, layer

    if args.example and args.layer != "conv":
        raise LayergradError("--example is for the conv layer only")
    entries = [layer(args.layer)] if args.layer else list(LAYERS.values())
    return audit_layers([(entry.name, _shipped(entry, args)) for entry in entries])


def audit_layers(layers: list[tuple[str, list]]) -> int:
    """Audit every derivation of every ``(name, derivations)``, print each step's line and the
    totals; 0 when no step rests on a bare assumption and no mutant survives, else 1."""
    from derive.audit import audit, summary

    every = []
    for name, derivations in layers:
        audits = [audit(d) for d in derivations]
        every += audits
        print(f"{name}\n{'=' * len(name)}")
        for a in audits:
            print(f"{a.title}")
            for s in a.steps:
                print(f"  {s.line()}")
        print(_totals(name, summary(audits)) + "\n", flush=True)
    total = summary(every)
    if len(layers) > 1:
        print(_totals("all layers", total))
    return 0 if total["bare"] == 0 and total["survived"] == 0 else 1


def _totals(name: str, t: dict[str, int]) -> str:
    share = f" ({100 * t['refused'] / t['mutants']:.0f} %)" if t["mutants"] else ""
    return (f"{name}: {t['derivations']} derivations, {t['steps']} steps — {t['prover']} proved by a prover, "
            f"{t['equation']} by a declared equation, {t['bare']} on a bare assumption; mutants: {t['mutants']} "
            f"tried, {t['refused']} refused{share}, {t['survived']} survived; {t['skipped']} alterations "
            "skipped as no-ops")
