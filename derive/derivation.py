r"""Derivations: ordered, checked steps from a starting expression to a result.

A :class:`Derivation` starts from an expression (say :math:`\partial L / \partial Y_{ij}`) and
moves through steps. Each :class:`Step` names the rule that produced it and says why in one
line. A step is accepted only when

* a prover shows ``before == after`` (SymPy's own simplification, or the index engine's normal
  form, see :mod:`derive.index`), after unfolding the derivation's definitions; or
* its rule *is* one of the derivation's declared :class:`Assumption`\ s, listed with it, and
  the step follows from that assumption: where the assumption is an equation ``lhs = rhs``,
  ``after`` is ``before`` (or the derivation's start) with ``lhs`` replaced by ``rhs`` — at any
  index for an indexed ``lhs``, at any argument for a function such as
  :math:`\theta(M) = \theta_0(M)`, at every entry for a matrix — or the prover shows it once the
  equation is unfolded.
  Assumptions that are not equations (the chain rule, indices in range, ...) justify the step
  they name by themselves.

Anything else raises :class:`~derive.errors.LayergradError` while the derivation is built, so
a derivation that exists is a derivation that was checked.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import sympy as sp
from sympy.stats import Expectation

from .errors import LayergradError
from .printing import text

__all__ = [
    "Assumption",
    "Derivation",
    "Prover",
    "Step",
    "by_sympy",
    "instantiate",
    "unfold",
]


def _same(expr: sp.Basic) -> sp.Basic:
    return expr


@dataclass(frozen=True)
class Prover:
    """A named procedure that decides ``before == after``.

    ``decide(before, after, unfold)`` receives a function that unfolds the derivation's
    definitions; a prover applies it where it needs it (most do so first thing)."""

    name: str
    decide: Callable[[sp.Basic, sp.Basic, Callable[[sp.Basic], sp.Basic]], bool]

    def __call__(
        self,
        before: sp.Basic,
        after: sp.Basic,
        unfold: Callable[[sp.Basic], sp.Basic] = _same,
    ) -> bool:
        return self.decide(before, after, unfold)


@dataclass(frozen=True)
class Assumption:
    """A statement a derivation takes as given.

    ``unfold=True`` marks a definition ``lhs = rhs``: provers may replace ``lhs`` by ``rhs``
    (for an indexed ``lhs`` such as :math:`H_{ij}`, at any index).
    """

    name: str
    statement: sp.Basic
    why: str
    unfold: bool = False


@dataclass(frozen=True)
class Step:
    """One move of a derivation: ``before`` became ``after`` by ``rule``."""

    before: sp.Basic
    after: sp.Basic
    rule: str
    why: str
    proof: str
    prover: Prover | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"= {text(self.after)}    [{self.rule}: {self.why}; {self.proof}]"


def unfold(expr: sp.Basic, definitions: Iterable[Assumption]) -> sp.Basic:
    """Replace every defined symbol or indexed entry in ``expr`` by its definition, repeatedly."""
    return _unfold(expr, tuple(a.statement for a in definitions if a.unfold))


@functools.lru_cache(maxsize=256)
def _unfold(expr: sp.Basic, defs: tuple[sp.Equality, ...]) -> sp.Basic:
    for _ in range(len(defs) + 1):
        previous = expr
        for d in defs:
            lhs, rhs = d.lhs, d.rhs
            if isinstance(lhs, sp.Indexed) and all(i.is_Symbol for i in lhs.indices):

                def at(e: sp.Indexed, d=d) -> sp.Basic:
                    return instantiate(d, e.indices)

                expr = expr.replace(
                    lambda e, lhs=lhs: isinstance(e, sp.Indexed) and e.base == lhs.base, at
                )
            else:
                expr = expr.xreplace({lhs: rhs})
        if expr == previous:
            return expr
    raise LayergradError("definitions refer to each other in a cycle; cannot unfold them")


def _apply(statement: sp.Equality, expr: sp.Basic) -> sp.Basic:
    """``expr`` with the equation's left side replaced by its right side: a definition at any
    index; a function of arrays (``θ(M[i, c])``) at any argument."""
    lhs, rhs = statement.lhs, statement.rhs
    if isinstance(lhs, sp.Function) and not isinstance(lhs, sp.Indexed):
        wilds = {arg: sp.Wild(f"w{number}") for number, arg in enumerate(lhs.args)
                 if isinstance(arg, (sp.Indexed, sp.Symbol))}
        return expr.replace(lhs.xreplace(wilds), rhs.xreplace(wilds))
    return _unfold(expr, (statement,))


def _entrywise(statement: sp.Equality, shape: tuple[int, int]) -> list[sp.Basic]:
    """The right side of an entrywise equation (``∂L/∂W[k, l] = …``) written out as a matrix of
    ``shape``, one matrix for 0-based and one for 1-based indices."""
    entries = [e for e in statement.lhs.atoms(sp.Indexed) if all(i.is_Symbol for i in e.indices)]
    if len(entries) != 1 or len(entries[0].indices) != 2 or not all(sp.sympify(n).is_Integer for n in shape):
        return []
    k, l = entries[0].indices
    return [sp.ImmutableMatrix(*map(int, shape), lambda r, c, b=base: statement.rhs.xreplace({k: r + b, l: c + b}))
            for base in (0, 1)]


def instantiate(definition: sp.Equality, indices: tuple[sp.Basic, ...]) -> sp.Basic:
    r"""The right side of ``lhs[i, j, ...] = rhs`` at other ``indices``, with the bound
    variables of its sums renamed apart from them first: unfolding
    :math:`\mu_j = \frac1n \sum_k X_{kj}` at :math:`\mu_k` gives
    :math:`\frac1n \sum_{k'} X_{k'k}`, not :math:`\frac1n \sum_k X_{kk}`."""
    rhs = definition.rhs
    used = set().union(*(sp.sympify(i).free_symbols for i in indices)) if indices else set()
    clashing = {lim[0] for s in rhs.atoms(sp.Sum) for lim in s.limits} & used
    if clashing:
        rhs = rhs.xreplace({c: sp.Dummy(c.name, integer=True) for c in clashing})
    return rhs.xreplace(dict(zip(definition.lhs.indices, indices)))


def _sides(expr: sp.Basic) -> list[sp.Basic]:
    return [expr.lhs, expr.rhs] if isinstance(expr, sp.Equality) else [expr]


def _sympy_decides(before: sp.Basic, after: sp.Basic, unfold: Callable) -> bool:
    b = [unfold(side.doit()) for side in _sides(unfold(before))]
    a = [unfold(side.doit()) for side in _sides(unfold(after))]
    if len(b) != len(a):
        return False
    for x, y in zip(b, a):
        difference = (x - y).rewrite(Expectation).doit()
        if difference == 0:
            continue
        if sp.simplify(sp.expand(difference)) != 0:
            return False
    return True


by_sympy = Prover("SymPy simplify", _sympy_decides)
"""Proof by SymPy: evaluate (``doit``), expand and simplify ``before - after`` to zero."""


@dataclass
class Derivation:
    """An ordered list of checked steps from ``start``; see the module docstring."""

    title: str
    start: sp.Basic
    assumptions: tuple[Assumption, ...] = ()
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.assumptions = tuple(self.assumptions)
        names = [a.name for a in self.assumptions]
        if len(set(names)) != len(names):
            raise LayergradError(f"{self.title}: assumption names must be unique, got {names}")

    @property
    def result(self) -> sp.Basic:
        """The last expression reached (``start`` when there are no steps)."""
        return self.steps[-1].after if self.steps else self.start

    @property
    def equation(self) -> sp.Equality:
        """``start = result``, unevaluated."""
        return sp.Eq(self.start, self.result, evaluate=False)

    def assumption(self, name: str) -> Assumption:
        """The declared assumption called ``name``."""
        for a in self.assumptions:
            if a.name == name:
                return a
        known = ", ".join(a.name for a in self.assumptions) or "none"
        raise LayergradError(f"{self.title}: no assumption named {name!r} (declared: {known})")

    def step(self, after: sp.Basic, rule: str, why: str, *, by: Prover = by_sympy) -> Derivation:
        """Append ``after``, reached by ``rule``; check it now, raise if it cannot be justified.

        The step is justified when ``rule`` names a declared assumption, or when ``by`` proves
        ``before == after`` once definitions are unfolded on both sides.
        """
        before, after = self.result, sp.sympify(after)
        prover: Prover | None = None
        assumed = self._assumed(rule)
        if assumed is not None:
            if not self._follows(assumed, before, after, by):
                raise LayergradError(
                    f"{self.title}: step {len(self.steps) + 1} does not follow from the assumption "
                    f"{rule!r} ({text(assumed.statement)}): {text(before)} ≠ {text(after)}"
                )
            proof = "assumption"
        elif self._proves(by, before, after):
            proof, prover = f"proved: {by.name}", by
        else:
            raise LayergradError(
                f"{self.title}: step {len(self.steps) + 1} ({rule}) is not proven by "
                f"{by.name} and is not a declared assumption: {text(before)} ≠ {text(after)}"
            )
        self.steps.append(Step(before, after, rule, why, proof, prover))
        return self

    def note(self, line: str) -> Derivation:
        """Add a sentence of conclusion, shown after the steps."""
        self.notes.append(line)
        return self

    def verify(self) -> list[int]:
        """Re-check every step; return the numbers (1-based) of steps that no longer hold.

        A step must start where the previous one ended, and either still name a declared
        assumption or still be proven by the prover that accepted it.
        """
        failed = []
        previous = self.start
        for number, s in enumerate(self.steps, start=1):
            if s.before != previous:
                failed.append(number)
            elif s.prover is None:
                assumed = self._assumed(s.rule)
                if assumed is None or not self._follows(assumed, s.before, s.after, by_sympy):
                    failed.append(number)
            elif not self._proves(s.prover, s.before, s.after):
                failed.append(number)
            previous = s.after
        return failed

    def proves(self, expected: sp.Basic, by: Prover = by_sympy) -> bool:
        """Does the result equal ``expected``? (Typed-in results appear only here, as targets.)"""
        return self._proves(by, self.result, expected)

    def _proves(self, prover: Prover, before: sp.Basic, after: sp.Basic) -> bool:
        return prover(before, after, lambda e: unfold(e, self.assumptions))

    def _assumed(self, rule: str) -> Assumption | None:
        return next((a for a in self.assumptions if a.name == rule), None)

    def _follows(self, assumed: Assumption, before: sp.Basic, after: sp.Basic, prover: Prover) -> bool:
        """Does ``after`` follow from ``before`` (or from the start, which the steps so far
        showed equal to it) by the assumption? See the module docstring."""
        if not isinstance(assumed.statement, sp.Equality):
            return True
        if after in (_apply(assumed.statement, before), _apply(assumed.statement, self.start)):
            return True
        if isinstance(before, sp.MatrixSymbol) and after in _entrywise(assumed.statement, before.shape):
            return True
        definitions = (*self.assumptions, replace(assumed, unfold=True))
        return any(prover(origin, after, lambda e: unfold(e, definitions)) for origin in (before, self.start))

    def __str__(self) -> str:
        from .render import render

        return render(self, "text")
