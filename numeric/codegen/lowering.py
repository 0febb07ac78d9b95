r"""Index expressions to vectorized NumPy: the one lowering of every generated layer.

Every value of the generated code is an array whose axes are index symbols, in a known order;
:class:`Lowering` prints an index expression (or one entry of a matrix expression, which it
writes in index form first) as such an array:

* an entry with plain indices is the array itself, axes transposed as needed; an affine index
  :math:`X_{\ldots, Si + k - P, \ldots}` is a strided view (``_read``), a constant index
  :math:`X_{n, 1}` drops the axis (zero outside the array, as every index); an index fixed at 0 on a
  row vector (:math:`b_{0j}`) reads the vector as stored, one axis; a diagonal :math:`X_{ii}` is
  ``np.einsum('aa->a', X)``, a view (its adjoint is the Kronecker delta the derivation leaves);
* element-wise operations broadcast (missing axes become ``None``); :math:`1 - B` of a 0/1
  array stays boolean (``~B``), :math:`H(u)` is ``(u > 0)``;
* a sum of a product of two matrices over their shared index is a matrix product (``a @ b.T``),
  of more factors one ``np.einsum``, of one array ``.sum(axis=...)``; a sum against a one-hot
  array, :math:`\sum_j Y_{ij} f_{ij} = f_{i, y_i}`, reads the labelled entries; every reduction
  is computed once per function and kept (a hoisted temporary ``_r0``, ``_r1``, …, or the target
  itself), so the backward pass reuses what the forward pass computed;
* a value or summand that depends on a one-hot entry :math:`Y_{ij}` at its own indices is
  :math:`(1 - Y_{ij}) f(0) + Y_{ij} f(1)` (:mod:`.labels`): the array :math:`f(0)` with the
  labelled entries set to :math:`f(1)` (``t[rows, y] = v``, ``rows = np.arange(N)`` once), in
  place in an array the code computed and reads no more; the one-hot array itself is computed
  only where no such form applies;
* a Kronecker delta :math:`\delta_{h, Si + k - P}` left by a derivation becomes a scatter-add
  over the kernel offsets (``_scatter``), the adjoint of ``_read``;
* stable forms where the standard patterns appear: a sum of exponentials is shifted by its
  maximum (log-sum-exp, softmax: the shift is found, not written by the user),
  :math:`\log(1 + e^u)` is ``_softplus(u)``, :math:`\sigma(u)` is computed without overflow.

Normalization layers assign in normal form (:meth:`Lowering.collect`,
:func:`derive.index.normalize`): every connected group of summed factors is a reduction hoisted
into a temporary (one ``np.einsum`` for a contraction, a square contracted with itself rather
than squared), and the remaining terms are grouped by their full-size factors, each group's
small coefficient computed first, so every full-size array is read once per group
(``dx = dout*_c0 + _c1`` then ``dx += z*_c2``); with ``accumulate`` their sums add up in a wide
dtype. Every scalar is printed by :class:`~.printer.ArrayPrinter`, the one printer.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from derive.define import Sigmoid, Where
from derive.errors import LayergradError
from derive.index import Term, normalize, rename_bound
from derive.softmax import Maximum

from .inplace import FLOAT_FUNCTIONS, chain
from .labels import elide_copies, fresh, split
from .passes import array_operations, collected, constants_in_sums, fewer_passes
from .printer import ArrayPrinter

__all__ = ["KINK_ALONE", "KINK_PAIR", "Lowering", "Softplus", "atom", "stable"]

Axes = tuple[sp.Symbol, ...]

KINK_ALONE = "At a kink the step θ(u) is 0 for u = 0, as (u > 0) and the course code take it (maximum(u, 0): slope 0)."
KINK_PAIR = ("Where maximum(a, b) ties, θ(a - b) = θ(b - a) = 1/2 (SymPy's θ(0)): the mean of the two one-sided "
             "derivatives.")


class Softplus(sp.Function):
    r""":math:`\log(1 + e^u)` (printing only)."""


def stable(expr: sp.Expr) -> sp.Expr:
    """``expr`` with the standard unstable patterns in their stable forms: a log of a sum of
    exponentials is a log-sum-exp, a ratio of an exponential to a sum of exponentials is shifted
    by the sum's maximum, :math:`\\log(1 + e^u)` is a softplus, :math:`e^u/(1 + e^u)` a sigmoid."""
    def exponential(s: sp.Basic) -> bool:
        if not isinstance(s, sp.Sum):
            return False
        exps = [f for f in sp.Mul.make_args(s.function) if isinstance(f, sp.exp)]
        return len(exps) == 1 and not exps[0].has(Maximum)

    def shifted(s: sp.Sum) -> sp.Expr:
        (e,) = [f for f in sp.Mul.make_args(s.function) if isinstance(f, sp.exp)]
        u = e.args[0]
        bound = {lim[0]: sp.Symbol(f"_m{n}", integer=True) for n, lim in enumerate(s.limits)}
        m = Maximum(u.xreplace(bound), *((bound[d], lo, hi) for d, lo, hi in s.limits))
        return sp.exp(m) * sp.Sum(s.function / e * sp.exp(u - m), *s.limits)

    expr = expr.replace(exponential, shifted)
    expr = sp.powsimp(expr, combine="exp")

    def shifted_log(e: sp.log) -> sp.Expr:  # log(exp(m)·Σ) = m + log Σ: the log-sum-exp
        (m,) = [f.args[0] for f in sp.Mul.make_args(e.args[0]) if isinstance(f, sp.exp) and f.args[0].has(Maximum)]
        return m + sp.log(e.args[0] / sp.exp(m))

    expr = expr.replace(lambda e: isinstance(e, sp.log) and sum(
        isinstance(f, sp.exp) and f.args[0].has(Maximum) for f in sp.Mul.make_args(e.args[0])) == 1, shifted_log)
    one_plus = sp.Wild("u")
    expr = expr.replace(sp.log(1 + sp.exp(one_plus)), Softplus(one_plus))
    return expr.replace(lambda e: isinstance(e, sp.Mul), _sigmoids)


def _sigmoids(product: sp.Mul) -> sp.Expr:
    r""":math:`e^u (1 + e^u)^{-1}` inside a product becomes :math:`\sigma(u)`."""
    factors = list(product.args)
    for f in list(factors):
        if isinstance(f, sp.exp):
            u = f.args[0]
            partner = (1 + sp.exp(u)) ** -1
            if partner in factors and f in factors:
                factors.remove(f)
                factors.remove(partner)
                factors.append(Sigmoid(u))
    return sp.Mul(*factors)


