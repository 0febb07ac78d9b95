r"""Derivations: ordered, checked steps from a starting expression to a result.

A :class:`Derivation` starts from an expression (say :math:`\partial L / \partial Y_{ij}`) and
moves through steps. Each :class:`Step` names the rule that produced it and says why in one
line. A step changes the expression only through a prover or an equation. It is accepted only when

* a :class:`Prover` shows ``before == after`` (SymPy's own simplification, or the index
  engine's normal form, see :mod:`derive.index`), after unfolding the derivation's
  definitions. A prover may rely on *side conditions* — declared assumptions that are not
  equations, such as "free indices in range" or "zero outside the array" (:attr:`Prover.uses`);
  each must be declared with the derivation; or
* its rule names one of the derivation's declared :class:`Assumption`\ s that is an
  *equation* ``lhs = rhs`` (the chain rule generated from a computational graph, a layer's
  definition, an upstream gradient), and the step follows from it: ``after`` is ``before``
  (or the derivation's start) with ``lhs`` replaced by ``rhs`` — at any index for an indexed
  ``lhs``, at any argument for a function such as :math:`\theta(M) = \theta_0(M)`, at every
  entry for a matrix. (Nothing looser: SymPy takes an entry of one array to be independent
  of every other array, so "the equation unfolded, then simplified" would let
  :math:`\sum \mathrm{d}Y\,\partial Y/\partial\gamma` equal anything times itself.)

An assumption that is not an equation (indices in range, positivity, a convention) justifies
no step by itself: citing one as a step's rule is refused. An assumption's statement is a
formula kept unevaluated; one that collapses to ``True`` or ``False`` is refused.

Typed-in expressions enter a derivation in two places only, each checked: as a step's
``after`` — a *target* such as the matrix form :math:`\partial L/\partial H \odot M` of
dropout, :math:`(P - Y)/N` of softmax or the recognised correlations of the quiz, which a
prover must show equal to the derived expression before it — and in :meth:`Derivation.proves`.

Anything else raises :class:`~derive.errors.LayergradError` while the derivation is built, so
a derivation that exists is a derivation that was checked; :meth:`Derivation.verify` re-checks
it and :meth:`Derivation.accepts` asks whether a changed step would still pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sympy as sp

from .errors import LayergradError
from .printing import text
from .renaming import renamed

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
    definitions; a prover applies it where it needs it (most do so first thing). ``uses``
    names the side conditions it relies on (non-equation assumptions such as "free indices in
    range"); a derivation that uses the prover must declare them."""

    name: str
    decide: Callable[[sp.Basic, sp.Basic, Callable[[sp.Basic], sp.Basic]], bool]
    uses: tuple[str, ...] = ()

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
    (for an indexed ``lhs`` such as :math:`H_{ij}`, at any index). The statement must be a
    formula, not one that evaluated to ``True`` or ``False`` when it was built (build it with
    ``evaluate=False``, or unevaluated objects such as ``Expectation``).
    """

    name: str
    statement: sp.Basic
    why: str
    unfold: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.statement, (bool, sp.logic.boolalg.BooleanAtom)):
            raise LayergradError(
                f"assumption {self.name!r}: its statement evaluated to {self.statement} when built; "
                "state it unevaluated (evaluate=False) so that it says something"
            )

    @property
    def is_equation(self) -> bool:
        """Is the statement an equation ``lhs = rhs`` (which steps may cite)?"""
        return isinstance(self.statement, sp.Equality)


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
        present = expr.atoms(sp.IndexedBase, sp.Symbol)
        for d in defs:
            lhs, rhs = d.lhs, d.rhs
            if isinstance(lhs, (sp.Indexed, sp.Symbol)) and getattr(lhs, "base", lhs) not in present:
                continue  # nothing to unfold: no entry of its array (or not the symbol)
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
    return renamed(rhs, dict(zip(definition.lhs.indices, indices)))


def _sides(expr: sp.Basic) -> list[sp.Basic]:
    return [expr.lhs, expr.rhs] if isinstance(expr, sp.Equality) else [expr]


def _sympy_decides(before: sp.Basic, after: sp.Basic, unfold: Callable) -> bool:
    from sympy.stats import Expectation  # imported when first needed (it takes a while to import)

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

        The step is justified when ``rule`` names a declared equation and ``after`` follows
        from it, or when ``by`` proves ``before == after`` once definitions are unfolded on both
        sides (with every side condition the prover uses declared). Citing a declared
        assumption that is not an equation is refused.
        """
        before, after = self.result, sp.sympify(after)
        number = len(self.steps) + 1
        assumed = self._assumed(rule)
        if assumed is not None:
            if not assumed.is_equation:
                raise LayergradError(
                    f"{self.title}: step {number} cites {rule!r} ({text(assumed.statement)}), which is not an "
                    "equation: an assumption that is not an equation justifies no step by itself, it can only "
                    "be a side condition of a prover"
                )
            if not self._follows(assumed, before, after, by):
                raise LayergradError(
                    f"{self.title}: step {number} does not follow from the equation "
                    f"{rule!r} ({text(assumed.statement)}): {text(before)} ≠ {text(after)}"
                )
            self.steps.append(Step(before, after, rule, why, "by its equation"))
            return self
        missing = self._undeclared(by)
        if missing:
            raise LayergradError(
                f"{self.title}: step {number} ({rule}): the prover {by.name!r} relies on "
                f"{', '.join(map(repr, missing))}, which the derivation does not declare"
            )
        if not self._proves(by, before, after):
            raise LayergradError(
                f"{self.title}: step {number} ({rule}) is not proven by "
                f"{by.name} and is not a declared equation: {text(before)} ≠ {text(after)}"
            )
        self.steps.append(Step(before, after, rule, why, f"proved: {by.name}", by))
        return self

    def note(self, line: str) -> Derivation:
        """Add a sentence of conclusion, shown after the steps."""
        self.notes.append(line)
        return self

    def verify(self) -> list[int]:
        """Re-check every step; return the numbers (1-based) of steps that no longer hold.

        A step must start where the previous one ended, and either still follow from the
        declared equation it names or still be proven by the prover that accepted it (with
        that prover's side conditions declared).
        """
        failed = []
        previous = self.start
        for number, s in enumerate(self.steps, start=1):
            if s.before != previous or not self._holds(s, s.after):
                failed.append(number)
            previous = s.after
        return failed

    def accepts(self, number: int, after: sp.Basic) -> bool:
        """Would step ``number`` (1-based) be accepted, by the same justification, had it
        reached ``after`` instead? (A mutation test asks this of altered steps.)"""
        if not 1 <= number <= len(self.steps):
            raise LayergradError(f"{self.title}: no step {number} (it has {len(self.steps)})")
        return self._holds(self.steps[number - 1], sp.sympify(after))

    def justification(self, number: int) -> tuple[str, str, tuple[str, ...]]:
        """How step ``number`` is justified: ``("equation", name, ())`` or
        ``("prover", prover name, side conditions)``."""
        s = self.steps[number - 1]
        if s.prover is None:
            return "equation", s.rule, ()
        return "prover", s.prover.name, s.prover.uses

    def proves(self, expected: sp.Basic, by: Prover = by_sympy) -> bool:
        """Does the result equal ``expected``? (A typed-in target, checked by the prover.)"""
        return self._proves(by, self.result, expected)

    def _holds(self, s: Step, after: sp.Basic) -> bool:
        if s.prover is None:
            assumed = self._assumed(s.rule)
            return (assumed is not None and assumed.is_equation
                    and self._follows(assumed, s.before, after, by_sympy))
        return not self._undeclared(s.prover) and self._proves(s.prover, s.before, after)

    def _undeclared(self, prover: Prover) -> list[str]:
        names = {a.name for a in self.assumptions}
        return [u for u in prover.uses if u not in names]

    def _proves(self, prover: Prover, before: sp.Basic, after: sp.Basic) -> bool:
        return prover(before, after, lambda e: unfold(e, self.assumptions))

    def _assumed(self, rule: str) -> Assumption | None:
        return next((a for a in self.assumptions if a.name == rule), None)

    def _follows(self, assumed: Assumption, before: sp.Basic, after: sp.Basic, prover: Prover) -> bool:
        """Does ``after`` follow from ``before`` (or from the start, which the steps so far
        showed equal to it) by the equation ``assumed``? See the module docstring."""
        if not assumed.is_equation:
            return False
        if after in (_apply(assumed.statement, before), _apply(assumed.statement, self.start)):
            return True
        return isinstance(before, sp.MatrixSymbol) and after in _entrywise(assumed.statement, before.shape)

    def __str__(self) -> str:
        from .render import render

        return render(self, "text")
