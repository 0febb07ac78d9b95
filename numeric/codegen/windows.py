r"""From index expressions to NumPy source: layouts, padding, window views, contractions,
scatters and literal loops.

A derived expression says *what* each entry is, e.g.
:math:`\text{out}_{nfij} = b_f + \sum_{c,k,l} w_{fckl}\,\text{win}_{ncijkl}`; this module
decides *how* NumPy computes it and prints that as source. Every array of the generated code is
a :class:`Stored`: a variable name, the indices its axes hold in the derivation's order
(``logical``) and the order they are stored in (``layout``; e.g. the padded input is stored
channels-last so that the windows' copy reads contiguous memory). Then

* an index read as :math:`a - P` or :math:`u + P` becomes a slice (:func:`embed`, :func:`crop`);
* an index read as :math:`S i + d k` becomes a sliding-window view strided by :math:`S` and
  dilated by :math:`d` (:func:`window_view`), and a Kronecker delta
  :math:`\delta_{a,\,Si+dk}` becomes an add into strided slices, one per kernel offset
  (:func:`scatter_add`);
* an index read as :math:`K - 1 - k` (:math:`K` the axis' size) becomes a reversed view
  (:func:`reverse`);
* a sum over indices two arrays share becomes one ``np.matmul`` on reshaped views, batched
  over leading output indices when that writes the result in its final layout
  (:func:`contraction`); a sum over one array's axes becomes ``.sum`` (:func:`reduce_sum`);
* :func:`loop_nest` prints the same expression as literal ``for`` loops, line by line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from derive.errors import LayergradError

from .printer import ArrayPrinter

__all__ = [
    "Stored",
    "code",
    "contraction",
    "crop",
    "embed",
    "expand",
    "factors",
    "loop_nest",
    "reduce_sum",
    "reverse",
    "scatter_add",
    "scatter_contraction",
    "transpose",
    "window_view",
]

Layout = tuple[sp.Symbol, ...]
Names = Mapping[sp.Basic, str]


@dataclass(frozen=True)
class Stored:
    """An array of the generated code: its ``name``, the indices of its axes in the
    derivation's order (``logical``) and in storage order (``layout``, default the same)."""

    name: str
    logical: Layout
    layout: Layout = ()
    size_rank: int = 0
    """How large the array is compared with others (a contraction copies the smaller operand)."""

    def __post_init__(self) -> None:
        if not self.layout:
            object.__setattr__(self, "layout", self.logical)
        if sorted(map(str, self.layout)) != sorted(map(str, self.logical)):
            raise LayergradError(f"{self.name}: storage order {self.layout} is not a permutation of {self.logical}")

    def relabel(self, indexed: sp.Indexed) -> Stored:
        """The same array seen through ``indexed``'s plain indices (renaming its axes)."""
        mapping = dict(zip(self.logical, _plain(indexed)))
        return Stored(self.name, tuple(mapping[s] for s in self.logical), tuple(mapping[s] for s in self.layout),
                      self.size_rank)


_PRINTER = ArrayPrinter()


def code(expr: sp.Basic, names: Names = {}) -> str:  # noqa: B006 - read only
    """``expr`` as Python source, symbols and arrays renamed by ``names`` (``S → stride``, …)."""
    table = {symbol: sp.Symbol(name) if isinstance(symbol, sp.Symbol) else sp.IndexedBase(name)
             for symbol, name in names.items() if isinstance(symbol, (sp.Symbol, sp.IndexedBase))}
    return _PRINTER.doprint(sp.sympify(expr).xreplace(table))


def _plain(indexed: sp.Indexed) -> Layout:
    if not all(isinstance(i, sp.Symbol) for i in indexed.indices):
        raise LayergradError(f"{indexed}: expected plain indices")
    return tuple(indexed.indices)


def _sizes(layout: Sequence[sp.Symbol], sizes: Names) -> list[str]:
    try:
        return [sizes[s] for s in layout]
    except KeyError as missing:
        raise LayergradError(f"no size known for index {missing.args[0]}") from None


def _group_size(group: Sequence[sp.Symbol], sizes: Names) -> str:
    parts = _sizes(group, sizes)
    return "*".join(parts) if parts else "1"


