"""``layergrad sheet NAME``: write a worksheet (solution and student versions) in every format."""

from __future__ import annotations

import argparse
from pathlib import Path

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
    parser.add_argument("--force", action="store_true", help="replace files layergrad did not write")


def run(args: argparse.Namespace) -> int:
    from derive.errors import LayergradError
    from worksheets.document import VERSIONS
    from worksheets.formats import parse_formats, write_sheet
    from worksheets.sheets import SHEETS, sheet_entry

    if args.list:
        for entry in SHEETS.values():
            print(f"{entry.name:12s} {entry.summary}")
        return 0
    if args.sheet is None:
        raise LayergradError("name a sheet to write (layergrad sheet --list shows them)")
    entry = sheet_entry(args.sheet)
    formats = parse_formats(args.format)
    versions = VERSIONS if args.versions == "both" else (args.versions,)
    paths = write_sheet(entry.build(), args.output, formats, versions, args.force)
    for path in paths:
        print(f"wrote {path}")
    return 0
