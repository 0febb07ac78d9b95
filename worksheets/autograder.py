r"""Autograders for Gradescope and Otter-Grader: bundles that run ``layergrad check`` on each submission.

Gradescope unpacks a bundle into ``/autograder/source``, runs ``setup.sh`` once when it builds
the image, then, for every submission, puts the student's files in ``/autograder/submission``,
runs ``run_autograder`` and reads ``/autograder/results/results.json``. The Gradescope bundle's
``run_autograder`` calls ``layergrad check --json`` (each function in its own sandboxed process)
on the submitted module and turns the report into that file with :func:`gradescope_results`.
The Otter bundle (:func:`otter_bundle`) has Otter's layout instead (``otter_config.json``,
``tests/``, ``run_otter.py``): Otter runs the submission, then one test file per function whose
test cases call :func:`otter_verdict`, which runs the same sandboxed check on the submitted file.

Each function is graded by the parts (:class:`Part`) of the instructor's points table: the
whole set of checks as one test (one point by default), or a *visible* test and a *hidden*
test. The visible checks are those a student reproduces in the notebook: the checker's first,
smallest case of the function (forward against the reference, the gradient check along random
directions) and the dtype check (:func:`visible_checks`). The hidden test is the full set —
the corners of the declared domains, the notebooks' and stress inputs, every keep probability
and both dropout draws, the options of the check (``--strict``: warnings fail) — and fails a
function that is layergrad's own code (reference-copy). Each test is scored all or nothing:

.. math:: \text{score} = \sum_{f} \sum_{t \in \text{parts}(f)} \text{points}(f, t)\,[f \text{ passes the checks of } t].

Every path the bundles use starts from ``$LAYERGRAD_AUTOGRADER_ROOT`` (default ``/autograder``),
and the Python that runs them from ``$LAYERGRAD_PYTHON`` (default ``python3``), so that a bundle
can be run on any machine in a folder laid out as the service lays it out.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from derive.errors import LayergradError
from numeric.files import write_output

__all__ = [
    "CONFIG",
    "TIERS",
    "VISIBILITIES",
    "Part",
    "grade",
    "gradescope_bundle",
    "gradescope_files",
    "gradescope_results",
    "otter_bundle",
    "otter_files",
    "otter_verdict",
    "read_points",
    "visible_checks",
    "write_bundle",
]

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
"""Gradescope's visibility settings of a test and of the results."""

TIERS = ("all", "visible", "hidden")
"""Which checks a test grades: all of them (one test per function), the visible ones, the full hidden set."""

CONFIG = "layergrad-autograder.json"
"""The Gradescope bundle's settings: points table, visibility, the submitted file's name."""

HIDDEN_VISIBILITY = "after_due_date"
"""When students see a hidden test's result unless the points table says otherwise."""


@dataclass(frozen=True)
class Part:
    """One test of a function: the checks it grades (``tier``), its points and when students see
    it (``visibility``; ``None``: the bundle's default for the tier)."""

    tier: str
    points: float
    visibility: str | None = None

    def title(self, function: str) -> str:
        """The test's name: the function's, with the tier unless it grades all checks."""
        return function if self.tier == "all" else f"{function} ({self.tier} checks)"

    def shown(self, visibility: str) -> str:
        """The test's visibility, ``visibility`` being the bundle's for tests that set none."""
        if self.visibility is not None:
            return self.visibility
        return HIDDEN_VISIBILITY if self.tier == "hidden" else visibility

    def to_dict(self) -> dict[str, Any]:
        return {"tier": self.tier, "points": self.points, "visibility": self.visibility}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Part:
        return cls(data["tier"], float(data["points"]), data.get("visibility"))


Points = dict[str, tuple[Part, ...]]


def read_points(path: str | Path) -> Points:
    """The points table of ``path``, function → its tests (:class:`Part`).

    JSON or TOML: ``name = points`` (one test of all checks), or a table with ``visible`` and/or
    ``hidden`` entries, each a number of points or ``{points = 2, visibility = "after_due_date"}``.
    CSV: ``function,points`` or ``function,visible,hidden`` (a header row is allowed). Points are
    non-negative; visibilities are Gradescope's."""
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
            table = _csv_table(text)
        else:
            raise LayergradError(f"cannot read the points table {path}: expected a .json, .toml or .csv file")
    except (ValueError, ImportError) as exc:  # json, tomllib and float errors are ValueErrors
        raise LayergradError(f"cannot read the points table {path}: {exc}") from None
    if not isinstance(table, dict):
        raise LayergradError(f"the points table {path} must map function names to numbers of points, "
                             'such as {"dropout_forward": 2, "dropout_backward": {"visible": 1, "hidden": 2}}')
    return {str(name): _parts(f"the points table {path}", str(name), value) for name, value in table.items()}


