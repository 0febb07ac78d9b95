"""``layergrad check`` as a grading sandbox: a class of hostile submissions, checked in one run.

The class (``tests/fixtures/sandbox``) attacks the checker (pickles, monkeypatching, forged,
partial and malformed messages, killed parents), the instructor's machine (files, environment,
network, terminals, survivors, memory, file size) and classmates (their files, a shadowed
standard-library module, the reference solution). The run must give no false PASS, run no
submitted code in the checker, leave no process behind, change no classmate's file, show no
instructor file or secret, write valid JSON and a CSV no spreadsheet evaluates, report every
classmate completely and finish within its budget.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from numeric.checks import Limits, Options, Sandbox, check_module, check_paths
from numeric.checks.isolation import Group
from numeric.checks.wire import Reader, WireError, decode, encode, write_frame

SANDBOX = Path(__file__).parent / "fixtures" / "sandbox"
NEWLINE_NAME = "h21_newline\n  PASS    relu_forward (2 checks).py"
FORMULA_NAME = '=HYPERLINK("http:evil","x").py'
SECRET = "instructor_secret_7f3a9c"
RUN_BUDGET = 120

needs_sandbox = pytest.mark.skipif(not Sandbox.detect().bwrap, reason="bubblewrap is not installed or does not work")


def _ancestry(pid: int) -> list[tuple[int, bytes]]:
    """``pid``'s ancestors and their command lines."""
    found = []
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            found.append((pid, Path(f"/proc/{pid}/cmdline").read_bytes()))
        except (OSError, ValueError):
            break
    return found