def transpose(array: Stored, want: Sequence[sp.Symbol]) -> str:
    """``array`` with its axes in the order ``want`` (a view)."""
    perm = [array.layout.index(s) for s in want]
    if perm == list(range(len(perm))):
        return array.name
    return f"{array.name}.transpose({', '.join(map(str, perm))})"


def _arrange(array: Stored, groups: Sequence[Sequence[sp.Symbol]], sizes: Names) -> str:
    """``array`` as an array with one axis per group of indices (a group absent from the array
    becomes an axis of length 1). Views when each group lies contiguously in storage, in order;
    otherwise a transposed copy."""
    groups = [tuple(s for s in g if s in array.layout) for g in groups]
    present = [g for g in groups if g]
    starts = {}
    for g in present:
        first = array.layout.index(g[0])
        if array.layout[first:first + len(g)] != g:
            break
        starts[g] = first
    else:
        stored_order = sorted(present, key=starts.__getitem__)
        flat = f"{array.name}.reshape({', '.join(_group_size(g, sizes) for g in stored_order)})"
        perm = [stored_order.index(g) for g in present]
        if perm != list(range(len(perm))):
            flat += f".transpose({', '.join(map(str, perm))})"
        if len(present) == len(groups):
            return flat
        return flat + "[" + ", ".join(":" if g else "None" for g in groups) + "]"
    moved = transpose(array, [s for g in present for s in g])
    return f"{moved}.reshape({', '.join(_group_size(g, sizes) if g else '1' for g in groups)})"


def contraction(left: Stored, right: Stored, out: Sequence[sp.Symbol], sizes: Names) -> tuple[str, Layout]:
    r""":math:`\text{out} = \sum_{\text{shared}} \text{left} \cdot \text{right}` as one ``np.matmul``;
    the source and the order of the result's axes.

    The output indices split into a leading batch (the shortest prefix that works), then the
    free indices of one operand (rows), then those of the other (columns); indices in both
    operands but not in ``out`` are summed. Each group is ordered as the larger operand stores
    it, so that operand is only reshaped (a view); the smaller one is copied if it must be."""
    out = tuple(out)
    if not set(out) <= set(left.layout) | set(right.layout):
        raise LayergradError(f"output indices {out} are not all in {left.name} and {right.name}")
    big = left if left.size_rank >= right.size_rank else right
    summed = tuple(s for s in big.layout if s in left.layout and s in right.layout and s not in out)
    for lead in range(len(out) + 1):
        rest = out[lead:]
        for a, b in ((left, right), (right, left)):
            rows = tuple(s for s in rest if s in a.layout and s not in b.layout)
            cols = tuple(s for s in rest if s in b.layout and s not in a.layout)
            if rows + cols != rest or not (rows and cols):
                continue
            rows, cols = _ordered(rows, a, big), _ordered(cols, b, big)
            lead_groups = [(s,) for s in out[:lead]]
            first = _arrange(a, [*lead_groups, rows, summed], sizes)
            second = _arrange(b, [*lead_groups, summed, cols], sizes)
            layout = (*out[:lead], *rows, *cols)
            shape = ", ".join(_sizes(layout, sizes))
            return f"np.matmul({first}, {second}).reshape({shape})", layout
    raise LayergradError(f"cannot write Σ {left.name}·{right.name} → {out} as a matrix multiply")


def _ordered(group: Layout, owner: Stored, big: Stored) -> Layout:
    """``group`` in ``owner``'s storage order when ``owner`` is the larger operand."""
    return tuple(s for s in owner.layout if s in group) if owner is big else group


def reduce_sum(array: Stored, summed: Sequence[sp.Symbol], out: Sequence[sp.Symbol]) -> str:
    """:math:`\\sum_{\\text{summed}}` of ``array``, the remaining axes in the order ``out``."""
    axes = tuple(array.layout.index(s) for s in summed)
    kept = Stored("_", tuple(s for s in array.layout if s not in summed))
    result = f"{array.name}.sum(axis={axes if len(axes) != 1 else axes[0]})"
    return transpose(Stored(result, kept.layout), out) if tuple(out) != kept.layout else result