def _csv_table(text: str) -> dict[str, Any]:
    rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    if rows and not _is_number(rows[0][-1]):
        rows = rows[1:]  # a header
    if any(len(row) not in (2, 3) for row in rows):
        raise ValueError("every row must have two cells (function, points) or three (function, visible, hidden)")
    return {row[0]: float(row[1]) if len(row) == 2 else {"visible": float(row[1]), "hidden": float(row[2])}
            for row in rows}


def _parts(where: str, name: str, value: Any) -> tuple[Part, ...]:
    if _is_number(value):
        return (_part(where, name, "all", value, None),)
    if not isinstance(value, dict) or not value or set(value) - {"visible", "hidden"}:
        raise LayergradError(f"{where}: {name} must be a number of points or a table with 'visible' and/or "
                             f"'hidden' entries, got {value!r}")
    parts = []
    for tier, spec in value.items():
        if isinstance(spec, dict):
            unknown = set(spec) - {"points", "visibility"}
            if unknown or "points" not in spec:
                raise LayergradError(f"{where}: {name}.{tier} must be a number of points or a table "
                                     f"with 'points' and perhaps 'visibility', got {spec!r}")
            parts.append(_part(where, name, tier, spec["points"], spec.get("visibility")))
        else:
            parts.append(_part(where, name, tier, spec, None))
    return tuple(sorted(parts, key=lambda p: TIERS.index(p.tier)))


def _part(where: str, name: str, tier: str, points: Any, visibility: Any) -> Part:
    if not _is_number(points):
        raise LayergradError(f"{where} must give numbers of points: {name} has {points!r}")
    if float(points) < 0:
        raise LayergradError(f"{where} gives negative points to {name}")
    if visibility is not None and visibility not in VISIBILITIES:
        raise LayergradError(f"{where}: unknown visibility {visibility!r} of {name}; expected one of "
                             f"{', '.join(VISIBILITIES)}")
    return Part(tier, float(points), visibility)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _normalized(points: Mapping[str, Any] | None) -> Points:
    """A points table given as numbers, :class:`Part` tuples or their dictionaries, as :data:`Points`."""
    table: Points = {}
    for name, value in (points or {}).items():
        if _is_number(value):
            table[name] = (Part("all", float(value)),)
        else:
            table[name] = tuple(p if isinstance(p, Part) else Part.from_dict(p) for p in value)
    return table


_CASE = re.compile(r"\bx \(.*?(?=: [A-Za-z]|$)")


def _case(check_name: str) -> str:
    """The input case a check ran on: ``x (3, 7), train`` in ``batchnorm_forward dgamma on x (3, 7),
    train: gradient of your forward``; ``p = 0.3`` in ``dropout_forward zero fraction, p = 0.3``."""
    found = _CASE.search(check_name)
    if found:
        return found.group(0)
    return check_name.rsplit(", ", 1)[-1] if ", " in check_name else check_name.split(" ", 1)[-1]


