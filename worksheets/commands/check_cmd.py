"""``layergrad check MODULE.py | DIR/``: check the layer functions of a module, or of every module in a folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import defined_opts
from .habits import names, refuse

__all__ = ["HELP", "NAME", "add_parser", "run"]

NAME = "check"
HELP = "check the layer functions a module (or every module in a folder) defines"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME, help=HELP,
        description="Check every course-API layer function in MODULE against layergrad's derived reference, "
        "finite differences with random upstream gradients, and dropout's statistics (binomial bounds); say in "
        "plain words what is wrong. Each module runs in a fresh, confined process (a bubblewrap sandbox where "
        "installed: no network, no view of your files) that only answers calls; every verdict is computed "
        "outside it, under time budgets per function, per module and for the whole run. "
        "With a folder, check every module in it in parallel, print each report, then write a summary "
        "table (CSV and JSON). "
        "Exit code 0: all pass; 1: a check failed; 2: usage error or the module cannot be imported.",
    )
    parser.add_argument("path", type=Path, metavar="MODULE|DIR", help="a Python file such as layers.py, or a folder")
    parser.add_argument("--dropout-p", choices=("keep", "drop"),
                        help="what dropout_param['p'] means in the module (read from exported modules)")
    parser.add_argument("--only", type=names, action="extend", metavar="NAME,NAME",
                        help="check only these functions or layers (e.g. dropout_backward,relu)")
    parser.add_argument("--reference", type=Path, metavar="SOLUTION.py",
                        help="compare with this module (a course's solution) instead of layergrad's generated code")
    parser.add_argument("--json", action="store_true", help="print a machine-readable report instead")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds allowed per function")
    parser.add_argument("--module-timeout", type=float, default=None, metavar="S",
                        help="seconds allowed per module, all functions together (default: 10 × --timeout + 30); "
                        "a module out of time fails its remaining functions without running them")
    parser.add_argument("--run-timeout", type=float, default=None, metavar="S",
                        help="seconds allowed for the whole check (default: no limit)")
    parser.add_argument("--strict", action="store_true",
                        help="named warnings fail the function (e.g. a ReLU gradient of 1 at x = 0)")
    parser.add_argument("--memory", type=int, default=1024, metavar="MB",
                        help="memory allowed per function (default 1024; the checks need far less)")
    parser.add_argument("--jobs", type=int, default=None, metavar="N", help="processes at once (default: cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the checks' random inputs")
    parser.add_argument("--summary", type=Path, metavar="STEM",
                        help="with a folder: write STEM.csv and STEM.json (default: DIR/layergrad-check)")
    parser.add_argument("--force", action="store_true",
                        help="with a folder: replace summary files layergrad did not write")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every check, not only failures")
    defined_opts.add(parser)


def run(args: argparse.Namespace) -> int:
    from derive.errors import LayergradError

    try:
        return defined_opts.run(args) if args.define else _check(args)
    except LayergradError as exc:
        if args.json:  # a machine reading stdout gets the error too; the readable line still goes to stderr
            print(json.dumps({"error": str(exc), "exit_code": 2}, ensure_ascii=False))
        raise


def _check(args: argparse.Namespace) -> int:
    from derive.dropout import Convention
    from derive.errors import LayergradError
    from numeric.checks import (
        Limits,
        Options,
        Progress,
        Sandbox,
        check_path,
        check_paths,
        load_module,
        python_files,
        summary_csv,
    )
    from numeric.checks.isolation import INSTALL_HINT
    from numeric.checks.text import clean
    from numeric.files import check_writable, write_output

    budgets = (args.timeout, args.module_timeout, args.run_timeout)
    if any(b is not None and b <= 0 for b in budgets) or args.memory <= 0 or (args.jobs is not None and args.jobs < 1):
        raise LayergradError("--timeout, --module-timeout, --run-timeout, --memory and --jobs must be positive")
    options = Options(
        convention=Convention.parse(args.dropout_p) if args.dropout_p else None,
        only=tuple(args.only or ()), seed=args.seed, jobs=args.jobs, strict=args.strict,
        limits=Limits(args.timeout, args.memory, args.module_timeout, args.run_timeout),
        reference=load_module(args.reference) if args.reference else None,
    )
    sandbox = Sandbox.detect()
    if not sandbox.bwrap:
        print(f"layergrad check: warning: {sandbox.reason}; {INSTALL_HINT}", file=sys.stderr)
    if not args.path.is_dir():
        refuse({"--summary": args.summary, "--force": args.force}, f"with a folder; {args.path} is not one")
        report = check_path(args.path, options)
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if args.json else report.text(args.verbose))
        return 0 if report.passed else 1
    files = python_files(args.path)
    stem = args.summary or args.path / "layergrad-check"
    targets = [check_writable(stem.with_suffix(suffix), args.force) for suffix in (".csv", ".json")]
    reports = check_paths(files, options, progress=Progress(len(files)))
    summary = {"folder": clean(str(args.path)), "passed": sum(r.passed for r in reports), "modules": len(reports),
               "reports": [r.to_dict() for r in reports]}
    if args.json:  # every report first, so nothing is lost if a summary file cannot be written
        print(json.dumps(summary, indent=2, ensure_ascii=False), flush=True)
    else:
        for report in reports:
            print(report.text(args.verbose), flush=True)
    csv_path = write_output(targets[0], summary_csv(reports, list(options.functions)), args.force)
    json_path = write_output(targets[1], json.dumps(summary, indent=2) + "\n", args.force)
    if not args.json:
        print(f"{summary['passed']} of {len(reports)} modules passed; summary: {csv_path}, {json_path}")
    return 0 if all(r.passed for r in reports) else 1
