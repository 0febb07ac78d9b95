"""Look at every page: the PDF of every sheet (both versions, both details, variants) rendered
page by page (``pdftoppm``) and its HTML rendered by headless Chromium, failing on an overfull
box, a page larger than A4, ink beyond the right margin, or an equation wider than its column.

Quiz 8's solution must fit on two pages in the default (concise) mode and show every answer
the quiz asks for; the full mode keeps every checked step.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from derive import conv, dropout
from worksheets.document import Sheet
from worksheets.formats import render
from worksheets.formats.pdf import build_pdf, latexmk_available, overfull_boxes
from worksheets.sheets import SHEETS, batchnorm, quiz8
from worksheets.variants import make_batchnorm_variant, make_variant

A4 = (595.28, 841.89)
"""A4 in PostScript points."""
DPI = 40
MARGIN_CM = 1.0
"""Ink closer than this to the right edge of the paper has run off the text block (2 cm margins)."""

needs_poppler = pytest.mark.skipif(not (latexmk_available() and shutil.which("pdftoppm") and shutil.which("pdfinfo")),
                                   reason="LaTeX or poppler-utils is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


@cache
def _sheets() -> tuple[Sheet, ...]:
    return (*(entry.build() for entry in SHEETS.values()), quiz8.build(make_variant(5)),
            batchnorm.build(make_batchnorm_variant(5)))


def _cases() -> list[tuple[Sheet, str, str]]:
    cases = []
    for sheet in _sheets():
        cases += [(sheet, "solution", "concise"), (sheet, "student", "concise")]
        if sheet.name in ("quiz8", "batchnorm", "dropout"):
            cases.append((sheet, "solution", "full"))
    return cases


def read_pgm(data: bytes) -> np.ndarray:
    """A binary PGM (``P5``, 8 bits) as a 2-D array."""
    match = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    assert match, "not a binary PGM"
    width, height = int(match.group(1)), int(match.group(2))
    return np.frombuffer(data, dtype=np.uint8, offset=match.end(), count=width * height).reshape(height, width)


def rightmost_ink(page: np.ndarray) -> int:
    """The column of the rightmost non-white pixel (-1 for an empty page)."""
    columns = np.flatnonzero((page < 200).any(axis=0))
    return int(columns[-1]) if columns.size else -1


def page_sizes(pdf: Path) -> list[tuple[float, float]]:
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "999", str(pdf)], capture_output=True, text=True, check=True)
    return [(float(w), float(h)) for w, h in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info.stdout)]


def pages(pdf: Path) -> list[np.ndarray]:
    """Every page of ``pdf`` as a grey image at :data:`DPI`."""
    out = pdf.with_suffix("")
    subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", str(pdf), str(out)], check=True, capture_output=True)
    return [read_pgm(p.read_bytes()) for p in sorted(pdf.parent.glob(f"{out.name}-*.pgm"))]


@cache
def _built(index: int) -> tuple[bytes, str]:
    sheet, version, detail = _cases()[index]
    figures = {f"{sheet.name}-{f.name}.png": f.png for f in sheet.figures()}
    build = build_pdf(render(sheet, "tex", version, detail), figures)
    return build.pdf, build.log


def _all_built() -> list[tuple[bytes, str]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(_built, range(len(_cases()))))


def test_the_ink_check_sees_a_line_that_runs_off():
    page = np.full((100, 80), 255, dtype=np.uint8)
    assert rightmost_ink(page) == -1
    page[50, 10:79] = 0
    assert rightmost_ink(page) == 78
    header = b"P5\n3 2\n255\n"
    assert read_pgm(header + bytes([255, 0, 255, 255, 255, 255])).tolist() == [[255, 0, 255], [255, 255, 255]]


@needs_poppler
def test_every_pdf_page_fits_its_paper(tmp_path):
    limit = round((A4[0] / 72 - MARGIN_CM / 2.54) * DPI)
    for n, ((sheet, version, detail), (pdf, log)) in enumerate(zip(_cases(), _all_built())):
        label = f"{sheet.name} {version} {detail}"
        assert pdf.startswith(b"%PDF") and overfull_boxes(log) == [], label
        assert "[U+" not in render(sheet, "tex", version, detail), f"{label}: a character has no LaTeX form"
        path = tmp_path / f"sheet{n}.pdf"
        path.write_bytes(pdf)
        sizes = page_sizes(path)
        assert sizes and all(abs(w - A4[0]) < 1 and abs(h - A4[1]) < 1 for w, h in sizes), (label, sizes)
        for number, page in enumerate(pages(path), start=1):
            assert rightmost_ink(page) < limit, f"{label}: page {number} has ink beyond the right margin"


@needs_poppler
def test_quiz8_solution_is_two_pages_with_every_answer_and_full_keeps_every_step(tmp_path):
    sheet = SHEETS["quiz8"].build()
    concise, full = (_built(_cases().index((_sheets()[0], "solution", d))) for d in ("concise", "full"))
    sizes = {}
    for name, (pdf, _) in (("concise", concise), ("full", full)):
        (tmp_path / f"{name}.pdf").write_bytes(pdf)
        sizes[name] = len(page_sizes(tmp_path / f"{name}.pdf"))
    assert sizes["concise"] <= 2 < sizes["full"]
    tex = render(sheet, "tex", "solution")
    from derive.printing import latex
    from worksheets.sheets.common import matrix_equation

    answers = [matrix_equation(dropout.forward("vanilla", "keep")),
               matrix_equation(dropout.backward("vanilla", "keep")),
               conv.forward(dilation=False).steps[0].after, conv.output_size(dilation=False).result.rhs,
               *(e.rhs for e in conv.quiz_example().equations)]
    for answer in answers:
        assert latex(answer) in tex, answer
    full_tex = render(sheet, "tex", "solution", "full")
    for d in sheet.derivations("solution"):
        for step in d.steps:
            assert latex(step.after).split(r"\\")[0][:60] in full_tex, (d.title, step.rule)


_MEASURE = """
<script>
window.addEventListener('load', () => {
  const page = document.documentElement;
  const wide = [];
  for (const el of document.querySelectorAll('math[display="block"], table, figure, pre, p, li, h1, h2, h3')) {
    if (el.scrollWidth > el.clientWidth + 1) wide.push(el.tagName + ':' + (el.textContent || '').slice(0, 60));
  }
  for (const el of document.querySelectorAll('math[display="block"], table, pre')) {
    const over = el.scrollHeight - el.clientHeight;
    if (over > 1) wide.push('scrolls vertically by ' + over + ' px: ' + (el.textContent || '').slice(0, 60));
  }
  const out = document.createElement('pre');
  out.id = 'layout-report';
  out.textContent = JSON.stringify({page: page.scrollWidth, view: page.clientWidth, wide: wide});
  document.body.appendChild(out);
});
</script>
"""


def chromium_layout(html: str, width: int) -> dict:
    """Load ``html`` in headless Chromium at ``width`` pixels and measure what overflows."""
    import json

    with tempfile.TemporaryDirectory(prefix="layergrad-chromium-") as scratch:
        page = Path(scratch) / "sheet.html"
        page.write_text(html.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={scratch}/profile", f"--window-size={width},900", "--virtual-time-budget=5000",
                   "--dump-dom", page.as_uri()]
        run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="layout-report">(.*?)</pre>', run.stdout, re.S)
    assert match, f"chromium gave no layout report: {run.stderr[-300:]}"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">"))


@needs_chromium
def test_the_html_check_sees_an_equation_that_runs_off():
    wide = "<math display='block'><mi>" + "x" * 400 + "</mi></math>"
    report = chromium_layout(f"<html><body style='max-width:30rem'>{wide}</body></html>", 800)
    assert report["wide"] or report["page"] > report["view"]
    tall = "<table style='display:block;height:1em;overflow:auto'><tr><td><math><mfrac><mn>1</mn><mn>2</mn></mfrac>"
    report = chromium_layout(f"<html><body>{tall}</math></td></tr></table></body></html>", 800)
    assert any("vertically" in w for w in report["wide"])


@needs_chromium
@pytest.mark.parametrize("index", range(len(SHEETS) + 2))
def test_every_html_sheet_fits_the_window(index):
    sheet = _sheets()[index]
    cases = (("solution", "full"), ("student", "concise")) if index < len(SHEETS) else (("solution", "concise"),)
    for version, detail in cases:
        report = chromium_layout(render(sheet, "html", version, detail), 1000)
        assert report["page"] <= report["view"], (sheet.name, version, report)
        assert not report["wide"], (sheet.name, version, report["wide"][:5])
