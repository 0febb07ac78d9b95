"""What the checker found, for people (a terminal report) and for programs (JSON, CSV).

A :class:`ModuleReport` holds one :class:`FunctionReport` per checked function; a function
passes when every verdict does. The terminal report shows each function's status and, for
each failed check, what was measured and the diagnosis in plain words; ``verbose`` shows
every check. :func:`summary_rows` turns many module reports into one table (who passes what).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..gradcheck import Verdict
from .text import cell, printable

__all__ = ["FunctionReport", "ModuleReport", "summary_csv", "summary_rows"]

STATUSES = ("pass", "fail", "skipped", "error")


@dataclass
class FunctionReport:
    """One function: ``pass`` / ``fail`` (a check failed, it crashed or timed out) / ``skipped``."""

    name: str
    layer: str
    verdicts: list[Verdict] = field(default_factory=list)
    status: str = ""
    note: str = ""
    seconds: float = 0.0
    remarks: list[str] = field(default_factory=list)
    """What the reader should know beyond the verdicts (e.g. the code is layergrad's own)."""

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "pass" if self.verdicts and all(v.passed for v in self.verdicts) else "fail"

    @property
    def warnings(self) -> list[str]:
        """Named warnings of passing checks (a convention at a kink, ...) and remarks, each once."""
        return list(dict.fromkeys([w for v in self.verdicts for w in v.warnings] + self.remarks))

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]

    @property
    def mistakes(self) -> list[str]:
        """The recognized mistakes, each once, in the order found."""
        return list(dict.fromkeys(v.mistake for v in self.failed if v.mistake))

    @property
    def diagnoses(self) -> list[str]:
        """What is wrong, in plain words, each once."""
        found = [v.diagnosis for v in self.failed if v.diagnosis]
        return list(dict.fromkeys(found + ([self.note] if self.status == "fail" and self.note else [])))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "layer": self.layer, "status": self.status, "note": self.note,
            "seconds": round(self.seconds, 3), "mistakes": self.mistakes, "diagnoses": self.diagnoses,
            "warnings": self.warnings, "remarks": self.remarks, "checks": [v.to_dict() for v in self.verdicts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FunctionReport:
        return cls(data["name"], data["layer"], [Verdict.from_dict(v) for v in data["checks"]],
                   data["status"], data.get("note", ""), data.get("seconds", 0.0), list(data.get("remarks", [])))

    def lines(self, verbose: bool = False) -> list[str]:
        count = len(self.verdicts)
        failed = len(self.failed)
        what = f"{count} check{'s' if count != 1 else ''}" + (f", {failed} failed" if failed else "")
        head = f"  {self.status.upper():7} {self.name}" + (f" ({what})" if count else "")
        out = [head]
        if self.note:
            out.append(f"          {self.note}")
        out += ["          " + v.line(method=verbose) for v in self.verdicts if verbose or not v.passed]
        out += [f"          → {words}" for words in self.diagnoses if words != self.note]
        out += [f"          note: {words}" for words in self.warnings if words != "reference-copy"]
        return out


@dataclass
class ModuleReport:
    """Every checked function of one module; ``error`` when the module could not be checked at all."""

    path: str
    functions: list[FunctionReport] = field(default_factory=list)
    convention: str | None = None
    error: str = ""
    note: str = ""
    """Something the reader should know about how the module was checked."""

    @property
    def passed(self) -> bool:
        return not self.error and all(f.status in ("pass", "skipped") for f in self.functions)

    @property
    def verdicts(self) -> list[Verdict]:
        return [v for f in self.functions for v in f.verdicts]

    def function(self, name: str) -> FunctionReport:
        return next(f for f in self.functions if f.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"module": self.path, "passed": self.passed, "dropout_convention": self.convention,
                "error": self.error or None, "note": self.note or None,
                "functions": [f.to_dict() for f in self.functions]}

    def text(self, verbose: bool = False) -> str:
        head = self.path + (f" (dropout p = {self.convention})" if self.convention else "")
        if self.error:
            return printable(f"{head}\n  ERROR   {self.error}")
        lines = [head] + ([f"  note: {self.note}"] if self.note else [])
        for report in self.functions:
            lines += report.lines(verbose)
        passed = sum(f.status == "pass" for f in self.functions)
        lines.append(f"{passed} of {len(self.functions)} functions passed")
        return printable("\n".join(lines))

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how IPython and Jupyter show it
        printer.text(self.text())


def summary_rows(reports: list[ModuleReport], order: Sequence[str] = ()) -> tuple[list[str], list[dict[str, str]]]:
    """One row per module (status of each function, overall verdict, what is wrong) and its
    columns: the functions found, those named in ``order`` first and in that order."""
    found = {f.name for r in reports for f in r.functions}
    functions = [name for name in order if name in found] + sorted(found - set(order))
    columns = ["module", "passed", *functions, "mistakes", "error"]
    rows = []
    for r in reports:
        status = {f.name: f.status for f in r.functions}
        rows.append({
            "module": r.path, "passed": "yes" if r.passed else "no",
            **{name: status.get(name, "") for name in functions},
            "mistakes": "; ".join(dict.fromkeys(m for f in r.functions for m in f.mistakes)),
            "error": r.error,
        })
    return columns, rows


def summary_csv(reports: list[ModuleReport], order: Sequence[str] = ()) -> str:
    """The summary table as CSV text (no cell a spreadsheet would read as a formula)."""
    columns, rows = summary_rows(reports, order)
    rows = [{k: cell(v) for k, v in row.items()} for row in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
