r"""Derivations of a defined layer (:mod:`derive.define`): the forward pass written out, and
the gradient of every array on the way from the inputs to the output, node by node through
the statement graph.

The statements form a graph: an edge runs from each array to every statement that reads it.
The gradient of an array :math:`v` collects one contribution per consumer :math:`c`,

.. math:: \frac{\partial L}{\partial v_a} = \sum_{c} \sum_{b}
          \mathrm{d}c_b \, \frac{\partial c_b}{\partial v_a},

stated for this graph as an equation (the chain rule through the graph, declared with the
derivation); then each consumer is written out by its own statement, differentiated term by
term by the index engine, the Kronecker deltas contracted, constant sums evaluated and like
terms collected — each step proved by the engine's normal form. Where an index is affine
(``X[S*i + k - P]``), the deltas that remain (:math:`\delta_{h, Si + k - P}`) are contracted
last under :data:`~derive.index.ZERO_OUTSIDE` for reading; the generated code evaluates the
form just before that step (a scatter over kernel offsets).

A reduction ``max(e, k)`` is the masked sum :math:`\sum_k A_k e_k` with :math:`A` the
indicator of the first maximum in row-major order (an equation declared with the
derivation; :math:`A` is piecewise constant, held fixed when differentiating, like max pooling).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import sympy as sp

from .define import Definition
from .derivation import Assumption, Derivation, Prover, instantiate
from .errors import LayergradError
from .graph import Adjoint
from .index import (
    IN_RANGE,
    ZERO_OUTSIDE,
    Term,
    collect,
    contract_deltas,
    index_prover,
    multiply_out,
    normalize,
    rename_bound,
    sum_constants,
    to_expr,
)
from .maximum import Maximum
from .normalized import closed_form_steps, recognize
from .support import shapes_assumption

__all__ = ["Gradient", "Layer", "derive", "objective"]


def _eq(lhs: sp.Expr, rhs: sp.Expr) -> sp.Equality:
    return sp.Eq(lhs, rhs, evaluate=False)


@dataclass(frozen=True)
class Gradient:
    """The gradient of one array: the derivation, the entry it is taken at, and the
    expression the generated code evaluates (equal to the derivation's result)."""

    name: str
    entry: sp.Expr
    derivation: Derivation
    code: sp.Expr


@dataclass(frozen=True)
class Layer:
    """Everything derived for a definition: the statements as used by the derivations (each
    ``max`` reduction as a masked sum), their masks, the forward derivation, the gradients in
    backward order."""

    definition: Definition
    statements: tuple[tuple[str, sp.Expr, sp.Expr], ...]
    masks: Mapping[str, tuple[sp.Expr, Maximum]]
    forward: Derivation
    gradients: tuple[Gradient, ...]
    ranges: Mapping[sp.Symbol, sp.Expr]
    @cached_property
    def closed_forms(self) -> dict[str, Derivation]:
        """Closed forms of gradients derived from the written-out forward pass, where the layer
        normalizes and the staged gradient does not reach the closed form itself
        (:mod:`derive.normalized`); derived when first asked for (the generated code does not
        need them)."""
        defn = self.definition
        closed = {}
        if len(self.statements) > 1 and not self.masks and not defn.scalar_output and not _affine(defn):
            for g in self.gradients:
                if g.name in defn.differentiated and g.derivation.steps[-1].rule != "factor":
                    d = _closed_form(defn, g.name, g.entry, self.forward, objective(defn), self.ranges)
                    if d is not None:
                        closed[g.name] = d
        return closed

    @property
    def derivations(self) -> list[Derivation]:
        """The forward derivation and the gradients', the ones the generated code follows."""
        return [self.forward, *(g.derivation for g in self.gradients)]

    @property
    def shown(self) -> list[Derivation]:
        """Every derivation a reader sees: :attr:`derivations`, then the closed forms."""
        return [*self.derivations, *self.closed_forms.values()]

    def gradient(self, name: str) -> Gradient:
        for g in self.gradients:
            if g.name == name:
                return g
        raise LayergradError(f"no gradient of {name!r}; gradients: {', '.join(g.name for g in self.gradients)}")


def objective(defn: Definition) -> sp.Symbol:
    """The scalar :math:`L` whose gradient is taken (``ell`` when the layer names an array L)."""
    return sp.Symbol("ell") if "L" in defn.arrays or "L" in defn.symbols else sp.Symbol("L")


def _statement_assumption(defn: Definition, number: int, lhs: sp.Expr, rhs: sp.Expr, text: str) -> Assumption:
    return Assumption(f"statement {number}" if len(defn.statements) > 1 else "the layer",
                      _eq(lhs, rhs), f"the forward pass: {text}", unfold=True)


def _masked(defn: Definition) -> tuple[list[tuple[str, sp.Expr, sp.Expr]], dict, list[Assumption]]:
    """The statements with every ``max`` reduction written as a masked sum over a new
    indicator array, the masks, and the equations that say so."""
    statements, masks, equations = [], {}, []
    for s in defn.statements:
        found = sorted(s.rhs.atoms(Maximum), key=sp.default_sort_key)
        rhs = s.rhs
        for m in found:
            name = f"A{len(masks) + 1}" if len(found) + len(masks) > 1 else "A"
            while name in defn.arrays or name in defn.symbols:
                name += "_"
            outer = sorted(defn.free(m), key=lambda i: str(i))
            dummies = [lim[0] for lim in m.limits]
            mask = sp.IndexedBase(name, real=True)[(*outer, *dummies)]
            masked = sp.Sum(mask * m.function, *m.limits)
            masks[name] = (mask, m)
            equations.append((mask.base, Assumption(
                f"first maximum ({name})", _eq(m, masked),
                f"{name} is 1 at the first largest entry (row-major order, as numpy.argmax) over "
                f"{', '.join(map(str, dummies))} and 0 elsewhere; it is piecewise constant, held fixed")))
            rhs = rhs.xreplace({m: masked})
        statements.append((s.target, s.lhs, rhs))
    return statements, masks, equations


def _entry_indices(defn: Definition, name: str, ranges: dict[sp.Symbol, sp.Expr]) -> tuple[sp.Symbol, ...]:
    """Index symbols for the entry of an argument: the plain index used at each axis (one that
    is free on a left side preferred), else a fresh letter."""
    shape = defn.shapes[name]
    array = defn.arrays[name]
    chosen: list[sp.Symbol | None] = [None] * len(shape)
    for prefer_free in (True, False):
        for s in defn.statements:
            for entry in s.rhs.atoms(sp.Indexed):
                if entry.base != array:
                    continue
                for pos, index in enumerate(entry.indices):
                    if chosen[pos] is not None or index not in ranges or index in chosen:
                        continue
                    if prefer_free and index not in s.indices:
                        continue
                    chosen[pos] = index
    spare = iter(sp.Symbol(c, integer=True) for c in "hwuvpqrstxyzabcdefg"
                 if c not in defn.index_names and c not in defn.symbols and c not in defn.arrays)
    out = []
    for pos, index in enumerate(chosen):
        if index is None:
            index = next(spare)
            ranges[index] = shape[pos]
        out.append(index)
    return tuple(out)


def _primed(indices: Sequence[sp.Symbol]) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"{i.name}'", integer=True) for i in indices)


