r"""A layer the user defines, as one object: derive it, generate it, check it, teach it.

::

    from worksheets.defined import define

    layer = define("examples/layers/rmsnorm.toml")     # a path, a TOML string or a dict
    layer.derivation()        # every derivation, each step checked (math in Jupyter)
    layer.code()              # the generated NumPy module's source
    layers = layer.module()   # ... imported: layers.rmsnorm_forward, layers.rmsnorm_backward
    layer.check(my_module)    # verdicts: finite differences, comparison with the derived code
    layer.sheet("out")        # solution and student sheets (md, html, tex, pdf)
    layer.notebook("out")     # an exploration notebook (solution, or student with student=True)

The sheet and the notebook print the derivations and the generated code; nothing in them is
typed in.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sympy as sp

from derive.define import Definition
from derive.define import define as read_definition
from derive.defined import Layer, derive
from derive.errors import LayergradError
from derive.render import Derivations, render_all

from .document import Code, Formula, Heading, Sheet, Steps, para, question

__all__ = ["DefinedLayer", "define", "notebook_source", "sheet"]


class DefinedLayer:
    """A parsed definition with its derivations, generated code, checks, sheet and notebook."""

    def __init__(self, definition: Definition) -> None:
        self.definition = definition

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def derived(self) -> Layer:
        return derive(self.definition)

    def derivation(self) -> Derivations:
        """The forward pass written out, then every gradient in backward order, then the closed
        forms of normalizing layers (a tuple that prints as text and shows as math in Jupyter)."""
        return Derivations(self.derived.shown, title=self.name)

    def code(self) -> str:
        """The generated module's source: ``{name}_forward`` and ``{name}_backward``."""
        from numeric.defined_code import module_source

        return module_source([self.definition], command=f"layergrad export --define {self.name}.toml -o FILE")

    def module(self) -> types.ModuleType:
        """The generated module, imported from its source (no file is written)."""
        from numeric.defined_check import generated

        return generated(self.definition)

    def check(self, module: types.ModuleType | str | Path, *, sizes: Mapping[str, int] | None = None,
              seed: int = 0) -> list:
        """Verdicts for an implementation: a module object (checked here) or a Python file
        (checked in a child process)."""
        from numeric.defined_check import check, check_file

        if isinstance(module, (str, Path)):
            return check_file(module, [self.definition], seed=seed)
        return check(module, self.definition, sizes=sizes, seed=seed)

    def sheet(self, folder: str | Path = "out", formats: Sequence[str] = ("md", "html", "tex", "pdf"),
              versions: Sequence[str] = ("solution", "student"), force: bool = False,
              detail: str = "concise") -> list[Path]:
        """Write the solution and student sheets into ``folder`` (``detail="full"`` adds every checked
        step in an appendix); the paths written."""
        from .formats import write_sheet

        return write_sheet(sheet(self.definition), Path(folder), formats, versions, force, detail=detail)

    def notebook(self, folder: str | Path = "out", student: bool = False, run: bool = False,
                 force: bool = False) -> Path:
        """Write ``{name}.ipynb`` (or ``{name}-student.ipynb``) into ``folder``."""
        return write_notebook(self.definition, Path(folder), student=student, run=run, force=force)

    def __str__(self) -> str:
        return str(self.derivation())

    def __repr__(self) -> str:
        return f"<defined layer {self.name}: {len(self.definition.statements)} statements>"

    def _repr_markdown_(self) -> str:
        return self.derivation()._repr_markdown_()

    def _repr_html_(self) -> str:
        return self.derivation()._repr_html_()

    def _repr_latex_(self) -> str:
        return render_all(self.derivation(), "latex", title=self.name)


def define(source: str | Path | Mapping[str, Any]) -> DefinedLayer:
    """Read a definition (a TOML file path, a TOML string or a dict) into a :class:`DefinedLayer`."""
    return DefinedLayer(read_definition(source))


def _statement(defn: Definition, number: int) -> sp.Equality:
    s = defn.statements[number]
    return sp.Eq(s.lhs, s.rhs, evaluate=False)


