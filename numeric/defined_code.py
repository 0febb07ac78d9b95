r"""Vectorized NumPy for a defined layer (:mod:`derive.define`, :mod:`derive.defined`).

Every value of the generated code is an array whose axes are index symbols, in a known order;
:class:`Lowering` prints an index expression as such an array:

* an entry with plain indices is the array itself, axes transposed as needed; an affine index
  :math:`X_{\ldots, Si + k - P, \ldots}` is a strided view (``_read``: zero padding where the
  index leaves the array, then ``as_strided``: one axis per index, no copy of the windows);
* element-wise operations broadcast (missing axes become ``None``);
* a sum of a product is one ``np.einsum`` over the factors (through BLAS when it is a matrix
  product), a sum of anything else ``.sum(axis=...)``; every reduction is computed once per
  function and kept (a hoisted temporary ``_r0``, ``_r1``, …), so the backward pass reuses
  what the forward pass computed;
* a Kronecker delta :math:`\delta_{h, Si + k - P}` left by the derivation becomes a scatter-add
  over the kernel offsets (``_scatter``), the adjoint of ``_read``;
* stable forms where the standard patterns appear: a sum of exponentials is shifted by its
  maximum (log-sum-exp, softmax: the shift is found, not written by the user),
  :math:`\log(1 + e^u)` is ``_softplus(u)``, :math:`\sigma(u)` is computed without overflow.

:func:`functions` returns ``{name}_forward(*inputs, *params, *data, **constants) -> (out,
cache)`` and ``{name}_backward(dout, cache)`` for a definition; :func:`module_source` puts one
or several definitions into a module.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sympy as sp

from derive.define import Definition, Sigmoid, Where
from derive.defined import Layer, derive
from derive.errors import LayergradError
from derive.index import rename_bound
from derive.softmax import Maximum

from .codegen import FLOATING_HELPER, GeneratedFunction, Module

__all__ = ["HELPERS", "Lowering", "functions", "module_source"]

Axes = tuple[sp.Symbol, ...]

HELPERS = r'''def _read(a, axis, start, steps):
    """a read along `axis` at start + c1*i1 + c2*i2 + ... for each (c, m) in steps and i in range(m),
    zero outside the array: that axis becomes one axis per step (a strided view, no copy)."""
    n = a.shape[axis]
    low = start + sum(min(0, c * (m - 1)) for c, m in steps)
    high = start + sum(max(0, c * (m - 1)) for c, m in steps)
    before, after = max(0, -low), max(0, high - (n - 1))
    if before or after:
        pad = [(0, 0)] * a.ndim
        pad[axis] = (before, after)
        a = np.pad(a, pad)
    at = a[(slice(None),) * axis + (start + before,)]
    shape = a.shape[:axis] + tuple(m for _, m in steps) + a.shape[axis + 1:]
    strides = a.strides[:axis] + tuple(c * a.strides[axis] for c, _ in steps) + a.strides[axis + 1:]
    return np.lib.stride_tricks.as_strided(at, shape, strides, writeable=False)


def _scatter(g, start, steps, n):
    """The adjoint of _read on the last len(steps) axes of g: adds g[..., i1, i2, ...] at
    start + c1*i1 + c2*i2 + ... where that lies in range(n); those axes become one of length n."""
    count = len(steps)
    g = np.broadcast_to(g, g.shape[:g.ndim - count] + tuple(m for _, m in steps))
    low = start + sum(min(0, c * (m - 1)) for c, m in steps)
    high = start + sum(max(0, c * (m - 1)) for c, m in steps)
    before, after = max(0, -low), max(0, high - (n - 1))
    out = np.zeros(g.shape[:g.ndim - count] + (n + before + after,), dtype=g.dtype)
    first = max(range(count), key=lambda r: steps[r][1])  # the longest step as a strided slice
    g = np.moveaxis(g, g.ndim - count + first, g.ndim - count)
    (c0, m0), rest = steps[first], [s for r, s in enumerate(steps) if r != first]
    for offsets in np.ndindex(*(m for _, m in rest)):
        at = start + before + sum(c * k for (c, _), k in zip(rest, offsets))
        view = np.lib.stride_tricks.as_strided(out[..., at], out.shape[:-1] + (m0,),
                                               out.strides[:-1] + (c0 * out.strides[-1],))
        view += g[(Ellipsis, slice(None), *offsets)]
    return out[..., before:before + n]


def _window(a):
    """Is a a strided window view (_read's as_strided, which reads entries more than once)?"""
    base = a.base
    while base is not None and not isinstance(base, np.ndarray):
        base = getattr(base, "base", None)
    return base is not None and a.size > base.size


def _einsum(spec, *operands, blas=False):
    """np.einsum; over a strided window view (a kernel's offsets), a short loop over the view's
    smallest axes of einsums over the rest, which reads the windows far faster."""
    inputs, output = spec.split("->")
    terms = inputs.split(",")
    sizes = {}
    for term, a in zip(terms, operands):
        for letter, n in zip(term, a.shape):
            sizes[letter] = max(sizes.get(letter, 1), n)
    windows = [t for t, a in zip(terms, operands) if _window(a)]
    loop = []
    if windows and not blas and len(operands) > 1:
        count = 1
        for letter in sorted(windows[0], key=lambda c: sizes[c]):
            if count * sizes[letter] > 64 or len(loop) == len(windows[0]) - 1:
                break
            loop.append(letter)
            count *= sizes[letter]
    if not loop:
        return np.einsum(spec, *operands, optimize=blas)
    out = np.zeros(tuple(sizes[c] for c in output), dtype=np.result_type(*operands))
    rest_out = "".join(c for c in output if c not in loop)
    sub = ",".join("".join(c for c in t if c not in loop) for t in terms) + "->" + rest_out
    for values in np.ndindex(*(sizes[c] for c in loop)):
        fixed = dict(zip(loop, values))
        parts = [a[tuple(fixed.get(c, slice(None)) if n > 1 or c not in fixed else 0
                         for c, n in zip(t, a.shape))] for t, a in zip(terms, operands)]
        out[tuple(fixed.get(c, slice(None)) for c in output)] += np.einsum(sub, *parts)
    return out


def _scatter_sum(spec, operands, deltas):
    """einsum(spec) where each delta (h, start, [(c, d), ...], n) puts the summed letters d onto the
    output letter h = start + c1*d1 + c2*d2 + ... (zero outside range(n)): a loop over all but the
    longest d of each delta, one einsum per offset, added into a strided slice."""
    inputs, output = spec.split("->")
    terms = inputs.split(",")
    sizes = {}
    for term, a in zip(terms, operands):
        for letter, m in zip(term, a.shape):
            sizes[letter] = max(sizes.get(letter, 1), m)
    loop, sliced, pads = [], {}, {}
    for h, start, steps, n in deltas:
        for _, d, m in steps:
            sizes.setdefault(d, m)
        steps = [(c, d) for c, d, _ in steps]
        longest = max(steps, key=lambda step: sizes.get(step[1], 1))
        sliced[h] = longest
        loop += [d for _, d in steps if d != longest[1]]
        low = start + sum(min(0, c * (sizes.get(d, 1) - 1)) for c, d in steps)
        high = start + sum(max(0, c * (sizes.get(d, 1) - 1)) for c, d in steps)
        pads[h] = (max(0, -low), max(0, high - (n - 1)), n)
    shape = tuple(pads[c][0] + pads[c][2] + pads[c][1] if c in pads else sizes[c] for c in output)
    out = np.zeros(shape, dtype=np.result_type(*operands))
    sub_out = "".join(sliced[c][1] if c in sliced else c for c in output)
    sub = ",".join("".join(c for c in t if c not in loop) for t in terms) + "->" + sub_out
    for values in np.ndindex(*(sizes.get(d, 1) for d in loop)):
        fixed = dict(zip(loop, values))
        parts = [a[tuple(fixed.get(c, slice(None)) if m > 1 or c not in fixed else 0 for c, m in zip(t, a.shape))]
                 for t, a in zip(terms, operands)]
        index = []
        for c in output:
            if c not in sliced:
                index.append(slice(None))
                continue
            h, start, steps, n = next(dl for dl in deltas if dl[0] == c)
            c0, d0 = sliced[c]
            at = pads[c][0] + start + sum(cc * fixed[d] for cc, d, _ in steps if d != d0)
            stop = at + c0 * (sizes.get(d0, 1) - 1)
            index.append(slice(at, stop + 1, c0) if c0 > 0 else slice(at, stop - 1 if stop > 0 else None, c0))
        out[tuple(index)] += np.einsum(sub, *parts)
    return out[tuple(slice(pads[c][0], pads[c][0] + pads[c][2]) if c in pads else slice(None) for c in output)]


def _integer(name, value):
    """An integer constant, refused unless it is a whole number."""
    if int(value) != value:
        raise LayergradError(f"constant {name} must be a whole number, got {value!r}")
    return int(value)


def _expect(name, a, shape, sizes):
    """Refuse an array whose shape is not the declared one."""
    if a.shape != shape:
        raise LayergradError(f"{name} must have shape ({sizes}) = {shape}, got {a.shape}")


def _first_max_mask(v, count):
    """1.0 at the first maximum (row-major) over the last `count` axes of v, 0.0 elsewhere."""
    flat = v.reshape(v.shape[:v.ndim - count] + (-1,))
    mask = np.zeros(flat.shape, dtype=v.dtype)
    np.put_along_axis(mask, flat.argmax(axis=-1)[..., None], 1.0, axis=-1)
    return mask.reshape(v.shape)


def _sigmoid(u):
    """1/(1 + exp(-u)) without overflow."""
    try:
        from scipy.special import expit
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        e = np.exp(-np.abs(u))
        return np.where(u >= 0, 1 / (1 + e), e / (1 + e))
    return expit(u)


def _softplus(u):
    """log(1 + exp(u)) without overflow."""
    return np.maximum(u, 0) + np.log1p(np.exp(-np.abs(u)))


def _erf(u):
    """The error function, element-wise."""
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        import math
        return np.vectorize(math.erf, otypes=[float])(u)
    return erf(u)


def _whole(name, numerator, denominator):
    """A derived size, refused unless it is a positive whole number."""
    if denominator == 0 or numerator % denominator or numerator // denominator < 1:
        raise LayergradError(f"size {name} = {numerator}/{denominator} is not a positive whole number "
                             "for these shapes and constants")
    return numerator // denominator'''
"""Module-level helpers of generated defined layers (once per module)."""


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
    given ``known``."""

    ranges: dict[sp.Symbol, sp.Expr]
    names: Mapping[sp.Basic, str]
    lines: list[str] = field(default_factory=list)
    known: dict[sp.Basic, tuple[str, Axes]] = field(default_factory=dict)
    counter: list[int] = field(default_factory=lambda: [0, 0])
    order: tuple[sp.Symbol, ...] = ()

    def union(self, *groups: Axes) -> Axes:
        """The axes of several values together: the current target's order first."""
        out = _union(*groups)
        rank = {a: n for n, a in enumerate(self.order)}
        return tuple(sorted(out, key=lambda a: (rank.get(a, len(rank)), out.index(a))))

    # -- printing scalars ----------------------------------------------------------------------

    def scalar(self, expr: sp.Expr) -> str:
        """A scalar expression (sizes, constants, numbers) as Python source."""
        from .arraycode import ArrayPrinter

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
        self.lines.append(f"{name} = {code}")
        if key is not None:
            self.known[key[0]] = (name, tuple(key[1][a] for a in axes))
        return name, axes

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
        code, have = self.lower(_compact(stable(expr)))
        extra = [a for a in have if a not in axes]
        if extra:
            raise LayergradError(f"{target}: index {extra[0]} is neither free nor summed")
        code = self.expand(code, have, axes)
        if set(have) != set(axes):
            shape = ", ".join(self.size(a) for a in axes)
            code = f"np.broadcast_to({code}, ({shape}{',' if len(axes) == 1 else ''})).copy()"
        self.lines.append(f"{target} = {code}")

    def expand(self, code: str, have: Axes, want: Sequence[sp.Symbol]) -> str:
        """``code`` (axes ``have``) transposed and given new axes to broadcast against ``want``."""
        if not have:
            return code
        order = [a for a in want if a in have]
        perm = [have.index(a) for a in order]
        if perm != list(range(len(perm))):
            code = f"{_atom(code)}.transpose({', '.join(map(str, perm))})"
        if len(order) == len(want):
            return code
        index = ", ".join(":" if a in have else "None" for a in want)
        return f"{_atom(code)}[{index}]"

    def lower(self, expr: sp.Expr) -> tuple[str, Axes]:
        """``expr`` as (source, axes)."""
        expr = sp.sympify(expr)
        key = None
        hoisted = _worth_keeping(expr)
        if isinstance(expr, (sp.Sum, Maximum)) or hoisted:
            key, mapping = self.key(expr)
            if key in self.known:
                name, axes = self.known[key]
                back = {p: s for s, p in mapping.items()}
                return name, tuple(back[a] for a in axes)
        if expr.is_Number or expr in (sp.pi, sp.E):
            return self.scalar(expr), ()
        if isinstance(expr, sp.Symbol):
            if expr in self.names:
                return self.names[expr], ()
            if expr in self.ranges:
                return f"np.arange({self.size(expr)})", (expr,)
            raise LayergradError(f"no value known for {expr}")
        if isinstance(expr, sp.Indexed):
            return self.entry(expr)
        if isinstance(expr, sp.Sum):
            return self.temporary(*self.sum(expr), key=(key, mapping))
        if isinstance(expr, Maximum):
            function, summed = self.bind(expr.function, expr.limits)
            body, have = self.lower(function)
            axes = tuple(have.index(d) for d in summed)
            return self.temporary(f"{_atom(body)}.max(axis={_axis(axes)})",
                                  tuple(a for a in have if a not in summed), key=(key, mapping))
        if isinstance(expr, sp.Add):
            return self.combine(expr.args, " + ")
        if isinstance(expr, sp.Mul):
            return self.product(expr)
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
            return f"np.heaviside({arg}, {half})", have
        function = _FUNCTIONS.get(type(expr))
        if function is not None and len(expr.args) == 1:
            arg, have = self.lower(expr.args[0])
            code = function.format(arg) if "{}" in function else f"{function}({arg})"
            return self.temporary(code, have, key=(key, mapping)) if hoisted else (code, have)
        raise LayergradError(f"cannot generate code for {type(expr).__name__} in {expr}")

    def entry(self, expr: sp.Indexed) -> tuple[str, Axes]:
        name = self.names.get(expr.base)
        if name is None:
            raise LayergradError(f"no array name given for {expr.base}")
        code, axes = name, []
        position = 0
        for index in expr.indices:
            if isinstance(index, sp.Symbol) and index in self.ranges:
                axes.append(index)
                position += 1
                continue
            symbols = sorted((s for s in index.free_symbols if s in self.ranges and s not in self.names),
                             key=str)
            poly = sp.Poly(index, *symbols) if symbols else None
            start = index.subs({s: 0 for s in symbols})
            steps = [(poly.coeff_monomial(s) if poly is not None else 0, s) for s in symbols]
            if not steps:
                raise LayergradError(f"{expr}: an index without any index symbol is not supported")
            listed = ", ".join(f"({self.scalar(c)}, {self.size(s)})" for c, s in steps)
            code = f"_read({code}, {position}, {self.scalar(start)}, [{listed}])"
            axes += [s for _, s in steps]
            position += len(steps)
        if len(set(axes)) != len(axes):
            raise LayergradError(f"{expr}: an index occurs twice in one entry")
        return code, tuple(axes)

    def combine(self, args: Sequence[sp.Expr], op: str) -> tuple[str, Axes]:
        parts = [self.lower(a) for a in args]
        axes = self.union(*(h for _, h in parts))
        pieces = [self.expand(code, have, axes) for code, have in parts]
        code = pieces[0]
        for piece in pieces[1:]:
            code = f"{code} - {piece[1:]}" if piece.startswith("-") and op == " + " else f"{code}{op}{piece}"
        return f"({code})", axes

    def product(self, expr: sp.Mul) -> tuple[str, Axes]:
        coeff, factors = expr.as_coeff_mul()
        numerator = [f for f in factors if not (isinstance(f, sp.Pow) and f.exp.is_number and f.exp < 0)]
        denominator = [1 / f for f in factors if f not in numerator]
        parts = [self.lower(f) for f in numerator]
        below = [self.lower(f) for f in denominator]
        axes = self.union(*(h for _, h in parts + below))
        top = "*".join(_atom(self.expand(c, h, axes)) for c, h in parts) or "1"
        if coeff == -1 and parts:
            top = f"-{top}"
        elif coeff != 1:
            top = f"{self.scalar(coeff)}*{top}" if parts else self.scalar(coeff)
        if below:
            bottom = "*".join(_atom(self.expand(c, h, axes)) for c, h in below)
            return f"({top}/{bottom if len(below) == 1 else '(' + bottom + ')'})", axes
        return f"({top})", axes

    def power(self, expr: sp.Pow) -> tuple[str, Axes]:
        base, have = self.lower(expr.base)
        e = expr.exp
        if e.free_symbols:
            exponent, eh = self.lower(e)
            if eh:
                raise LayergradError(f"an exponent that varies with an index is not supported: {expr}")
            return f"{_atom(base)}**{_atom(exponent)}", have
        if e == sp.Rational(1, 2):
            return f"np.sqrt({base})", have
        if e == -sp.Rational(1, 2):
            return f"(1/np.sqrt({base}))", have
        if e == -1:
            return f"(1/{_atom(base)})", have
        if e == 2:
            return f"np.square({base})", have
        if e.is_Integer and 2 < e <= 4:
            return "(" + "*".join([_atom(base)] * int(e)) + ")", have
        return f"{_atom(base)}**{_atom(self.scalar(e))}", have

    def piecewise(self, expr: sp.Piecewise) -> tuple[str, Axes]:
        (value, cond), *rest = expr.args
        if not rest:
            return self.lower(value)
        other = sp.Piecewise(*rest) if rest[0][1] != sp.true else rest[0][0]
        parts = [self.lower(cond), self.lower(value), self.lower(other)]
        axes = self.union(*(h for _, h in parts))
        c, a, b = (self.expand(code, h, axes) for code, h in parts)
        return f"np.where({c}, {a}, {b})", axes

    # -- reductions ----------------------------------------------------------------------------

    def bind(self, body: sp.Expr, limits: Sequence[tuple]) -> tuple[sp.Expr, list[sp.Symbol]]:
        """``body`` with the bound indices of ``limits`` renamed apart, each given its range."""
        fresh = {}
        for d, lo, hi in limits:
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
        scalars = [f for f in factors if not (f.free_symbols & set(self.ranges)) and not f.atoms(sp.Indexed)]
        coeff = sp.Mul(*scalars)
        operands = [self.lower(f) for f in factors if f not in scalars]
        reduce_over = [d for d in summed if d not in kept_for_scatter]
        forms = [self._scatter_form(f, summed) for f in scatters]
        if forms and operands and not any(h in a for h, *_ in forms for _, a in operands) \
                and len({h for h, *_ in forms}) == len(forms):
            code, axes = self.scatter_sum(operands, summed, forms)
            if coeff != 1:
                c, _ = self.lower(coeff)
                code = f"{_atom(c)}*{_atom(code)}"
            return code, axes
        code, axes = self.contract(operands, reduce_over)
        if coeff != 1:
            c, _ = self.lower(coeff)
            code = f"{_atom(c)}*{_atom(code)}"
        for delta in scatters:
            target, dummies, start, steps = self._scatter_form(delta, summed)
            code = self.expand(code, axes, [*(a for a in axes if a not in dummies), *dummies])
            axes = (*(a for a in axes if a not in dummies), *dummies)
            listed = ", ".join(f"({self.scalar(c)}, {self.size(s)})" for c, s in steps)
            code = f"_scatter({code}, {self.scalar(start)}, [{listed}], {self.size(target)})"
            axes = (*axes[:len(axes) - len(dummies)], target)
        return code, axes

    def scatter_sum(self, operands, summed, forms) -> tuple[str, Axes]:
        r""":math:`\sum` of a product with deltas :math:`h = s + \sum c\,d` on summed indices:
        one ``_scatter_sum`` (a loop over the kernel offsets, one einsum and a strided add each)."""
        axes_in = _union(*(h for _, h in operands))
        targets = tuple(h for h, *_ in forms)
        out = tuple(a for a in axes_in if a not in summed) + targets
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
            return "*".join(_atom(self.expand(c, h, axes_in)) for c, h in operands), axes_in
        if len(operands) == 1:
            code, have = operands[0]
            axes = tuple(have.index(d) for d in summed if d in have)
            return f"{_atom(code)}.sum(axis={_axis(axes)})", tuple(a for a in have if a not in summed)
        letters = {a: chr(ord("a") + n) for n, a in enumerate(axes_in)}
        spec = ",".join("".join(letters[a] for a in h) for _, h in operands) + "->" + "".join(letters[a] for a in out)
        args = ", ".join(c for c, _ in operands)
        blas = any(set(h1) & set(h2) & set(summed) and set(h1) - set(h2) and set(h2) - set(h1)
                   for n, (_, h1) in enumerate(operands) for _, h2 in operands[n + 1:])
        return f"_einsum('{spec}', {args}{', blas=True' if blas else ''})", out


_FUNCTIONS = {sp.exp: "np.exp", sp.log: "np.log", sp.tanh: "np.tanh", sp.Abs: "np.abs", sp.sign: "np.sign",
              sp.erf: "_erf", Sigmoid: "_sigmoid", Softplus: "_softplus", sp.cosh: "np.cosh",
              sp.sinh: "np.sinh"}


def _compact(expr: sp.Expr) -> sp.Expr:
    """Fewer operations for NumPy: common factors out (factored fully when there is no sum and
    that is shorter), each function's argument expanded so equal values look equal."""
    candidates = [sp.factor_terms(expr)]
    if not expr.has(sp.Sum, Maximum) and sp.count_ops(expr) < 300:
        candidates.append(sp.factor(expr))
    best = min(candidates, key=sp.count_ops)
    return best.replace(lambda e: type(e) in _FUNCTIONS and len(e.args) == 1,
                        lambda e: e.func(sp.expand(e.args[0])))


def _worth_keeping(expr: sp.Basic) -> bool:
    """A transcendental function or a root of arrays: computed once, kept for the backward pass."""
    if isinstance(expr, sp.Pow):
        return not expr.exp.is_Integer and bool(expr.base.atoms(sp.Indexed))
    return type(expr) in _FUNCTIONS and bool(expr.atoms(sp.Indexed))


_PLACEHOLDERS = [sp.Symbol(f"_f{n}", integer=True) for n in range(16)]


def _atom(code: str) -> str:
    """``code`` safe to use as a factor: wrapped in parentheses unless it is one."""
    if code.isidentifier() or (code.startswith("(") and _balanced(code)):
        return code
    return f"({code})"


def _balanced(code: str) -> bool:
    depth = 0
    for pos, ch in enumerate(code):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and pos < len(code) - 1:
            return False
    return True


def _axis(axes: Sequence[int]) -> str:
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))