def visible_checks(checks: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The checks a student can reproduce: those on the checker's first (smallest) case of the
    function, and the dtype check."""
    if not checks:
        return []
    first = _case(checks[0]["name"])
    return [c for c in checks if _case(c["name"]) == first or c.get("method") == "dtype"]


def _copied(report: Mapping[str, Any]) -> bool:
    return any(str(r).startswith("reference-copy") for r in report.get("remarks") or [])


def grade(report: Mapping[str, Any], tier: str) -> tuple[bool, str]:
    """Whether one function's report (from ``layergrad check --json``) passes the checks of
    ``tier``, and what the student reads: the named mistakes, the diagnosis, what was measured."""
    from numeric.gradcheck.verdict import Verdict

    if tier not in TIERS:
        raise LayergradError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
    if report["status"] == "skipped":
        return False, "not checked" + (f": {report['note']}" if report.get("note") else "")
    checks = list(report.get("checks") or [])
    if tier == "visible":
        checks = visible_checks(checks)
        passed = bool(checks) and all(c["passed"] for c in checks)
    else:
        passed = report["status"] == "pass" and not (tier == "hidden" and _copied(report))
    if passed:
        return True, f"passed ({len(checks)} check{'s' * (len(checks) != 1)})"
    failed = [c for c in checks if not c["passed"]]
    lines = [f"mistake: {m}" for m in dict.fromkeys(c["mistake"] for c in failed if c.get("mistake"))]
    if tier != "visible":
        lines = [f"mistake: {m}" for m in report.get("mistakes") or []] + lines
        if _copied(report) and report["status"] == "pass":
            lines.append("mistake: reference-copy (the function is layergrad's own code, not the submission's work)")
    lines += [c["diagnosis"] for c in failed if c.get("diagnosis")]
    lines += [Verdict.from_dict(c).line(method=False) for c in failed]
    if report.get("note") and (tier != "visible" or not checks):
        lines.append(str(report["note"]))
    return False, "\n".join(dict.fromkeys(lines)) or "failed"


def gradescope_results(check: Mapping[str, Any], points: Mapping[str, Any] | None = None,
                       visibility: str = "visible", default_points: float = 1.0) -> dict[str, Any]:
    """Gradescope's ``results.json`` for one module's ``layergrad check --json`` report ``check``.

    The tests of each checked function (and of each function of ``points`` the module lacks,
    scored 0): its parts in ``points``, one test of all checks worth ``default_points`` for
    those it does not list; full score when the function passes the part's checks, 0 otherwise;
    the output names the mistake. Functions the checker skipped and the table does not list are
    left out. When the module could not be checked at all, every test of ``points`` scores 0 and
    the overall output says why."""
    if visibility not in VISIBILITIES:
        raise LayergradError(f"unknown visibility {visibility!r}; expected one of {', '.join(VISIBILITIES)}")
    table = _normalized(points)
    error = check.get("error")
    functions = {f["name"]: f for f in check.get("functions") or []}
    tests = []
    for name in [*functions, *(n for n in table if n not in functions)]:
        report = functions.get(name)
        if report is not None and report["status"] == "skipped" and name not in table:
            continue
        for part in table.get(name, (Part("all", default_points),)):
            if report is None:
                passed, output = False, f"not checked: {error}" if error else "not defined in the submitted module"
            else:
                passed, output = grade(report, part.tier)
            tests.append({"name": part.title(name), "score": part.points if passed else 0.0,
                          "max_score": part.points, "status": "passed" if passed else "failed", "output": output,
                          "visibility": part.shown(visibility)})
    passed = sum(t["status"] == "passed" for t in tests)
    lines = [f"layergrad check: {passed} of {len(tests)} tests passed"]
    if error:
        lines = [f"layergrad could not check the submission: {error}"]
    if check.get("note"):
        lines.append(str(check["note"]))
    return {"output": "\n".join(lines), "visibility": visibility, "stdout_visibility": "hidden", "tests": tests}


SETUP = """#!/usr/bin/env bash
# The service runs this once, when it builds the autograder's image: install {what} and the
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
"$python" -m layergrad check "$root/submission/"{submission} --json{check_args}{define} \\
    > "$root/results/check.json" 2> "$root/results/check-stderr.txt"
echo "layergrad check exited with $?"
cat "$root/results/check-stderr.txt"
exec "$python" -m worksheets.autograder "$root/source/{config}" "$root/results/check.json" \\
    "$root/results/results.json"
"""


def _install(install: str | None, wheel: Path | None) -> str:
    """What ``setup.sh`` gives pip: the shipped ``wheel``, ``install``, or this layergrad version."""
    if wheel is not None:
        if not Path(wheel).is_file():
            raise LayergradError(f"no wheel at {wheel}")
        return f'"$source_dir"/{shlex.quote(Path(wheel).name)}'
    if install is not None:
        return shlex.quote(install)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return shlex.quote(f"layergrad=={version('layergrad')}")
    except PackageNotFoundError:
        return "layergrad"


def _check_submission(submission: str) -> None:
    if not submission or "/" in submission or submission.startswith("."):
        raise LayergradError(f"the submitted file's name must be a plain file name such as layers.py, got "
                             f"{submission!r}")


def _zip(files: Mapping[str, str], wheel: Path | None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = (0o755 if executable else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, text)
        if wheel is not None:
            bundle.write(wheel, Path(wheel).name)
    return buffer.getvalue()


def definition_files(paths: Sequence[str | Path]) -> dict[str, str]:
    """File name → TOML text of each defined layer's file (read and validated now, so that a
    definition the checker cannot read is refused before the bundle is uploaded), named after the
    layer."""
    from derive.define import define

    out: dict[str, str] = {}
    for path in paths:
        text = Path(path).read_text(encoding="utf-8")
        name = f"{define(text).name}.toml"
        if name in out:
            raise LayergradError(f"two definitions name the layer {name[:-5]}; a bundle grades each layer once")
        out[name] = text
    return out


def _defined_points(definitions: Mapping[str, str] | None) -> dict[str, float]:
    """One point for each defined layer's forward and backward function: the tests a bundle for
    defined layers has when no points table is given (so that a submission without them scores 0
    of something)."""
    return {f"{name[:-len('.toml')]}_{part}": 1.0 for name in definitions or {} for part in ("forward", "backward")}


def _definitions(definitions: Mapping[str, str] | None) -> dict[str, str]:
    for name in definitions or {}:
        if "/" in name or not name.endswith(".toml") or name.startswith("."):
            raise LayergradError(f"a definition's file name must be a plain name ending in .toml, got {name!r}")
    return {f"definitions/{name}": text for name, text in (definitions or {}).items()}


def gradescope_files(points: Mapping[str, Any] | None = None, visibility: str = "visible",
                     submission: str = "layers.py", check_args: Sequence[str] = (),
                     install: str | None = None, wheel: Path | None = None,
                     definitions: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Gradescope bundle's files: ``setup.sh`` (installs ``install``, default this layergrad
    version, or the ``wheel`` shipped in the bundle), ``run_autograder`` and :data:`CONFIG`; with
    ``definitions`` (file name → TOML text of a defined layer, :func:`definition_files`) those files
    in ``definitions/``, which ``run_autograder`` checks the submission against."""
    if visibility not in VISIBILITIES:
        raise LayergradError(f"unknown visibility {visibility!r}; expected one of {', '.join(VISIBILITIES)}")
    _check_submission(submission)
    table = _normalized(points or _defined_points(definitions))
    config = {"points": {name: [p.to_dict() for p in parts] for name, parts in table.items()},
              "visibility": visibility, "submission": submission}
    return {
        "setup.sh": SETUP.format(what="layergrad", install=_install(install, wheel)),
        "run_autograder": RUN.format(submission=shlex.quote(submission), config=CONFIG,
                                     check_args="".join(" " + shlex.quote(a) for a in check_args),
                                     define=' --define "$root/source/definitions"' if definitions else ""),
        CONFIG: json.dumps(config, indent=2) + "\n",
        **_definitions(definitions),
    }


