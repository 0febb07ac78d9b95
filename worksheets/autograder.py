r"""Gradescope autograders: a bundle that runs ``layergrad check`` on each submission.

Gradescope unpacks the bundle into ``/autograder/source``, runs ``setup.sh`` once when it builds
the image, then, for every submission, puts the student's files in ``/autograder/submission``,
runs ``run_autograder`` and reads ``/autograder/results/results.json``. The bundle's
``run_autograder`` calls ``layergrad check --json`` (each function in its own sandboxed process)
on the submitted module and turns the report into that file with :func:`gradescope_results`:
one test per function, worth the points of the instructor's table (one each by default), scored
all or nothing, with the named mistake and the diagnosis as the test's output. A submitted
module's score is

.. math:: \text{score} = \sum_{f \text{ checked}} \text{points}(f)\,[f \text{ passes}].

Every path the bundle uses starts from ``$LAYERGRAD_AUTOGRADER_ROOT`` (default ``/autograder``),
and the Python that runs it from ``$LAYERGRAD_PYTHON`` (default ``python3``), so that the bundle
can be run on any machine in a folder laid out as Gradescope lays it out.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from derive.errors import LayergradError
from numeric.files import write_output

__all__ = [
    "CONFIG",
    "VISIBILITIES",
    "gradescope_bundle",
    "gradescope_results",
    "read_points",
    "write_gradescope_bundle",
]

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
"""Gradescope's visibility settings of a test and of the results."""

CONFIG = "layergrad-autograder.json"
"""The bundle's settings: points table, visibility, the submitted file's name."""


def read_points(path: str | Path) -> dict[str, float]:
    """The points table of ``path``: a JSON object or TOML table (``name = points``), or a CSV
    with two columns (function, points; a header row is allowed). Points are non-negative."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LayergradError(f"cannot read the points table {path}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            table = json.loads(text)
        elif suffix == ".toml":
            import tomllib

            table = tomllib.loads(text)
        elif suffix == ".csv":
            rows = [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]
            if rows and not _is_number(rows[0][-1]):
                rows = rows[1:]  # a header
            if any(len(row) != 2 for row in rows):
                raise ValueError("every row must have two cells: function, points")
            table = {name.strip(): float(points) for name, points in rows}
        else:
            raise LayergradError(f"cannot read the points table {path}: expected a .json, .toml or .csv file")
    except (ValueError, ImportError) as exc:  # json, tomllib and float errors are ValueErrors
        raise LayergradError(f"cannot read the points table {path}: {exc}") from None
    if not isinstance(table, dict) or not all(_is_number(v) for v in table.values()):
        raise LayergradError(f"the points table {path} must map function names to numbers of points, "
                             'such as {"dropout_forward": 2, "dropout_backward": 3}')
    points = {str(name): float(value) for name, value in table.items()}
    negative = [name for name, value in points.items() if value < 0]
    if negative:
        raise LayergradError(f"the points table {path} gives negative points to {', '.join(negative)}")
    return points


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def gradescope_results(check: Mapping[str, Any], points: Mapping[str, float] | None = None,
                       visibility: str = "visible", default_points: float = 1.0) -> dict[str, Any]:
    """Gradescope's ``results.json`` for one module's ``layergrad check --json`` report ``check``.

    One test per checked function (and per function of ``points`` the module lacks, scored 0),
    ``max_score`` from ``points`` (``default_points`` for those it does not list), full score when
    the function passes, 0 otherwise; the output names the mistake. Functions the checker skipped
    and the table does not list are left out. When the module could not be checked at all, every
    function of ``points`` scores 0 and the overall output says why."""
    if visibility not in VISIBILITIES:
        raise LayergradError(f"unknown visibility {visibility!r}; expected one of {', '.join(VISIBILITIES)}")
    points = dict(points or {})
    error = check.get("error")
    functions = {f["name"]: f for f in check.get("functions") or []}
    tests = []
    for name, report in functions.items():
        if report["status"] == "skipped" and name not in points:
            continue
        worth = points.get(name, default_points)
        passed = report["status"] == "pass"
        tests.append({"name": name, "score": worth if passed else 0.0, "max_score": worth,
                      "status": "passed" if passed else "failed", "output": _test_output(report),
                      "visibility": visibility})
    for name in points:
        if name not in functions:
            why = f"not checked: {error}" if error else "not defined in the submitted module"
            tests.append({"name": name, "score": 0.0, "max_score": points[name], "status": "failed",
                          "output": why, "visibility": visibility})
    passed = sum(t["status"] == "passed" for t in tests)
    lines = [f"layergrad check: {passed} of {len(tests)} functions passed"]
    if error:
        lines = [f"layergrad could not check the submission: {error}"]
    if check.get("note"):
        lines.append(str(check["note"]))
    return {"output": "\n".join(lines), "visibility": visibility, "stdout_visibility": "hidden", "tests": tests}


def _test_output(report: Mapping[str, Any]) -> str:
    """What the student reads: the named mistakes, the diagnosis in plain words, what was measured."""
    from numeric.gradcheck.verdict import Verdict

    if report["status"] == "pass":
        count = len(report.get("checks") or [])
        return f"passed ({count} check{'s' * (count != 1)})"
    if report["status"] == "skipped":
        return "not checked" + (f": {report['note']}" if report.get("note") else "")
    lines = [f"mistake: {m}" for m in report.get("mistakes") or []]
    lines += list(report.get("diagnoses") or [])
    lines += [Verdict.from_dict(c).line(method=False) for c in report.get("checks") or [] if not c["passed"]]
    if report.get("note") and report["note"] not in lines:
        lines.append(report["note"])
    return "\n".join(dict.fromkeys(lines)) or "failed"


SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image: install layergrad and the
# sandbox layergrad check runs each submitted function in.
set -euo pipefail
source_dir="${{LAYERGRAD_AUTOGRADER_ROOT:-/autograder}}/source"
apt-get update
apt-get install -y --no-install-recommends python3 python3-pip bubblewrap
python3 -m pip install --break-system-packages {install} || python3 -m pip install {install}
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission: check the submitted {submission} with layergrad
# (each function in its own sandboxed process) and write results/results.json.
set -uo pipefail
root="${{LAYERGRAD_AUTOGRADER_ROOT:-/autograder}}"
python="${{LAYERGRAD_PYTHON:-python3}}"
mkdir -p "$root/results"
cd "$root"
"$python" -m layergrad check "$root/submission/"{submission} --json{check_args} \\
    > "$root/results/check.json" 2> "$root/results/check-stderr.txt"
echo "layergrad check exited with $?"
cat "$root/results/check-stderr.txt"
exec "$python" -m worksheets.autograder "$root/source/{config}" "$root/results/check.json" \\
    "$root/results/results.json"
"""


