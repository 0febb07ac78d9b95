"""``layergrad sheet NAME``: write a worksheet (solution and student versions) in every format."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import defined_opts
from .habits import names, refuse

__all__ = ["HELP", "NAME", "add_parser", "run"]

NAME = "sheet"
HELP = "write a worksheet: solution and student versions, md/html/tex/pdf"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME, help=HELP,
        description="Write a worksheet built from layergrad's derivations: the solution version (answers "
        "with the steps that justify them; --detail full adds every checked step) and the student version "
        "(questions and room to answer), as Markdown, standalone HTML with MathML, LaTeX, and PDF when LaTeX "
        "is installed.",
    )
    parser.add_argument("sheet", nargs="?", help="the sheet to write (see --list)")
    parser.add_argument("--list", action="store_true", help="list the sheets and exit")
    parser.add_argument("-o", "--output", type=Path, default=Path("out"), help="folder (default: out)")
    parser.add_argument("--format", type=names, action="extend", metavar="FORMAT,FORMAT",
                        help="among md, html, tex, pdf (default: all that this machine can produce; "
                        "pdf needs LaTeX)")
    version = parser.add_mutually_exclusive_group()
    version.add_argument("--student", action="store_true", help="only the student version (default: both)")
    version.add_argument("--solution", action="store_true", help="only the solution version (default: both)")
    parser.add_argument("--detail", default="concise", choices=("concise", "full"),
                        help="concise: an answer key, each answer with the steps that justify it (default); "
                        "full: the same, then every checked step with its rule and assumptions in an appendix")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--seed", type=int, help="write the randomized variant for this seed, with its answers")
    which.add_argument("--seeds", help="write one variant per seed, such as 1-300, and a CSV of all answer keys")
    parser.add_argument("--jobs", type=int, help="processes for --seeds (default: one per core)")
    parser.add_argument("--lms", type=names, action="extend", metavar="FORMAT,FORMAT",
                        help="with --seeds (quiz8, batchnorm): also write the variants' numerical questions for "
                        "an LMS, among moodle (Moodle XML) and qti (a QTI 1.2 package Canvas imports)")
    fixed = parser.add_argument_group("variant sizes (question 3), drawn at random unless fixed here")
    fixed.add_argument("--input", metavar="HxW", help="input size, such as 5x5")
    fixed.add_argument("--filter", metavar="HHxWW", help="filter size, such as 3x3")
    fixed.add_argument("--stride", type=int, help="stride S")
    fixed.add_argument("--pad", type=int, help="zero padding P")
    parser.add_argument("--force", action="store_true", help="replace files layergrad did not write")
    defined_opts.add(parser)


def run(args: argparse.Namespace) -> int:
    if args.define:
        return defined_opts.run(args)
    from derive.errors import LayergradError
    from worksheets.formats import producible, write_sheet
    from worksheets.sheets import SHEETS, sheet_entry

    if args.list:
        if args.sheet is not None:
            raise LayergradError(f"give a sheet or --list, not both (got {args.sheet!r} and --list)")
        for entry in SHEETS.values():
            print(f"{entry.name:12s} {entry.summary}")
        return 0
    if args.sheet is None:
        raise LayergradError(f"name a sheet: {', '.join(SHEETS)} (layergrad sheet --list describes them)")
    entry = sheet_entry(args.sheet)
    formats = producible(args.format)
    versions = ("student",) if args.student else ("solution",) if args.solution else ("solution", "student")
    if args.seeds is None:
        refuse({"--jobs": args.jobs, "--lms": args.lms}, "with --seeds")
    if args.seed is None and args.seeds is None:
        refuse({"--input": args.input, "--filter": args.filter, "--stride": args.stride, "--pad": args.pad},
               "with --seed N or --seeds A-B: they fix the sizes of a randomized variant (the quiz itself "
               "has a 3×3 input and a 2×2 filter)")
        for path in write_sheet(entry.build(), args.output, formats, versions, args.force,
                                detail=args.detail):
            print(f"wrote {path}")
        return 0
    if not entry.has_variants:
        raise LayergradError(f"sheet {entry.name!r} has no randomized variants; "
                             f"these do: {', '.join(e.name for e in SHEETS.values() if e.has_variants)}")
    from worksheets.lms import LMS_FILES, SHEET_KINDS, write_lms
    from worksheets.variants import MAX_SEED, conv_choices, parse_seeds, parse_size, write_variants

    unknown = sorted(set(args.lms or ()) - set(LMS_FILES))
    if unknown:
        raise LayergradError(f"unknown --lms format {', '.join(unknown)}; expected among {', '.join(LMS_FILES)}")

    if args.lms and entry.name not in SHEET_KINDS:
        raise LayergradError(f"sheet {entry.name!r} has no LMS questions; these do: {', '.join(SHEET_KINDS)}")
    if args.jobs is not None and args.jobs < 1:
        raise LayergradError(f"--jobs must be at least 1, got {args.jobs}")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise LayergradError(f"--seed {args.seed}: expected a whole number from 0 to {MAX_SEED:,}")
    seeds = parse_seeds(args.seeds) if args.seeds is not None else [args.seed]
    if entry.name != "quiz8":
        refuse({"--input": args.input, "--filter": args.filter, "--stride": args.stride, "--pad": args.pad},
               f"with quiz8's variants: sheet {entry.name!r} has no convolution question")
    choices = conv_choices(parse_size(args.input, "--input"), parse_size(args.filter, "--filter"), args.stride,
                           args.pad)
    key = write_variants(seeds, args.output, formats, versions, args.force, args.jobs, choices=choices,
                         sheet=entry.name, detail=args.detail)
    print(f"wrote {len(seeds)} variant{'s' * (len(seeds) != 1)} of {entry.name} into {args.output}; "
          f"answer keys: {key}")
    for kind in dict.fromkeys(args.lms or ()):
        print(f"wrote {write_lms(kind, seeds, args.output, args.force, choices, sheet=entry.name)}")
    return 0
