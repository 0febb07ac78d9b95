r"""A mutation audit of derivations: is every step justified, and would a wrong step be refused?

For each step of a derivation the audit records how it is justified — by a prover (with the
side conditions it relies on) or by a declared equation — and counts steps that rest on a
*bare assumption* (an assumption that is not an equation; :meth:`Derivation.step` refuses
them, so the count should be zero). Then it alters the step's result in four ways,

==============  ==================================================================
``sign``        :math:`-\text{after}` (the right side of an equation)
``swap``        two different indices of one entry exchanged, :math:`A_{ij} \to A_{ji}`
``factor 2``    :math:`2\cdot\text{after}`
``drop term``   one term of the first sum of terms met, from the outside in, left out
==============  ==================================================================

and asks the step's own justification whether it would accept the altered result
(:meth:`Derivation.accepts`). Every *mutant* must be refused. An alteration that leaves the
expression unchanged (the result is zero, there is no entry with two different indices or
no sum of terms) is not a mutant: it is counted as skipped, with the reason. So is one that the
step accepts and that plain SymPy, independently of the index engine, finds equal in value to
the step's result at random sizes and entries once the derivation's definitions are
written out (:func:`derive.concrete.agree`) — dropping a term that differentiates to zero,
say; an accepted alteration that differs in value, or that cannot be evaluated, is a
surviving mutant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy.stats.rv import RandomSymbol

from .concrete import agree
from .derivation import Derivation, unfold

__all__ = ["MUTATIONS", "DerivationAudit", "Mutant", "StepAudit", "audit", "mutate", "summary"]


def _map(expr: sp.Basic, change: Callable[[sp.Basic], sp.Basic]) -> sp.Basic:
    """``change`` applied to the side of ``expr`` that carries the result: the right side of
    an equation, else the whole expression."""
    if isinstance(expr, sp.Equality):
        return sp.Eq(expr.lhs, change(expr.rhs), evaluate=False)
    return change(expr)


def _scaled(factor: int) -> Callable[[sp.Basic], sp.Basic]:
    def change(expr: sp.Basic) -> sp.Basic:
        if isinstance(expr, sp.MatrixBase):
            return factor * expr
        if isinstance(expr, sp.MatrixExpr):
            return sp.MatMul(factor, expr) if factor != -1 else -expr
        return sp.Mul(factor, expr)

    return change


def _entries(expr: sp.Basic) -> list[sp.Basic]:
    """Indexed entries and matrix elements, in a fixed order."""
    found = {e for e in sp.preorder_traversal(expr) if isinstance(e, (sp.Indexed, MatrixElement))}
    return sorted(found, key=sp.default_sort_key)


def _swapped(entry: sp.Basic) -> sp.Basic | None:
    indices = list(entry.indices) if isinstance(entry, sp.Indexed) else [entry.i, entry.j]
    for a in range(len(indices)):
        for b in range(a + 1, len(indices)):
            if indices[a] != indices[b]:
                indices[a], indices[b] = indices[b], indices[a]
                if isinstance(entry, sp.Indexed):
                    return entry.base[tuple(indices)]
                return MatrixElement(entry.parent, *indices)
    return None


def _swap(expr: sp.Basic) -> sp.Basic:
    """The first entry (in a fixed order) whose swap changes the expression, swapped."""
    for e in _entries(expr):
        other = _swapped(e)
        if other is None:
            continue
        changed = expr.xreplace({e: other})
        if changed != expr:
            return changed
    return expr


_OPAQUE = (sp.Indexed, sp.Symbol, sp.KroneckerDelta, sp.MatrixSymbol, RandomSymbol)


def _drop_once(expr: sp.Basic) -> tuple[sp.Basic, bool]:
    """``expr`` with the first term of the first sum of terms met (outside in, left to right)
    left out — at that one place only, never inside an index, a sum's limits or a random
    variable's distribution."""
    if isinstance(expr, sp.Add) and len(expr.args) > 1:
        rest = expr.args[1:]
        return (rest[0] if len(rest) == 1 else sp.Add(*rest)), True
    if isinstance(expr, _OPAQUE) or not expr.args:
        return expr, False
    if isinstance(expr, (sp.Sum, sp.Derivative, sp.Subs)) or type(expr).__name__ in ("Maximum", "WindowMax"):
        inner, done = _drop_once(expr.args[0])
        return (expr.func(inner, *expr.args[1:]) if done else expr), done
    if isinstance(expr, sp.MatrixBase):
        for pos, item in enumerate(expr):
            inner, done = _drop_once(item)
            if done:
                entries = list(expr)
                entries[pos] = inner
                return sp.ImmutableMatrix(expr.rows, expr.cols, entries), True
        return expr, False
    if isinstance(expr, MatrixElement):
        inner, done = _drop_once(expr.parent)
        return (MatrixElement(inner, expr.i, expr.j) if done else expr), done
    args = list(expr.args)
    for pos, arg in enumerate(args):
        inner, done = _drop_once(arg)
        if done:
            args[pos] = inner
            return expr.func(*args), True
    return expr, False


