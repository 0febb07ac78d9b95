r"""A defined layer's gradients checked by plain SymPy at small concrete sizes, independently of
the index engine and of the generated code.

For a differentiated array :math:`X` the output is written out in terms of the arguments (the
forward derivation's result) and SymPy differentiates

.. math:: \frac{\partial L}{\partial X_a} = \sum_b \mathrm{d}Y_b \, \frac{\partial Y_b}{\partial X_a}

with every sum written out (:func:`derive.concrete.value`: random entries, an entry outside its
array zero). The engine's side is the gradient derivation's result with the gradients of the
intermediates it uses replaced by their own derivations' results and the intermediates by their
statements, until only the arguments and :math:`\mathrm{d}Y` remain. The two must agree at every
free index :math:`0, 1, 2` and several random draws. A layer with a ``max`` reduction is not
checked this way (its mask is a number per draw only in the engine's form).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence

import sympy as sp

from .concrete import value
from .defined import Layer, _distinct_bound
from .derivation import Assumption, unfold
from .errors import LayergradError
from .graph import Adjoint

__all__ = ["agrees_with_curated", "concrete_sizes", "plain_sympy_agrees"]


def _eq(lhs: sp.Expr, rhs: sp.Expr) -> sp.Equality:
    return sp.Eq(lhs, rhs, evaluate=False)


def concrete_sizes(layer: Layer, smallest: int = 3) -> dict[sp.Symbol, int]:
    """Sizes (distinct where possible, at least ``smallest``) and the integer constants'
    defaults, such that every derived size is a whole number at least ``smallest``."""
    defn = layer.definition
    constants = {defn.symbols[k]: v for k, v in defn.constants.items() if isinstance(v, int)}
    base = [defn.symbols[s] for s in defn.base_sizes]
    base += [x for name, x in defn.symbols.items()  # sizes named only in ranges or outputs
             if x not in base and name not in defn.constants and name not in defn.derived_sizes]
    for values in itertools.product(range(smallest, smallest + 4), repeat=len(base)):
        table = dict(zip(base, values)) | constants
        derived = {defn.symbols[k]: sp.sympify(f).xreplace(table) for k, f in defn.derived_sizes.items()}
        if all(d.is_integer and d >= smallest for d in derived.values()):
            return table | {k: int(v) for k, v in derived.items()}
    raise LayergradError(f"no small sizes make the derived sizes of {defn.name} whole numbers")


def _shapes(layer: Layer) -> dict[sp.Basic, list[tuple[sp.Expr, sp.Expr]]]:
    defn = layer.definition
    out = {}
    for name, shape in defn.shapes.items():
        if not shape:
            continue
        axes = [(sp.S.Zero, size - 1) for size in shape]
        out[defn.arrays[name]] = axes
        out[Adjoint(name)] = axes
    return out


def _engine_side(layer: Layer, name: str) -> sp.Expr:
    """The gradient of ``name`` with every intermediate and every intermediate's gradient
    written out."""
    defn = layer.definition
    definitions = []
    for g in layer.gradients:
        if g.name in defn.differentiated:
            continue
        adjoint = Adjoint(g.name)[g.entry.indices] if isinstance(g.entry, sp.Indexed) else sp.Symbol(f"d{g.name}",
                                                                                                      real=True)
        definitions.append(Assumption(f"d{g.name}", _eq(adjoint, g.derivation.result), "", unfold=True))
    for s in defn.statements[:-1]:
        definitions.append(Assumption(s.target, _eq(s.lhs, s.rhs), "", unfold=True))
    derivation = layer.gradient(name).derivation
    own = [a for a in derivation.assumptions if a.unfold]  # the closed form's names (s, x̂), the intermediates used
    entry = layer.gradient(name).entry
    return _distinct_bound(unfold(derivation.result, [*own, *definitions]), set(sp.sympify(entry).free_symbols))


def _plain_side(layer: Layer, name: str) -> sp.Expr:
    defn = layer.definition
    output = defn.statements[-1]
    entry = layer.gradient(name).entry
    written = layer.forward.result
    if not output.indices:
        written = _distinct_bound(written, set(entry.free_symbols))
        return sp.Symbol(f"d{output.target}", real=True) * sp.Derivative(written, entry)
    primes = [sp.Symbol(f"{i.name}_o", integer=True) for i in output.indices]
    limits = [(p, 0, layer.ranges[i] - 1) for p, i in zip(primes, output.indices)]
    at = _distinct_bound(written.xreplace(dict(zip(output.indices, primes))), set(entry.free_symbols))
    return sp.Sum(Adjoint(output.target)[tuple(primes)] * sp.Derivative(at, entry), *reversed(limits))


class _Delta(sp.Function):
    """A Kronecker delta that SymPy's sums do not solve for: it is a number once both
    arguments are, so a concrete sum is written out term by term."""

    @classmethod
    def eval(cls, a, b):
        if a.is_Integer and b.is_Integer:
            return sp.S.One if a == b else sp.S.Zero
        return None


def _concrete(expr: sp.Expr, sizes: Mapping[sp.Symbol, int], index: int) -> sp.Expr:
    """Sizes and free indices replaced by numbers, derivatives taken, Kronecker deltas made
    :class:`_Delta`."""
    bound = {lim[0] for e in expr.atoms(sp.Sum) for lim in e.limits}
    table = {s: sizes.get(s, index) for s in expr.free_symbols - bound
             if isinstance(s, sp.Symbol) and s.is_integer}
    expr = expr.xreplace(table)
    expr = expr.replace(lambda e: isinstance(e, sp.Derivative), lambda e: e.doit())
    return expr.replace(lambda e: isinstance(e, sp.KroneckerDelta), lambda e: _Delta(*e.args))


def plain_sympy_agrees(layer: Layer, name: str, sizes: Mapping[sp.Symbol, int] | None = None, *,
                       draws: int = 2, seed: int = 0, tolerance: float = 1e-9) -> bool:
    """Does the derived gradient of ``name`` equal plain SymPy's at concrete sizes, at free
    indices 0, 1 and 2 and ``draws`` random draws? Raises for a layer with a ``max``."""
    if layer.masks:
        raise LayergradError(f"{layer.definition.name}: a max reduction is checked numerically, not by plain SymPy")
    sizes = dict(sizes or concrete_sizes(layer))
    plain, engine = _plain_side(layer, name), _engine_side(layer, name)
    shapes = {base: [(lo, hi.xreplace(sizes)) for lo, hi in axes] for base, axes in _shapes(layer).items()}
    rng = random.Random(seed)
    for index in (0, 1, 2):
        a_expr, b_expr = _concrete(plain, sizes, index), _concrete(engine, sizes, index)
        for _ in range(draws):
            state, entries = rng.random(), {}
            a = value(a_expr, sizes, index=index, entries=entries, rng=random.Random(state), shapes=shapes)
            b = value(b_expr, sizes, index=index, entries=entries, rng=random.Random(state), shapes=shapes)
            if abs(a - b) > tolerance * (1 + abs(a) + abs(b)):
                return False
    return True


def _one_based(expr: sp.Expr, arrays: set[sp.Basic]) -> sp.Expr:
    """Every entry of ``arrays`` read 1-based (the curated derivations' convention) read 0-based."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base in arrays,
                        lambda e: e.base[tuple(i - 1 for i in e.indices)])