def sheet(defn: Definition) -> Sheet:
    """The sheet of a defined layer: the forward pass, one question per gradient (the solution
    shows every derivation it needs), then the backward pass as code."""
    from numeric.defined_code import functions

    layer = derive(defn)
    loss = layer.gradients[0].derivation.start.expr if layer.gradients else sp.Symbol("L")
    blocks: list = [
        Heading("The layer", 2),
        para(defn.summary[:1].upper() + defn.summary[1:] + "." if defn.summary else f"The layer {defn.name}."),
        para("Forward pass, one statement per line (indices run from 0; an entry outside its array is 0):"),
        *(Formula(_statement(defn, n)) for n in range(len(defn.statements))),
    ]
    upstream = defn.statements[-1]
    adjoint = f"d{upstream.target}"
    blocks.append(para(f"The upstream gradient {adjoint} = ∂", loss, f"/∂{upstream.target} is given."))
    by_name = {g.name: g for g in layer.gradients}
    for number, name in enumerate(defn.differentiated, start=1):
        g = by_name[name]
        needed = _needed(layer, name)
        answer = [*(Steps(by_name[n].derivation) for n in needed), Formula(g.derivation.equation, "Answer")]
        closed = layer.closed_forms.get(name)
        if closed is not None:
            answer += [para("The same gradient from the forward pass written out, in closed form:"), Steps(closed),
                       Formula(closed.equation, "Closed form")]
        blocks += question(
            str(number),
            [para("Derive ", g.derivation.start, f" in terms of {adjoint} and the forward pass's values.")],
            answer,
        )
    backward = functions(defn)[1]
    blocks += question(
        str(len(defn.differentiated) + 1),
        [para(f"Write {defn.name}_backward(dout, cache), vectorized with NumPy (no loops over entries).")],
        [Code(backward.source, "generated from the derivations above")],
        space=12,
    )
    return Sheet(defn.name, f"{defn.name}: derive the backward pass", tuple(blocks))


def _needed(layer: Layer, name: str) -> list[str]:
    """The gradients ``name``'s gradient uses, in the order they are derived (itself last)."""
    by_name = {g.name: g for g in layer.gradients}
    out: list[str] = []

    def visit(n: str) -> None:
        for e in by_name[n].code.atoms(sp.Indexed, sp.Symbol):
            base = e.base if isinstance(e, sp.Indexed) else e
            label = str(getattr(base, "label", base))
            if type(base).__name__ == "Adjoint" and label in by_name and label not in out:
                visit(label)
            elif isinstance(e, sp.Symbol) and label.startswith("d") and label[1:] in by_name and label[1:] not in out:
                visit(label[1:])
        if n not in out:
            out.append(n)

    visit(name)
    return out


def notebook_source(defn: Definition) -> str:
    """The ``py:percent`` source of the exploration notebook of ``defn``."""
    from numeric.defined_code import functions

    table = repr(dict(defn.table))
    summary = " ".join((defn.summary or defn.name).split()).replace("%%", "%")  # one line: no new cell
    backward = functions(defn)[1].source
    name = defn.name
    body = backward.split('"""', 2)[2] if backward.count('"""') >= 2 else backward
    return f'''# %% [markdown]
# # {name}, derived and explored
#
# {summary}. Every formula below is printed from a derivation layergrad checked
# step by step, and every number is computed by the code it generated from them.

# %%
import numpy as np

from worksheets.defined import define
from worksheets.jupyter import show, show_code

layer = define({table})
generated = layer.module()
# the generated module's helpers (_read, _scatter, ...) and its error type, for the exercise
globals().update({{k: v for k, v in vars(generated).items() if k.startswith("_") and not k.startswith("__")}})
LayergradError = generated.LayergradError

# %% [markdown]
# ## 1. The derivations

# %%
show(*layer.derivation())

# %% [markdown]
# ## 2. The generated code

# %%
show_code(layer.code())

# %% [markdown]
# ## 3. Exercise: the backward pass by hand
#
# Write `{name}_backward(dout, cache)`; `cache` is what the generated forward pass returns.
# The cell after checks it by finite differences and against the derived gradients.

# %%
def {name}_backward(dout, cache):
    ### BEGIN SOLUTION
    {body.strip()}
    ### END SOLUTION


# %%
mine = type(generated)("mine")
mine.__dict__.update(generated.__dict__)
mine.{name}_backward = {name}_backward
for verdict in layer.check(mine):
    print(verdict.line())
assert all(verdict.passed for verdict in layer.check(mine))
'''


def write_notebook(defn: Definition, folder: Path, student: bool = False, run: bool = False,
                   force: bool = False) -> Path:
    """Write the notebook of ``defn`` (solution, or student version) into ``folder``."""
    import jupytext
    import nbformat

    from numeric.files import write_output

    from .jupyter import _OPENING, _REGION, _student_source, execute

    notebook = jupytext.reads(notebook_source(defn), fmt="py:percent")
    notebook.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python"}}
    for count, cell in enumerate(notebook.cells):
        cell.metadata.pop("lines_to_next_cell", None)
        if _OPENING.findall(cell.source):
            if len(_REGION.findall(cell.source)) != len(_OPENING.findall(cell.source)):
                raise LayergradError(f"notebook {defn.name}: unbalanced solution markers")
            cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False,
                                         "grade_id": f"{defn.name}-solution-{count}", "schema_version": 3}
            if student:
                cell.source = _student_source(cell.source, cell.cell_type)
    if run:
        execute(notebook)
    path = folder / f"{defn.name}{'-student' if student else ''}.ipynb"
    return write_output(path, nbformat.writes(notebook) + "\n", force)