def expand(array: Stored, target: Sequence[sp.Symbol]) -> str:
    """``array`` with new axes of length 1 so that it broadcasts against ``target``."""
    kept = [s for s in target if s in array.layout]
    moved = transpose(array, kept)
    return moved + "[" + ", ".join(":" if s in array.layout else "None" for s in target) + "]"


def _affine(index: sp.Expr, variables: Sequence[sp.Symbol]) -> tuple[dict[sp.Symbol, sp.Expr], sp.Expr]:
    """Coefficients of ``index`` in ``variables`` and the constant rest; raise if not affine."""
    index = sp.expand(index)
    coefficients = {v: index.coeff(v) for v in variables if index.has(v)}
    rest = sp.expand(index - sum(c * v for v, c in coefficients.items()))
    if any(c.has(*variables) for c in coefficients.values()) or rest.has(*variables):
        raise LayergradError(f"index {index} is not affine in {list(variables)}")
    return coefficients, rest


def embed(target: Stored, definition: sp.Equality, source: Stored, sizes: Names, names: Names) -> list[str]:
    """Lines that fill ``target`` from ``definition`` (``target[…, a, …] = source[…, a − P, …]``),
    zeros elsewhere: the zero padding."""
    lhs, rhs = definition.lhs, definition.rhs
    slices, along = {}, {}
    for axis, index in zip(_plain(lhs), rhs.indices):
        coefficients, shift = _affine(index, [axis])
        if coefficients.get(axis, 1) != 1:
            raise LayergradError(f"{definition}: only shifts can be embedded")
        along[axis] = source.logical[rhs.indices.index(index)]
        start = -shift
        slices[axis] = ":" if shift == 0 else f"{code(start, names)}:{code(start, names)} + {sizes[along[axis]]}"
    shape = ", ".join(_sizes(target.layout, sizes))
    source_order = [along[s] for s in target.layout]
    return [
        f"{target.name} = np.zeros(({shape}), dtype={source.name}.dtype)",
        f"{target.name}[{', '.join(slices[s] for s in target.layout)}] = {transpose(source, source_order)}",
    ]


def crop(result: Stored, expr: sp.Indexed, source: Stored, sizes: Names, names: Names) -> str:
    """``result[u, …] = source[u + P, …]`` as a slice, in ``result``'s layout (a contiguous copy)."""
    slices, order = {}, []
    for axis, index in zip(source.logical, expr.indices):
        free = [s for s in result.logical if index.has(s)]
        if len(free) != 1:
            raise LayergradError(f"{expr}: each index must hold one output index")
        (u,) = free
        _, shift = _affine(index, [u])
        slices[axis] = ":" if shift == 0 else f"{code(shift, names)}:{code(shift, names)} + {sizes[u]}"
        order.append((axis, u))
    rename = dict(order)
    view = Stored(f"{source.name}[{', '.join(slices[s] for s in source.layout)}]",
                  tuple(rename[s] for s in source.layout))
    return f"np.ascontiguousarray({transpose(view, result.layout)})"


def reverse(definition: sp.Equality, source: Stored, sizes: Names, names: Names) -> str:
    """``target[…, k, …] = source[…, K − 1 − k, …]`` (``K`` the size of ``k``'s axis) as a view of
    ``source`` with those axes reversed, in ``source``'s layout; other indices must be plain."""
    steps = {}
    for axis, index in zip(_plain(definition.lhs), definition.rhs.indices):
        if index == axis:
            steps[axis] = ":"
            continue
        coefficients, rest = _affine(index, [axis])
        if coefficients.get(axis) != -1 or code(rest + 1, names) != sizes[axis]:
            raise LayergradError(f"{definition}: index {index} is neither {axis} nor its reverse")
        steps[axis] = "::-1"
    along = dict(zip(source.logical, _plain(definition.lhs)))
    return f"{source.name}[{', '.join(steps[along[s]] for s in source.layout)}]"