def _drop(expr: sp.Basic) -> sp.Basic:
    if isinstance(expr, sp.Equality):
        return sp.Eq(expr.lhs, _drop_once(expr.rhs)[0], evaluate=False)
    return _drop_once(expr)[0]


MUTATIONS: dict[str, Callable[[sp.Basic], sp.Basic]] = {
    "sign": lambda e: _map(e, _scaled(-1)),
    "swap": _swap,
    "factor 2": lambda e: _map(e, _scaled(2)),
    "drop term": _drop,
}
"""The four alterations, by name: each maps a step's result to its mutant."""

_NO_OP = {
    "sign": "the result is zero",
    "swap": "no entry with two different indices",
    "factor 2": "the result is zero",
    "drop term": "no sum of terms",
}


def mutate(expr: sp.Basic) -> dict[str, sp.Basic | None]:
    """Each mutation's mutant of ``expr``, or ``None`` where the alteration changes nothing."""
    out: dict[str, sp.Basic | None] = {}
    for name, change in MUTATIONS.items():
        mutant = change(expr)
        out[name] = None if mutant == expr or (_zero(expr) and name in ("sign", "factor 2")) else mutant
    return out


def _zero(expr: sp.Basic) -> bool:
    side = expr.rhs if isinstance(expr, sp.Equality) else expr
    return side == 0 or (isinstance(side, sp.MatrixBase) and side.is_zero_matrix is True)


@dataclass(frozen=True)
class Mutant:
    """One mutation of one step: ``refused`` is what the step's justification said."""

    mutation: str
    refused: bool
    error: str = ""


@dataclass
class StepAudit:
    """One step: its rule, its justification and its mutants (``skipped``: mutation → reason)."""

    number: int
    rule: str
    kind: str
    by: str
    side_conditions: tuple[str, ...]
    bare: bool
    mutants: list[Mutant] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        how = f"equation [{self.by}]" if self.kind == "equation" else f"prover: {self.by}"
        if self.side_conditions:
            how += f" (side conditions: {', '.join(self.side_conditions)})"
        if self.bare:
            how = f"BARE ASSUMPTION [{self.by}]"
        refused = sum(m.refused for m in self.mutants)
        text = f"({self.number}) {self.rule} — {how}; mutants {refused}/{len(self.mutants)} refused"
        survivors = [m.mutation for m in self.mutants if not m.refused]
        if survivors:
            text += f"; SURVIVED: {', '.join(survivors)}"
        if self.skipped:
            text += "; skipped: " + ", ".join(f"{k} ({v})" for k, v in self.skipped.items())
        return text


@dataclass
class DerivationAudit:
    """Every step of one derivation, audited."""

    title: str
    steps: list[StepAudit]

    @property
    def passed(self) -> bool:
        return all(not s.bare and all(m.refused for m in s.mutants) for s in self.steps)


def _bare(d: Derivation, number: int) -> bool:
    """Does step ``number`` rest on an assumption that is not an equation (or on nothing)?"""
    s = d.steps[number - 1]
    if s.prover is not None:
        return False
    assumed = next((a for a in d.assumptions if a.name == s.rule), None)
    return assumed is None or not assumed.is_equation


def audit(d: Derivation, mutations: Iterable[str] = tuple(MUTATIONS)) -> DerivationAudit:
    """Audit every step of ``d``: its justification, and each of ``mutations`` refused."""
    mutations = tuple(mutations)
    steps = []
    for number, s in enumerate(d.steps, start=1):
        kind, by, uses = d.justification(number)
        report = StepAudit(number, s.rule, kind, by, uses, _bare(d, number))
        for name, mutant in mutate(s.after).items():
            if name not in mutations:
                continue
            if mutant is None:
                report.skipped[name] = _NO_OP[name]
                continue
            try:
                refused = not d.accepts(number, mutant)
            except Exception as exc:  # a prover that cannot even read the mutant does not accept it
                report.mutants.append(Mutant(name, True, f"{type(exc).__name__}: {exc}"))
                continue
            if not refused and agree(unfold(s.after, d.assumptions), unfold(mutant, d.assumptions)) is True:
                report.skipped[name] = "equal in value, by plain SymPy at random points"
                continue
            report.mutants.append(Mutant(name, refused))
        steps.append(report)
    return DerivationAudit(d.title, steps)


def summary(audits: Iterable[DerivationAudit]) -> dict[str, int]:
    """Totals: steps, by kind, bare, mutants tried / refused / survived, skips, prover errors."""
    audits = list(audits)
    steps = [s for a in audits for s in a.steps]
    mutants = [m for s in steps for m in s.mutants]
    return {
        "derivations": len(audits),
        "steps": len(steps),
        "equation": sum(s.kind == "equation" and not s.bare for s in steps),
        "prover": sum(s.kind == "prover" for s in steps),
        "bare": sum(s.bare for s in steps),
        "mutants": len(mutants),
        "refused": sum(m.refused for m in mutants),
        "survived": sum(not m.refused for m in mutants),
        "errors": sum(bool(m.error) for m in mutants),
        "skipped": sum(len(s.skipped) for s in steps),
    }
