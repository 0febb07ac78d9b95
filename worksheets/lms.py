r"""Randomized variants as LMS question banks: Moodle XML and a QTI 1.2 package (Canvas).

Each variant becomes numerical questions, each self-contained (it shows the variant's given
data), with the answer computed by the generated code (:mod:`worksheets.variants`). A Quiz 8
variant gives five:

1. an entry of the dropout output :math:`H = Y \odot D / q`;
2. an entry of :math:`\partial L/\partial Y = \partial L/\partial H \odot D / q`;
3. an entry of the convolution output :math:`O` of question 3;
4. and 5. the height :math:`H'` and width :math:`W'` of the general layer's output,
   :math:`1 + (H + 2P - HH)/S`.

A batch-normalization variant gives four: a feature's batch mean :math:`\mu_j`, its (biased)
batch variance :math:`\sigma_j^2`, an entry of the output :math:`Y = \gamma Z + \beta` with
:math:`Z = (X - \mu)/\sqrt{\sigma^2 + \varepsilon}`, and the entry of :math:`\partial L/\partial X`
the sheet asks for (the closed form); the answer key shows the same numbers rounded to four places.

The asked entry is drawn from the seed among the entries that are not trivially zero. Questions
of one kind are grouped across variants (a Moodle category, a QTI section that picks one item),
so that each student draws one variant of each question. Answers are accepted within
:data:`TOLERANCE`: Quiz 8's answers are exact decimals with at most two places, and the
batch-normalization questions ask for two decimal places.

The QTI package is written here with the standard library (``imsmanifest.xml`` and one
assessment in QTI 1.2, the dialect Canvas imports); Moodle XML likewise.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from derive.dropout import Convention
from derive.errors import LayergradError
from numeric.files import write_output

from .variants import BatchNormVariant, QuizVariant

__all__ = [
    "BATCHNORM_KINDS",
    "KINDS",
    "LMS_FILES",
    "SHEET_KINDS",
    "TOLERANCE",
    "LmsQuestion",
    "batchnorm_questions",
    "lms_file",
    "lms_questions",
    "moodle_xml",
    "qti_package",
    "write_lms",
]

TOLERANCE = 0.005
"""Absolute tolerance of every numerical answer."""

KINDS = {
    "dropout-forward": "Dropout forward pass",
    "dropout-backward": "Dropout backward pass",
    "conv-output": "Convolution output",
    "general-height": "Output height of a convolutional layer",
    "general-width": "Output width of a convolutional layer",
}
"""Quiz 8's question kinds, in order, with their group titles."""

BATCHNORM_KINDS = {
    "bn-mean": "Batch normalization: batch mean",
    "bn-variance": "Batch normalization: batch variance",
    "bn-output": "Batch normalization: output",
    "bn-gradient": "Batch normalization: gradient of the input",
}
"""The batch-normalization sheet's question kinds, in order, with their group titles."""

SHEET_KINDS = {"quiz8": KINDS, "batchnorm": BATCHNORM_KINDS}
"""The sheets with LMS questions and their kinds."""

LMS_FILES = {"moodle": "{sheet}-moodle.xml", "qti": "{sheet}-qti.zip"}
"""Each LMS format and its file name."""


def lms_file(kind: str, sheet: str = "quiz8") -> str:
    """The file name of ``sheet``'s questions in the LMS format ``kind``."""
    return LMS_FILES[kind].format(sheet=sheet)


@dataclass(frozen=True)
class LmsQuestion:
    """One numerical question: ``name`` says seed, kind and the asked entry (``where``, from 0)."""

    seed: int
    kind: str
    where: tuple[int, ...]
    html: str
    answer: float
    sheet: str = "quiz8"

    @property
    def name(self) -> str:
        at = "".join(f"[{k}]" for k in self.where)
        return f"{self.sheet} seed {self.seed} {self.kind}{at}"

    @property
    def ident(self) -> str:
        return f"{self.sheet}-s{self.seed}-{self.kind}"