def _tuple(items) -> str:
    items = list(items)
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _windowed(index: sp.Expr, offsets: Sequence[sp.Symbol],
              indices: Sequence[sp.Symbol]) -> tuple[sp.Symbol, sp.Expr, sp.Symbol, sp.Expr]:
    """``S·i + d·k`` → ``(i, S, k, d)``: ``k`` is one of ``offsets``, ``i`` one of ``indices``."""
    offset = [s for s in offsets if index.has(s)]
    position = [s for s in indices if s not in offsets and index.has(s)]
    if len(offset) != 1 or len(position) != 1:
        raise LayergradError(f"{index}: expected one window position and one kernel offset")
    coefficients, rest = _affine(index, [position[0], offset[0]])
    if rest != 0:
        raise LayergradError(f"{index}: a window index has no constant part")
    return position[0], coefficients[position[0]], offset[0], coefficients[offset[0]]


def window_view(result: str, definition: sp.Equality, source: Stored, offsets: Sequence[sp.Symbol],
                sizes: Names, names: Names) -> tuple[str, Stored]:
    """``win[…, i, …, k, …] = source[…, S·i + d·k, …]`` as a sliding-window view of ``source``
    strided by ``S`` and dilated by ``d`` (no copy); the view and how its axes are stored."""
    rhs = definition.rhs
    windows = {}
    for axis, index in zip(source.logical, rhs.indices):
        if not isinstance(index, sp.Symbol):
            windows[axis] = _windowed(index, offsets, _plain(definition.lhs))
    axes = [source.layout.index(a) for a in windows]
    spans = [code(dil * (sp.Symbol(sizes[k]) - 1) + 1, names) for _, (_, _, k, dil) in windows.items()]
    steps = [":"] * len(source.layout) + [":"] * len(windows)
    layout = list(source.layout)
    for number, (axis, (position, stride, offset, dilation)) in enumerate(windows.items()):
        at = source.layout.index(axis)
        layout[at] = position
        steps[at] = f"::{code(stride, names)}" if stride != 1 else ":"
        steps[len(source.layout) + number] = f"::{code(dilation, names)}" if dilation != 1 else ":"
        layout.append(offset)
    plain = {axis: index for axis, index in zip(source.logical, rhs.indices) if axis not in windows}
    layout = [plain.get(s, s) for s in layout]
    view = (f"sliding_window_view({source.name}, {_tuple(spans)}, axis={_tuple(map(str, axes))})"
            f"[{', '.join(steps)}]")
    logical = _plain(definition.lhs)
    return f"{result} = {view}", Stored(result, logical, tuple(layout))


def _scatter_slices(target: Stored, deltas: Sequence[sp.KroneckerDelta], offsets: Sequence[sp.Symbol],
                    indices: Sequence[sp.Symbol], sizes: Names, names: Names) -> tuple[list[str], list[sp.Symbol]]:
    """The strided slice of ``target`` each delta :math:`a = S i + d k` selects at one kernel offset,
    and the index each sliced axis then runs over."""
    fixed = {}
    for delta in deltas:
        a, e = delta.args if delta.args[0] in target.logical else delta.args[::-1]
        fixed[a] = _windowed(e, offsets, indices)
    slices, order = [], []
    for axis in target.layout:
        if axis in fixed:
            position, stride, offset, dilation = fixed[axis]
            start = code(dilation * offset, names)
            stop = code(dilation * offset + stride * (sp.Symbol(sizes[position]) - 1) + 1, names)
            step = f":{code(stride, names)}" if stride != 1 else ""
            slices.append(f"{start}:{stop}{step}")
            order.append(position)
        else:
            slices.append(":")
            order.append(axis)
    return slices, order


def _offset_loops(offsets: Sequence[sp.Symbol], sizes: Names) -> tuple[list[str], str]:
    lines, pad = [], ""
    for k in offsets:
        lines.append(f"{pad}for {k} in range({sizes[k]}):")
        pad += "    "
    return lines, pad