def _child_processes(owner: int | None = None) -> set[int]:
    """Processes of checker children that descend from ``owner``, or (without) that no running checker
    owns (another check running on this machine at the same time has a layergrad or pytest process
    among their ancestors)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if b"child.py" not in Path(f"/proc/{entry}/cmdline").read_bytes():
                    continue
            except OSError:
                continue
            ancestors = _ancestry(int(entry))
            if owner is not None and any(pid == owner for pid, _ in ancestors):
                found.add(int(entry))
            if owner is None and not any(b"layergrad" in line or b"pytest" in line for _, line in ancestors):
                found.add(int(entry))
    return found


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("grading")
    klass, marker, instructor = root / "class", root / "marker", root / "instructor"
    for folder in (klass, marker, instructor):
        folder.mkdir()
    secret = instructor / "secret.txt"
    secret.write_text(f"token = {SECRET}\n")  # Python whose NameError would show the secret
    reference = instructor / "solution.py"
    reference.write_text((SANDBOX / "victim.py").read_text())
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    tokens = {"@@CLASS@@": str(klass), "@@MARKER@@": str(marker), "@@SECRET@@": str(secret),
              "@@REFERENCE@@": str(reference), "@@PORT@@": str(listener.getsockname()[1])}
    renamed = {"h21_newline.py": NEWLINE_NAME, "h22_hyperlink.py": FORMULA_NAME}
    for template in sorted(SANDBOX.glob("*.py")):
        text = template.read_text()
        for token, value in tokens.items():
            text = text.replace(token, value)
        if template.name == "victim.py":
            for k in range(3):
                (klass / f"victim_{k}.py").write_text(text)
        else:
            (klass / renamed.get(template.name, template.name)).write_text(text)
    (klass / "h32_symlink.py").symlink_to(secret)
    before = {p.name: _digest(p) for p in klass.glob("victim_*.py")} | {"reference": _digest(reference)}
    processes = _child_processes()
    env = dict(os.environ, LAYERGRAD_TEST_SECRET=SECRET)
    start = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).with_name("layergrad")), "check", str(klass), "--reference",
                           str(reference), "--timeout", "3", "--module-timeout", "8", "--run-timeout", str(RUN_BUDGET),
                           "--memory", "200", "--jobs", "4"],
                          capture_output=True, env=env, timeout=RUN_BUDGET + 60)
    seconds = time.monotonic() - start
    time.sleep(4)  # a survivor would act now (h11 rewrites its CSV row after 3 s)
    try:
        listener.accept()
        connected = True
    except BlockingIOError:
        connected = False
    listener.close()
    after = {p.name: _digest(p) for p in klass.glob("victim_*.py")} | {"reference": _digest(reference)}
    return {"done": done, "seconds": seconds, "class": klass, "marker": marker, "before": before, "after": after,
            "connected": connected, "survivors": _child_processes() - processes,
            "summary": json.loads((klass / "layergrad-check.json").read_text()),
            "csv": (klass / "layergrad-check.csv").read_text()}


@needs_sandbox
def test_the_hostile_class_has_at_least_25_attackers(hostile_run: dict) -> None:
    modules = [r["module"] for r in hostile_run["summary"]["reports"]]
    assert len([m for m in modules if "victim" not in m]) >= 25


@needs_sandbox
def test_no_hostile_module_passes_and_every_classmate_is_reported_in_full(hostile_run: dict) -> None:
    assert hostile_run["done"].returncode == 1
    for report in hostile_run["summary"]["reports"]:
        name = Path(report["module"]).name
        if name.startswith("victim_"):
            assert report["passed"] and not report["error"], report
            assert [f["name"] for f in report["functions"]] == ["relu_forward", "relu_backward"]
            assert all(f["status"] == "pass" for f in report["functions"])
        else:
            assert not report["passed"], report


@needs_sandbox
def test_no_submitted_code_ran_with_the_instructor_s_rights(hostile_run: dict) -> None:
    assert not list(hostile_run["marker"].iterdir())
    assert hostile_run["before"] == hostile_run["after"]
    assert not hostile_run["connected"]
    assert not hostile_run["survivors"]
    assert not list(hostile_run["class"].glob("big.bin"))


@needs_sandbox
def test_nothing_of_the_instructor_s_leaks_into_any_report(hostile_run: dict) -> None:
    done = hostile_run["done"]
    texts = [done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"), hostile_run["csv"],
             json.dumps(hostile_run["summary"])]
    passwd = next(line for line in Path("/etc/passwd").read_text().splitlines() if line)
    for text in texts:
        assert SECRET not in text and passwd not in text and "FAKE" not in text
        assert str(Path.home()) + "/" not in text.replace(str(hostile_run["class"]), "")


@needs_sandbox
def test_reports_are_clean_text_valid_json_and_an_inert_csv(hostile_run: dict) -> None:
    out = hostile_run["done"].stdout.decode()
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    forged = [line for line in out.splitlines() if line.startswith("  PASS")]
    assert len(forged) == 6  # the three classmates' two functions, nothing else
    assert NEWLINE_NAME not in out and "h21_newline?  PASS" in out
    rows = list(csv.reader(hostile_run["csv"].splitlines()))
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert sum(1 for row in rows[1:] if row[1] == "yes") == 3
    assert hostile_run["summary"]["passed"] == 3


@needs_sandbox
def test_budgets_hold_the_run_and_each_module(hostile_run: dict) -> None:
    assert hostile_run["seconds"] < RUN_BUDGET
    reports = {Path(r["module"]).name: r for r in hostile_run["summary"]["reports"]}
    hog = reports["h24_budget_hog.py"]["functions"]
    assert any("did not finish within 3 s" in f["note"] for f in hog)
    assert any("was not run: the module used up its time budget" in f["note"] for f in hog)
    assert "did not finish within 3 s" in reports["h23_endless_import.py"]["error"]


def test_without_bubblewrap_the_check_says_so_once(tmp_path: Path) -> None:
    path = tmp_path / "layers.py"
    path.write_text((SANDBOX / "victim.py").read_text())
    done = subprocess.run([str(Path(sys.executable).with_name("layergrad")), "check", str(path)], capture_output=True,
                          text=True, env=dict(os.environ, LAYERGRAD_SANDBOX="none"), timeout=120)
    assert done.returncode == 0
    assert done.stderr.count("can read (and change) every file you can") == 1
    assert "apt-get install bubblewrap" in done.stderr


def test_without_bubblewrap_no_process_survives_and_pipes_stay_private(tmp_path: Path) -> None:
    for name in ("h10_fork_survivor.py", "h11_setsid_survivor.py"):
        text = (SANDBOX / name).read_text().replace("@@MARKER@@", str(tmp_path)).replace("@@CLASS@@", str(tmp_path))
        (tmp_path / name).write_text(text)
    reports = check_paths(sorted(tmp_path.glob("h*.py")), Options(sandbox=Sandbox(reason="test"),
                                                                   limits=Limits(timeout=5)))
    assert all(not r.passed for r in reports)
    time.sleep(0.5)
    assert not _child_processes(owner=os.getpid())


def test_summary_targets_are_checked_before_any_module_runs(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "slow.py").write_text("import time\ntime.sleep(30)\n")
    (folder / "layergrad-check.csv").write_text("someone's own file\n")
    start = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).with_name("layergrad")), "check", str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--force" in done.stderr and time.monotonic() - start < 20


def test_messages_are_plain_data_checked_on_the_way_in() -> None:
    read, write = os.pipe()
    buffers: list = []
    value = encode((np.arange(6.0).reshape(2, 3), {"mode": "train"}, 3, "x", None, 1.5 + 2j, np.array(2.5)), buffers)
    write_frame(write, {"value": value}, buffers)
    header, received = Reader(read).read(time.monotonic() + 5)
    back = decode(header["value"], received)
    assert np.array_equal(back[0], np.arange(6.0).reshape(2, 3)) and back[1:6] == ({"mode": "train"}, 3, "x", None,
                                                                                     1.5 + 2j)
    assert isinstance(back[6], np.ndarray) and back[6].shape == () and back[6] == 2.5  # a 0-d array stays 0-d
    for bad in ({"$": "nd", "b": 0, "d": "|O", "s": [1], "w": True}, {"$": "nd", "b": 0, "d": "<f8", "s": [9], "w": 1},
                {"$": "pickle", "v": "gASV"}, {"$": "ref"}, [1, 2]):
        with pytest.raises(WireError):
            decode(bad, [bytearray(8)])
    os.write(write, b"LGW1\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00{\"a")
    with pytest.raises(TimeoutError):
        Reader(read).read(time.monotonic() + 0.2)
    os.close(write)
    with pytest.raises(EOFError):
        Reader(read).read(time.monotonic() + 1)
    os.close(read)


def test_a_relu_gradient_at_the_kink_is_a_named_warning_unless_strict(tmp_path: Path) -> None:
    path = tmp_path / "relu.py"
    path.write_text((SANDBOX / "victim.py").read_text().replace("cache > 0", "cache >= 0"))
    report = check_paths([path], Options(only=("relu",)))[0]
    backward = report.function("relu_backward")
    assert backward.status == "pass" and any(w.startswith("relu-grad-at-zero") for w in backward.to_dict()["warnings"])
    strict = check_paths([path], Options(only=("relu",), strict=True))[0].function("relu_backward")
    assert strict.status == "fail" and "relu-grad-at-zero" in strict.mistakes


def test_copies_of_layergrad_s_code_pass_and_are_pointed_out(tmp_path: Path) -> None:
    from numeric.checks.reference import reference_module

    source = Path(reference_module("keep").__file__).read_text()
    copied = tmp_path / "copied.py"
    copied.write_text(source.replace("# Generated by layergrad. Do not edit: regenerate instead.", "# my own work"))
    imported = tmp_path / "imported.py"
    imported.write_text("from numeric.checks.reference_keep import relu_forward, relu_backward  # noqa\n")
    for report in check_paths([copied, imported], Options(only=("relu",))):
        assert report.passed, report.text()
        assert all(any(w.startswith("reference-copy") for w in f.warnings) for f in report.functions), report.text()
    assert not any(f.remarks for f in check_module(reference_module("keep"), Options(only=("relu",))).functions)


def test_a_control_group_bounds_memory_and_processes_where_the_machine_allows() -> None:
    group = Group.make(300 * 2**20, 16)
    if group is None:
        pytest.skip("control groups cannot be made here")
    try:
        limits = [p.read_text().strip() for d in group.directories for p in d.iterdir()
                  if p.name in ("memory.max", "memory.limit_in_bytes", "pids.max")]
        assert str(300 * 2**20) in limits and "16" in limits
    finally:
        group.remove()


def test_the_private_tmp_is_mounted_before_the_binds_it_would_hide() -> None:
    """A clone (its interpreter, NumPy and layergrad) under /tmp stays visible in the sandbox: every
    bind comes after the private /tmp, which would otherwise cover it."""
    argv = Sandbox("/usr/bin/bwrap").prefix()
    tmpfs = argv.index("/tmp", argv.index("--tmpfs") - 1)
    system = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"}
    binds = [k for k, word in enumerate(argv) if word == "--ro-bind" and argv[k + 1] not in system]
    assert binds and all(k > tmpfs for k in binds)
