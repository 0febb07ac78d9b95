"""Check a module, a file or a folder of files: choose the functions, run their checks, report.

:func:`check_module` runs the checks in this process (for modules layergrad trusts, such as
its own exports). :func:`check_paths` treats the code as someone else's: it reads every file
first, then gives each its own child (:mod:`.remote`, :mod:`.isolation`) — a fresh, confined
interpreter — in which each function is imported afresh and called on the inputs the checks
send; the checks and their verdicts run here. Modules are checked in parallel (one thread
each drives its child), under budgets per function, per module and for the whole run
(:class:`~numeric.checks.isolation.Limits`).
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from derive.dropout import Convention
from derive.errors import LayergradError

from ..gradcheck import Verdict
from .isolation import Limits, Progress, Sandbox, kill_all
from .origin import MAX_SOURCE, remarks
from .remote import ChildFailed, RemoteModule, Session
from .report import FunctionReport, ModuleReport
from .spec import REFUSED, Context, FunctionCheck, LayerChecks, describe_facts
from .table import TABLE
from .text import clean

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
    strict: bool = False
    """Named warnings (a convention at a kink) fail the function."""
    sandbox: Sandbox | None = None
    """How to confine submissions (default: bubblewrap where it works, see :meth:`Sandbox.detect`)."""

    @property
    def functions(self) -> dict[str, tuple[LayerChecks, FunctionCheck]]:
        """Function name → (its layer's entry, its check), in table order."""
        return {check.name: (layer, check) for layer in self.table for check in layer.functions}


class _Reference:
    """A course's solution as the reference, with layergrad's generated code for what it does not define."""

    def __init__(self, solution: ModuleType, generated: ModuleType):
        self._solution, self._generated = solution, generated

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._solution, name, None)
        return found if found is not None else getattr(self._generated, name)


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
    context = Context(module, Path(path) if path is not None else None, convention, options.seed,
                      {"strict": options.strict})
    if options.reference is not None:
        context.reference = _Reference(options.reference, context.reference)  # type: ignore[assignment]
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


CONSTANTS = ("DROPOUT_CONVENTION", "CONV_DILATION")
"""Module-level constants the checks read (plain values, sent by the child)."""


def _snapshot(path: Path) -> bytes | str:
    """The file's bytes, read before any submission runs (so none can change another's), or why not."""
    try:
        if path.is_symlink():  # a link to one of the instructor's files would be read (and shown) as a submission
            return f"{clean(str(path))} is a symbolic link; not checked (copy the file instead)"
        if not path.is_file():
            return f"{clean(str(path))} is not a file; expected a Python module such as layers.py"
        if path.stat().st_size > MAX_SOURCE:
            return f"{clean(str(path))} is larger than {MAX_SOURCE // 2**20} MB; not a layer module"
        return path.read_bytes()
    except OSError as exc:
        return f"{clean(str(path))} cannot be read ({clean(exc.strerror or str(exc))})"


def _import_error(label: str, facts: dict[str, Any]) -> str:
    words = describe_facts(facts, "", Path(label).name).strip()
    return f"{label} failed to import: {words.removeprefix('raised ')}"


def _loaded(reply: dict[str, Any], options: Options) -> tuple[list[str], dict[str, Any], dict[str, str]]:
    """What a worker says the module defines, checked to be of the form asked for."""
    defined = reply.get("defined")
    constants, origins = reply.get("constants"), reply.get("origins")
    if not (isinstance(defined, list) and all(isinstance(n, str) and n in options.functions for n in defined)
            and isinstance(constants, dict) and isinstance(origins, dict)):
        raise ChildFailed("sent a malformed answer to the import")
    constants = {k: v for k, v in constants.items() if k in CONSTANTS and isinstance(v, bool | int | float | str)}
    return defined, constants, {k: v for k, v in origins.items() if isinstance(v, str)}


@dataclass
class _Budget:
    """The deadlines a module's checks run under, and the words for each."""

    limits: Limits
    run_deadline: float

    def __post_init__(self) -> None:
        self.module_deadline = min(time.monotonic() + self.limits.module_budget, self.run_deadline)

    def spent(self) -> str:
        """Why no more function may run (empty while time is left)."""
        if time.monotonic() < self.module_deadline:
            return ""
        if self.module_deadline >= self.run_deadline:
            return "was not run: the whole check used up its time budget (--run-timeout)"
        return (f"was not run: the module used up its time budget of {self.limits.module_budget:g} s "
                "(--module-timeout)")

    def next(self) -> tuple[float, str]:
        """The deadline of the next function and the words if it is missed."""
        own = time.monotonic() + self.limits.timeout
        if own <= self.module_deadline:
            return own, f"did not finish within {self.limits.timeout:g} s (an endless loop?); --timeout sets the limit"
        if self.module_deadline >= self.run_deadline:
            return self.run_deadline, "did not finish before the whole check's time budget ran out (--run-timeout)"
        return self.module_deadline, (f"did not finish before the module's time budget of "
                                      f"{self.limits.module_budget:g} s ran out (--module-timeout)")