def scatter_add(target: Stored, deltas: Sequence[sp.KroneckerDelta], value: Stored, offsets: Sequence[sp.Symbol],
                sizes: Names, names: Names) -> list[str]:
    r"""``target[…, a, …] += value[…]`` wherever :math:`a = S i + d k`: a loop over the kernel
    offsets ``k``, each adding a strided slice (entries hit by several windows add up)."""
    slices, order = _scatter_slices(target, deltas, offsets, value.layout, sizes, names)
    index = ", ".join(str(s) if s in offsets else ":" for s in value.layout)
    rest = Stored(f"{value.name}[{index}]", tuple(s for s in value.layout if s not in offsets))
    lines, pad = _offset_loops(offsets, sizes)
    lines.append(f"{pad}{target.name}[{', '.join(slices)}] += {transpose(rest, order)}")
    return lines


def scatter_contraction(target: Stored, deltas: Sequence[sp.KroneckerDelta], left: Stored, right: Stored,
                        offsets: Sequence[sp.Symbol], sizes: Names, names: Names) -> list[str]:
    r""":math:`\text{target}[\ldots, a, \ldots] \mathrel{+}= \sum \text{left} \cdot \text{right}` wherever
    :math:`a = S i + d k`, the sum over the indices the operands share: per kernel offset, one
    matrix multiply with the offset's slice of ``right`` (which holds the offsets), added into
    a strided slice; nothing of the size of the windows is ever stored."""
    indices = (*left.layout, *right.layout)
    slices, order = _scatter_slices(target, deltas, offsets, indices, sizes, names)
    index = ", ".join(str(s) if s in offsets else ":" for s in right.layout)
    at = Stored(f"{right.name}[{index}]", tuple(s for s in right.logical if s not in offsets),
                tuple(s for s in right.layout if s not in offsets), right.size_rank)
    product, layout = contraction(left, at, order, sizes)
    if tuple(layout) != tuple(order):
        product = transpose(Stored(f"({product})", layout), order)
    lines, pad = _offset_loops(offsets, sizes)
    lines.append(f"{pad}{target.name}[{', '.join(slices)}] += {product}")
    return lines


def factors(term: sp.Expr) -> tuple[list[sp.Indexed], list[sp.KroneckerDelta], sp.Expr]:
    """A product split into its indexed arrays, its Kronecker deltas and the rest."""
    arrays, deltas, rest = [], [], sp.S.One
    for f in sp.Mul.make_args(term):
        if isinstance(f, sp.Indexed):
            arrays.append(f)
        elif isinstance(f, sp.KroneckerDelta):
            deltas.append(f)
        else:
            rest *= f
    return arrays, deltas, rest


def loop_nest(target: sp.Indexed, expr: sp.Expr, sizes: Names, names: Names, accumulate: bool = False) -> list[str]:
    """``target = expr`` (or ``+=``) as literal loops: one ``for`` per free index of ``target``
    and per summation index, the summand printed as it is derived. A Kronecker delta in a
    summand fixes the target's index instead of being tested."""
    lines: list[str] = []
    pad = ""
    for index in _plain(target):
        if not any(index in d.free_symbols for d in expr.atoms(sp.KroneckerDelta)):
            lines.append(f"{pad}for {index} in range({sizes[index]}):")
            pad += "    "
    terms = sp.Add.make_args(expr)
    plain = [t for t in terms if not isinstance(t, sp.Sum)]
    sums = [t for t in terms if isinstance(t, sp.Sum)]
    base = target.base.name
    if plain and not accumulate:
        lines.append(f"{pad}{code(target, names)} = {code(sp.Add(*plain), names)}")
    elif plain:
        lines.append(f"{pad}{code(target, names)} += {code(sp.Add(*plain), names)}")
    for total in sums:
        inner = pad
        for limit in total.limits:
            symbol, lo, hi = limit
            bounds = code(hi + 1, names) if lo == 0 else f"{code(lo, names)}, {code(hi + 1, names)}"
            lines.append(f"{inner}for {symbol} in range({bounds}):")
            inner += "    "
        arrays, deltas, rest = factors(total.function)
        where = target
        for delta in deltas:
            a, e = delta.args if delta.args[0] in target.indices else delta.args[::-1]
            where = where.xreplace({a: e})
        summand = rest * sp.Mul(*arrays)
        lines.append(f"{inner}{code(where, names)} += {code(summand, names)}")
    if not lines or not any(base in line for line in lines):
        raise LayergradError(f"nothing assigns {target}")
    return lines
