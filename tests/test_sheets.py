"""Sheets: every format renders every formula, versions differ exactly in the solutions,
LaTeX compiles cleanly, files are never overwritten after a person edited them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from derive.errors import LayergradError
from derive.printing import text
from derive.render import _mathml_rows
from layergrad.cli import main
from worksheets.document import DETAILS, REGION_MARKERS, VERSIONS, Sheet
from worksheets.formats import TEXT_FORMATS, parse_formats, render, write_sheet
from worksheets.formats.pdf import build_pdf, latexmk_available
from worksheets.sheets import SHEETS, quiz8
from worksheets.sheets.common import matrix_equation

MATHML = "{http://www.w3.org/1998/Math/MathML}math"


@pytest.fixture(scope="module")
def sheets() -> dict[str, Sheet]:
    return {name: entry.build() for name, entry in SHEETS.items()}


def strip_regions(document: str, fmt: str, kind: str) -> str:
    opening, closing = (m.format(kind) for m in REGION_MARKERS[fmt])
    stripped = re.sub(re.escape(opening) + r"\n.*?\n" + re.escape(closing) + r"\n?", "", document, flags=re.S)
    return re.sub(r"\n\s*\n(\s*\n)+", "\n\n", stripped)  # adjacent regions leave blank lines behind


def regions(document: str, fmt: str, kind: str) -> list[str]:
    opening, closing = (m.format(kind) for m in REGION_MARKERS[fmt])
    return re.findall(re.escape(opening) + r"\n(.*?)\n" + re.escape(closing), document, flags=re.S)


def parse_html(document: str) -> ET.Element:
    assert document.startswith("<!DOCTYPE html>")
    return ET.fromstring(document.split("\n", 1)[1])


@pytest.mark.parametrize("version", VERSIONS)
def test_html_parses_and_has_mathml_for_every_formula(sheets, version):
    for sheet in sheets.values():
        document = render(sheet, "html", version, "full")
        root = parse_html(document)
        maths = root.findall(f".//{MATHML}")
        assert len(maths) >= len(sheet.formulas(version)) > 0, sheet.name
        for formula in sheet.formulas(version):
            for row in _mathml_rows(formula):  # a long sum is set over several rows
                assert row[row.index(">") + 1: row.rindex("<")] in document, (sheet.name, formula)
        body = "".join(root.find("{http://www.w3.org/1999/xhtml}body").itertext())
        assert "\\frac" not in body and "$" not in body, "LaTeX leaked into the HTML"
        assert "http" not in document.replace("http://www.w3.org/", ""), "the HTML must not load anything"
        assert "<script" not in document


@pytest.mark.parametrize("fmt", list(TEXT_FORMATS))
def test_versions_differ_exactly_in_the_solutions(sheets, fmt):
    for sheet in sheets.values():
        student = render(sheet, fmt, "student")
        for detail in DETAILS:
            solution = render(sheet, fmt, "solution", detail)
            assert solution != student
            assert strip_regions(solution, fmt, "solution") == strip_regions(student, fmt, "student")
            assert not regions(solution, fmt, "student") and not regions(student, fmt, "solution")
            answers = regions(solution, fmt, "solution")
            assert answers and all(a.strip() for a in answers)
            assert ("proved:" in solution) == (detail == "full") and "proved:" not in student


def test_every_question_has_a_solution_and_room_to_answer(sheets):
    document = render(sheets["quiz8"], "md", "solution")
    questions = re.split(r"^## Question", document, flags=re.M)[1:]
    assert len(questions) == 4
    for q in questions:
        assert "<!-- solution -->" in q
    assert sum("**Answer:**" in q for q in questions) == 3  # question 3 derives the equations it states
    student = render(sheets["quiz8"], "md", "student")
    assert student.count("**Your answer:**") == 4 and "**Answer:**" not in student


def test_quiz8_answers_are_the_quiz_notation():
    from derive import dropout

    assert text(matrix_equation(dropout.forward("vanilla", "keep"))) == "H = D ⊙ Y"
    assert text(matrix_equation(dropout.backward("vanilla", "keep"))) == "∂L/∂Y = ∂L/∂H ⊙ D"
    assert text(matrix_equation(dropout.backward("inverted", "keep"))) == "∂L/∂Y = ∂L/∂H ⊙ M"
    with pytest.raises(LayergradError, match="no step uses the rule"):
        matrix_equation(dropout.forward("vanilla", "keep"), step="fold the scale into the mask")
    document = render(quiz8.build(), "md", "solution")
    assert "H = D \\odot Y" in document
    assert "\\frac{\\partial L}{\\partial Y} = \\frac{\\partial L}{\\partial H} \\odot D" in document


@pytest.mark.skipif(not latexmk_available(), reason="LaTeX is not installed")
def test_broken_latex_is_reported_in_one_line():
    with pytest.raises(LayergradError, match="Undefined control sequence"):
        build_pdf("\\documentclass{article}\\begin{document}\\nosuchcommand\\end{document}", {})


def test_write_sheet_never_replaces_an_edited_file(tmp_path):
    sheet = Sheet("tiny", "Tiny", ())
    written = write_sheet(sheet, tmp_path, ("md",), ("solution",))
    assert [p.name for p in written] == ["tiny-solution.md"]
    write_sheet(sheet, tmp_path, ("md",), ("solution",))  # unchanged: ours to replace
    written[0].write_text("my notes\n")
    with pytest.raises(LayergradError, match="--force"):
        write_sheet(sheet, tmp_path, ("md",), ("solution",))
    write_sheet(sheet, tmp_path, ("md",), ("solution",), force=True)
    assert written[0].read_text().startswith("# Tiny")


def test_without_latex_a_pdf_is_an_error_that_says_what_to_install_and_nothing_is_written(tmp_path, monkeypatch,
                                                                                            capsys):
    import worksheets.formats as formats

    monkeypatch.setattr(formats, "latexmk_available", lambda: False)
    with pytest.raises(LayergradError, match=r"apt-get install .*latexmk"):
        write_sheet(quiz8.build(), tmp_path, ("pdf",), ("student",))
    assert main(["sheet", "quiz8", "--format", "html,pdf", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot write PDF" in err and "texlive-latex-base" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
    # without --format: every format this machine can produce, and no word about the PDF
    written = write_sheet(quiz8.build(), tmp_path, versions=("student",))
    assert sorted(p.suffix for p in written) == [".html", ".md", ".png", ".tex"]


def test_parse_formats():
    assert parse_formats("pdf,md") == ("md", "pdf")
    with pytest.raises(LayergradError, match="unknown sheet format docx"):
        parse_formats("md,docx")


def test_cli_sheet(tmp_path, capsys):
    assert main(["sheet", "--list"]) == 0
    assert "quiz8" in capsys.readouterr().out
    assert main(["sheet", "quiz8", "-o", str(tmp_path), "--format", "md", "--student"]) == 0
    assert [p.name for p in tmp_path.glob("*.md")] == ["quiz8-student.md"]
    capsys.readouterr()
    for argv, message in (
        (["sheet", "quiz9", "-o", str(tmp_path)], "unknown sheet 'quiz9'"),
        (["sheet", "dropout", "--seed", "3", "-o", str(tmp_path)], "has no randomized variants"),
        (["sheet", "quiz8", "--format", "docx", "-o", str(tmp_path)], "unknown sheet format docx"),
        (["sheet", "quiz8", "--format", "md", "-o", str(tmp_path / "quiz8-student.md" / "x")], "cannot create"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
