r"""Index expressions in the engine's normal form, printed as vectorized NumPy programs.

Every array of a layer lives on one grid of axes — batch normalization's :math:`(i, j)`,
spatial batch normalization's :math:`(n, c, h, w)` — and is stored with all of them
(``keepdims``): :math:`\mu_j` as shape ``(1, d)``, so it broadcasts against :math:`X_{ij}`.
A :class:`Grid` says where each array sits. :class:`Program` turns assignments
``target = expression`` into statements:

1. the expression is put in normal form (:func:`derive.index.normalize`): a sum of terms, each
   a coefficient times entries under summation limits;
2. every connected group of summed factors becomes a **reduction hoisted into a temporary**,
   computed once for the whole program however many terms and results use it:
   :math:`\sum_k dY_{kj}` → ``dout.sum(axis=0, keepdims=True)``, a contraction of several
   factors → one ``np.einsum`` (no intermediate product array), e.g.
   :math:`\sum_k dY_{kj} Z_{kj}` → ``np.einsum('kj,kj->j', dout, z)``;
3. the remaining terms are grouped by their *full-size* factors (arrays spanning every axis);
   each group's coefficient is a small array (reductions, statistics, parameters) computed
   first, so every full-size array is read once per group:
   ``dx = dout*c0 + c2`` then ``dx += z*c1``.

Only products of entries are contracted; anything else under a sum is refused with a clear
error rather than turned into a Python loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sympy as sp

from derive.errors import LayergradError
from derive.index import Term, collect, normalize

from .arraycode import ArrayPrinter

__all__ = ["Grid", "Program"]


@dataclass(frozen=True)
class Grid:
    """The axes (index symbols, in axis order) and, for each indexed base, its variable name
    and the grid indices its own index positions run along."""

    axes: tuple[sp.Symbol, ...]
    arrays: Mapping[sp.IndexedBase, tuple[str, tuple[sp.Symbol, ...]]]
    scalars: Mapping[sp.Symbol, str] = field(default_factory=dict)

    def positions(self, base: sp.IndexedBase) -> tuple[int, ...]:
        """The axis of each index position of ``base``."""
        if base not in self.arrays:
            raise LayergradError(f"no array name given for {base}")
        return tuple(self.axes.index(i) for i in self.arrays[base][1])

    def name(self, base: sp.IndexedBase) -> str:
        return self.arrays[base][0]

    def is_full(self, entry: sp.Basic) -> bool:
        """Does ``entry`` (an entry or a power of one) span every axis?"""
        base = entry.as_base_exp()[0]
        return isinstance(base, sp.Indexed) and len(set(self.positions(base.base))) == len(self.axes)


class Program:
    """Statements for a sequence of assignments over one :class:`Grid`, sharing reductions."""

    def __init__(self, grid: Grid, prefix: str = "", accumulate: tuple[str, str] | None = None) -> None:
        r"""``accumulate = (wide, dtype)`` names two dtypes of the generated code: reductions add
        up in ``wide`` (float64 for float32 data: a float32 sum over many rows drifts by
        :math:`O(n\epsilon)`, and along a non-contiguous axis NumPy adds row after row) and
        return ``dtype``, so no full-size array is silently upcast."""
        self.grid = grid
        self.prefix = prefix
        self.accumulate = accumulate
        self.lines: list[str] = []
        self._reductions: dict[tuple, sp.Symbol] = {}
        self._coefficients = 0

    # -- reductions ----------------------------------------------------------------------------

    def _reduction(self, factors: Sequence[sp.Expr], limits: Sequence[tuple]) -> sp.Symbol:
        (canonical,) = collect([Term(sp.S.One, sp.Mul(*factors), tuple(limits))])
        key = (canonical.coeff, canonical.factor, canonical.limits)
        if key not in self._reductions:
            symbol = sp.Symbol(f"{self.prefix}r{len(self._reductions)}")
            self._reductions[key] = symbol
            code = self._contract(canonical.factor, canonical.limits)
            if isinstance(code, tuple):  # contract, then restore the summed axes (two short lines)
                self.lines += [f"{symbol} = {code[0]}", f"{symbol} = {code[1].format(symbol)}"]
            else:
                self.lines.append(f"{symbol} = {code}")
            if canonical.coeff != 1:
                self.lines.append(f"{symbol} = {self._print(canonical.coeff * symbol)}")
        return self._reductions[key]

    def _contract(self, factor: sp.Expr, limits: Sequence[tuple]) -> str | tuple[str, str]:
        """``np.einsum`` (or ``.sum``) of a product of entries over ``limits``, kept on the grid."""
        dummies = [lim[0] for lim in limits]
        grid = self.grid
        letters: dict[sp.Symbol, str] = {a: a.name for a in grid.axes}
        spare = iter(c for c in "klmpqrtuvxyz" if c not in letters.values())
        axis_of: dict[sp.Symbol, int] = {}
        operands: list[tuple[str, tuple[sp.Expr, ...], tuple[int, ...]]] = []
        for f in sp.Mul.make_args(factor):
            entry, power = f.as_base_exp()
            if not (isinstance(entry, sp.Indexed) and power.is_Integer and power > 0):
                raise LayergradError(f"cannot contract {f}: only products of array entries are summed")
            positions = grid.positions(entry.base)
            for index, pos in zip(entry.indices, positions):
                if index in dummies:
                    if axis_of.setdefault(index, pos) != pos:
                        raise LayergradError(f"{index} runs along two axes in {factor}")
                    letters.setdefault(index, next(spare))
                elif index != grid.axes[pos]:
                    raise LayergradError(f"{entry} is not on the grid {grid.axes}: index {index} at axis {pos}")
            operands += [(grid.name(entry.base), entry.indices, positions)] * int(power)
        summed = sorted(axis_of.values())
        if sorted(summed) != sorted(set(summed)) or len(summed) != len(dummies):
            raise LayergradError(f"every summed index needs its own axis in {factor}")
        if len(operands) == 1:
            name = operands[0][0]
            axis = summed[0] if len(summed) == 1 else tuple(summed)
            if self.accumulate:
                wide, dtype = self.accumulate
                return f"{name}.sum(axis={axis}, keepdims=True, dtype={wide}).astype({dtype}, copy=False)"
            return f"{name}.sum(axis={axis}, keepdims=True)"
        # every operand is stored with all axes (size 1 where it does not vary), so all share
        # one subscript: the summation letter on summed axes, the axis letter elsewhere
        along = {pos: letters[d] for d, pos in axis_of.items()}
        subscript = "".join(along.get(p, letters[a]) for p, a in enumerate(grid.axes))
        kept = "".join(letters[a] for p, a in enumerate(grid.axes) if p not in along)
        names = ", ".join(name for name, _, _ in operands)
        axis = summed[0] if len(summed) == 1 else tuple(summed)
        spec = ",".join([subscript] * len(operands))
        if self.accumulate:
            wide, dtype = self.accumulate
            return (f"np.einsum('{spec}->{kept}', {names}, dtype={wide})",
                    f"np.expand_dims({{}}, {axis}).astype({dtype}, copy=False)")
        return f"np.expand_dims(np.einsum('{spec}->{kept}', {names}), {axis})"

    # -- assignments ---------------------------------------------------------------------------

    def _hoisted(self, t: Term) -> tuple[sp.Expr, list[sp.Expr]]:
        """``t`` with each connected group of summed factors replaced by its reduction:
        (small coefficient, full-size factors)."""
        factors = list(sp.Mul.make_args(t.factor))
        remaining = list(t.limits)
        small: list[sp.Expr] = [t.coeff]
        while remaining:
            group = [remaining.pop(0)]
            grew = True
            while grew:
                grew = False
                names = {lim[0] for lim in group}
                for lim in list(remaining):
                    if any(f.has(lim[0]) and f.has(*names) for f in factors):
                        group.append(lim)
                        remaining.remove(lim)
                        grew = True
            names = {lim[0] for lim in group}
            body = [f for f in factors if f.has(*names)]
            factors = [f for f in factors if not f.has(*names)]
            small.append(self._reduction(body, group))
        full = [f for f in factors if self.grid.is_full(f)]
        small += [f for f in factors if not self.grid.is_full(f)]
        return sp.Mul(*small), full

    def _print(self, expr: sp.Expr) -> str:
        table: dict[sp.Basic, sp.Basic] = {}
        for entry in expr.atoms(sp.Indexed):
            table[entry] = sp.Symbol(self.grid.name(entry.base))
        for symbol, name in self.grid.scalars.items():
            table[symbol] = sp.Symbol(name)
        return ArrayPrinter().doprint(expr.xreplace(table))

    def _temporary(self, expr: sp.Expr) -> str:
        name = f"{self.prefix}c{self._coefficients}"
        self._coefficients += 1
        self.lines.append(f"{name} = {self._print(expr)}")
        return name

    def _times(self, product: str, coeff: sp.Expr) -> str:
        """``product`` (full-size) times a small coefficient, the small part evaluated first."""
        coeff = sp.factor(coeff)
        if coeff == 1:
            return product
        if coeff.could_extract_minus_sign():
            return f"-{self._times(product, -coeff)}"
        if isinstance(coeff, sp.Pow) and coeff.exp == -1 and _simple(coeff.base):
            return f"{product}/{self._print(coeff.base)}"
        if _simple(coeff):
            return f"{product}*{self._print(coeff)}"
        if sp.count_ops(coeff) <= 2:
            return f"{product}*({self._print(coeff)})"
        return f"{product}*{self._temporary(coeff)}"

    def assign(self, target: str, expr: sp.Expr, **normalize_options) -> str:
        """Append the statements computing ``target = expr``; return ``target``."""
        groups: dict[tuple, sp.Expr] = {}
        for t in normalize(expr, **normalize_options):
            coeff, full = self._hoisted(t)
            key = tuple(sorted(full, key=sp.default_sort_key))
            groups[key] = groups.get(key, sp.S.Zero) + coeff
        if not groups:
            raise LayergradError(f"{target} is identically zero; nothing to generate")
        small = groups.pop((), None)
        if not groups:
            self.lines.append(f"{target} = {self._print(small)}")
            return target
        ordered = sorted(groups.items(), key=lambda item: sp.factor(item[1]).could_extract_minus_sign())
        terms = [self._times("*".join(self._print(f) for f in key), coeff) for key, coeff in ordered]
        first = terms[0]
        if first.startswith("-"):  # fold the sign into the small coefficient: no pass over -array
            key, coeff = ordered[0]
            first = f"{'*'.join(self._print(f) for f in key)}*{self._temporary(coeff)}"
        if small is not None:
            small = sp.factor(small)
            if _simple(-small):
                first = f"{first} - {self._print(-small)}"
            elif _simple(small):
                first = f"{first} + {self._print(small)}"
            else:
                first = f"{first} + {self._temporary(small)}"
        self.lines.append(f"{target} = {first}")
        self.lines += [f"{target} -= {t[1:]}" if t.startswith("-") else f"{target} += {t}" for t in terms[1:]]
        return target

    def source(self, indent: int = 4) -> str:
        pad = " " * indent
        return "\n".join(pad + line for line in self.lines)


def _simple(expr: sp.Expr) -> bool:
    """A single array, symbol or number: nothing to compute before using it."""
    return bool(expr.is_Symbol or expr.is_Number or isinstance(expr, sp.Indexed))