def agrees_with_curated(layer: Layer, name: str, curated, symbols: Mapping[sp.Symbol, sp.Expr],
                        definitions: Sequence[Assumption] = (), *, draws: int = 2, seed: int = 0,
                        tolerance: float = 1e-9, indices: Sequence[int] = (0, 1, 2)) -> bool:
    r"""Is the defined gradient of ``name`` (its closed form where there is one) equal to the
    curated derivation ``curated``'s result, by plain SymPy at concrete sizes? The curated
    result has its definitions written out, its arrays (the same names: :math:`X`,
    :math:`\gamma`, :math:`\mathrm{d}Y`) read 1-based, its sizes and constants renamed by
    ``symbols`` (and ``definitions`` written out too), and its free indices set to the defined entry's plus one."""
    defn = layer.definition
    mine = layer.closed_forms.get(name, layer.gradient(name).derivation)
    entry = layer.gradient(name).entry
    own = [a for a in mine.assumptions if a.unfold]
    engine = _distinct_bound(unfold(mine.result, own), set(entry.free_symbols)) if name in layer.closed_forms \
        else _engine_side(layer, name)
    theirs = unfold(curated.result, [*(a for a in curated.assumptions if a.unfold),
                                     *(Assumption(a.name, a.statement, a.why, unfold=True) for a in definitions)])
    start = curated.start.variables[0]
    arrays = {defn.arrays[n] for n in defn.arguments} | {Adjoint(defn.output)}
    theirs = _one_based(theirs, arrays).xreplace(dict(symbols))
    theirs = theirs.xreplace({i: j + 1 for i, j in zip(start.indices, entry.indices)})
    sizes = concrete_sizes(layer)
    shapes = {base: [(lo, hi.xreplace(sizes)) for lo, hi in axes] for base, axes in _shapes(layer).items()}
    rng = random.Random(seed)
    for index in indices:
        a_expr, b_expr = _concrete(engine, sizes, index), _concrete(theirs, sizes, index)
        for _ in range(draws):
            state, entries = rng.random(), {}
            a = value(a_expr, sizes, index=index, entries=entries, rng=random.Random(state), shapes=shapes)
            b = value(b_expr, sizes, index=index, entries=entries, rng=random.Random(state), shapes=shapes)
            if abs(a - b) > tolerance * (1 + abs(a) + abs(b)):
                return False
    return True