def _matrix(a: np.ndarray) -> str:
    rows = "".join("<tr>" + "".join(f"<td>{_number(x)}</td>" for x in row) + "</tr>" for row in np.asarray(a))
    return f'<table border="1" style="border-collapse:collapse;text-align:right">{rows}</table>'


def _vector(a: np.ndarray) -> str:
    return "(" + ", ".join(_number(x) for x in np.asarray(a)) + ")"


def _number(x: float) -> str:
    x = float(np.round(x, 10)) + 0.0
    return str(int(x)) if x.is_integer() else f"{x:g}"


def _pick(seed: int, kind: int, interesting: np.ndarray) -> tuple[int, ...]:
    """An entry drawn from the seed among the ``interesting`` ones (any entry when there is none)."""
    rng = np.random.default_rng([seed, 8, kind])
    candidates = np.argwhere(interesting) if interesting.any() else np.argwhere(np.ones_like(interesting))
    return tuple(int(k) for k in candidates[rng.integers(len(candidates))])


def _entry(where: tuple[int, ...]) -> str:
    return f"row {where[0] + 1}, column {where[1] + 1}"


def lms_questions(variant: QuizVariant) -> list[LmsQuestion]:
    """The five numerical questions of ``variant``, in the order of :data:`KINDS`."""
    v, c, g, seed = variant.dropout, variant.conv, variant.general, variant.seed
    meaning = "the keep probability" if v.convention is Convention.KEEP else "the drop rate"
    given = (f"<p>Inverted dropout in training, with p = {_number(v.p)} ({meaning}). The input is</p>"
             f"<p>Y = {_matrix(v.Y)}</p><p>and the mask drawn is (1 = kept)</p><p>D = {_matrix(v.D)}</p>")
    forward = _pick(seed, 1, (v.D != 0) & (v.Y != 0))
    backward = _pick(seed, 2, (v.D != 0) & (v.G != 0))
    conv_at = _pick(seed, 3, c.O != 0)
    ch = c.choice
    sizes = g.choice
    general = (f"<p>A convolutional layer takes a batch of N = {g.N} inputs with C = {g.C} channels of "
               f"{sizes.H}×{sizes.W} pixels and applies F = {g.F} filters of size {sizes.HH}×{sizes.WW} with "
               f"stride S = {sizes.S} and zero padding P = {sizes.P}. Its output has shape N × F × H′ × W′.</p>")
    return [
        LmsQuestion(seed, "dropout-forward", forward,
                    given + f"<p>Give the output H at {_entry(forward)}.</p>", float(v.H[forward])),
        LmsQuestion(seed, "dropout-backward", backward,
                    given + f"<p>The upstream gradient is</p><p>∂L/∂H = {_matrix(v.G)}</p>"
                    f"<p>Give ∂L/∂Y at {_entry(backward)}.</p>", float(v.dY[backward])),
        LmsQuestion(seed, "conv-output", conv_at,
                    f"<p>Convolve (cross-correlate, as the course's layers do) the input</p><p>X = {_matrix(c.X)}</p>"
                    f"<p>with the filter</p><p>W = {_matrix(c.Wf)}</p><p>with stride {ch.S}, zero padding {ch.P} "
                    f"and no bias. Give the output O at {_entry(conv_at)}.</p>", float(c.O[conv_at])),
        LmsQuestion(seed, "general-height", (), general + "<p>Give H′.</p>", float(g.out_shape[2])),
        LmsQuestion(seed, "general-width", (), general + "<p>Give W′.</p>", float(g.out_shape[3])),
    ]