def gradescope_bundle(points: Mapping[str, float] | None = None, visibility: str = "visible",
                      submission: str = "layers.py", check_args: Sequence[str] = (),
                      install: str | None = None, wheel: Path | None = None) -> bytes:
    """The autograder zip: ``setup.sh`` (installs ``install``, default this layergrad version, or
    the ``wheel`` shipped in the bundle), ``run_autograder`` and the settings file :data:`CONFIG`."""
    if visibility not in VISIBILITIES:
        raise LayergradError(f"unknown visibility {visibility!r}; expected one of {', '.join(VISIBILITIES)}")
    if not submission or "/" in submission or submission.startswith("."):
        raise LayergradError(f"the submitted file's name must be a plain file name such as layers.py, got "
                             f"{submission!r}")
    if wheel is not None:
        if not Path(wheel).is_file():
            raise LayergradError(f"no wheel at {wheel}")
        install = f'"$source_dir"/{shlex.quote(Path(wheel).name)}'
    elif install is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            install = shlex.quote(f"layergrad=={version('layergrad')}")
        except PackageNotFoundError:
            install = "layergrad"
    else:
        install = shlex.quote(install)
    config = {"points": dict(points or {}), "visibility": visibility, "submission": submission}
    files = {
        "setup.sh": SETUP.format(install=install),
        "run_autograder": RUN.format(submission=shlex.quote(submission), config=CONFIG,
                                     check_args="".join(" " + shlex.quote(a) for a in check_args)),
        CONFIG: json.dumps(config, indent=2) + "\n",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name != CONFIG else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, text)
        if wheel is not None:
            bundle.write(wheel, Path(wheel).name)
    return buffer.getvalue()


def write_gradescope_bundle(path: str | Path, force: bool = False, **options: Any) -> Path:
    """Write :func:`gradescope_bundle` ``(**options)`` to ``path`` (never over a file layergrad did
    not write, unless ``force``)."""
    return write_output(path, gradescope_bundle(**options), force)


def _main(argv: Sequence[str]) -> int:
    """``python -m worksheets.autograder CONFIG CHECK.json RESULTS.json``: what ``run_autograder``
    calls after the check. A missing or unreadable check report becomes a results file saying so."""
    config_path, check_path, results_path = (Path(a) for a in argv)
    config = json.loads(config_path.read_text(encoding="utf-8"))
    try:
        check = json.loads(check_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        check = {"error": f"the checker gave no report on {config['submission']} (was it submitted?)"}
    if not (check.get("functions") or check.get("error")):
        check["error"] = f"no course function found in {config['submission']}"
    results = gradescope_results(check, config["points"], config["visibility"])
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    score = sum(t["score"] for t in results["tests"])
    print(f"score {score:g} of {sum(t['max_score'] for t in results['tests']):g}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
