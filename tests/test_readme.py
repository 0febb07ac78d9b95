"""The README's transcripts are the real output: every ``console`` block is run and compared.

A block holds commands (``$ layergrad ...``) each followed by the output it shows; a line ``...``
stands for any number of lines, and the seconds an experiment took are not compared. The
commands run in an empty folder holding only a copy of ``examples/``, the way a newcomer runs
them in a fresh clone, which also shows that the tour writes nothing outside ``out/``.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from layergrad.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def transcripts(text: str) -> list[tuple[str, str]]:
    """(command, the output shown after it) for every command of every ``console`` block."""
    found = []
    for block in re.findall(r"^```console\n(.*?)^```$", text, flags=re.S | re.M):
        for chunk in re.split(r"^(?=\$ )", block, flags=re.M):
            if chunk.startswith("$ "):
                command, _, shown = chunk[2:].partition("\n")
                found.append((command, shown))
    return found


def _normal(text: str) -> str:
    return re.sub(r"(?<=: )\d+ s(?= ->)", "N s", text)


def matches(shown: str, output: str) -> bool:
    """Does ``output`` read as ``shown``, where a line ``...`` stands for any number of lines?"""
    pattern = "".join(r"(?:[^\n]*\n)*?" if line == "..." else re.escape(line) + r"\n"
                      for line in _normal(shown).splitlines())
    return re.fullmatch(pattern, _normal(output)) is not None


def test_the_matcher_elides_only_where_it_is_told():
    assert matches("a\n...\nd\n", "a\nb\nc\nd\n") and matches("a\n...\n", "a\n")
    assert not matches("a\nd\n", "a\nb\nd\n") and not matches("a\n", "a\nb\n")
    assert matches("experiment x: 3 s -> out\n", "experiment x: 11 s -> out\n")
    assert not matches("x: 3 s of 4\n", "x: 5 s of 4\n")


COMMANDS = transcripts(README.read_text(encoding="utf-8"))


def test_the_readme_has_the_transcripts_a_newcomer_needs():
    commands = [command for command, _ in COMMANDS]
    assert "layergrad check examples/student_layers.py --dropout-p keep" in commands
    assert "layergrad demo -o out" in commands and len(commands) >= 8


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clone")
    shutil.copytree(ROOT / "examples", folder / "examples")
    return folder


@pytest.mark.parametrize("command, shown", COMMANDS, ids=[command for command, _ in COMMANDS])
def test_transcript(command, shown, clone, capsys, monkeypatch):
    import worksheets.demo
    import worksheets.formats

    argv = shlex.split(command, comments=True)
    assert argv[0] == "layergrad"
    monkeypatch.chdir(clone)
    # the demo as shown: on a machine without LaTeX; the other experiments have their own tests
    monkeypatch.setattr(worksheets.formats, "latexmk_available", lambda: False)
    monkeypatch.setattr(worksheets.demo, "DEMO_EXPERIMENTS", ("scale-up",))
    main(argv[1:])
    out, err = capsys.readouterr()
    assert matches(shown, out + err), f"$ {command}\n{out}{err}"
    if argv[1] == "demo":
        for name in ("derivations/dropout.md", "derivations/dropout.tex", "derivations/dropout.txt",
                     "layers_keep.py", "layers_drop.py", "sheets/quiz8-student.html", "notebooks/conv.ipynb",
                     "experiments/scale-up.png"):
            assert (clone / "out" / name).exists(), name
    assert {path.name for path in clone.iterdir()} <= {"examples", "out"}, "the tour wrote outside out/"