def batchnorm_questions(variant: BatchNormVariant) -> list[LmsQuestion]:
    """The four numerical questions of a batch-normalization ``variant``, in the order of
    :data:`BATCHNORM_KINDS`, with the answers the generated code computes."""
    v, seed = variant, variant.seed
    given = (f"<p>Batch normalization in training (batch statistics, ε = {v.eps:g}) of the batch</p>"
             f"<p>X = {_matrix(v.X)}</p><p>(rows are examples, columns features), with γ = {_vector(v.gamma)} "
             f"and β = {_vector(v.beta)}, one entry per column. The batch variance divides by the number of "
             "rows.</p>")
    feature = _pick(seed, 4, np.ones(v.X.shape[1], dtype=bool))[0]
    spread = _pick(seed, 5, np.ones(v.X.shape[1], dtype=bool))[0]
    output = _pick(seed, 6, np.round(v.Y, 4) != 0)
    at = (v.row, v.col)

    return [
        LmsQuestion(seed, "bn-mean", (feature,),
                    given + f"<p>Give the batch mean μ of column {feature + 1}, to two decimal places.</p>",
                    float(v.mu[feature]), "batchnorm"),
        LmsQuestion(seed, "bn-variance", (spread,),
                    given + f"<p>Give the batch variance σ² of column {spread + 1}, to two decimal "
                    "places.</p>",
                    float(v.var[spread]), "batchnorm"),
        LmsQuestion(seed, "bn-output", output,
                    given + f"<p>Give the output Y at {_entry(output)}, to two decimal places.</p>",
                    float(v.Y[output]), "batchnorm"),
        LmsQuestion(seed, "bn-gradient", at,
                    given + f"<p>The upstream gradient is</p><p>∂L/∂Y = {_matrix(v.dY)}</p>"
                    f"<p>Give ∂L/∂X at {_entry(at)}, to two decimal places.</p>", float(v.dX[at]), "batchnorm"),
    ]


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    ET.SubElement(element, "text").text = text
    return element


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


_TITLES = {kind: title for kinds in SHEET_KINDS.values() for kind, title in kinds.items()}


def _by_kind(questions: Sequence[LmsQuestion]) -> dict[str, list[LmsQuestion]]:
    """The questions grouped by kind, kinds in the order of their sheet's list."""
    kinds = sorted({q.kind for q in questions}, key=list(_TITLES).index)
    return {kind: [q for q in questions if q.kind == kind] for kind in kinds}


def moodle_xml(questions: Sequence[LmsQuestion], points: float = 1.0) -> bytes:
    """Moodle XML: one category per question kind, a numerical question per variant with its
    answer at 100 % within :data:`TOLERANCE`."""
    quiz = ET.Element("quiz")
    for kind, group in _by_kind(questions).items():
        category = ET.SubElement(quiz, "question", type="category")
        _text(category, "category", f"$course$/top/layergrad {group[0].sheet}/{_TITLES[kind]}")
        for q in group:
            question = ET.SubElement(quiz, "question", type="numerical")
            _text(question, "name", q.name)
            _text(question, "questiontext", q.html, format="html")
            ET.SubElement(question, "defaultgrade").text = f"{points:g}"
            ET.SubElement(question, "penalty").text = "0"
            answer = _text(question, "answer", repr(q.answer), fraction="100", format="moodle_auto_format")
            ET.SubElement(answer, "tolerance").text = repr(TOLERANCE)
            _text(answer, "feedback", "", format="html")
            ET.SubElement(question, "unitgradingtype").text = "0"
            ET.SubElement(question, "showunits").text = "3"
    return _xml(quiz)


QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
MANIFEST_NS = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"


def _metadata(parent: ET.Element, fields: dict[str, str]) -> None:
    meta = ET.SubElement(parent, "qtimetadata")
    for label, entry in fields.items():
        field = ET.SubElement(meta, "qtimetadatafield")
        ET.SubElement(field, "fieldlabel").text = label
        ET.SubElement(field, "fieldentry").text = entry