def _adjoint(name: str, lhs: sp.Expr, indices: Sequence[sp.Expr]) -> sp.Expr:
    return Adjoint(name)[tuple(indices)] if isinstance(lhs, sp.Indexed) else sp.Symbol(f"d{name}", real=True)


def _once(expr: sp.Basic, table: Mapping[sp.Basic, tuple[sp.Expr, sp.Expr]]) -> sp.Basic:
    """Every entry of a consumer replaced by its statement, one level deep."""
    bases = {(lhs.base if isinstance(lhs, sp.Indexed) else lhs): (lhs, rhs) for lhs, rhs in table.values()}

    def at(e: sp.Basic) -> sp.Basic:
        lhs, rhs = bases[e.base if isinstance(e, sp.Indexed) else e]
        if isinstance(e, sp.Indexed):
            return rhs.xreplace(dict(zip(lhs.indices, e.indices)))
        return rhs

    return expr.replace(lambda e: (isinstance(e, sp.Indexed) and e.base in bases)
                        or (isinstance(e, sp.Symbol) and e in bases), at)


def _distinct_bound(expr: sp.Basic, avoid: set[sp.Symbol]) -> sp.Basic:
    """``expr`` with every summation variable that is also free outside it (in ``avoid``) or
    bound by an enclosing sum renamed to a fresh letter: :math:`\\partial(\\sum_d W_{dm} X_{nd})
    /\\partial W_{dm}` reads as a derivative at the bound variable, and plain SymPy takes it so."""
    names = {str(x) for x in expr.free_symbols | avoid} | {str(lim[0]) for e in expr.atoms(sp.Sum) for lim in e.limits}
    letters = [*"klmpqrtuvabcefghjwxyz", *(f"k{n}" for n in range(2, 1000))]
    pool = (sp.Symbol(c, integer=True) for c in letters if c not in names)

    def walk(e: sp.Basic, outer: frozenset) -> sp.Basic:
        if isinstance(e, sp.Sum):
            mapping = {}
            for lim in e.limits:
                if lim[0] in outer or lim[0] in avoid:
                    mapping[lim[0]] = next(pool)
            if mapping:
                e = e.xreplace(mapping)
            inner = outer | {lim[0] for lim in e.limits}
            return sp.Sum(walk(e.function, inner), *e.limits)
        if not e.args or isinstance(e, sp.Indexed):
            return e
        return e.func(*(walk(a, outer) for a in e.args))

    return walk(expr, frozenset())


