"""Randomized variants for the LMS (Quiz 8 and batch normalization): parsed back, every answer
compared with the answer-key CSV."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import pytest

from layergrad.cli import main
from worksheets.lms import SHEET_KINDS, TOLERANCE

SEEDS = range(1, 21)
QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
MANIFEST = "{http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1}"


@pytest.fixture(scope="module", params=list(SHEET_KINDS))
def folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    sheet = request.param
    out = tmp_path_factory.mktemp(f"lms-{sheet}")
    assert main(["sheet", sheet, "--seeds", "1-20", "--format", "md", "--solution", "--lms", "moodle,qti",
                 "-o", str(out)]) == 0
    return sheet, out


def key_answer(row: dict[str, str], kind: str, where: list[int]) -> float:
    """The answer to a question, read from the answer-key CSV row of its variant."""
    if kind.startswith("general-"):
        shape = [int(n) for n in row["general_out_shape"].split("x")]
        return float(shape[2] if kind == "general-height" else shape[3])
    if kind == "bn-gradient":
        assert row["entry"] == f"({where[0] + 1}, {where[1] + 1})"  # the entry the sheet asks for
        return float(row["dL_dX_entry"])
    column = {"dropout-forward": "H", "dropout-backward": "dL_dY", "conv-output": "O", "bn-mean": "mu",
              "bn-variance": "var", "bn-output": "Y"}[kind]
    value = json.loads(row[column])
    if kind in ("bn-mean", "bn-variance"):
        value = value[0]  # one row: a value per feature
    for k in where:
        value = value[k]
    return float(value)


def compare(sheet: str, folder: Path, found: list[tuple[str, float, float]]) -> None:
    """``found``: (name, answer, tolerance) of every question parsed back. Quiz 8's answers are the
    key's exactly; batch normalization's, rounded to the key's four places."""
    with (folder / f"{sheet}-answer-key.csv").open(newline="") as stream:
        keys = {int(row["seed"]): row for row in csv.DictReader(stream)}
    assert set(keys) == set(SEEDS)
    seen = set()
    for name, answer, tolerance in found:
        seed, kind, at = re.fullmatch(rf"{sheet} seed (\d+) ([a-z-]+)((?:\[\d+\])*)", name).groups()
        where = [int(k) for k in re.findall(r"\d+", at)]
        expected = key_answer(keys[int(seed)], kind, where)
        assert (answer if sheet == "quiz8" else round(answer, 4)) == pytest.approx(expected, abs=1e-9), name
        assert tolerance == TOLERANCE
        seen.add((int(seed), kind))
    assert seen == {(s, k) for s in SEEDS for k in SHEET_KINDS[sheet]}  # every variant, every question, once
    assert len(found) == len(seen)


def test_moodle_xml_parses_back_to_the_answer_key(folder: tuple[str, Path]) -> None:
    import xml.etree.ElementTree as ET

    sheet, out = folder
    quiz = ET.parse(out / f"{sheet}-moodle.xml").getroot()
    assert quiz.tag == "quiz"
    categories = [q.findtext("category/text") for q in quiz.findall("question[@type='category']")]
    assert len(categories) == len(SHEET_KINDS[sheet]) and all(f"layergrad {sheet}/" in c for c in categories)
    found = []
    for question in quiz.findall("question[@type='numerical']"):
        (answer,) = question.findall("answer")
        assert answer.get("fraction") == "100"
        assert "Give" in question.findtext("questiontext/text")
        found.append((question.findtext("name/text"), float(answer.findtext("text")),
                      float(answer.findtext("tolerance"))))
    compare(sheet, out, found)


def test_qti_package_parses_back_to_the_answer_key(folder: tuple[str, Path]) -> None:
    import xml.etree.ElementTree as ET

    sheet, out = folder
    with zipfile.ZipFile(out / f"{sheet}-qti.zip") as package:
        manifest = ET.fromstring(package.read("imsmanifest.xml"))
        (resource,) = manifest.iter(f"{MANIFEST}resource")
        assert resource.get("type") == "imsqti_xmlv1p2"
        href = resource.find(f"{MANIFEST}file").get("href")
        assessment = ET.fromstring(package.read(href)).find(f"{QTI}assessment")
    groups = assessment.find(f"{QTI}section").findall(f"{QTI}section")
    assert [g.get("title") for g in groups] == list(SHEET_KINDS[sheet].values())
    found = []
    for group in groups:
        assert group.findtext(f"{QTI}selection_ordering/{QTI}selection/{QTI}selection_number") == "1"
        for item in group.findall(f"{QTI}item"):
            fields = {f.findtext(f"{QTI}fieldlabel"): f.findtext(f"{QTI}fieldentry")
                      for f in item.iter(f"{QTI}qtimetadatafield")}
            assert fields["question_type"] == "numerical_question"
            condition = item.find(f"{QTI}resprocessing/{QTI}respcondition/{QTI}conditionvar/{QTI}or")
            answer = float(condition.findtext(f"{QTI}varequal"))
            low = float(condition.findtext(f"{QTI}and/{QTI}vargte"))
            high = float(condition.findtext(f"{QTI}and/{QTI}varlte"))
            assert low < answer < high
            found.append((item.get("title"), answer, round((high - low) / 2, 12)))
    compare(sheet, out, found)


def test_lms_needs_seeds_and_a_known_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sheet", "quiz8", "--lms", "qti", "-o", str(tmp_path)]) == 2
    assert main(["sheet", "quiz8", "--seeds", "1", "--lms", "blackboard", "-o", str(tmp_path)]) == 2
    assert main(["sheet", "dropout", "--seeds", "1", "--lms", "qti", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--lms applies only with --seeds" in err and "unknown --lms format blackboard" in err
    assert "has no randomized variants" in err
    assert not list(tmp_path.iterdir())