def _union(*groups: Axes) -> Axes:
    out: list[sp.Symbol] = []
    for g in groups:
        out += [a for a in g if a not in out]
    return tuple(out)


# -- the generated functions -------------------------------------------------------------------

def _names(defn: Definition, layer: Layer) -> dict[sp.Basic, str]:
    names: dict[sp.Basic, str] = {}
    for name, array in defn.arrays.items():
        names[array] = name
    for name, symbol in defn.symbols.items():
        names[symbol] = name
    for name, (mask, _) in layer.masks.items():
        names[mask.base] = name
    for g in layer.gradients:
        for e in g.code.atoms(sp.Indexed):
            if type(e.base).__name__ == "Adjoint":
                names[e.base] = f"d{e.base.label}"
        for s in g.code.free_symbols:
            if isinstance(s, sp.Symbol) and s.name.startswith("d") and s.name[1:] in defn.arrays:
                names[s] = s.name
    return names


def _shape_text(defn: Definition, name: str) -> str:
    return ", ".join(str(s) for s in defn.shapes[name])


def _prologue(defn: Definition) -> list[str]:
    """Arguments made arrays, sizes read off their shapes, derived sizes checked, shapes checked."""
    lines = []
    for name in defn.arguments:
        lines.append(f"{name} = _floating({name!r}, {name})")
    for name, value in defn.constants.items():
        lines.append(f"{name} = _integer({name!r}, {name})" if isinstance(value, int) else f"{name} = float({name})")
    known: set[str] = set(defn.constants)
    for name in defn.arguments:
        shape = defn.shapes[name]
        lines.append(f"if {name}.ndim != {len(shape)}:")
        lines.append(f"    raise LayergradError(f\"{name} must have {len(shape)} axes ({_shape_text(defn, name)}), "
                     f"got shape {{{name}.shape}}\")")
        for axis, size in enumerate(shape):
            if size.is_Symbol and size.name not in known and size.name not in defn.derived_sizes:
                lines.append(f"{size.name} = {name}.shape[{axis}]")
                known.add(size.name)
    printer = Lowering({}, {s: s.name for s in defn.symbols.values()})
    for name, formula in defn.derived_sizes.items():
        numerator, denominator = sp.fraction(sp.together(formula))
        lines.append(f"{name} = _whole({name!r}, {printer.scalar(numerator)}, {printer.scalar(denominator)})")
    for name in defn.arguments:
        shape = defn.shapes[name]
        if shape:
            sizes = ", ".join(printer.scalar(s) for s in shape)
            lines.append(f"_expect({name!r}, {name}, ({sizes}{',' if len(shape) == 1 else ''}), "
                         f"{_shape_text(defn, name)!r})")
    return lines