def _local_prover(table: Mapping[sp.Basic, tuple[sp.Expr, sp.Expr]], zero_outside: bool) -> Prover:
    def decide(before: sp.Basic, after: sp.Basic, unfold) -> bool:
        return normalize(_once(before, table) - after, zero_outside=zero_outside, nested_sums=True) == ()

    return Prover("local definitions, then index normal form", decide)


def _depends(statements: Sequence[tuple[str, sp.Expr, sp.Expr]], arrays: Mapping[str, sp.Basic],
             sources: Sequence[str]) -> set[str]:
    """The arrays that depend on any of ``sources`` (sources included)."""
    out = set(sources)
    for target, _, rhs in statements:
        if any(rhs.has(arrays[name]) for name in out):
            out.add(target)
    return out


@cache
def _derive(defn: Definition) -> Layer:
    statements, masks, mask_equations = _masked(defn)
    ranges = dict(defn.ranges)
    loss = objective(defn)
    affine = _affine(defn)
    forward = _forward(defn, statements, mask_equations)
    arrays = dict(defn.arrays)
    for name, (mask, _) in masks.items():
        arrays[name] = mask.base
    live = _depends(statements, arrays, defn.differentiated)
    output = defn.output
    if output not in live:
        raise LayergradError(f"the output {output} does not depend on {', '.join(defn.differentiated)}")
    # arrays that reach the output: walking back from it
    needed = {output}
    for target, _, rhs in reversed(statements):
        if target in needed:
            needed |= {name for name, a in arrays.items() if rhs.has(a)}
    nodes = [name for name in [*defn.differentiated, *(t for t, _, _ in statements[:-1])]
             if name in live and name in needed]
    entries: dict[str, sp.Expr] = {}
    for target, lhs, _ in statements:
        entries[target] = lhs
    for name in defn.differentiated:
        array = arrays[name]
        entries[name] = array[_entry_indices(defn, name, ranges)] if defn.shapes[name] else array
    gradients = []
    for name in reversed(_forward_order(defn, nodes)):
        consumers = [(t, lhs, rhs) for t, lhs, rhs in statements if rhs.has(arrays[name]) and t in live]
        gradients.append(_gradient(defn, name, entries[name], consumers, loss, ranges, affine, mask_equations,
                                   [s for s in statements[:-1]]))
    return Layer(defn, tuple(statements), masks, forward, tuple(gradients), ranges)


def _affine(defn: Definition) -> bool:
    """Does some array read take an affine index (``X[S*i + k - P]``)?"""
    return any(not i.is_Symbol for s in defn.statements for e in s.rhs.atoms(sp.Indexed) for i in e.indices)


def _taken(defn: Definition) -> set[str]:
    return set(defn.arrays) | set(defn.symbols) | defn.index_names