def gradescope_bundle(wheel: Path | None = None, **options: Any) -> bytes:
    """The Gradescope autograder zip (:func:`gradescope_files`)."""
    return _zip(gradescope_files(wheel=wheel, **options), wheel)


OTTER_RUN = """#!/usr/bin/env bash
# Otter-Grader's entry point for every submission: Otter runs the submitted script, then the test
# files in tests/, whose cases run layergrad check on the submitted file.
set -euo pipefail
root="${LAYERGRAD_AUTOGRADER_ROOT:-/autograder}"
exec "${LAYERGRAD_PYTHON:-python3}" "$root/source/run_otter.py"
"""

OTTER_MAIN = '''"""Run Otter-Grader's autograder in $LAYERGRAD_AUTOGRADER_ROOT (default /autograder)."""

import os

from otter.run.run_autograder import main

if __name__ == "__main__":
    main(os.environ.get("LAYERGRAD_AUTOGRADER_ROOT", "/autograder"))
'''

OTTER_TEST = '''"""layergrad's checks of {name} as an Otter-Grader test file (exception-based format): each case runs
`layergrad check` (each function in its own sandboxed process) on the submitted file and fails
with the named mistake."""

from otter.test_files import test_case

from worksheets.autograder import otter_verdict

OK_FORMAT = False

name = {name!r}
{cases}'''

OTTER_CASE = '''

@test_case(name={title!r}, points={points!r}, hidden={hidden!r})
def check_{tier}(env):
    otter_verdict({name!r}, {tier!r}, {submission!r}, {check_args!r})
'''


