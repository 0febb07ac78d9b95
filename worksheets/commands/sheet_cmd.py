"""``layergrad sheet NAME``: write a worksheet (solution and student versions) in every format."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import defined_opts

__all__ = ["NAME", "add_parser", "run"]

NAME = "sheet"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME, help="write a worksheet: solution and student versions, md/html/tex/pdf",
        description="Write a worksheet built from layergrad's derivations: the solution version (answers "
        "with every derivation step) and the student version (questions and room to answer), as Markdown, "
        "standalone HTML with MathML, LaTeX, and PDF when latexmk is installed.",
    )
    parser.add_argument("sheet", nargs="?", help="the sheet to write (see --list)")
    parser.add_argument("--list", action="store_true", help="list the sheets and exit")
    parser.add_argument("-o", "--output", type=Path, default=Path("out"), help="folder (default: out)")
    parser.add_argument("--format", default="md,html,tex,pdf",
                        help="comma-separated formats among md, html, tex, pdf (default: all)")
    parser.add_argument("--version", dest="versions", default="both", choices=("both", "solution", "student"),
                        help="which version to write (default: both)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--seed", type=int, help="write the randomized variant for this seed, with its answers")
    which.add_argument("--seeds", help="write one variant per seed, such as 1-300, and a CSV of all answer keys")
    parser.add_argument("--jobs", type=int, help="processes for --seeds (default: one per core)")
    fixed = parser.add_argument_group("variant sizes (question 3), drawn at random unless fixed here")
    fixed.add_argument("--input", metavar="HxW", help="input size, such as 5x5")
    fixed.add_argument("--filter", metavar="HHxWW", help="filter size, such as 3x3")
    fixed.add_argument("--stride", type=int, help="stride S")
    fixed.add_argument("--pad", type=int, help="zero padding P")
    parser.add_argument("--force", action="store_true", help="replace files layergrad did not write")
    defined_opts.add(parser)


def run(args: argparse.Namespace) -> int:
    from derive.errors import LayergradError
    from worksheets.document import VERSIONS
    from worksheets.formats import parse_formats, write_sheet
    from worksheets.sheets import SHEETS, sheet_entry

    if args.define:
        if args.sheet:
            raise LayergradError("give a sheet name or --define FILE, not both")
        return defined_opts.run(args)
    if args.list:
        for entry in SHEETS.values():
            print(f"{entry.name:12s} {entry.summary}")
        return 0
    if args.sheet is None:
        raise LayergradError("name a sheet to write (layergrad sheet --list shows them)")
    entry = sheet_entry(args.sheet)
    formats = parse_formats(args.format)
    versions = VERSIONS if args.versions == "both" else (args.versions,)
    if args.seed is None and args.seeds is None:
        fixed = [f"--{name}" for name in ("input", "filter", "stride", "pad") if getattr(args, name) is not None]
        if fixed:
            raise LayergradError(f"{', '.join(fixed)} fix the sizes of a randomized variant; give --seed N or "
                                 "--seeds A-B with them (the quiz itself has a 3×3 input and a 2×2 filter)")
        for path in write_sheet(entry.build(), args.output, formats, versions, args.force):
            print(f"wrote {path}")
        return 0
    if not entry.has_variants:
        raise LayergradError(f"sheet {entry.name!r} has no randomized variants; "
                             f"these do: {', '.join(e.name for e in SHEETS.values() if e.has_variants)}")
    from worksheets.variants import conv_choices, parse_seeds, parse_size, write_variants

    if args.jobs is not None and args.jobs < 1:
        raise LayergradError(f"--jobs must be at least 1, got {args.jobs}")
    seeds = parse_seeds(args.seeds) if args.seeds is not None else parse_seeds(str(args.seed))
    choices = conv_choices(parse_size(args.input, "--input"), parse_size(args.filter, "--filter"), args.stride,
                           args.pad)
    key = write_variants(seeds, args.output, formats, versions, args.force, args.jobs, choices=choices)
    print(f"wrote {len(seeds)} variant{'s' * (len(seeds) != 1)} of {entry.name} into {args.output}; "
          f"answer keys: {key}")
    return 0