def _qti_item(section: ET.Element, q: LmsQuestion, points: float) -> None:
    item = ET.SubElement(section, "item", ident=q.ident, title=q.name)
    _metadata(ET.SubElement(item, "itemmetadata"), {"question_type": "numerical_question",
                                                     "points_possible": f"{points:g}"})
    presentation = ET.SubElement(item, "presentation")
    ET.SubElement(ET.SubElement(presentation, "material"), "mattext", texttype="text/html").text = q.html
    response = ET.SubElement(presentation, "response_str", ident="response1", rcardinality="Single")
    ET.SubElement(ET.SubElement(response, "render_fib", fibtype="Decimal"), "response_label", ident="answer1")
    processing = ET.SubElement(item, "resprocessing")
    ET.SubElement(ET.SubElement(processing, "outcomes"), "decvar", maxvalue="100", minvalue="0", varname="SCORE",
                  vartype="Decimal")
    condition = ET.SubElement(processing, "respcondition", {"continue": "No"})
    either = ET.SubElement(ET.SubElement(condition, "conditionvar"), "or")
    ET.SubElement(either, "varequal", respident="response1").text = repr(q.answer)
    within = ET.SubElement(either, "and")
    ET.SubElement(within, "vargte", respident="response1").text = repr(q.answer - TOLERANCE)
    ET.SubElement(within, "varlte", respident="response1").text = repr(q.answer + TOLERANCE)
    ET.SubElement(condition, "setvar", action="Set", varname="SCORE").text = "100"


def qti_package(questions: Sequence[LmsQuestion], title: str | None = None, points: float = 1.0) -> bytes:
    """A QTI 1.2 package (zip with ``imsmanifest.xml``): one assessment whose sections, one per
    question kind, each pick one of the variants' numerical questions at random."""
    sheet = questions[0].sheet if questions else "quiz8"
    title = title or f"{'Quiz 8' if sheet == 'quiz8' else 'Batch normalization'} (layergrad variants)"
    ident = f"layergrad-{sheet}"
    root = ET.Element("questestinterop", xmlns=QTI_NS)
    assessment = ET.SubElement(root, "assessment", ident=ident, title=title)
    _metadata(assessment, {"cc_maxattempts": "1"})
    top = ET.SubElement(assessment, "section", ident="root_section")
    for kind, group in _by_kind(questions).items():
        section = ET.SubElement(top, "section", ident=f"group-{kind}", title=_TITLES[kind])
        selection = ET.SubElement(ET.SubElement(section, "selection_ordering"), "selection")
        ET.SubElement(selection, "selection_number").text = "1"
        ET.SubElement(ET.SubElement(selection, "selection_extension"), "points_per_item").text = f"{points:g}"
        for q in group:
            _qti_item(section, q, points)
    manifest = ET.Element("manifest", identifier=f"{ident}-manifest", xmlns=MANIFEST_NS)
    metadata = ET.SubElement(manifest, "metadata")
    ET.SubElement(metadata, "schema").text = "IMS Content"
    ET.SubElement(metadata, "schemaversion").text = "1.1.3"
    ET.SubElement(manifest, "organizations")
    resource = ET.SubElement(ET.SubElement(manifest, "resources"), "resource", identifier=ident,
                             type="imsqti_xmlv1p2")
    ET.SubElement(resource, "file", href=f"{ident}/{ident}.xml")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in (("imsmanifest.xml", _xml(manifest)), (f"{ident}/{ident}.xml", _xml(root))):
            package.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def write_lms(kind: str, seeds: Sequence[int], folder: str | Path, force: bool = False,
              choices: list | None = None, sheet: str = "quiz8") -> Path:
    """Write the variants of ``sheet`` (``quiz8`` or ``batchnorm``) for ``seeds`` as ``kind``
    (``moodle`` or ``qti``) into ``folder``."""
    from .variants import make_batchnorm_variant, make_variant

    if kind not in LMS_FILES:
        raise LayergradError(f"unknown LMS format {kind!r}; expected one of {', '.join(LMS_FILES)}")
    if sheet not in SHEET_KINDS:
        raise LayergradError(f"sheet {sheet!r} has no LMS questions; these do: {', '.join(SHEET_KINDS)}")
    if sheet == "batchnorm":
        questions = [q for seed in seeds for q in batchnorm_questions(make_batchnorm_variant(seed))]
    else:
        questions = [q for seed in seeds for q in lms_questions(make_variant(seed, choices))]
    data = moodle_xml(questions) if kind == "moodle" else qti_package(questions)
    return write_output(Path(folder) / lms_file(kind, sheet), data, force)