def _closed_form(defn: Definition, name: str, entry: sp.Expr, forward: Derivation, loss: sp.Symbol,
                 ranges: Mapping[sp.Symbol, sp.Expr]) -> Derivation | None:
    r""":math:`\partial L/\partial X` from the output written out in terms of the arguments (the
    forward derivation's result), ending in the closed form where the layer normalizes; ``None``
    where it does not."""
    output = defn.statements[-1]
    if any(forward.result.has(defn.arrays[s.target]) for s in defn.statements):
        return None
    array = defn.arrays[name]
    if not any((2 * p.exp).is_odd and p.base.has(array) and p.base.has(sp.Sum) for p in forward.result.atoms(sp.Pow)):
        return None
    primes = _primed(output.lhs.indices)
    limits = [(p, 0, ranges[i] - 1) for p, i in zip(primes, output.lhs.indices)]
    start = sp.Derivative(loss, entry)
    y = output.lhs.base[primes]
    upstream = Assumption("upstream gradient", _eq(start, sp.Sum(_adjoint(output.target, output.lhs, primes)
                                                                 * sp.Derivative(y, entry), *reversed(limits))),
                          f"{loss} depends on {name} only through {output.target}: Σ d{output.target}·"
                          f"∂{output.target}/∂{name} over every entry of {output.target}, with d{output.target} "
                          "given by the layer above")
    written = forward.result.xreplace(dict(zip(output.lhs.indices, primes)))
    local = _distinct_bound(upstream.statement.rhs.xreplace({y: written}), set(entry.free_symbols))
    differentiated = multiply_out(local)
    contracted = contract_deltas(differentiated)
    collected = collect(sum_constants(contracted))
    found = recognize(collected, entry, ranges, _taken(defn))
    if found is None:
        return None
    statements = [_statement_assumption(defn, s.number, s.lhs, s.rhs, s.text) for s in defn.statements]
    d = Derivation(f"{defn.name}: closed-form ∂{loss}/∂{name} (symbolic sizes)", start,
                   [upstream, IN_RANGE, *statements, *found.definitions])
    prover = index_prover(nested_sums=True)
    d.step(upstream.statement.rhs, upstream.name, f"chain rule through every entry of {output.target}")
    d.step(local, "forward pass", f"{output.target} written out in terms of the arguments, statement by statement",
           by=prover)
    d.step(to_expr(differentiated, split=False), "differentiate term by term",
           f"∂{name} by itself gives Kronecker deltas; everything else is held constant", by=prover)
    d.step(to_expr(contracted, split=False), "Kronecker delta",
           "each delta fixes one summation index to the free index (free indices in range)", by=prover)
    d.step(to_expr(collected), "collect", "sums of constants evaluated, like terms added", by=prover)
    return d if closed_form_steps(d, collected, found) else None


def _forward_order(defn: Definition, nodes: Sequence[str]) -> list[str]:
    order = [*defn.differentiated, *(s.target for s in defn.statements)]
    return sorted(nodes, key=order.index)


def derive(defn: Definition) -> Layer:
    """The forward derivation and every gradient of ``defn``, each step checked."""
    return _derive(defn)


def _forward(defn: Definition, statements, mask_equations) -> Derivation:
    """The output written out in terms of the arguments, one statement at a time."""
    assumptions = [_statement_assumption(defn, s.number, s.lhs, s.rhs, s.text) for s in defn.statements]
    output = defn.statements[-1]
    d = Derivation(f"{defn.name}: forward pass", output.lhs, assumptions)
    d.step(output.rhs, assumptions[-1].name, "the last statement defines the output", by=index_prover(nested_sums=True))
    for s, a in zip(reversed(defn.statements[:-1]), reversed(assumptions[:-1])):
        array = defn.arrays[s.target]
        if not d.result.has(array):
            continue
        d.step(_once(d.result, {array: (s.lhs, s.rhs)}), a.name, f"{s.target} written out",
               by=index_prover(nested_sums=True))
    if len(defn.statements) > 1:
        d.note("Computational graph: " + _edges(defn) + ".")
    return d


def _edges(defn: Definition) -> str:
    out = []
    for s in defn.statements:
        for name, array in defn.arrays.items():
            if name != s.target and s.rhs.has(array):
                out.append(f"{name} → {s.target}")
    return ", ".join(out)


