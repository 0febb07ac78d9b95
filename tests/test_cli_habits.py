"""The command line's habits (README, "The command line's habits"), each tried on every subcommand it concerns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from derive.errors import LayergradError
from layergrad.cli import COMMANDS, main
from numeric.files import foreign_files, write_output

ROOT = Path(__file__).resolve().parent.parent
STUDENT = ROOT / "examples" / "student_layers.py"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's own errors and --help
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def layers(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("layers") / "layers.py"
    assert main(["export", "--dropout-p", "keep", "--layers", "relu,dropout", "-o", str(path)]) == 0
    return path


# list options: commas or the option repeated; one word each, so a positional is never swallowed

def test_check_only_takes_one_word_and_leaves_the_module_alone(capsys, layers):
    code, out, _ = run(capsys, "check", "--only", "relu_forward", str(layers))
    assert code == 0 and "PASS    relu_forward" in out and "dropout_" not in out
    both = run(capsys, "check", "--only", "relu_forward,dropout_backward", str(layers), "--json")
    repeated = run(capsys, "check", str(layers), "--only", "relu_forward", "--only", "dropout_backward", "--json")
    def checked(out: str) -> list[tuple[str, str, int]]:
        return [(f["name"], f["status"], len(f["checks"])) for f in json.loads(out)["functions"]]

    assert [name for name, _, _ in checked(both[1])] == ["dropout_backward", "relu_forward"]
    assert checked(both[1]) == checked(repeated[1])


def test_bench_only_and_export_layers_read_lists_the_same_way(capsys, tmp_path):
    _, commas, _ = run(capsys, "bench", "--list", "--only", "dropout,relu")
    _, repeated, _ = run(capsys, "bench", "--list", "--only", "dropout", "--only", "relu")
    assert commas == repeated and "dropout" in commas and "relu" in commas and "batchnorm" not in commas
    code, _, _ = run(capsys, "export", "--dropout-p", "drop", "--layers", "relu", "--layers", "affine",
                     "-o", str(tmp_path / "two.py"))
    text = (tmp_path / "two.py").read_text()
    assert code == 0 and "def relu_forward" in text and "def affine_forward" in text and "dropout_forward" not in text
    code, _, err = run(capsys, "check", "--only", "relu,", str(STUDENT))
    assert code == 2 and err.startswith("usage: layergrad check") and "expected names separated by commas" in err


# no name: a usage error everywhere (exit 2, the names in the message); --list lists (exit 0)

@pytest.mark.parametrize("command, some_name", [("derive", "batchnorm"), ("sheet", "quiz8"),
                                                ("notebook", "dropout"), ("experiment", "zero-out")])
def test_no_name_is_a_usage_error_that_names_them_all(capsys, command, some_name):
    code, out, err = run(capsys, command)
    assert code == 2 and out == "" and some_name in err and f"layergrad {command} --list" in err
    assert err.count("\n") == 1 and err.startswith(f"layergrad {command}: error: name a")
    code, out, _ = run(capsys, command, "--list")
    assert code == 0 and some_name in out
    code, _, err = run(capsys, command, "--list", some_name)
    assert code == 2 and "not both" in err


# a subcommand's mistakes are reported by the subcommand's parser, with its usage

@pytest.mark.parametrize("command", [command.NAME for command in COMMANDS])
def test_an_unknown_option_is_reported_by_the_subcommands_parser(capsys, command):
    code, out, err = run(capsys, command, "--fromat", "latex")
    assert code == 2 and out == ""
    assert err.startswith(f"usage: layergrad {command} ") and f"layergrad {command}: error: " in err


def test_a_misspelt_option_after_a_layer_shows_derives_usage(capsys):
    code, _, err = run(capsys, "derive", "dropout", "--fromat", "latex")
    assert code == 2 and err.startswith("usage: layergrad derive ")
    assert err.endswith("layergrad derive: error: unrecognized arguments: --fromat latex\n")


# a flag that does not apply is an error

@pytest.mark.parametrize("argv, message", [
    (["derive", "relu", "--dropout-p", "keep"], "--dropout-p applies only to the dropout layer, not relu"),
    (["derive", "dropout", "--example", "quiz"], "--example applies only to the conv layer, not dropout"),
    (["derive", "--list", "--dropout-p", "drop"], "--dropout-p applies only to a layer's derivations"),
    (["check", str(STUDENT), "--summary", "summary"], "--summary applies only with a folder"),
    (["check", str(STUDENT), "--force"], "--force applies only with a folder"),
    (["sheet", "quiz8", "--jobs", "2"], "--jobs applies only with --seeds"),
    (["sheet", "quiz8", "--stride", "2"], "--stride applies only with --seed N or --seeds A-B"),
    (["bench", "--list", "--json", "x.json"], "--json applies only when measuring, not with --list"),
    (["bench", "--plot", "x.png", "--from", "x.json", "--quick"], "--quick applies only when measuring"),
    (["export", "--dropout-p", "keep", "--layers", "relu", "--teaching-loops", "-o", "x.py"],
     "--teaching-loops applies only to layers with loops: conv, maxpool"),
])
def test_a_flag_that_does_not_apply_is_an_error(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1 and out == ""
    assert list(tmp_path.iterdir()) == []


# a format that cannot be produced: see test_sheets (PDF without LaTeX); the seed is not a range

def test_a_seed_out_of_bounds_is_not_called_a_range(capsys, tmp_path):
    code, _, err = run(capsys, "sheet", "quiz8", "--seed", "99999999", "-o", str(tmp_path))
    assert code == 2 and "--seed 99999999: expected a whole number from 0 to 1,000,000" in err
    assert "range" not in err
    code, _, err = run(capsys, "sheet", "quiz8", "--seeds", "5-3", "-o", str(tmp_path))
    assert code == 2 and "seed range '5-3' goes downwards; write it as 3-5" in err


def test_sheet_versions_are_flags_and_version_is_the_programs(capsys, tmp_path):
    code, out, _ = run(capsys, "sheet", "quiz8", "--student", "--format", "md", "-o", str(tmp_path))
    assert code == 0 and "quiz8-student.md" in out and "solution" not in out
    code, _, err = run(capsys, "sheet", "quiz8", "--student", "--solution")
    assert code == 2 and "not allowed with argument" in err
    code, _, err = run(capsys, "sheet", "quiz8", "--version", "student")
    assert code == 2 and "unrecognized arguments: --version" in err
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("layergrad ")


# a closed standard output ends quietly, with the status the work had

def _closed_stdout(*argv: str) -> subprocess.CompletedProcess:
    """Run layergrad with a standard output whose reader has already gone (like `| head` after one line)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "layergrad.cli", *argv], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=120, cwd=ROOT)
    finally:
        os.close(write)


