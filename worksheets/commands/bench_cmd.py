"""``layergrad bench``: every performance claim in one table, measured side by side."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .habits import names, refuse

__all__ = ["HELP", "NAME", "add_parser", "run"]

NAME = "bench"
HELP = "measure every performance claim in one table"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME, help=HELP,
        description="Time generated code against hand-written NumPy, staged backward passes, literal "
        "loops and PyTorch (when installed), alternating the contenders and repeating until stable; "
        "print one Markdown table of medians, spreads, ratios to each row's reference, peak memory, "
        "fractions of this machine's limits measured in the same run, and a verdict per goal. "
        "Progress goes to standard error, the table to standard output.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes only (well under a minute)")
    parser.add_argument("--only", type=names, action="extend", metavar="NAME,NAME",
                        help="rows whose group or name matches (shell patterns allowed), e.g. dropout,batchnorm")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the measurements as JSON")
    parser.add_argument("--plot", type=Path, metavar="FILE", help="draw the measurements (.png, .svg or .pdf)")
    parser.add_argument("--readme", type=Path, metavar="FILE",
                        help="rewrite the measured block of FILE (between its layergrad bench markers, the rest "
                        "kept) from this run or from --from JSON")
    parser.add_argument("--from", dest="source", type=Path, metavar="JSON",
                        help="with --plot or --readme: use a report saved by --json instead of measuring")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="threads for NumPy's BLAS and PyTorch alike (default 1; 0: each library's default)")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument("--force", action="store_true", help="replace files layergrad did not write")


def _load(path: Path) -> dict:
    from derive.errors import LayergradError

    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LayergradError(f"cannot read benchmark report {path}: {exc}") from None
    if not isinstance(report, dict) or "rows" not in report or "layergrad_bench" not in report:
        raise LayergradError(f"{path} is not a report written by layergrad bench --json")
    return report


def run(args: argparse.Namespace) -> int:
    from derive.errors import LayergradError
    from numeric import bench
    from numeric.bench.table import format_table, machine_text
    from numeric.files import check_writable, write_output

    measuring = {"--quick": args.quick, "--only": args.only, "--threads": args.threads, "--json": args.json}
    if args.readme is not None:
        _readme_text(args.readme)  # refuse now, not after minutes of measuring
    if args.source is not None:
        refuse({**measuring, "--list": args.list}, "when measuring, not with --from (which uses a saved report)")
        if args.plot is None and args.readme is None:
            raise LayergradError("--from needs --plot FILE or --readme FILE (it uses a saved report)")
        report = _load(args.source)
        _outputs(report, args)
        return 0
    if args.list:
        refuse({"--threads": args.threads, "--json": args.json, "--plot": args.plot, "--force": args.force},
               "when measuring, not with --list")
    if args.plot is not None and args.plot.suffix.lstrip(".").lower() not in ("png", "svg", "pdf"):
        raise LayergradError(f"--plot {args.plot}: expected a file name ending in .png, .svg or .pdf")
    for target in (args.plot, args.json):  # refuse now, not after minutes of measuring
        if target is not None:
            check_writable(target, args.force)
    rows = bench.select(bench.all_rows(args.quick), args.only)
    if args.list:
        for row in rows:
            print(f"{row.group:10s} {row.name} {row.size} {row.dtype}: {', '.join(row.contenders)}")
        return 0
    if args.threads is not None and args.threads < 0:
        raise LayergradError(f"--threads {args.threads}: expected 0 (library defaults) or a positive count")
    threads = 1 if args.threads is None else args.threads or None
    started = time.time()
    info = bench.machine_info(threads)

    def progress(line: str) -> None:
        print(f"bench {line}", file=sys.stderr, flush=True)

    results = bench.run(rows, quick=args.quick, threads=threads, progress=progress)
    report = bench.to_json(results, args.quick, info, started)
    print(machine_text(report))
    print()
    print(format_table(report), end="")
    if args.json is not None:
        print(f"wrote {write_output(args.json, bench.dumps(report), args.force)}")
    _outputs(report, args)
    return 0


def _readme_text(path: Path) -> str:
    from derive.errors import LayergradError
    from numeric.bench.table import README_BEGIN, README_END

    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise LayergradError(f"--readme {path}: cannot read it: {exc}") from None
    if README_BEGIN not in text or README_END not in text:
        raise LayergradError(f"--readme {path}: no measured block; expected the lines {README_BEGIN} and {README_END}")
    return text


def _outputs(report: dict, args: argparse.Namespace) -> None:
    """The plot and the README's measured block, from a report just measured or loaded."""
    if args.plot is not None:
        from worksheets.bench_plot import plot

        print(f"wrote {plot(report, args.plot, args.force)}")
    if args.readme is not None:
        from numeric.bench.table import replace_measured
        from numeric.files import replace_text

        text = replace_measured(_readme_text(args.readme), report, f"--readme {args.readme}")
        print(f"wrote {replace_text(args.readme, text)}")