def _gradient(defn: Definition, name: str, entry: sp.Expr, consumers, loss: sp.Symbol,
              ranges: dict[sp.Symbol, sp.Expr], affine: bool, mask_equations: Sequence[Assumption],
              intermediates=()) -> Gradient:
    start = sp.Derivative(loss, entry)
    chain, table = [], {}
    for target, lhs, rhs in consumers:
        table[defn.arrays[target]] = (lhs, rhs)
        if isinstance(lhs, sp.Indexed):
            primes = _primed(lhs.indices)
            limits = [(p, 0, ranges[i] - 1) for p, i in zip(primes, lhs.indices)]
            chain.append(sp.Sum(_adjoint(target, lhs, primes) * sp.Derivative(lhs.base[primes], entry),
                                *reversed(limits)))
        else:
            chain.append(_adjoint(target, lhs, ()) * sp.Derivative(lhs, entry))
    rule = Assumption(
        "chain rule through the graph", _eq(start, sp.Add(*chain)),
        f"{loss} depends on {name} only through "
        + ", ".join(t for t, _, _ in consumers)
        + " (the statements that read it); one term per consumer, summed over its entries")
    used_masks = [a for base, a in mask_equations if any(rhs.has(base) for _, _, rhs in consumers)]
    # the terms first (plain computation), so that every assumption is declared before any step
    local = _distinct_bound(_once(rule.statement.rhs, table), set(sp.sympify(entry).free_symbols))
    differentiated = multiply_out(local)
    contracted = contract_deltas(differentiated)
    collected = collect(sum_constants(contracted))
    if not collected:
        raise LayergradError(f"the gradient of {name} is identically zero")
    named, used = _name_intermediates(collected, intermediates)
    statement_defs = [Assumption(f"definition of {t}", _eq(lhs, rhs),
                                 "the statement, as the derivation uses it" if t not in used
                                 else "the statement; the forward pass computed it", unfold=t in used)
                      for t, lhs, rhs in [*consumers, *(i for i in intermediates if i[0] in used
                                                        and i[0] not in {c[0] for c in consumers})]]
    declared = [rule, IN_RANGE, *statement_defs, *used_masks]
    found = None
    if not affine and not used_masks and not used and name in defn.differentiated:
        found = recognize(collected, entry, ranges, _taken(defn))
        declared += found.definitions if found is not None else []
    shapes = _shapes(defn, named)
    if affine:
        declared += [ZERO_OUTSIDE, shapes_assumption(shapes)]
    shown = str(entry.base if isinstance(entry, sp.Indexed) else entry)
    title = f"{defn.name}: ∂{loss}/∂{shown}"
    if len(consumers) > 1:
        title += f" ({len(consumers)} branches)"
    d = Derivation(title, start, declared)
    d.step(rule.statement.rhs, rule.name,
           "one term per consumer: " + ", ".join(f"{name} → {t}" for t, _, _ in consumers))
    d.step(local, "local definitions",
           "each consumer written out by its own statement; its other inputs held fixed",
           by=_local_prover(table, False))
    prover = index_prover(nested_sums=True)
    d.step(to_expr(differentiated, split=False), "differentiate term by term",
           f"∂{shown} by itself gives Kronecker deltas; everything else is held constant", by=prover)
    after = to_expr(contracted, split=False)
    if after != d.result:
        d.step(after, "Kronecker delta", "each delta fixes one summation index to the free index "
               "(free indices in range)", by=prover)
    terms, code = collected, to_expr(collected)
    if code != d.result:
        d.step(code, "collect", "sums of constants evaluated, like terms added, separable sums split", by=prover)
    if used:
        d.step(to_expr(named), "name the intermediates",
               f"{', '.join(used)} as the forward pass computed {'it' if len(used) == 1 else 'them'}",
               by=prover)
        terms, code = named, to_expr(named)
    if affine and any(not _plain_delta(delta) for t in terms for delta in t.factor.atoms(sp.KroneckerDelta)):
        outside = index_prover(zero_outside=_engine(shapes), nested_sums=True)
        shown_terms = collect(contract_deltas(terms, zero_outside=_engine(shapes)))
        if to_expr(shown_terms) != d.result:
            d.step(to_expr(shown_terms), "Kronecker delta (zero outside the array)",
                   "each remaining delta fixes a summation index to an affine expression; where that falls "
                   "outside the array's shape the entry is zero", by=outside)
    if d.result.has(sp.Heaviside):
        d.note("θ is SymPy's step function, θ(0) = 1/2. The generated code takes the value at a kink by a "
               "convention it states in its docstring: a step θ(u) alone, as maximum(u, 0) leaves it, is 0 at "
               "u = 0, as dout * (x > 0) in the built-in relu and the course code; where maximum(a, b) of two "
               "varying branches ties, θ(a - b) and θ(b - a) stay 1/2 each, the gradient split evenly between "
               "a and b (the mean of the one-sided derivatives, a subgradient).")
    if found is not None and not closed_form_steps(d, terms, found):
        d.assumptions = tuple(a for a in d.assumptions if a not in found.definitions)
    return Gradient(name, entry, d, code)