@pytest.mark.parametrize("argv, status", [
    ((str(STUDENT), "--dropout-p", "keep"), 1),
    ((str(STUDENT), "--dropout-p", "keep", "--only", "relu", "--json"), 0),
])
def test_check_into_a_closed_pipe_keeps_its_verdict(argv, status):
    done = _closed_stdout("check", *argv)
    assert done.returncode == status and done.stderr == ""


@pytest.mark.parametrize("argv", [("bench", "--list"), ("sheet", "--list"), ("--help",), ("derive", "--list")])
def test_listing_into_a_closed_pipe_is_quiet(argv):
    done = _closed_stdout(*argv)
    assert done.returncode == 0 and done.stderr == ""


def test_a_pipe_closed_half_way_ends_quietly(tmp_path):
    head = subprocess.run(f"{sys.executable} -m layergrad.cli bench --list | head -1", shell=True, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, executable="/bin/bash")
    assert head.stdout.count("\n") == 1 and head.stderr == ""


# the demo owns the places it writes to

def test_the_demo_refuses_only_files_layergrad_did_not_write_and_names_them(tmp_path):
    from worksheets.demo import run as demo

    ours = write_output(tmp_path / "sheets" / "quiz8-student.md", "written by layergrad\n")
    ours.write_text("edited by a person since\n")
    (tmp_path / "notes.txt").write_text("not where the demo writes\n")
    assert foreign_files([tmp_path / "sheets", tmp_path / "layers_keep.py"]) == []
    (tmp_path / "sheets" / "mine.md").write_text("a person's file\n")
    (tmp_path / "layers_keep.py").write_text("def relu_forward(x): ...\n")
    with pytest.raises(LayergradError) as refused:
        demo(tmp_path)
    assert f"{tmp_path / 'layers_keep.py'}, {tmp_path / 'sheets' / 'mine.md'}" in str(refused.value)
    assert "quiz8-student.md" not in str(refused.value) and "--force" in str(refused.value)
    assert not (tmp_path / "derivations").exists()  # refused before anything was written


def test_the_demo_replaces_its_own_files_even_when_edited(tmp_path, monkeypatch, capsys):
    import worksheets.demo as demo
    from derive.registry import LAYERS
    from numeric.export import module_source

    relu_only = lambda api, convention: module_source(api, convention, ["relu"])  # noqa: E731
    for name, value in (("LAYERS", {"relu": LAYERS["relu"]}), ("module_source", relu_only), ("SHEETS", {}),
                        ("NOTEBOOKS", {}), ("DEMO_EXPERIMENTS", ())):  # the demo's own steps, cut down to quick ones
        monkeypatch.setattr(demo, name, value)
    assert demo.run(tmp_path)
    derived = tmp_path / "derivations" / "relu.md"
    written = derived.read_text()
    derived.write_text("edited by a person\n")
    assert demo.run(tmp_path) and derived.read_text() == written
    assert "derived   relu" in capsys.readouterr().out


# what --help and the runtime pieces import

def _imports(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_help_imports_nothing_heavy():
    loaded = _imports("from layergrad.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    assert {"layergrad.cli", "worksheets.commands.derive_cmd"} <= loaded
    assert not {"sympy", "numpy", "matplotlib", "derive.registry", "numeric.experiments"} & loaded


@pytest.mark.parametrize("module", ["numeric.fc_net", "numeric.solver", "numeric.optim", "numeric.gradcheck",
                                    "numeric.course.layers", "numeric.course.classifiers.fc_net",
                                    "numeric.course.solver",
                                    "numeric.data", "layergrad"])
def test_runtime_pieces_import_without_sympy(module):
    loaded = _imports(f"import {module}")
    assert module in loaded and "sympy" not in loaded and "derive.errors" in loaded


def test_an_exported_module_imports_without_sympy(layers):
    loaded = _imports(f"import runpy\nrunpy.run_path({str(layers)!r})")
    assert "numpy" in loaded and "sympy" not in loaded
