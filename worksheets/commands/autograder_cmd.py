"""``layergrad autograder --gradescope|--otter -o BUNDLE``: the bundle a grading service runs per submission."""

from __future__ import annotations

import argparse
from pathlib import Path

from .habits import names

__all__ = ["HELP", "NAME", "add_parser", "run"]

NAME = "autograder"
HELP = "write a Gradescope or Otter-Grader autograder that runs layergrad check on every submission"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME, help=HELP,
        description="Write the bundle a grading service runs for every submission. --gradescope: a zip whose "
        "setup.sh installs layergrad and the sandbox and whose run_autograder runs `layergrad check --json` on "
        "the submitted module and writes results/results.json. --otter: Otter-Grader's layout (otter_config.json, "
        "tests/ with one test file per function), as a zip or a folder. Each function is one test (points from "
        "--points, one each by default; the named mistake as the test's output), or a visible and a hidden test "
        "when the points table gives both. --define FILE grades a layer defined in TOML instead of the built-in ones "
        "(the definition travels in the bundle). Set LAYERGRAD_AUTOGRADER_ROOT to run a bundle outside the service.",
    )
    service = parser.add_mutually_exclusive_group(required=True)
    service.add_argument("--gradescope", action="store_true", help="write Gradescope's autograder format")
    service.add_argument("--otter", action="store_true", help="write Otter-Grader's autograder format")
    parser.add_argument("-o", "--output", type=Path, default=Path("autograder.zip"),
                        help="the zip to write (default: autograder.zip); with --otter, a folder if the name does "
                        "not end in .zip")
    parser.add_argument("--points", type=Path, metavar="FILE",
                        help="points per function: JSON or TOML (name = points, or a table with visible and hidden "
                        "entries, each points or {points, visibility}) or CSV (function,points or "
                        "function,visible,hidden); functions it does not list are worth 1 point")
    parser.add_argument("--visibility", choices=("visible", "hidden", "after_due_date", "after_published"),
                        default="visible", help="when students see the tests' results unless the points table says "
                        "(default: visible; hidden tests: after_due_date)")
    parser.add_argument("--submission", default="layers.py", metavar="FILE",
                        help="the file students submit (default: layers.py)")
    parser.add_argument("--dropout-p", choices=("keep", "drop"),
                        help="what dropout_param['p'] means in the assignment, passed to layergrad check")
    parser.add_argument("--only", type=names, action="extend", metavar="NAME,NAME",
                        help="grade only these functions or layers")
    parser.add_argument("--strict", action="store_true",
                        help="named warnings fail the function (passed to layergrad check)")
    parser.add_argument("--install", metavar="REQUIREMENT",
                        help="what setup.sh installs with pip (default: this version of layergrad)")
    parser.add_argument("--wheel", type=Path, metavar="FILE.whl",
                        help="ship this layergrad wheel in the bundle and install it from there")
    parser.add_argument("--force", action="store_true", help="replace a file layergrad did not write")
    parser.add_argument("--define", action="append", type=Path, metavar="FILE",
                        help="grade the functions of a layer defined in a TOML file (see examples/layers) instead "
                        "of the built-in ones, or of every .toml file in a folder; repeatable. The definitions "
                        "travel in the bundle and each submission is checked with layergrad check --define")


def run(args: argparse.Namespace) -> int:
    from derive.errors import LayergradError
    from worksheets.autograder import read_points, write_bundle

    if args.install is not None and args.wheel is not None:
        raise LayergradError("give --install or --wheel, not both")
    definitions = _definitions(args) if args.define else {}
    check_args = [*(["--dropout-p", args.dropout_p] if args.dropout_p else []),
                  *(["--only", ",".join(args.only)] if args.only else []),
                  *(["--strict"] if args.strict else [])]
    points = read_points(args.points) if args.points else {}
    service = "otter" if args.otter else "gradescope"
    if service == "otter" and not points and args.only:
        points = {name: 1.0 for name in _functions(args.only)}
    path = write_bundle(args.output, service, args.force, points=points, visibility=args.visibility,
                        submission=args.submission, check_args=check_args, install=args.install, wheel=args.wheel,
                        definitions=definitions)
    if service == "gradescope":
        print(f"wrote {path}: upload it as the assignment's autograder on Gradescope")
    else:
        print(f"wrote {path}: the assignment's Otter-Grader autograder (otter run, or Gradescope)")
    return 0


def _functions(only: list[str]) -> list[str]:
    """The checker's functions that ``--only`` names (a layer names all of its functions)."""
    from derive.errors import LayergradError
    from numeric.checks import FUNCTIONS

    found = [name for name, (layer, _) in FUNCTIONS.items() if name in only or layer.layer in only]
    unknown = [n for n in only if n not in FUNCTIONS and all(layer.layer != n for layer, _ in FUNCTIONS.values())]
    if unknown:
        raise LayergradError(f"--only: unknown name {', '.join(unknown)}; expected a function or layer that "
                             "layergrad check knows")
    return found


def _definitions(args: argparse.Namespace) -> dict[str, str]:
    """The bundle's definition files (:func:`worksheets.autograder.definition_files`); the options
    that only the built-in layers' checks take are refused."""
    from derive.errors import LayergradError
    from worksheets.autograder import definition_files

    from .defined_opts import files

    for option in ("dropout_p", "only", "strict"):
        if getattr(args, option):
            raise LayergradError(f"--define grades the defined layers' functions; give it without "
                                 f"--{option.replace('_', '-')}")
    return definition_files(files(args.define))