def otter_files(points: Mapping[str, Any], visibility: str = "visible", submission: str = "layers.py",
                check_args: Sequence[str] = (), install: str | None = None,
                wheel: Path | None = None, definitions: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Otter-Grader bundle's files: ``otter_config.json``, ``requirements.txt``, ``setup.sh``,
    ``run_autograder``, ``run_otter.py`` and ``tests/{function}.py`` for each function of
    ``points`` (a test case per part; a part Gradescope would not show at once is an Otter hidden
    case); with ``definitions``, those files in ``definitions/`` (the test cases run in the
    submission's folder beside ``source/``, where Otter unpacks the bundle)."""
    if visibility not in VISIBILITIES:
        raise LayergradError(f"unknown visibility {visibility!r}; expected one of {', '.join(VISIBILITIES)}")
    _check_submission(submission)
    table = _normalized(points or _defined_points(definitions))
    if not table:
        raise LayergradError("an Otter bundle needs the functions it grades: give --points FILE or --only NAME,NAME")
    if definitions:
        check_args = [*check_args, "--define", "../source/definitions"]
    tests = {}
    for name, parts in table.items():
        cases = "".join(OTTER_CASE.format(title=p.title(name), points=p.points, hidden=p.shown(visibility) != "visible",
                                          tier=p.tier, name=name, submission=submission, check_args=list(check_args))
                        for p in parts)
        tests[f"tests/{name}.py"] = OTTER_TEST.format(name=name, cases=cases)
    shown = [p.shown(visibility) for parts in table.values() for p in parts]
    reveal = any(v in ("after_due_date", "after_published") for v in shown)
    config = {"lang": "python", "show_hidden": reveal, "show_stdout": False, "pdf": False, "zips": False}
    install_line = _install(install, wheel)
    requirement = Path(wheel).name if wheel is not None else shlex.split(install_line)[0]
    return {
        "otter_config.json": json.dumps(config, indent=2) + "\n",
        "requirements.txt": f"{requirement}\notter-grader\n",
        "setup.sh": SETUP.format(what="layergrad, Otter-Grader", install=f"{install_line} otter-grader"),
        "run_autograder": OTTER_RUN,
        "run_otter.py": OTTER_MAIN,
        **tests,
        **_definitions(definitions),
    }


def otter_bundle(wheel: Path | None = None, **options: Any) -> bytes:
    """The Otter-Grader autograder zip (:func:`otter_files`)."""
    return _zip(otter_files(wheel=wheel, **options), wheel)


def write_bundle(path: str | Path, service: str = "gradescope", force: bool = False, **options: Any) -> Path:
    """Write the ``service``'s bundle (``gradescope`` or ``otter``) to ``path``: a zip when ``path``
    ends in ``.zip``, else (Otter only) the unpacked files in the folder ``path``. Never over a
    file layergrad did not write, unless ``force``."""
    path = Path(path)
    if service not in ("gradescope", "otter"):
        raise LayergradError(f"unknown service {service!r}; expected gradescope or otter")
    files = (gradescope_files if service == "gradescope" else otter_files)(**options)
    if path.suffix.lower() == ".zip":
        return write_output(path, _zip(files, options.get("wheel")), force)
    if service == "gradescope":
        raise LayergradError(f"{path}: Gradescope takes the autograder as a zip; give a name ending in .zip")
    for name, text in files.items():
        written = write_output(path / name, text, force)
        if name in ("setup.sh", "run_autograder"):
            written.chmod(0o755)
    if options.get("wheel") is not None:
        write_output(path / Path(options["wheel"]).name, Path(options["wheel"]).read_bytes(), force)
    return path


@cache
def _otter_report(submission: str, check_args: tuple[str, ...]) -> dict[str, Any]:
    """``layergrad check --json`` of the submitted file in the working directory (Otter runs its
    tests in the submission's folder), once per grading run."""
    path = Path.cwd() / submission
    if not path.is_file():
        others = [p for p in Path.cwd().glob("*.py") if p.name != "__init__.py"]
        if len(others) != 1:
            return {"error": f"no {submission} in the submission"}
        path = others[0]
    done = subprocess.run([sys.executable, "-m", "layergrad", "check", str(path), "--json", *check_args],
                          capture_output=True, text=True)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no report"])[-1]
        return {"error": f"the checker gave no report on {path.name}: {last}"}
    if not (report.get("functions") or report.get("error")):
        report["error"] = f"no course function found in {path.name}"
    return report


def otter_verdict(function: str, tier: str, submission: str = "layers.py", check_args: Sequence[str] = ()) -> None:
    """An Otter test case: raise ``AssertionError`` naming the mistake unless the submitted
    ``function`` passes the checks of ``tier``."""
    report = _otter_report(submission, tuple(check_args))
    functions = {f["name"]: f for f in report.get("functions") or []}
    if function not in functions:
        error = report.get("error")
        raise AssertionError(f"not checked: {error}" if error else f"{function} is not defined in {submission}")
    passed, output = grade(functions[function], tier)
    if not passed:
        raise AssertionError(output)


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