def _check_remote(label: str, source: bytes, options: Options, sandbox: Sandbox, run_deadline: float,
                  strict: bool) -> ModuleReport:
    """Check one submission in its own child; every verdict is computed here."""
    budget = _Budget(options.limits, run_deadline)
    session = Session(source, sandbox, options.limits)
    names = list(options.functions)
    try:
        try:
            deadline, late = budget.next()
            worker = session.worker(deadline, late)
            reply = worker.load(names, CONSTANTS)
            worker.end()
            if "import_error" in reply and isinstance(reply["import_error"], dict):
                raise LayergradError(_import_error(label, reply["import_error"]))
            defined, constants, origins = _loaded(reply, options)
            declared = constants.get("DROPOUT_CONVENTION")
            convention, runs, skipped = _plan(label, defined, declared, options)
        except ChildFailed as exc:
            return ModuleReport(label, error=f"{label}: importing it {exc.reason}")
        except LayergradError as exc:
            return ModuleReport(label, error=str(exc))
        said = remarks(source, defined, origins)
        reports = list(skipped)
        for layer, check in runs:
            start = time.monotonic()
            spent = budget.spent()
            if spent:
                reports.append(FunctionReport(check.name, layer.layer, status="fail", note=f"{check.name} {spent}"))
                continue
            try:
                deadline, late = budget.next()
                worker = session.worker(deadline, late)
                reply = worker.load(names, CONSTANTS)
                if "import_error" in reply:
                    raise ChildFailed("failed to import this time (it did the first time)", broken=False)
                defined, constants, _ = _loaded(reply, options)
                module = RemoteModule(worker, defined, constants)
                context = Context(module, Path(label), convention, options.seed, {"strict": strict},  # type: ignore[arg-type]
                                  display=Path(label).name)
                if options.reference is not None:
                    context.reference = _Reference(options.reference, context.reference)  # type: ignore[assignment]
                report = _run_check(check, layer.layer, context)
                worker.end()
            except ChildFailed as exc:
                if exc.broken:
                    session.reset()
                report = FunctionReport(check.name, layer.layer, status="fail", note=f"{check.name} {exc.reason}",
                                        seconds=time.monotonic() - start)
            if check.name in said:
                report.remarks.append(said[check.name])
            reports.append(report)
        module = _module_report(label, reports, convention, options, declared)
        if reports and all(r.remarks for r in reports):  # an export, checked as it is: say it once
            for r in reports:
                r.remarks = ["reference-copy"]
            module.note = "; ".join(filter(None, [module.note, "reference-copy: every function is layergrad's own "
                                                  "code (an export or imported from layergrad): it passes, but it is "
                                                  "not the module's own work"]))
        return module
    finally:
        session.close()


def check_paths(paths: Sequence[str | Path], options: Options = Options(), *, strict: bool = False,
                progress: Progress | None = None) -> list[ModuleReport]:
    """Check each file, each in its own sandboxed child; a file that cannot be checked gets a report with
    ``error`` (with ``strict``, a :class:`LayergradError` instead: a usage error for a single module).

    Every file is read before any runs; the reports come back in the order of ``paths``."""
    labels = [clean(str(p)) for p in paths]
    _selected(options)
    sandbox = options.sandbox or Sandbox.detect()
    sources = [_snapshot(Path(p)) for p in paths]
    limits = options.limits
    run_deadline = time.monotonic() + limits.run_timeout if limits.run_timeout is not None else math.inf
    if progress is not None:
        progress.total = len(labels)

    def one(k: int) -> ModuleReport:
        source = sources[k]
        try:
            if isinstance(source, str):
                return ModuleReport(labels[k], error=source)
            return _check_remote(labels[k], source, options, sandbox, run_deadline, options.strict)
        except Exception as exc:  # the checker's own failure on one module must not cost the others theirs
            return ModuleReport(labels[k], error=f"the checker failed on this module ({type(exc).__name__}: "
                                                 f"{clean(str(exc))})")
        finally:
            if progress is not None:
                progress.advance(Path(labels[k]).name)

    jobs = max(1, options.jobs or os.cpu_count() or 1)
    try:
        with ThreadPoolExecutor(max_workers=min(jobs, len(labels)) or 1) as pool:
            reports = list(pool.map(one, range(len(labels))))
    except BaseException:
        kill_all()
        raise
    if strict:
        for report in reports:
            if report.error:
                raise LayergradError(report.error)
    return reports


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
