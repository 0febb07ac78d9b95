"""``layergrad autograder --gradescope -o autograder.zip``: the bundle a grading service runs per submission."""

from __future__ import annotations

import argparse
from pathlib import Path

from .habits import names

__all__ = ["HELP", "NAME", "add_parser", "run"]

NAME = "autograder"
HELP = "write a Gradescope autograder that runs layergrad check on every submission"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME, help=HELP,
        description="Write the zip Gradescope runs for every submission: setup.sh installs layergrad and the "
        "sandbox, run_autograder runs `layergrad check --json` on the submitted module and writes "
        "results/results.json with one test per function (points from --points, one each by default; the "
        "named mistake as the test's output). Set LAYERGRAD_AUTOGRADER_ROOT to run it outside Gradescope.",
    )
    parser.add_argument("--gradescope", action="store_true", required=True,
                        help="the service to write for (Gradescope's autograder format)")
    parser.add_argument("-o", "--output", type=Path, default=Path("autograder.zip"),
                        help="the zip to write (default: autograder.zip)")
    parser.add_argument("--points", type=Path, metavar="FILE",
                        help="points per function: JSON or TOML (name = points) or CSV (function,points); "
                        "functions it does not list are worth 1 point")
    parser.add_argument("--visibility", choices=("visible", "hidden", "after_due_date", "after_published"),
                        default="visible", help="when students see the tests' results (default: visible)")
    parser.add_argument("--submission", default="layers.py", metavar="FILE",
                        help="the file students submit (default: layers.py)")
    parser.add_argument("--dropout-p", choices=("keep", "drop"),
                        help="what dropout_param['p'] means in the assignment, passed to layergrad check")
    parser.add_argument("--only", type=names, action="extend", metavar="NAME,NAME",
                        help="grade only these functions or layers")
    parser.add_argument("--install", metavar="REQUIREMENT",
                        help="what setup.sh installs with pip (default: this version of layergrad)")
    parser.add_argument("--wheel", type=Path, metavar="FILE.whl",
                        help="ship this layergrad wheel in the bundle and install it from there")
    parser.add_argument("--force", action="store_true", help="replace a file layergrad did not write")


def run(args: argparse.Namespace) -> int:
    from derive.errors import LayergradError
    from worksheets.autograder import read_points, write_gradescope_bundle

    if args.install is not None and args.wheel is not None:
        raise LayergradError("give --install or --wheel, not both")
    check_args = [*(["--dropout-p", args.dropout_p] if args.dropout_p else []),
                  *(["--only", ",".join(args.only)] if args.only else [])]
    points = read_points(args.points) if args.points else {}
    path = write_gradescope_bundle(args.output, args.force, points=points, visibility=args.visibility,
                                   submission=args.submission, check_args=check_args, install=args.install,
                                   wheel=args.wheel)
    print(f"wrote {path}: upload it as the assignment's autograder on Gradescope")
    return 0