@dataclass
class Lowering:
    """Prints index expressions as NumPy statements; reductions are hoisted into temporaries
    (``_r0``, …) shared by every statement of the function, and of a later function that is
    given ``known``.

    ``ranges`` gives each index its size, ``names`` each array (indexed base or matrix symbol)
    and scalar symbol its variable; ``one_hot`` maps a one-hot array :math:`Y_{ij} = [j = y_i]`
    to its labels' variable (sums against it read the labelled entries) and ``booleans`` lists
    other 0/1 arrays (stored as booleans)."""

    ranges: dict[sp.Symbol, sp.Expr]
    names: Mapping[sp.Basic, str]
    lines: list[str] = field(default_factory=list)
    known: dict[sp.Basic, tuple[str, Axes]] = field(default_factory=dict)
    counter: list[int] = field(default_factory=lambda: [0, 0])
    order: tuple[sp.Symbol, ...] = ()
    one_hot: Mapping[sp.Basic, str] = field(default_factory=dict)
    booleans: frozenset = frozenset()
    views: set[str] = field(default_factory=set)
    """Variables that hold window views (``_read``), which ``_einsum`` reads faster."""
    elementwise: bool = False
    """Element-wise statements evaluated in one buffer (:func:`.inplace.chain`)."""
    floats: dict[str, int] = field(default_factory=dict)
    """Floating-point arrays (variable → number of axes): the full-size operands of a chain."""
    notes: list[str] = field(default_factory=list)
    """Conventions of the generated code that the derivation does not show (:meth:`kinks`)."""
    stored: tuple[str, int] = ("", 0)
    """The last variable stored and the line where its statements start."""
    accumulate: tuple[str, str] | None = None
    r"""``(wide, dtype)``: reductions add up in the dtype named ``wide`` (float64 for float32
    data: a float32 sum over many rows drifts by :math:`O(n\epsilon)`) and return ``dtype``."""
    results: tuple[str, ...] | None = None
    """The variables read after these statements (None: every named one, only temporaries are
    not); an array the code computed may be written in place after its last use otherwise."""
    rows: dict[str, str] = field(default_factory=dict)
    """``np.arange(size)`` computed once per size, for reads and writes at the labels."""
    hot: set[str] = field(default_factory=set)
    """One-hot arrays already computed."""

    def union(self, *groups: Axes) -> Axes:
        """The axes of several values together: the current target's order first."""
        out = _union(*groups)
        rank = {a: n for n, a in enumerate(self.order)}
        return tuple(sorted(out, key=lambda a: (rank.get(a, len(rank)), out.index(a))))

    # -- printing scalars ----------------------------------------------------------------------

    def scalar(self, expr: sp.Expr) -> str:
        """A scalar expression (sizes, constants, numbers) as Python source."""
        table = {s: sp.Symbol(self.names.get(s, s.name)) for s in expr.free_symbols}
        return ArrayPrinter().doprint(expr.xreplace(table))

    def size(self, index: sp.Symbol) -> str:
        if index not in self.ranges:
            raise LayergradError(f"no range known for index {index}")
        return self.scalar(self.ranges[index])

    # -- arrays --------------------------------------------------------------------------------

    def temporary(self, code: str, axes: Axes, key: tuple | None = None) -> tuple[str, Axes]:
        name = f"_r{self.counter[0]}"
        self.counter[0] += 1
        self.store(name, code, axes)
        if key is not None:
            self.known[key[0]] = (name, tuple(key[1][a] for a in axes))
        return name, axes

    def store(self, name: str, code: str, axes: Axes) -> None:
        """``name = code``; with ``elementwise``, an element-wise value in one buffer."""
        code = code[1:-1] if code.startswith("(") and _balanced(code) else code
        lines = None
        if self.elementwise and axes:
            full = {n for n, count in self.floats.items() if count == len(axes)}
            lines = chain(name, code, full, self.scratch)
            if lines is not None or code.startswith(FLOAT_FUNCTIONS):
                self.floats[name] = len(axes)
        self.stored = (name, len(self.lines))
        self.lines += lines or [f"{name} = {code}"]

    def scratch(self) -> str:
        self.counter[0] += 1
        return f"_s{self.counter[0] - 1}"

    def key(self, expr: sp.Basic) -> tuple[sp.Basic, dict[sp.Symbol, sp.Symbol]]:
        """A reduction up to the names of its bound and free indices (free indices become
        placeholders, in the order giving the smallest printed form), and that renaming."""
        free = sorted((s for s in expr.free_symbols if s in self.ranges and s not in self.names), key=str)
        best = None
        for perm in itertools.permutations(free):
            mapping = {s: _PLACEHOLDERS[n] for n, s in enumerate(perm)}
            candidate = rename_bound(expr.xreplace(mapping))
            printed = sp.srepr(candidate)
            if best is None or printed < best[0]:
                best = (printed, candidate, mapping)
            if len(free) > 3:
                break
        return best[1], best[2]

    def assign(self, target: str, expr: sp.Expr, axes: Axes) -> None:
        """``target = expr`` as an array with the axes ``axes`` (broadcast where it is constant)."""
        self.order = tuple(axes)
        if self.elementwise:
            expr = fewer_passes(self.kinks(expr))
        if target in (self.names.get(base) for base in self.one_hot):
            self.hot.add(target)
        elif self.select(target, expr, axes):
            return
        compact = _compact(stable(expr), self.elementwise)
        code, have = self.lower(constants_in_sums(compact) if self.elementwise else compact)
        extra = [a for a in have if a not in axes]
        if extra:
            raise LayergradError(f"{target}: index {extra[0]} is neither free nor summed")
        code = self.expand(code, have, axes)
        if set(have) != set(axes):
            shape = ", ".join(self.size(a) for a in axes)
            code = f"np.broadcast_to({code}, ({shape}{',' if len(axes) == 1 else ''})).copy()"
        elif self.elementwise and self.stored[0] == code and code.startswith("_r"):
            start = self.stored[1]  # a temporary's chain just computed the value: rename it the target
            self.lines[start:] = [re.sub(rf"(?<![\w.]){code}(?!\w)", target, line) for line in self.lines[start:]]
            self.known = {k: (target if n == code else n, h) for k, (n, h) in self.known.items()}
            if code in self.floats:
                self.floats[target] = self.floats.pop(code)
            return
        elif self.lines and self.lines[-1].startswith(f"{code} = ") and code.startswith("_r"):
            # the value was just computed into a temporary: compute it into the target instead
            self.lines[-1] = f"{target}{self.lines[-1][len(code):]}"
            self.known = {k: (target if n == code else n, h) for k, (n, h) in self.known.items()}
            return
        if "_read(" in code:
            self.views.add(target)
        self.store(target, code, axes)

    def kinks(self, expr: sp.Expr) -> sp.Expr:
        r"""The value at the kink, a convention of the generated code (the derivation keeps
        SymPy's :math:`\theta(0) = 1/2`): a step :math:`\theta(u)` alone, as
        :math:`\partial \max(u, 0)` leaves it, is 0 at :math:`u = 0` (``(u > 0)``, as the course
        code); a pair :math:`\theta(u), \theta(-u)`, as :math:`\max(a, b)` of two varying
        branches leaves it, stays 1/2 each at a tie (the mean of the one-sided derivatives, a
        subgradient where 0 would not be). Each convention used is noted in :attr:`notes`."""
        steps = [h for h in expr.atoms(sp.Heaviside) if len(h.args) == 1 or h.args[1] == sp.S.Half]
        paired = {h for h in steps if any(sp.expand(h.args[0] + g.args[0]) == 0 for g in steps)}
        if paired:
            self.notes.append(KINK_PAIR)
        if len(paired) < len(steps):
            self.notes.append(KINK_ALONE)
        return expr.xreplace({h: sp.Heaviside(h.args[0], 0) for h in steps if h not in paired})

    def source(self, indent: int = 4) -> str:
        """The statements so far, indented for a function body; a copy of an array that is not
        read again is the array itself (:func:`.labels.elide_copies`)."""
        def read_later(name: str) -> bool:
            return name in self.results if self.results is not None else not name.startswith("_")
        return "\n".join(" " * indent + line for line in elide_copies(self.lines, read_later))

    # -- one-hot labels: reads and writes at the labelled entries --------------------------------

    def label_rows(self, row: sp.Symbol) -> str:
        """The variable holding ``np.arange`` of ``row``'s size (computed on first use)."""
        size = self.size(row)
        if size not in self.rows:
            taken = set(self.names.values()) | set(self.rows.values())
            names = itertools.chain(["rows"], (f"rows{k}" for k in itertools.count(1)))
            name = next(n for n in names if n not in taken)
            self.lines.append(f"{name} = np.arange({size})")
            self.rows[size] = name
        return self.rows[size]

    def _labels_base(self, hot: sp.IndexedBase) -> sp.IndexedBase:
        labels = self.one_hot[hot]
        found = [b for b, n in self.names.items() if n == labels and isinstance(b, sp.IndexedBase)]
        if not found:
            raise LayergradError(f"no labels array named {labels} for the one-hot {hot}")
        return found[0]

    def _hot_entry(self, expr: sp.Expr, row_or_col: Sequence[sp.Symbol], col: Sequence[sp.Symbol]):
        """The one entry :math:`Y_{rc}` of a one-hot array in ``expr`` with ``r`` in
        ``row_or_col`` and ``c`` in ``col`` (two distinct indices), else None."""
        found = {f for f in expr.atoms(sp.Indexed) if f.base in self.one_hot and len(f.indices) == 2
                 and f.indices[0] in row_or_col and f.indices[1] in col and f.indices[0] != f.indices[1]}
        return found.pop() if len(found) == 1 else None

    def at_labels(self, expr: sp.Expr, entry: sp.Indexed) -> sp.Expr | None:
        r"""``expr`` at the labelled entries, :math:`c = y_r` for ``entry`` :math:`= Y_{rc}`: each
        array entry indexed by :math:`c` read at the labels (``x[rows, y]``, ``b[y]``), :math:`c`
        itself the label; None where :math:`c` appears otherwise."""
        row, col = entry.indices
        labels = self._labels_base(entry.base)
        table = {}
        for leaf in expr.atoms(sp.Indexed):
            if col not in leaf.free_symbols:
                continue
            name, where = self.names.get(leaf.base), tuple(leaf.indices)
            if name is None or leaf.base in self.one_hot or where not in ((row, col), (col, row), (col,)):
                return None
            at = {(row, col): f"[{self.label_rows(row)}, {self.names[labels]}]",
                  (col, row): f"[{self.names[labels]}, {self.label_rows(row)}]"}.get(where, f"[{self.names[labels]}]")
            read = sp.IndexedBase(f"{name}{at}")
            self.names = {**self.names, read: f"{name}{at}"}
            table[leaf] = read[row]
        out = expr.xreplace(table).xreplace({col: labels[row]})
        return None if out.has(col) else out

    def select(self, target: str, expr: sp.Expr, axes: Axes) -> bool:
        r"""``target = expr`` for ``expr`` :math:`= f(Y_{ij})` over the axes :math:`i, j` of a
        one-hot entry: the array :math:`f(0)`, then its labelled entries set to :math:`f(1)`
        (:func:`.labels.split`). False (nothing printed) where that form does not apply."""
        entry = self._hot_entry(expr, axes, axes) if len(axes) == 2 else None
        if entry is None or expr == entry:
            return False
        name = self.array_at_labels(expr, entry, axes, target)
        return name is not None

    def array_at_labels(self, expr: sp.Expr, entry: sp.Indexed, axes: Axes, target: str | None = None) -> str | None:
        """``expr`` (one-hot ``entry``) as the array of its unlabelled value with the labelled
        entries set (into ``target``, else a new temporary); None where the form does not apply:
        an unlabelled value constant along the axes, a labelled value that the array's dtype might
        not hold, or one that cannot be read at the labels."""
        off, on = split(expr, entry)
        if {s for s in off.free_symbols if s in self.ranges} != set(axes):
            return None
        if on != 0 and not _floating_value(off):
            return None
        labelled = self.at_labels(on, entry)
        if labelled is None:
            return None
        code, have = self.lower(_compact(stable(off)))
        if set(have) != set(axes):
            return None
        code = self.expand(code, have, axes)
        if not fresh(code):
            code = f"{atom(code)}.copy()"
        if target is None:
            target = f"_r{self.counter[0]}"
            self.counter[0] += 1
        self.store(target, code, axes)
        row, col = entry.indices
        rows, labels = self.label_rows(row), self.one_hot[entry.base]
        where = f"{rows}, {labels}" if axes.index(row) < axes.index(col) else f"{labels}, {rows}"
        if on == 0:
            value = "False" if self.boolean(off) or _mask(self, off) else "0"
        else:
            value, have = self.lower(_compact(stable(labelled)))
            if not set(have) <= {row}:
                raise LayergradError(f"{target}: the labelled value {on} varies along more than the rows")
            value = value[1:-1] if value.startswith("(") and _balanced(value) else value
        self.lines.append(f"{target}[{where}] = {value}")
        return target

    # -- normal form: terms grouped by their full-size factors -----------------------------------

    def collect(self, target: str, expr: sp.Expr, axes: Axes, **normalize_options) -> None:
        """``target = expr`` from its normal form (:func:`derive.index.normalize`): each connected
        group of summed factors a hoisted reduction, the other terms grouped by their full-size
        factors (spanning ``axes``), each group's small coefficient computed first, so every
        full-size array is read once per group: ``dx = dout*c0 + c1`` then ``dx += z*c2``."""
        self.order = tuple(axes)
        groups: dict[tuple, sp.Expr] = {}
        for t in normalize(expr, **normalize_options):
            coeff, full = self._hoisted(t, axes)
            key = tuple(sorted(full, key=sp.default_sort_key))
            groups[key] = groups.get(key, sp.S.Zero) + coeff
        if not groups:
            raise LayergradError(f"{target} is identically zero; nothing to generate")
        small = groups.pop((), None)
        if not groups:
            self.assign(target, small, self._axes_of(small, axes))
            return
        ordered = sorted(groups.items(), key=lambda item: sp.factor(item[1]).could_extract_minus_sign())
        terms = [self._times(key, coeff, axes) for key, coeff in ordered]
        first = terms[0]
        if first.startswith("-"):  # fold the sign into the small coefficient: no pass over -array
            key, coeff = ordered[0]
            first = f"{self._full(key, axes)}*{self._coefficient(sp.factor(coeff), axes, keep=True)}"
        if small is not None:
            small = sp.factor(small)
            if _simple(-small):
                first = f"{first} - {self._coefficient(-small, axes)}"
            else:
                first = f"{first} + {self._coefficient(small, axes, keep=not _simple(small))}"
        self.lines.append(f"{target} = {first}")
        self.lines += [f"{target} -= {t[1:]}" if t.startswith("-") else f"{target} += {t}" for t in terms[1:]]

    def reuse(self, target: str, buffer: str) -> None:
        """Compute ``target`` in the memory of ``buffer``, an array of its shape that the caller
        never reads again: the statement assigning it, ``target = buffer*f`` or ``buffer/f`` with
        ``f`` a variable (broadcast by ``[:, None]`` and the like; ``+ c`` or ``- c`` after it),
        becomes ``np.multiply(buffer, f, out=buffer)`` (then ``target += c``) where ``f`` has the
        buffer's dtype, one array of the input's size fewer. Any other form is left as it is."""
        at = max((n for n, line in enumerate(self.lines) if line.startswith(f"{target} = ")), default=None)
        line = self.lines[at] if at is not None else ""
        head = f"{target} = {buffer}"
        if not line.startswith(head) or line[len(head):len(head) + 1] not in ("*", "/") or any(
                re.search(rf"\b{buffer}\b", later) for later in self.lines[at + 1:]):
            return
        op, rest = line[len(head)], line[len(head) + 1:]
        factor, sign, constant = rest, "", ""
        for candidate in (" + ", " - "):
            if candidate in rest:
                factor, constant = rest.split(candidate, 1)
                sign = candidate.strip()
        name = re.match(r"[A-Za-z_]\w*", factor)
        if name is None or factor[name.end():] not in ("", *(f"[{i}]" for i in _broadcasts(factor[name.end():]))) \
                or (constant and atom(constant) != constant):
            return
        function = "np.multiply" if op == "*" else "np.divide"
        into = f"{buffer} if {buffer}.dtype == {name.group()}.dtype else None"  # else a new array of the promoted type
        self.lines[at:at + 1] = [f"{target} = {function}({buffer}, {factor}, out={into})"] + (
            [f"{target} {sign}= {constant}"] if constant else [])

    def _axes_of(self, expr: sp.Expr, axes: Axes) -> Axes:
        """The axes of ``axes`` that ``expr`` varies along."""
        return tuple(a for a in axes if expr.has(a))

    def _hoisted(self, t: Term, axes: Axes) -> tuple[sp.Expr, list[sp.Expr]]:
        """``t`` with each connected group of summed factors replaced by its reduction (an entry
        of a hoisted temporary): (small coefficient, full-size factors)."""
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
            entries = []
            for f in body:
                entry, power = f.as_base_exp()
                if not (isinstance(entry, sp.Indexed) and power.is_Integer and power > 0):
                    raise LayergradError(f"cannot contract {f}: only products of array entries are summed")
                entries += [entry] * int(power)  # a square is a contraction of two operands: no squared array
            whole = [(d, 0, hi - lo) for d, lo, hi in group]  # a sum runs over a whole axis, however numbered
            code, have = self.lower(sp.Sum(sp.Mul(*entries), *whole))
            reduction = sp.IndexedBase(code)
            self.names = {**self.names, reduction: code}
            small.append(reduction[have] if have else sp.Symbol(code))
            if not have:
                self.names[sp.Symbol(code)] = code
        full = [f for f in factors if set(self._axes_of(f, axes)) == set(axes) and f.as_base_exp()[1] == 1]
        small += [f for f in factors if f not in full]
        return sp.Mul(*small), full

    def _full(self, key: tuple, axes: Axes) -> str:
        code, have = self.lower(sp.Mul(*key))
        return atom(self.expand(code, have, axes, operand=True))

    def _coefficient(self, coeff: sp.Expr, axes: Axes, keep: bool = False) -> str:
        """A small coefficient as a factor: inline when short, else a temporary ``_c0``, …"""
        code, have = self.lower(coeff)
        code = self.expand(code, have, axes, operand=True)
        if keep or sp.count_ops(coeff) > 2:
            name = f"_c{self.counter[0]}"
            self.counter[0] += 1
            self.lines.append(f"{name} = {code[1:-1] if code.startswith('(') and _balanced(code) else code}")
            return name
        return atom(code)

    def _times(self, key: tuple, coeff: sp.Expr, axes: Axes) -> str:
        """The full-size product ``key`` times a small coefficient, the small part evaluated first."""
        product = self._full(key, axes)
        coeff = sp.factor(coeff)
        if coeff == 1:
            return product
        if coeff.could_extract_minus_sign():
            return f"-{self._times(key, -coeff, axes)}"
        if isinstance(coeff, sp.Pow) and coeff.exp == -1 and _simple(coeff.base):
            return f"{product}/{self._coefficient(coeff.base, axes)}"
        return f"{product}*{self._coefficient(coeff, axes)}"

    def expand(self, code: str, have: Axes, want: Sequence[sp.Symbol], operand: bool = False) -> str:
        """``code`` (axes ``have``) transposed and given new axes to broadcast against ``want``;
        an ``operand`` of arithmetic needs no new leading axes (NumPy broadcasting adds them)."""
        if not have:
            return code
        order = [a for a in want if a in have]
        perm = [have.index(a) for a in order]
        if perm != list(range(len(perm))):
            code = f"{atom(code)}.transpose({', '.join(map(str, perm))})"
        if len(order) == len(want) or (operand and tuple(want[len(want) - len(order):]) == tuple(order)):
            return code
        index = ", ".join(":" if a in have else "None" for a in want)
        return f"{atom(code)}[{index}]"

    def lower(self, expr: sp.Expr) -> tuple[str, Axes]:
        """``expr`` as (source, axes)."""
        expr = sp.sympify(expr)
        key = None
        mask = (isinstance(expr, sp.Mul) and all(self.boolean(f) or self.boolean(1 - f) for f in expr.args)) \
            or (isinstance(expr, sp.Add) and self.boolean(1 - expr))
        hoisted = _worth_keeping(expr) or mask  # a product of masks is computed once, too
        if isinstance(expr, (sp.Sum, Maximum)) or hoisted:
            key, mapping = self.key(expr)
            if key in self.known:
                name, axes = self.known[key]
                back = {p: s for s, p in mapping.items()}
                return name, tuple(back[a] for a in axes)
        if self.elementwise and expr.is_number and expr.is_real and not expr.is_Rational:
            return repr(float(expr)), ()  # a Python float: np.sqrt(2) is a float64 that makes float32 data float64
        if expr.is_Number or expr in (sp.pi, sp.E):
            return self.scalar(expr), ()
        if isinstance(expr, sp.Symbol):
            if expr in self.names:
                return self.names[expr], ()
            if expr in self.ranges:
                return f"np.arange({self.size(expr)})", (expr,)
            raise LayergradError(f"no value known for {expr}")
        if isinstance(expr, MatrixElement) and not isinstance(expr.parent, sp.MatrixSymbol):
            return self.lower(_compact(expr.parent._entry(*expr.indices)))  # index form
        if isinstance(expr, (sp.Indexed, MatrixElement)):
            return self.entry(expr)
        if isinstance(expr, sp.Sum):
            return self.temporary(*self.sum(expr), key=(key, mapping))
        if isinstance(expr, Maximum):
            function, summed = self.bind(expr.function, expr.limits)
            body, have = self.lower(function)
            axes = tuple(have.index(d) for d in summed)
            return self.temporary(f"{atom(body)}.max(axis={_axis(axes)})",
                                  tuple(a for a in have if a not in summed), key=(key, mapping))
        if isinstance(expr, sp.Add):
            code, have = self.combine(expr.args, " + ")
            return self.temporary(code, have, key=(key, mapping)) if hoisted else (code, have)
        if isinstance(expr, sp.Mul):
            return self.temporary(*self.product(expr), key=(key, mapping)) if hoisted else self.product(expr)
        if isinstance(expr, sp.Pow):
            code, have = self.power(expr)
            return self.temporary(code, have, key=(key, mapping)) if hoisted else (code, have)
        if isinstance(expr, sp.KroneckerDelta):
            (a, ha), (b, hb) = self.lower(expr.args[0]), self.lower(expr.args[1])
            axes = self.union(ha, hb)
            return f"({self.expand(a, ha, axes)} == {self.expand(b, hb, axes)})", axes
        if isinstance(expr, sp.Piecewise):
            return self.piecewise(expr)
        if isinstance(expr, Where):
            return self.piecewise(sp.Piecewise((expr.args[1], expr.args[0]), (expr.args[2], True), evaluate=False))
        if isinstance(expr, sp.core.relational.Relational):
            (a, ha), (b, hb) = self.lower(expr.lhs), self.lower(expr.rhs)
            axes = self.union(ha, hb)
            return f"({self.expand(a, ha, axes)} {expr.rel_op} {self.expand(b, hb, axes)})", axes
        if isinstance(expr, (sp.Max, sp.Min)):
            parts = [self.lower(a) for a in expr.args]
            axes = self.union(*(h for _, h in parts))
            code = self.expand(*parts[0], axes)
            for c, h in parts[1:]:
                code = f"np.{'maximum' if isinstance(expr, sp.Max) else 'minimum'}({code}, {self.expand(c, h, axes)})"
            return code, axes
        if isinstance(expr, sp.Heaviside):
            arg, have = self.lower(expr.args[0])
            half = 0.5 if len(expr.args) == 1 else float(expr.args[1])
            if half == 0:
                return f"({arg} > 0)", have
            if self.elementwise and half == 0.5:  # branch-free: np.heaviside tests each entry
                return f"(0.5*np.sign({arg}) + 0.5)", have
            return f"np.heaviside({arg}, {half})", have
        function = _FUNCTIONS.get(type(expr))
        if function is not None and len(expr.args) == 1:
            arg, have = self.lower(expr.args[0])
            arg = arg[1:-1] if arg.startswith("(") and _balanced(arg) else arg
            code = function.format(arg) if "{}" in function else f"{function}({arg})"
            return self.temporary(code, have, key=(key, mapping)) if hoisted else (code, have)
        raise LayergradError(f"cannot generate code for {type(expr).__name__} in {expr}")

    def entry(self, expr: sp.Indexed | MatrixElement) -> tuple[str, Axes]:
        base = expr.parent if isinstance(expr, MatrixElement) else expr.base
        name = self.names.get(base)
        if name is None:
            raise LayergradError(f"no array name given for {base}")
        if base in self.one_hot and name not in self.hot and len(expr.indices) == 2:
            self.hot.add(name)  # computed where a form without it does not apply, once
            row, col = expr.indices
            order, self.order = self.order, (row, col)
            code, have = self.lower(sp.KroneckerDelta(col, self._labels_base(base)[row]))
            self.order = order
            code = self.expand(code, have, (row, col))
            self.lines.append(f"{name} = {code[1:-1] if code.startswith('(') and _balanced(code) else code}")
        code, axes, reads = name, [], []
        position = 0  # the axis of the stored array
        shifted: set[sp.Symbol] = set()
        for n, index in enumerate(expr.indices):
            if isinstance(index, sp.Symbol) and index in self.ranges:
                axes.append(index)
                position += 1
                continue
            if index == 0 and isinstance(base, sp.MatrixSymbol) and base.shape[n] == 1:
                continue  # a row or column vector is stored with one axis
            symbols = sorted((s for s in index.free_symbols if s in self.ranges and s not in self.names),
                             key=str)
            poly = sp.Poly(index, *symbols) if symbols else None
            start = index.subs({s: 0 for s in symbols})
            steps = [(poly.coeff_monomial(s) if poly is not None else 0, s) for s in symbols]
            twice = [s for c, s in steps if c != 0 and s in shifted]
            if twice:
                raise LayergradError(f"{expr}: the index {twice[0]} is shifted or strided on two axes (a diagonal "
                                     "through an affine index) and that is not supported; read the diagonal in a "
                                     f"statement of its own, G[j] = {base}[j, j], then shift G")
            shifted.update(s for c, s in steps if c != 0)
            listed = ", ".join(f"({self.scalar(c)}, {self.size(s)})" for c, s in steps)
            reads.append(f"({position}, {self.scalar(start)}, [{listed}])")
            axes += [s for _, s in steps]
            position += 1
        if reads:  # one view for all affine indices (one padded copy at most)
            code = f"_read({code}, {', '.join(reads)})"
        if len(set(axes)) != len(axes):  # a diagonal, X[i, i]: one axis per distinct index (a view)
            distinct = list(dict.fromkeys(axes))
            letters = {s: chr(ord("a") + n) for n, s in enumerate(distinct)}
            spec = "".join(letters[s] for s in axes) + "->" + "".join(letters[s] for s in distinct)
            code, axes = f"np.einsum('{spec}', {code})", distinct
        return code, tuple(axes)

    def combine(self, args: Sequence[sp.Expr], op: str) -> tuple[str, Axes]:
        negated = [a for a in args if a.could_extract_minus_sign() and self.boolean(-a)]
        if op == " + " and sp.S.One in args and len(args) == 2 and negated:
            code, have = self.lower(-negated[0])  # 1 - B of a 0/1 array B is its negation, still boolean
            return f"~{atom(code)}", have
        # subtracted terms last and printed as subtractions (no negated arrays, nor booleans)
        signs = [op == " + " and a.could_extract_minus_sign() for a in args]
        order = sorted(range(len(args)), key=lambda n: signs[n])
        parts = [self.lower(-args[n] if signs[n] else args[n]) for n in order]
        axes = self.union(*(h for _, h in parts))
        pieces = [self.expand(code, have, axes, operand=True) for code, have in parts]
        code = ""
        for n, piece in zip(order, pieces):
            if signs[n]:
                code = f"{code} - {atom(piece)}" if code else f"-{atom(piece)}"
            else:
                code = f"{code}{op}{piece}" if code else piece
        return f"({code})", axes

    def product(self, expr: sp.Mul) -> tuple[str, Axes]:
        coeff, factors = expr.as_coeff_mul()
        if self.elementwise and any(f.is_number and f.is_real for f in factors):  # one number, not a pass per √2
            coeff = sp.Float(float(coeff * sp.Mul(*(f for f in factors if f.is_number and f.is_real))), 17)
            factors = tuple(f for f in factors if not (f.is_number and f.is_real))
        numerator = [f for f in factors if not (isinstance(f, sp.Pow) and f.exp.is_number and f.exp < 0)]
        denominator = [1 / f for f in factors if f not in numerator]
        constant = [f for f in numerator if not f.atoms(sp.Indexed)]
        if self.elementwise and constant and len(constant) < len(numerator) \
                and not any(f.atoms(sp.Indexed) for f in denominator) and len(constant) + len(denominator) > 1:
            # the constant factors into one number first: one pass over the arrays, not one each
            small = self.lower(sp.Mul(*constant) / sp.Mul(*denominator))
            numerator, denominator = [f for f in numerator if f not in constant], []
            parts = [small] + [self.lower(f) for f in numerator]
        else:
            parts = [self.lower(f) for f in numerator]
        below = [self.lower(f) for f in denominator]
        axes = self.union(*(h for _, h in parts + below))
        top = "*".join(atom(self.expand(c, h, axes, operand=True)) for c, h in parts) or "1"
        if coeff == -1 and parts:
            top = f"-{top}"
        elif coeff != 1 and not (self.elementwise and coeff.is_Float and float(coeff) == 1.0):  # 1.0*x is x
            number = repr(float(coeff)) if self.elementwise and isinstance(coeff, sp.Float) else self.scalar(coeff)
            top = f"{number}*{top}" if parts else number
        if below:
            bottom = "*".join(atom(self.expand(c, h, axes, operand=True)) for c, h in below)
            return f"({top}/{bottom if len(below) == 1 else '(' + bottom + ')'})", axes
        return f"({top})", axes

    def power(self, expr: sp.Pow) -> tuple[str, Axes]:
        base, have = self.lower(expr.base)
        e = expr.exp
        if e.free_symbols:
            exponent, eh = self.lower(e)
            if eh:
                raise LayergradError(f"an exponent that varies with an index is not supported: {expr}")
            return f"{atom(base)}**{atom(exponent)}", have
        bare = base[1:-1] if base.startswith("(") and _balanced(base) else base
        if e == sp.Rational(1, 2):
            return f"np.sqrt({bare})", have
        if e == -sp.Rational(1, 2):
            return f"(1/np.sqrt({bare}))", have
        if e == -1:
            return f"(1/{atom(base)})", have
        if e == 2:  # a scalar squares in Python: a NumPy integer would widen float32 arrays
            return (f"np.square({base})" if have else f"{atom(base)}**2"), have
        if e.is_Integer and 2 < e <= 4:
            return "(" + "*".join([atom(base)] * int(e)) + ")", have
        return f"{atom(base)}**{atom(self.scalar(e))}", have

    def piecewise(self, expr: sp.Piecewise) -> tuple[str, Axes]:
        (value, cond), *rest = expr.args
        if not rest:
            return self.lower(value)
        other = sp.Piecewise(*rest) if rest[0][1] != sp.true else rest[0][0]
        parts = [self.lower(cond), self.lower(value), self.lower(other)]
        axes = self.union(*(h for _, h in parts))
        c, a, b = (self.expand(code, h, axes) for code, h in parts)
        if self.elementwise and (value, other) == (1, 0):  # the condition itself: a boolean (no int64 array)
            return c, axes
        return f"{'_where' if self.elementwise else 'np.where'}({c}, {a}, {b})", axes

    # -- reductions ----------------------------------------------------------------------------

    def bind(self, body: sp.Expr, limits: Sequence[tuple]) -> tuple[sp.Expr, list[sp.Symbol]]:
        """``body`` with the bound indices of ``limits`` renamed apart, each given its range (an
        index that takes a single value is that value)."""
        fresh = {}
        for d, lo, hi in limits:
            if lo == hi:
                body = body.xreplace({d: lo})
                continue
            if lo != 0:
                raise LayergradError(f"a reduction must start at 0, got {d} from {lo}")
            self.counter[1] += 1
            fresh[d] = sp.Symbol(f"{d.name}_{self.counter[1]}", integer=True)
            self.ranges[fresh[d]] = hi + 1
        return body.xreplace(fresh), list(fresh.values())

    def sum(self, expr: sp.Sum) -> tuple[str, Axes]:
        function, summed = self.bind(expr.function, expr.limits)
        factors = list(sp.Mul.make_args(function))
        scatters = [f for f in factors if isinstance(f, sp.KroneckerDelta) and self._scatter_form(f, summed)]
        factors = [f for f in factors if f not in scatters]
        kept_for_scatter = {s for f in scatters for s in self._scatter_form(f, summed)[1]}
        scalars = [f for f in factors if not (f.free_symbols & set(self.ranges))
                   and not f.atoms(sp.Indexed, MatrixElement)]
        if not scatters and (gathered := self.gather(factors, summed)):
            return gathered
        if not scatters and (selected := self.sum_at_labels(function, summed)):
            return selected
        coeff = sp.Mul(*scalars)
        arrays = []
        for f in factors:
            if f in scalars:
                continue
            base, power = f.as_base_exp()  # a power of an entry is a contraction: no array of powers
            square = isinstance(base, sp.Indexed) and power.is_Integer and 1 < power <= 4
            arrays += [base] * int(power) if square else [f]
        if len(arrays) > 1 and all(self.boolean(f) or self.boolean(1 - f) for f in arrays):
            arrays = [sp.Mul(*arrays)]  # booleans multiply as booleans; their sum counts (einsum would OR)
        operands = [self.lower(f) for f in arrays]
        reduce_over = [d for d in summed if d not in kept_for_scatter]
        forms = [self._scatter_form(f, summed) for f in scatters]
        if forms and operands and not any(h in a for h, *_ in forms for _, a in operands) \
                and len({h for h, *_ in forms}) == len(forms):
            code, axes = self.scatter_sum(operands, summed, forms)
            if coeff != 1:
                c, _ = self.lower(coeff)
                code = f"{atom(c)}*{atom(code)}"
            return code, axes
        code, axes = self.contract(operands, reduce_over)
        if coeff != 1:
            c, _ = self.lower(coeff)
            code = f"{atom(c)}*{atom(code)}"
        for delta in scatters:
            target, dummies, start, steps = self._scatter_form(delta, summed)
            code = self.expand(code, axes, [*(a for a in axes if a not in dummies), *dummies])
            axes = (*(a for a in axes if a not in dummies), *dummies)
            listed = ", ".join(f"({self.scalar(c)}, {self.size(s)})" for c, s in steps)
            code = f"_scatter({code}, {self.scalar(start)}, [{listed}], {self.size(target)})"
            axes = (*axes[:len(axes) - len(dummies)], target)
        return code, axes

    def gather(self, factors: Sequence[sp.Expr], summed: Sequence[sp.Symbol]) -> tuple[str, Axes] | None:
        r""":math:`\sum_j Y_{ij} f_{ij} = f_{i, y_i}` for one-hot :math:`Y_{ij} = [j = y_i]`: the
        labelled entry of each row (``f[np.arange(N), y]``) instead of a product and a sum."""
        hot = [f for f in factors if isinstance(f, sp.Indexed) and f.base in self.one_hot]
        if len(summed) != 1 or len(hot) != 1 or tuple(hot[0].indices[1:]) != tuple(summed):
            return None
        row, column = hot[0].indices[0], summed[0]
        code, have = self.lower(sp.Mul(*(f for f in factors if f is not hot[0])))
        if set(have) != {row, column}:
            return None
        code = self.expand(code, have, (row, column))
        return f"{atom(code)}[{self.label_rows(row)}, {self.one_hot[hot[0].base]}]", (row,)

    def sum_at_labels(self, function: sp.Expr, summed: Sequence[sp.Symbol]) -> tuple[str, Axes] | None:
        r""":math:`\sum` of a summand :math:`f(Y_{rc})` with :math:`c` summed: the array of
        :math:`f(0)` with the labelled entries set to :math:`f(1)` (:meth:`array_at_labels`; a
        factor :math:`1 - Y` zeroes them), reduced. Computed once per function."""
        entry = self._hot_entry(function, tuple(self.ranges), summed)
        if entry is None:
            return None
        axes = self.union(entry.indices)
        key, mapping = self.key(function)
        if key in self.known:
            name, have = self.known[key]
            back = {p: s for s, p in mapping.items()}
            return self.contract([(name, tuple(back[a] for a in have))], summed)
        if {s for s in function.free_symbols if s in self.ranges} - set(axes):
            return None
        name = self.array_at_labels(function, entry, axes)
        if name is None:
            return None
        self.known[key] = (name, tuple(mapping[a] for a in axes))
        return self.contract([(name, axes)], summed)

    def boolean(self, expr: sp.Basic) -> bool:
        """Is ``expr`` a 0/1 array stored as booleans?"""
        if isinstance(expr, sp.Indexed):
            return expr.base in self.booleans or expr.base in self.one_hot
        return isinstance(expr, (sp.Heaviside, sp.KroneckerDelta, sp.core.relational.Relational))

    def scatter_sum(self, operands, summed, forms) -> tuple[str, Axes]:
        r""":math:`\sum` of a product with deltas :math:`h = s + \sum c\,d` on summed indices:
        one ``_scatter_sum`` (a loop over the kernel offsets, one einsum and a strided add each)."""
        axes_in = _union(*(h for _, h in operands))
        targets = tuple(h for h, *_ in forms)
        out = self.union(tuple(a for a in axes_in if a not in summed) + targets)  # the target's order
        spare = tuple(d for _, _, _, steps in forms for _, d in steps if d not in axes_in)
        letters = {a: chr(ord("a") + n) for n, a in enumerate(axes_in + spare + targets)}
        spec = ",".join("".join(letters[a] for a in h) for _, h in operands) + "->" + "".join(letters[a] for a in out)
        deltas = []
        for h, _, start, steps in forms:
            listed = ", ".join(f"({self.scalar(c)}, {letters[d]!r}, {self.size(d)})" for c, d in steps)
            deltas.append(f"({letters[h]!r}, {self.scalar(start)}, [{listed}], {self.size(h)})")
        args = ", ".join(c for c, _ in operands)
        return f"_scatter_sum('{spec}', [{args}], [{', '.join(deltas)}])", out

    def _scatter_form(self, delta: sp.KroneckerDelta, summed: Sequence[sp.Symbol]):
        """``δ(h, start + Σ c·d)`` with ``h`` a free index and ``d`` summed: the parts, else None."""
        for h, e in (delta.args, delta.args[::-1]):
            if isinstance(h, sp.Symbol) and h in self.ranges and h not in summed and not e.has(h):
                dummies = [d for d in summed if e.has(d)]
                if not dummies or any(s in self.ranges and s not in summed for s in e.free_symbols):
                    continue
                poly = sp.Poly(e, *dummies)
                if poly.total_degree() != 1:
                    continue
                start = e.subs({d: 0 for d in dummies})
                steps = [(poly.coeff_monomial(d), d) for d in dummies]
                return h, dummies, start, steps
        return None

    def contract(self, operands: Sequence[tuple[str, Axes]], summed: Sequence[sp.Symbol]) -> tuple[str, Axes]:
        """The product of ``operands`` summed over ``summed``: one ``np.einsum``."""
        axes_in = self.union(*(h for _, h in operands))
        out = tuple(a for a in axes_in if a not in summed)
        if not summed:
            if len(operands) == 1:
                return operands[0]
            return "*".join(atom(self.expand(c, h, axes_in)) for c, h in operands), axes_in
        if len(operands) == 1:
            code, have = operands[0]
            if "_read(" in code or code in self.views:  # a sum over a window view: over its offsets
                letters = _letters(have)
                spec = "".join(letters[a] for a in have) + "->" + "".join(letters[a] for a in have if a not in summed)
                return f"_einsum('{spec}', {code})", tuple(a for a in have if a not in summed)
            if self.elementwise and have and not code.isidentifier():  # the summand in one buffer first
                code, have = self.temporary(code, have)
            axes = tuple(sorted(have.index(d) for d in summed if d in have))
            if self.accumulate:
                wide, dtype = self.accumulate
                return (f"{atom(code)}.sum(axis={_axis(axes)}, dtype={wide}).astype({dtype}, copy=False)",
                        tuple(a for a in have if a not in summed))
            return f"{atom(code)}.sum(axis={_axis(axes)})", tuple(a for a in have if a not in summed)
        if (product := self.matmul(operands, summed)) is not None:
            return product
        if (product := self.matvec(operands, summed)) is not None:
            return product
        if (product := self.rowdot(operands, summed)) is not None:
            return product
        letters = _letters(axes_in)
        spec = ",".join("".join(letters[a] for a in h) for _, h in operands) + "->" + "".join(letters[a] for a in out)
        args = ", ".join(c for c, _ in operands)
        blas = any(set(h1) & set(h2) & set(summed) and set(h1) - set(h2) and set(h2) - set(h1)
                   for n, (_, h1) in enumerate(operands) for _, h2 in operands[n + 1:])
        if any("_read(" in c or c in self.views for c, _ in operands):  # over window views
            return f"_einsum('{spec}', {args}{', blas=True' if blas else ''})", out
        if self.accumulate:
            wide, dtype = self.accumulate
            return f"np.einsum('{spec}', {args}, dtype={wide}).astype({dtype}, copy=False)", out
        return f"np.einsum('{spec}', {args}{', optimize=True' if blas else ''})", out


    def matvec(self, operands: Sequence[tuple[str, Axes]], summed: Sequence[sp.Symbol]) -> tuple[str, Axes] | None:
        r""":math:`\sum_k A_{\ldots k} v_k` with :math:`v` a vector over the summed index, which
        :math:`A` holds last: ``a.dot(v)`` (``a @ v`` past two axes), a matrix-vector product
        through BLAS (``einsum`` runs it several times slower; ``a.dot`` dispatches in about half
        the time of ``@``, which counts at the course's sizes). With more factors than one beside
        :math:`v` the product would be an array of its own, an extra pass that costs more than
        ``einsum`` saves at large sizes."""
        if len(summed) != 1 or self.accumulate or any("_read(" in c or c in self.views for c, _ in operands):
            return None
        k = summed[0]
        vectors = [op for op in operands if op[1] == (k,)]
        rest = [op for op in operands if op[1] != (k,)]
        if len(vectors) != 1 or len(rest) != 1 or rest[0][1][-1:] != (k,):
            return None
        (a, axes), v = rest[0], vectors[0][0]
        return (f"{atom(a)}.dot({v})" if len(axes) == 2 else f"{atom(a)} @ {v}"), axes[:-1]

    def rowdot(self, operands: Sequence[tuple[str, Axes]], summed: Sequence[sp.Symbol]) -> tuple[str, Axes] | None:
        r""":math:`\sum_k A_{\ldots k} B_{\ldots k}` of two arrays with the same axes, summed over the
        last: ``np.vecdot`` (one pass, two to three times faster than ``einsum`` on rows of a few
        hundred; ``.conj()`` undoes its conjugation of complex data and is the array itself otherwise)."""
        if len(operands) != 2 or len(summed) != 1 or any("_read(" in c or c in self.views for c, _ in operands):
            return None
        (a, ha), (b, hb) = operands
        if ha != hb or ha[-1:] != tuple(summed):
            return None
        dtype = f", dtype={self.accumulate[0]}" if self.accumulate else ""
        code = f"np.vecdot({atom(a)}.conj(), {b}{dtype})"
        if self.accumulate:
            code += f".astype({self.accumulate[1]}, copy=False)"
        return code, ha[:-1]

    def matmul(self, operands: Sequence[tuple[str, Axes]], summed: Sequence[sp.Symbol]) -> tuple[str, Axes] | None:
        r""":math:`\sum_k A_{ik} B_{kj}` of two matrices (either stored transposed) as ``a.dot(b)``
        (the same BLAS call as ``a @ b``, dispatched in about two thirds of the time), in the
        current target's order of :math:`i, j`."""
        if len(operands) != 2 or len(summed) != 1 or any(len(h) != 2 or summed[0] not in h for _, h in operands):
            return None
        k = summed[0]
        (a, ha), (b, hb) = operands
        (i,), (j,) = [x for x in ha if x != k], [x for x in hb if x != k]
        if i == j:
            return None
        if self.union((i,), (j,)) != (i, j):
            (a, ha), (b, hb), (i, j) = (b, hb), (a, ha), (j, i)
        left = atom(a) if ha == (i, k) else f"{atom(a)}.T"
        right = b if hb == (k, j) else f"{atom(b)}.T"
        return f"{left}.dot({right})", (i, j)


