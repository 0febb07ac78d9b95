"""PDF from a sheet's LaTeX, built with ``latexmk`` in a scratch folder.

The build never touches the output folder: the ``.tex`` and its figures are copied into a
temporary folder, ``latexmk -pdf`` runs there, and only the finished PDF comes back (the
caller writes it with :func:`numeric.files.write_output`). A failed build raises
:class:`~derive.errors.LayergradError` quoting LaTeX's first error line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from derive.errors import LayergradError

__all__ = ["LATEX_INSTALL", "PdfBuild", "build_pdf", "latexmk_available", "overfull_boxes"]

LATEX_INSTALL = (
    "latexmk and pdflatex are not installed (Debian/Ubuntu: apt-get install texlive-latex-base "
    "texlive-latex-recommended texlive-fonts-recommended latexmk)"
)


@dataclass(frozen=True)
class PdfBuild:
    """The PDF's bytes and LaTeX's log (for warnings such as overfull boxes)."""

    pdf: bytes
    log: str


def latexmk_available() -> bool:
    """Are ``latexmk`` and ``pdflatex`` on the PATH?"""
    return shutil.which("latexmk") is not None and shutil.which("pdflatex") is not None


def overfull_boxes(log: str) -> list[float]:
    """How far (in pt) each overfull ``\\hbox`` in a LaTeX log sticks out."""
    return [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


def build_pdf(tex: str, figures: dict[str, bytes], timeout: float = 120.0) -> PdfBuild:
    """Compile ``tex`` (with ``figures``: file name → PNG bytes) to PDF."""
    if not latexmk_available():
        raise LayergradError(f"cannot build a PDF: {LATEX_INSTALL}")
    with tempfile.TemporaryDirectory(prefix="layergrad-tex-") as scratch:
        folder = Path(scratch)
        (folder / "sheet.tex").write_text(tex, encoding="utf-8")
        for name, data in figures.items():
            (folder / name).write_bytes(data)
        command = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
                   "-quiet", "sheet.tex"]
        try:
            run = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LayergradError(f"LaTeX did not finish within {timeout:.0f} s") from None
        log_path = folder / "sheet.log"
        log = log_path.read_text(encoding="latin-1") if log_path.exists() else run.stdout + run.stderr
        pdf = folder / "sheet.pdf"
        if run.returncode != 0 or not pdf.exists():
            errors = [line for line in log.splitlines() if line.startswith("!") or re.match(r"\S*\.tex:\d+: ", line)]
            first = errors[0] if errors else (run.stderr.strip().splitlines() or ["no log"])[-1]
            raise LayergradError(f"LaTeX failed to build the PDF: {first.strip()}")
        return PdfBuild(pdf.read_bytes(), log)