def _name_intermediates(terms: Sequence[Term], intermediates) -> tuple[tuple[Term, ...], list[str]]:
    """Terms with each product of factors equal to an intermediate's definition (at any of the
    term's indices) replaced by that intermediate's entry, as far as that shortens them."""
    used: list[str] = []
    out = []
    for t in terms:
        factor = rename_bound(t.factor)
        symbols = sorted(factor.free_symbols & {s for e in factor.atoms(sp.Indexed) for i in e.indices
                                                  for s in i.free_symbols}, key=str)
        changed = True
        while changed:
            changed = False
            for target, lhs, rhs in intermediates:
                if not isinstance(lhs, sp.Indexed) or not rhs.has(sp.Sum):
                    continue
                for combo in itertools.product(symbols, repeat=len(lhs.indices)):
                    inst = _instance(lhs, rhs, combo)
                    if not _divides(inst, factor):
                        continue
                    rest = factor / inst
                    if sp.count_ops(rest) < sp.count_ops(factor):
                        factor = rest * lhs.base[combo]
                        used += [target] if target not in used else []
                        changed = True
                        break
                if changed:
                    break
        out.append(Term(t.coeff, factor, t.limits))
    if not used:
        return tuple(terms), []
    return collect(out), used


@functools.lru_cache(maxsize=1024)
def _instance(lhs: sp.Indexed, rhs: sp.Expr, indices: tuple[sp.Symbol, ...]) -> sp.Expr:
    """The definition ``lhs = rhs`` written out at ``indices``, its sums' variables named
    canonically (:func:`derive.index.rename_bound`), remembered for every gradient of the layer
    (the canonical names make it the same expression every time it is written out)."""
    return rename_bound(instantiate(_eq(lhs, rhs), indices))


def _powers(expr: sp.Expr) -> dict[sp.Expr, sp.Expr]:
    """Factor → power, an exponential counted as a factor of its own."""
    out: dict[sp.Expr, sp.Expr] = {}
    for f in sp.Mul.make_args(expr):
        base, exp = (f, sp.S.One) if isinstance(f, sp.exp) else f.as_base_exp()
        out[base] = out.get(base, 0) + exp
    return out


def _divides(inst: sp.Expr, factor: sp.Expr) -> bool:
    """Is every factor of ``inst`` a factor of ``factor``, at least to the same power?"""
    powers = _powers(factor)
    for base, exp in _powers(inst).items():
        if base.is_number:
            continue
        have = powers.get(base, 0)
        if not ((exp > 0 and have - exp >= 0) or (exp < 0 and have - exp <= 0)):
            return False
    return True


def _shapes(defn: Definition, terms: Sequence[Term]):
    """The inclusive index range of every axis of every array in ``terms`` (adjoints included):
    what "zero outside the array" refers to."""
    out = {}
    for t in terms:
        for e in sorted(t.factor.atoms(sp.Indexed), key=sp.default_sort_key):  # the same order in every run
            label = str(e.base.label)
            if label in defn.shapes:
                out[e.base] = tuple((sp.S.Zero, size - 1) for size in defn.shapes[label])
    return out


def _engine(shapes):
    """What the index engine takes as ``zero_outside``: the shapes (``True`` for an engine that
    contracts without a witnessing array)."""
    from . import index

    return shapes if hasattr(index, "witnessed") else True


def _plain_delta(delta: sp.KroneckerDelta) -> bool:
    return all(isinstance(a, sp.Symbol) for a in delta.args)
