"""Check a module, a file or a folder of files: choose the functions, run their checks, report.

:func:`check_module` runs the checks in this process (for modules layergrad trusts, such as
its own exports). :func:`check_paths` treats the code as someone else's: it imports each file
in a child process (to learn which layer functions it defines), then runs each function's
check in its own child under :class:`~numeric.checks.isolation.Limits`, in parallel.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from derive.dropout import Convention
from derive.errors import LayergradError

from ..gradcheck import Verdict
from .isolation import Limits, Outcome, Progress, run_isolated
from .report import FunctionReport, ModuleReport
from .spec import REFUSED, Context, FunctionCheck, LayerChecks
from .table import TABLE

__all__ = ["Options", "check_module", "check_path", "check_paths", "load_module", "python_files"]


@dataclass(frozen=True)
class Options:
    """How to check: the dropout convention (never guessed), which functions, seed, limits, jobs."""

    convention: Convention | None = None
    only: tuple[str, ...] = ()
    seed: int = 0
    limits: Limits = field(default_factory=Limits)
    jobs: int | None = None
    table: tuple[LayerChecks, ...] = TABLE
    """The layers to check (every layer layergrad checks, unless told otherwise)."""
    reference: ModuleType | None = None
    """What to compare against instead of layergrad's generated code (e.g. a course's solution)."""

    @property
    def functions(self) -> dict[str, tuple[LayerChecks, FunctionCheck]]:
        """Function name → (its layer's entry, its check), in table order."""
        return {check.name: (layer, check) for layer in self.table for check in layer.functions}


def load_module(path: str | Path) -> ModuleType:
    """Import the Python file at ``path`` as a fresh module.

    A missing file or a module that fails to import raises :class:`LayergradError` whose
    message shows the import error in one readable block (the last lines of its traceback)."""
    path = Path(path)
    if not path.is_file():
        raise LayergradError(f"{path} is not a file; expected a Python module such as layers.py")
    name = f"_layergrad_checked_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LayergradError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # someone else's code: report whatever it raised
        if isinstance(exc, KeyboardInterrupt):
            raise
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
        where = f"\n  ({path.name}, line {frames[-1].lineno}: {(frames[-1].line or '').strip()})" if frames else ""
        lines = traceback.format_exception_only(type(exc), exc)
        raise LayergradError(f"{path} failed to import:\n  " + "  ".join(lines).rstrip() + where) from None
    finally:
        sys.path.remove(folder)
    return module


def _defined(module: ModuleType, options: Options) -> list[str]:
    return [name for name in options.functions if callable(getattr(module, name, None))]


def _selected(options: Options) -> set[str]:
    functions, only = options.functions, options.only
    known = {c.layer for c in options.table} | set(functions)
    unknown = [name for name in only if name not in known]
    if unknown:
        raise LayergradError(f"--only: unknown name {', '.join(unknown)}; expected a function or layer among "
                             f"{', '.join(sorted(known))}")
    return {name for name in functions if not only or name in only or functions[name][0].layer in only}


def _plan(path: str, defined: Sequence[str], declared: str | None, options: Options
          ) -> tuple[Convention | None, list[tuple[LayerChecks, FunctionCheck]], list[FunctionReport]]:
    """Which checks to run on a module defining ``defined``; skipped functions as reports."""
    wanted = _selected(options)
    chosen = [options.functions[name] for name in defined if name in wanted]
    if not chosen:
        expected = ", ".join(sorted(wanted))
        raise LayergradError(f"{path} defines no layer function layergrad can check"
                             f"{' among --only' if options.only else ''}; expected names such as {expected}")
    convention = options.convention or (Convention.parse(declared) if declared else None)
    runs, skipped = [], []
    for layer, check in chosen:
        missing = [name for name in check.needs if name not in defined]
        if missing:
            skipped.append(FunctionReport(check.name, layer.layer, status="skipped",
                                          note=f"needs {', '.join(missing)}, which the module does not define"))
        elif layer.needs_convention and convention is None:
            raise LayergradError(
                f"{path} defines {layer.layer} but not its convention; pass --dropout-p keep (p is the keep "
                "probability) or --dropout-p drop (p is the drop rate)")
        else:
            runs.append((layer, check))
    return convention, runs, skipped


def _run_check(check: FunctionCheck, layer: str, context: Context) -> FunctionReport:
    start = time.perf_counter()
    try:
        verdicts = check.run(context)
    except LayergradError as exc:  # the validation refused: say why
        verdicts = [Verdict(check.name, False, float("inf"), 0.0, "refused", mistake=REFUSED.key, diagnosis=str(exc))]
    return FunctionReport(check.name, layer, verdicts, seconds=time.perf_counter() - start)


def check_module(module: ModuleType, options: Options | Convention | str | None = None,
                 path: str | Path | None = None) -> ModuleReport:
    """Check, in this process, every layer function ``module`` defines (trusted code only);
    ``options`` may be just the dropout convention."""
    if not isinstance(options, Options):
        options = Options(convention=Convention.parse(options) if options is not None else None)
    label = str(path) if path is not None else module.__name__
    declared = getattr(module, "DROPOUT_CONVENTION", None)
    convention, runs, skipped = _plan(label, _defined(module, options), declared, options)
    context = Context(module, Path(path) if path is not None else None, convention, options.seed)
    if options.reference is not None:
        context.reference = options.reference
    reports = [_run_check(check, layer.layer, context) for layer, check in runs]
    return _module_report(label, reports + skipped, convention, options, declared)


def _module_report(label: str, reports: list[FunctionReport], convention: Convention | None,
                   options: Options, declared: str | None = None) -> ModuleReport:
    order = {name: k for k, name in enumerate(options.functions)}
    reports.sort(key=lambda r: order[r.name])
    note = ""
    if convention is not None and options.convention is not None and isinstance(declared, str) \
            and declared != convention.value:
        note = f"checked as --dropout-p {convention.value}, but the module declares DROPOUT_CONVENTION = {declared!r}"
    return ModuleReport(label, reports, convention.value if convention else None, note=note)


def _probe(path: str, options: Options) -> dict[str, Any]:
    """Child: import the file and say what it defines (or why it cannot be imported)."""
    try:
        module = load_module(path)
    except LayergradError as exc:
        return {"error": str(exc)}
    declared = getattr(module, "DROPOUT_CONVENTION", None)
    return {"defined": _defined(module, options), "convention": declared if isinstance(declared, str) else None}


def _check_in_child(path: str, function: str, convention: Convention | None, options: Options) -> dict[str, Any]:
    """Child: import the file afresh and run one function's check."""
    layer, check = options.functions[function]
    context = Context(load_module(path), Path(path), convention, options.seed)
    if options.reference is not None:
        context.reference = options.reference
    return _run_check(check, layer.layer, context).to_dict()


def check_paths(paths: Sequence[str | Path], options: Options = Options(), *, strict: bool = False,
                progress: Progress | None = None) -> list[ModuleReport]:
    """Check each file in child processes; a file that cannot be checked gets a report with ``error``
    (with ``strict``, a :class:`LayergradError` instead: a usage error for a single module)."""
    labels = [str(p) for p in paths]
    _selected(options)
    probes = run_isolated([(_probe, (label, options)) for label in labels], options.limits, options.jobs)
    reports: dict[int, ModuleReport] = {}
    tasks, owners = [], []
    plans: dict[int, tuple[Convention | None, list[FunctionReport]]] = {}
    declared: dict[int, str | None] = {}
    for k, (label, probe) in enumerate(zip(labels, probes)):
        try:
            if probe.failure:
                raise LayergradError(f"{label}: importing it {probe.failure}")
            if "error" in probe.value:
                raise LayergradError(probe.value["error"])
            convention, runs, skipped = _plan(label, probe.value["defined"], probe.value["convention"], options)
        except LayergradError as exc:
            if strict:
                raise
            reports[k] = ModuleReport(label, error=str(exc))
            continue
        plans[k] = (convention, skipped)
        declared[k] = probe.value["convention"]
        for _, check in runs:
            tasks.append((_check_in_child, (label, check.name, convention, options)))
            owners.append((k, check))
    remaining = {k: sum(1 for owner, _ in owners if owner == k) for k in plans}
    if progress is not None:
        progress.total = len(labels)
        for k in reports:
            progress.advance(Path(labels[k]).name)

    def done(index: int, outcome: Outcome) -> None:
        k = owners[index][0]
        remaining[k] -= 1
        if progress is not None and remaining[k] == 0:
            progress.advance(Path(labels[k]).name)

    outcomes = run_isolated(tasks, options.limits, options.jobs, on_done=done)
    results: dict[int, list[FunctionReport]] = {k: list(skipped) for k, (_, skipped) in plans.items()}
    for (k, check), outcome in zip(owners, outcomes):
        layer = options.functions[check.name][0].layer
        if outcome.failure:
            results[k].append(FunctionReport(check.name, layer, status="fail", note=f"{check.name} {outcome.failure}",
                                             seconds=outcome.seconds))
        else:
            results[k].append(FunctionReport.from_dict(outcome.value))
    for k, (convention, _) in plans.items():
        reports[k] = _module_report(labels[k], results[k], convention, options, declared[k])
    return [reports[k] for k in range(len(labels))]


def check_path(path: str | Path, options: Options = Options()) -> ModuleReport:
    """Check one file in child processes; a file that cannot be imported or checked raises."""
    return check_paths([path], options, strict=True)[0]


def python_files(folder: str | Path) -> list[Path]:
    """The modules in ``folder`` (not its subfolders), in name order."""
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.py") if p.is_file() and p.name != "__init__.py")
    if not files:
        raise LayergradError(f"{folder} holds no Python files to check; expected files such as layers.py")
    return files