def _used(source: str, names: Sequence[str]) -> list[str]:
    import re

    return [n for n in names if re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", source)]


def functions(defn: Definition) -> list[GeneratedFunction]:
    """``{name}_forward`` and ``{name}_backward`` for ``defn``, from its derivations."""
    layer = derive(defn)
    names = _names(defn, layer)
    forward = Lowering(dict(layer.ranges), names)
    for s in defn.statements:
        forward.assign(s.target, s.rhs, s.indices)
    for name, (mask, maximum) in layer.masks.items():
        body, have = forward.lower(maximum.function)
        want = tuple(mask.indices)
        forward.lines.append(f"{name} = _first_max_mask({forward.expand(body, have, want)}, "
                             f"{len(maximum.limits)})")
    backward = Lowering(dict(layer.ranges), names, known=dict(forward.known), counter=forward.counter)
    output = defn.statements[-1]
    for g in layer.gradients:
        indices = tuple(g.entry.indices) if isinstance(g.entry, sp.Indexed) else ()
        backward.assign(f"d{g.name}", g.code, indices)
    grads = [f"d{name}" for name in defn.differentiated]
    body = "\n".join(backward.lines)
    stored = [*defn.arguments, *defn.constants, *defn.base_sizes, *defn.derived_sizes,
              *(s.target for s in defn.statements), *layer.masks, *(v[0] for v in forward.known.values())]
    first = defn.differentiated[0]
    upstream = f"d{output.target}"
    shape = ", ".join(printer_size(defn, output.target))
    check = [f"{upstream} = np.asarray(dout, dtype={first}.dtype)",
             f"if {upstream}.shape != ({shape}{',' if len(output.indices) == 1 else ''}):",
             f"    raise LayergradError(f\"dout must have the shape of {output.target}, "
             f"({_shape_text(defn, output.target)}), got {{{upstream}.shape}}\")"]
    stored = _used("\n".join([*check[:2], body]), list(dict.fromkeys([first, *stored])))
    unpack = [f"{n} = cache[{n!r}]" for n in stored]
    constants = ", ".join(f"{k}={v!r}" for k, v in defn.constants.items())
    signature = ", ".join([*defn.arguments, *(["*", constants] if constants else [])])
    pad = "    "
    summary = _doc(defn.summary) or f"the layer {defn.name}"
    forward_lines = _prologue(defn) + forward.lines
    cache = "{" + ", ".join(f"{n!r}: {n}" for n in stored) + "}"
    doc = "\n".join(f"{pad}{line}" for line in [
        f'"""{summary[0].upper() + summary[1:]}: forward pass.', "",
        *(f"    {_doc(s.text)}" for s in defn.statements), "",
        f"Arguments: {', '.join(f'{n} ({_shape_text(defn, n)})' for n in defn.arguments)}"
        + (f"; constants {constants}" if constants else "") + ".",
        f"Returns ({output.target}, cache).", '"""'])
    forward_source = (f"def {defn.name}_forward({signature}):\n{doc}\n"
                      + "\n".join(pad + line for line in forward_lines)
                      + f"\n{pad}cache = {cache}\n{pad}return {output.target}, cache\n")
    default = "=1.0" if defn.scalar_output else ""
    back_doc = (f'{pad}"""Backward pass of {defn.name}: the gradients with respect to '
                f'{", ".join(defn.differentiated)}, from the derivations (chain rule through the statements).\n'
                f'{pad}"""')
    swap = ["if cache is None:  # called as backward(cache): dout = 1", "    dout, cache = 1.0, dout"]
    backward_source = (f"def {defn.name}_backward(dout{default}, cache{'=None' if default else ''}):\n{back_doc}\n"
                       + "\n".join(pad + line for line in (swap if default else []) + unpack + check + backward.lines)
                       + f"\n{pad}return {', '.join(grads)}\n")
    titles = tuple(d.title for d in layer.derivations)
    return [GeneratedFunction(f"{defn.name}_forward", forward_source, titles[:1]),
            GeneratedFunction(f"{defn.name}_backward", backward_source, titles[1:])]


def _doc(text: str) -> str:
    """``text`` safe inside a generated docstring: one line, no backslash, no closing quotes."""
    return " ".join(text.split()).replace("\\", "/").replace('"' * 3, "'" * 3).rstrip('"')


def printer_size(defn: Definition, name: str) -> list[str]:
    printer = Lowering({}, {s: s.name for s in defn.symbols.values()})
    return [printer.scalar(s) for s in defn.shapes[name]]


_ERROR_IMPORT = '''try:
    from derive.errors import LayergradError
except ImportError:  # the module also runs where layergrad is not installed

    class LayergradError(ValueError):
        """What was wrong and what was expected, in one line."""'''


def module_source(definitions: Sequence[Definition], command: str = "") -> str:
    """A module with the forward and backward functions of every definition."""
    if not definitions:
        raise LayergradError("no definition to export")
    seen = set()
    module = Module(
        doc=("Layers defined in a few lines, derived and generated by layergrad "
             f"({', '.join(d.name for d in definitions)}).\n\n"
             + (f"Regenerate with: {command}\n" if command else "")),
        imports=["import numpy as np", _ERROR_IMPORT],
        preamble=[FLOATING_HELPER, HELPERS],
    )
    for defn in definitions:
        if defn.name in seen:
            raise LayergradError(f"two definitions are called {defn.name!r}")
        seen.add(defn.name)
        module.functions += functions(defn)
    return module.source()