_FUNCTIONS = {sp.exp: "np.exp", sp.log: "np.log", sp.tanh: "np.tanh", sp.Abs: "np.abs", sp.sign: "np.sign",
              sp.erf: "_erf", Sigmoid: "_sigmoid", Softplus: "_softplus", sp.cosh: "np.cosh",
              sp.sinh: "np.sinh"}


def _compact(expr: sp.Expr, elementwise: bool = False) -> sp.Expr:
    """Fewer operations for NumPy: common factors out (factored fully when there is no sum and
    that is shorter), each function's argument expanded so equal values look equal. With
    ``elementwise``, also collected in its functions of arrays (:func:`.passes.collected`), and
    the fewest operations that make an array win (:func:`.passes.array_operations`)."""
    candidates = [sp.factor_terms(expr)]
    if not expr.has(sp.Sum, Maximum) and sp.count_ops(expr) < 300:
        candidates.append(sp.factor(expr))
        if elementwise and sp.count_ops(expr) < 100 and (gathered := collected(expr)) is not None:
            candidates.append(gathered)
    cost = (lambda e: (array_operations(e), sp.count_ops(e))) if elementwise else sp.count_ops
    best = min(candidates, key=cost)
    return best.replace(lambda e: type(e) in _FUNCTIONS and len(e.args) == 1,
                        lambda e: e.func(sp.expand(e.args[0])))


