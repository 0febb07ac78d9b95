"""``--define FILE``: the subcommands ``derive``, ``export``, ``check``, ``sheet`` and ``notebook``
for layers defined in a few lines (see :mod:`derive.define`) instead of built-in ones."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add", "files", "run"]


def add(parser: argparse.ArgumentParser) -> None:
    """Add ``--define FILE`` (repeatable) to a subcommand's parser."""
    parser.add_argument("--define", action="append", type=Path, metavar="FILE",
                        help="a layer defined in a TOML file (see examples/layers) instead of a built-in "
                        "one, or a folder (every .toml file in it and its subfolders); give it several times "
                        "for several layers")


def files(paths: list[Path]) -> list[Path]:
    """The definition files: each path given, a folder replaced by its ``.toml`` files (sorted,
    subfolders included)."""
    from derive.errors import LayergradError

    out = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.rglob("*.toml"))
            if not found:
                raise LayergradError(f"--define {path}: the folder holds no .toml definition")
            out += found
        else:
            out.append(path)
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``args.command`` for the defined layers."""
    from derive.errors import LayergradError
    from worksheets.defined import define

    command = args.command
    given = {"derive": ("layer", "dropout_p", "dropout_draw", "example", "list"), "sheet": ("sheet", "seed", "seeds"),
             "notebook": ("notebooks",), "export": ("layers", "dropout_p", "dropout_draw", "package", "name"),
             "check": ("dropout_p", "dropout_draw", "only")}
    for option in given.get(command, ()):
        if getattr(args, option, None):
            shown = "a name" if option in ("layer", "sheet", "notebooks") else "--" + option.replace("_", "-")
            raise LayergradError(f"--define FILE replaces the built-in layers: give it without {shown}")
    if command == "notebook" and args.student and args.execute:
        raise LayergradError("--student with --execute: the student notebook stops at its exercise; "
                             "write it without --execute")
    layers = [define(path) for path in files(args.define)]
    if command == "derive":
        from derive.render import render_all

        if args.audit:
            from .derive_cmd import audit_layers

            return audit_layers([(layer.name, layer.derivation()) for layer in layers])
        for layer in layers:
            print(render_all(layer.derivation(), args.format, title=layer.name), end="")
        return 0
    if command == "export":
        from numeric.defined_code import module_source
        from numeric.files import write_output

        shown = " ".join(f"--define {p}" for p in args.define)
        source = module_source([layer.definition for layer in layers],
                               command=f"layergrad export {shown} -o {args.output.name}")
        path = write_output(args.output, source, force=args.force)
        print(f"wrote {path} ({', '.join(layer.name for layer in layers)})")
        return 0
    if command == "check":
        from numeric.defined_check import check_file, module_report

        definitions = [layer.definition for layer in layers]
        verdicts = check_file(args.path, definitions, seed=args.seed, timeout=args.timeout)
        passed = sum(v.passed for v in verdicts)
        if getattr(args, "json", False):  # the built-in checker's report: what an autograder bundle reads
            import json

            report = module_report(args.path, definitions, verdicts)
            print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
            return 0 if report.passed else 1
        for verdict in verdicts:
            if args.verbose or not verdict.passed:
                print(verdict.line())
        print(f"{args.path}: {passed} of {len(verdicts)} checks passed")
        return 0 if passed == len(verdicts) else 1
    if command == "sheet":
        from worksheets import formats as chosen

        formats = (chosen.producible(args.format) if hasattr(chosen, "producible")
                   else chosen.parse_formats(args.format))
        if getattr(args, "student", False) or getattr(args, "solution", False):
            versions = ("student",) if args.student else ("solution",)
        else:
            which = getattr(args, "versions", "both")
            versions = ("solution", "student") if which == "both" else (which,)
        for layer in layers:
            for path in layer.sheet(args.output, formats, versions, args.force, detail=args.detail):
                print(f"wrote {path}")
        return 0
    if command == "notebook":
        for layer in layers:
            print(f"wrote {layer.notebook(args.output, student=args.student, run=args.execute, force=args.force)}")
        print(f"open with: jupyter lab {args.output}")
        return 0
    raise LayergradError(f"--define is not available for {command}")
