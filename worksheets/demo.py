"""The main job on built-in defaults: everything layergrad makes, written into one folder.

For every registered layer, its derivations as text, Markdown and LaTeX; a generated module
in each dropout convention; the check of each module; every worksheet, solution and student
version, as Markdown, HTML, LaTeX and (with latexmk) PDF; every notebook, the solution version
executed and the student version; and the seeds' experiments on the embedded digits data,
trained on the generated layers. Prints one line per product.
"""

from __future__ import annotations

from pathlib import Path

from derive.dropout import Convention
from derive.errors import LayergradError
from derive.registry import LAYERS
from derive.render import render_all
from numeric.checks import check_path
from numeric.experiments import EXPERIMENTS
from numeric.export import module_source
from numeric.files import foreign_files, write_output
from worksheets.experiments import run as run_experiment
from worksheets.formats import write_sheet
from worksheets.jupyter import NOTEBOOKS, write_notebook
from worksheets.sheets import SHEETS

__all__ = ["DEMO_EXPERIMENTS", "run"]

DEMO_EXPERIMENTS = tuple(EXPERIMENTS)
"""The experiments the demo runs (all of them, on the digits data)."""

_SUFFIX = {"text": "txt", "markdown": "md", "latex": "tex"}

_OWNED = ("derivations", "layers_keep.py", "layers_drop.py", "sheets", "notebooks", "experiments")
"""Where in its folder the demo writes."""


def run(folder: Path, force: bool = False) -> bool:
    """Write everything into ``folder``; return whether every check passed.

    The demo owns the places it writes to in ``folder``: it replaces what layergrad wrote there
    (edited since or not) and, unless ``force``, refuses before writing anything when one of them
    holds a file layergrad did not write, naming each such file."""
    folder = Path(folder)
    foreign = foreign_files(folder / name for name in _OWNED)
    if foreign and not force:
        shown = ", ".join(map(str, foreign[:5])) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise LayergradError(f"layergrad did not write {shown}, where the demo writes its output: "
                             f"move {'it' if len(foreign) == 1 else 'them'} away or use --force")
    force = True  # what is left there is the demo's own
    for layer in LAYERS.values():
        derivations = layer.derivations()
        for fmt, suffix in _SUFFIX.items():
            path = write_output(
                folder / "derivations" / f"{layer.name}.{suffix}",
                render_all(derivations, fmt, title=layer.name),
                force,
            )
        steps = sum(len(d.steps) for d in derivations)
        count = f"{len(derivations)} derivation{'s' * (len(derivations) != 1)}"
        print(f"derived   {layer.name}: {count}, {steps} checked steps "
              f"-> {path.parent}/{layer.name}.{{txt,md,tex}}")
    all_passed = True
    for convention in Convention:
        path = write_output(folder / f"layers_{convention.value}.py",
                            module_source("cs231n", convention), force)
        report = check_path(path)
        verdicts = report.verdicts
        passed = sum(v.passed for v in verdicts)
        all_passed &= report.passed
        print(f"exported  {path} (dropout p = {convention.value}); checks: {passed}/{len(verdicts)} passed")
        for v in verdicts:
            if not v.passed:
                print("  " + v.line())
    for entry in SHEETS.values():
        paths = write_sheet(entry.build(), folder / "sheets", force=force)
        kinds = ",".join(sorted({p.suffix[1:] for p in paths if p.suffix != ".png"}))
        print(f"sheet     {entry.name}: solution and student -> {folder / 'sheets'}/{entry.name}-*.{{{kinds}}}")
    for name in NOTEBOOKS:
        solution = write_notebook(name, folder / "notebooks", run=True, force=force)
        student = write_notebook(name, folder / "notebooks", student=True, force=force)
        print(f"notebook  {name}: {solution} (executed), {student}")
    for name in DEMO_EXPERIMENTS:
        result = run_experiment(name, "digits", folder / "experiments", force=force, quiet=True, echo=False)
        target = folder / "experiments"
        print(f"experiment {name}: {result.extra['seconds']:.0f} s -> {target}/{name}*.{{json,png,svg}}")
        for finding in result.findings:
            print(f"  {finding}")
    return all_passed