def _floating_value(expr: sp.Basic) -> bool:
    """Is ``expr`` computed in floating point whatever its arrays' dtypes (a true division, a
    non-integer number or a transcendental function in its arithmetic)?"""
    if isinstance(expr, (sp.Float, sp.Rational)):
        return not expr.is_Integer
    if isinstance(expr, (sp.Indexed, sp.Symbol, sp.core.relational.Relational, sp.Heaviside, sp.KroneckerDelta)):
        return False
    if isinstance(expr, sp.Pow) and not (expr.exp.is_Integer and expr.exp >= 0):
        return True
    if type(expr) in _FUNCTIONS:
        return True
    return any(_floating_value(a) for a in expr.args)


def _mask(lowering: Lowering, expr: sp.Basic) -> bool:
    """A product of 0/1 arrays (stored as booleans)?"""
    return isinstance(expr, sp.Mul) and all(lowering.boolean(f) or lowering.boolean(1 - f) for f in expr.args)


def _worth_keeping(expr: sp.Basic) -> bool:
    """A transcendental function or a root of arrays: computed once, kept for the backward pass."""
    if isinstance(expr, sp.Pow):
        return not expr.exp.is_Integer and bool(expr.base.atoms(sp.Indexed))
    return type(expr) in _FUNCTIONS and bool(expr.atoms(sp.Indexed))


_PLACEHOLDERS = [sp.Symbol(f"_f{n}", integer=True) for n in range(16)]


def atom(code: str) -> str:
    """``code`` safe to use as a factor: wrapped in parentheses unless it is one (a name, a
    parenthesized expression, a call or subscript of a name)."""
    head = code.lstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
    if code.isidentifier() or code.replace(".", "", 1).isdigit() or (
            head and head[0] in "([" and head[-1] in ")]" and _balanced(head)):
        return code
    return f"({code})"


def _balanced(code: str) -> bool:
    """Does the bracket opening ``code`` close at its end?"""
    depth = 0
    for pos, ch in enumerate(code):
        depth += ch in "(["
        depth -= ch in ")]"
        if depth == 0 and pos < len(code) - 1:
            return False
    return True


def _broadcasts(suffix: str) -> list[str]:
    """``suffix`` as a list of one subscript of slices and new axes (``[:, None]``), else empty."""
    inner = suffix[1:-1] if suffix.startswith("[") and suffix.endswith("]") else None
    if inner is None or any(part.strip() not in (":", "None") for part in inner.split(",")):
        return []
    return [inner]


def _axis(axes: Sequence[int]) -> str:
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))


def _union(*groups: Axes) -> Axes:
    out: list[sp.Symbol] = []
    for g in groups:
        out += [a for a in g if a not in out]
    return tuple(out)


def _letters(axes: Axes) -> dict[sp.Symbol, str]:
    """An ``einsum`` letter for each index: its own initial where that is free (``k_3 → k``)."""
    letters: dict[sp.Symbol, str] = {}
    for a in axes:
        initial = a.name[0]
        spare = [c for c in initial + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 if c.isascii() and c.isalpha() and c not in letters.values()]
        letters[a] = spare[0]
    return letters


def _simple(expr: sp.Expr) -> bool:
    """A single array, symbol or number: nothing to compute before using it."""
    return bool(expr.is_Symbol or expr.is_Number or isinstance(expr, sp.Indexed))
