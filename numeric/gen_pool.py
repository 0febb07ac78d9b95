r"""Generate max pooling (course API) from its derivations.

* the output size and the tiling check from :func:`derive.pool.output_size`;
* the window view from :math:`\text{win}_{ncijkl} = x_{n,c,Si+k,Sj+l}`;
* the argmax indicator :math:`M` with the tie rule (the first largest entry in row-major order,
  which ``argmax`` returns), and :math:`\text{out} = \sum_{k,l} M \odot \text{win}` as the
  entry :math:`M` selects. Row-major order makes :math:`M` a product of two one-hot factors:
  the first largest entry :math:`l` of each window row, then the first row :math:`k` whose
  maximum is largest; so the maximum takes two passes, one over each axis's offsets
  (:math:`HH + WW` comparisons per window rather than :math:`HH \cdot WW`), each reading its
  input once;
* ``dx`` from the scatter form :math:`\sum \delta_{u,Si+k}\delta_{v,Sj+l}\,\text{dout}\,M`: the
  masked product factor by factor, a reshaped product where the windows tile an axis (the
  common 2×2, stride 2 case on both axes: each input entry written once), an add into strided
  slices per offset where they overlap or leave gaps.

NaN: a window holding a NaN outputs NaN (as PyTorch's); its gradient goes to one entry of the
window, the one the comparisons select (``>`` is false for NaN), not necessarily the NaN.

:func:`loop_functions` prints the same derivations as literal loops, for reading.
"""

from __future__ import annotations

import sympy as sp

from derive import pool
from derive.dropout import Convention
from derive.printing import text

from .codegen.module import GeneratedFunction
from .codegen.windows import Stored, code, loop_nest
from .gen_conv import WINDOW_IMPORT

__all__ = ["functions", "loop_functions", "preamble"]

s = pool.symbols()
n, c, i, j, k, l, u, v = (s[name] for name in ("n", "c", "i", "j", "k", "l", "u", "v"))
NAMES = {s["S"]: "stride", s["H_out"]: "H_out", s["W_out"]: "W_out", s["M"]: "mask"}
SIZES = {n: "N", c: "C", i: "H_out", j: "W_out", k: "HH", l: "WW", u: "H", v: "W"}
X = Stored("x", (n, c, u, v))
DX = Stored("dx", (n, c, u, v))
DOUT = Stored("dout", (n, c, i, j))
MASK = Stored("mask", (n, c, i, j, k, l))


def _eq(lhs: sp.Expr, rhs: sp.Expr) -> str:
    return f"{text(lhs)} = {text(rhs)}"


def preamble(convention: Convention | None = None) -> list[str]:
    """Module-level helpers: reading ``pool_param``, the tiling check."""
    derivation = pool.output_size()
    formula = derivation.result.rhs
    names = {**NAMES, s["H"]: "size", s["HH"]: "window"}
    numerator = sp.Mul(formula - 1, s["S"])
    return [WINDOW_IMPORT, f'''
def _pool_output_size(what, size, window, stride):
    """Windows along one axis: {code(formula, names)} (derived); they must tile the input."""
    if window > size:
        raise LayergradError(f"the pool window ({{window}}) is larger than the input {{what}} ({{size}})")
    numerator = {code(numerator, names)}
    if numerator % stride:
        raise LayergradError(
            f"pool windows do not tile the input: output {{what}} {code(formula, names)} = "
            f"1 + {{numerator}}/{{stride}} is not an integer (size={{size}}, window={{window}}, stride={{stride}})"
        )
    return 1 + numerator // stride


_POOL_KEYS = ("pool_height", "pool_width", "stride")
_POOL_PLANS = {{}}


def _pool_setup(x, pool_param):
    """Checked x, (pool_height, pool_width, stride) and sizes (N, C, H, W, H_out, W_out). The sizes
    are cached per (shape, dtype, settings): a repeated call costs a few reads and one lookup."""
    if type(x) is not np.ndarray:
        x = np.asarray(x)
    if type(pool_param) is dict:
        settings = (pool_param.get("pool_height"), pool_param.get("pool_width"), pool_param.get("stride"))
        if type(settings[0]) is int and type(settings[1]) is int and type(settings[2]) is int:  # not bool
            sizes = _POOL_PLANS.get((x.shape, x.dtype.char, settings))
            if sizes is not None:
                return x, settings, sizes
    return _pool_checked(x, pool_param)


def _pool_checked(x, pool_param):
    """_pool_setup the first time: every check, with an error naming what was wrong."""
    if not isinstance(pool_param, dict):
        raise LayergradError(f"pool_param must be a dict, got {{type(pool_param).__name__}}")
    settings = []
    for key in _POOL_KEYS:
        if key not in pool_param:
            raise LayergradError(f"pool_param[{{key!r}}] is missing; expected 'pool_height', 'pool_width' and 'stride'")
        settings.append(_pool_whole(f"pool_param[{{key!r}}]", pool_param[key]))
    if x.dtype.kind in "biu":  # the course code takes integers: computed in float64
        x = x.astype(np.float64)
    if x.dtype.kind != "f":
        raise LayergradError(f"x must be a floating-point array, got dtype {{x.dtype}}")
    if x.ndim != 4:
        raise LayergradError(f"x must have shape (N, C, H, W), got shape {{x.shape}}")
    HH, WW, stride = settings = tuple(settings)
    N, C, H, W = x.shape
    sizes = (N, C, H, W, _pool_output_size("height", H, HH, stride), _pool_output_size("width", W, WW, stride))
    if len(_POOL_PLANS) >= 64:
        _POOL_PLANS.clear()
    _POOL_PLANS[x.shape, x.dtype.char, settings] = sizes
    return x, settings, sizes


def _pool_upstream(dout, shape, dtype):
    """dout checked to have the pooled output's shape."""
    if type(dout) is not np.ndarray:
        dout = np.asarray(dout)
    if dout.shape != shape:
        raise LayergradError(f"dout has shape {{dout.shape}}; expected the forward output's shape {{shape}}")
    if dout.dtype == dtype:
        return dout
    if dout.dtype.kind in "biu":
        dout = dout.astype(np.float64)
    if dout.dtype.kind != "f":
        raise LayergradError(f"dout must be a floating-point array, got dtype {{dout.dtype}}")
    return dout.astype(dtype, copy=False)


def _pool_whole(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise LayergradError(f"{{name}} must be a positive integer, got {{value!r}}")
    return int(value)


def _first_max(parts):
    """The entrywise maximum of equally shaped parts, and which part holds it first as a one-hot
    bool along a new first axis (a later equal entry does not replace an earlier one: the tie
    rule). np.maximum propagates NaN; the choice follows `>`, false for NaN. The offset axis comes
    first so that each offset's indicator is one contiguous block (cheap to write and to read)."""
    count = len(parts)
    pick = np.empty((count, *parts[0].shape), dtype=bool)
    if count == 1:
        pick.fill(True)
        return parts[0].copy(), pick
    best = np.maximum(parts[0], parts[1])
    if count == 2:
        np.greater(parts[1], parts[0], out=pick[1])
        np.logical_not(pick[1], out=pick[0])
        return best, pick
    first = np.greater(parts[1], parts[0]).astype(np.uint8 if count <= 256 else np.intp)
    for k in range(2, count):
        larger = np.greater(parts[k], best)
        np.maximum(best, parts[k], out=best)
        np.copyto(first, k, where=larger)
    np.equal(first, np.arange(count, dtype=first.dtype).reshape(count, 1, 1, 1, 1), out=pick)
    return best, pick
''']


def _indent(lines: list[str], spaces: int = 4) -> str:
    return "\n".join(" " * spaces + line for line in lines)


_SETUP = "x, (HH, WW, stride), (N, C, H, W, H_out, W_out) = _pool_setup(x, pool_param)"
_FORWARD_DOC = f'''Max pooling forward pass{{what}}.

    out[n, c, i, j] = max_{{{{k,l}}}} x[n, c, S·i + k, S·j + l]
                    = Σ_{{{{k,l}}}} M[n, c, i, j, k, l]·x[n, c, S·i + k, S·j + l], M the argmax indicator.
    Tie rule: {pool.TIE_RULE}.

    Inputs: x (N, C, H, W); pool_param {{{{'pool_height': HH, 'pool_width': WW, 'stride': S}}}}; the
    windows must tile x: H' = 1 + (H − HH)/S and W' = 1 + (W − WW)/S whole numbers.
    Returns (out, cache): out has shape (N, C, H', W') and x's dtype.
    '''
_BACKWARD_DOC = '''Max pooling backward pass{what}.

    dx[n, c, u, v] = Σ_{{i,j,k,l}} [u = S·i + k][v = S·j + l]·dout[n, c, i, j]·M[n, c, i, j, k, l]:
    each window's upstream gradient goes to the entry its mask selected.
    Returns dx with x's shape and dtype.
    '''


def functions(convention: Convention | None = None) -> list[GeneratedFunction]:
    """``max_pool_forward_fast`` / ``max_pool_backward_fast`` and the ``*_naive`` names."""
    forward, backward = pool.forward(), pool.backward()
    window = forward.assumption("window view").statement
    along_l = "x[:, :, :, l:l + stride*(W_out - 1) + 1:stride]"
    along_k = "rows[:, :, k:k + stride*(H_out - 1) + 1:stride]"
    forward_lines = [
        f"# {_eq(window.lhs, window.rhs)}: for one offset (k, l) a strided slice of x",
        "# M selects the first largest entry in row-major order (the tie rule): the first largest l of",
        "# each window row, then the first largest k among those rows; so the maximum is taken in two",
        "# passes, each over one axis's offsets and each reading its input once",
        f"rows, pick_l = _first_max([{along_l} for l in range(WW)])",
        f"out, pick_k = _first_max([{along_k} for k in range(HH)])",
        f"# {_eq(forward.start, forward.result)}: the entry M selects",
    ]
    scatter = backward.steps[3].after
    backward_lines = [
        f"# {_eq(backward.start, scatter)}",
        "# the masked product, factor by factor: dout to the row M selects (pick_k), then along that",
        "# row to the entry it selects (pick_l); where the windows tile an axis (stride = window, no",
        "# entry left over) that is one product reshaped, elsewhere strided slices added per offset.",
        "# Tiny inputs: one product per pass, broadcast over the offsets (fewer calls); larger: one",
        "# product per offset (no broadcasting, so NumPy runs long inner loops)",
        "tiny = dout.size <= 1024",
        "if stride == HH and H == stride*H_out:",
        "    d_rows = np.empty((N, C, H_out, HH, W_out), dtype=x.dtype)",
        "    if tiny:",
        "        np.multiply(dout, pick_k, out=d_rows.transpose(3, 0, 1, 2, 4))",
        "    else:",
        "        for k in range(HH):",
        "            np.multiply(dout, pick_k[k], out=d_rows[:, :, :, k])",
        "    d_rows = d_rows.reshape(N, C, H, W_out)",
        "else:",
        "    d_rows = np.zeros((N, C, H, W_out), dtype=x.dtype)",
        "    for k in range(HH):",
        "        d_rows[:, :, k:k + stride*(H_out - 1) + 1:stride] += dout*pick_k[k]",
        "if stride == WW and W == stride*W_out:",
        "    dx = np.empty((N, C, H, W), dtype=x.dtype)",
        "    tiles = dx.reshape(N, C, H, W_out, WW)",
        "    if tiny:",
        "        np.multiply(d_rows, pick_l, out=tiles.transpose(4, 0, 1, 2, 3))",
        "    else:",
        "        for l in range(WW):",
        "            np.multiply(d_rows, pick_l[l], out=tiles[:, :, :, :, l])",
        "else:",
        "    dx = np.zeros((N, C, H, W), dtype=x.dtype)",
        "    for l in range(WW):",
        "        dx[:, :, :, l:l + stride*(W_out - 1) + 1:stride] += d_rows*pick_l[l]",
    ]
    derived = (forward.title, pool.output_size().title)
    return [
        GeneratedFunction("max_pool_forward_naive", '''
def max_pool_forward_naive(x, pool_param):
    """The course API's naive name, backed by the generated vectorized code (max_pool_forward_fast).
    Export with --teaching-loops for the literal loop version."""
    return max_pool_forward_fast(x, pool_param)
''', derived),
        GeneratedFunction("max_pool_backward_naive", '''
def max_pool_backward_naive(dout, cache):
    """The course API's naive name, backed by the generated vectorized code (max_pool_backward_fast)."""
    return max_pool_backward_fast(dout, cache)
''', (backward.title,)),
        GeneratedFunction("max_pool_forward_fast", f'''
def max_pool_forward_fast(x, pool_param):
    """{_FORWARD_DOC.format(what=" (vectorized: two passes, over the offsets along each axis)")}
    The cache holds M factored: pick_k[k, n, c, i, j] = [k is the row M selects] and
    pick_l[l, n, c, S·i + k, j] = [l is the entry M selects in that row], M = pick_k·pick_l.
    NaN: a window holding a NaN outputs NaN (np.maximum propagates it, as PyTorch does); its
    gradient still goes to exactly one entry of the window, the one the comparisons `>` (false
    for NaN) select, which need not be the NaN."""
    {_SETUP}
{_indent(forward_lines)}
    return out, (x, pool_param, (pick_k, pick_l))
''', derived),
        GeneratedFunction("max_pool_backward_fast", f'''
def max_pool_backward_fast(dout, cache):
    """{_BACKWARD_DOC.format(what=" (vectorized: the masked product, routed pass by pass)")}"""
    x, pool_param, (pick_k, pick_l) = cache
    {_SETUP}
    dout = _pool_upstream(dout, (N, C, H_out, W_out), x.dtype)
{_indent(backward_lines)}
    return dx
''', (backward.title,)),
    ]


def loop_functions() -> list[GeneratedFunction]:
    """``max_pool_forward_naive`` / ``max_pool_backward_naive`` as literal loops (for reading)."""
    forward, backward = pool.forward(), pool.backward()
    entry = forward.assumption("max pooling").statement.rhs.args[0]
    best = {k: sp.Symbol("best_k", integer=True), l: sp.Symbol("best_l", integer=True)}
    forward_lines = [
        "out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)",
        "mask = np.zeros((N, C, H_out, W_out, HH, WW), dtype=bool)",
        "for n in range(N):", "    for c in range(C):", "        for i in range(H_out):",
        "            for j in range(W_out):",
        "                # the first largest entry: a later equal entry does not replace it (tie rule)",
        "                best_k, best_l = 0, 0",
        "                for k in range(HH):", "                    for l in range(WW):",
        f"                        if {code(entry, NAMES)} > {code(entry.xreplace(best), NAMES)}:",
        "                            best_k, best_l = k, l",
        "                mask[n, c, i, j, best_k, best_l] = True",
        f"                out[n, c, i, j] = {code(entry.xreplace(best), NAMES)}",
    ]
    scatter = backward.steps[3].after
    backward_lines = [f"# {_eq(backward.start, scatter)}", "dx = np.zeros_like(x)",
                      *loop_nest(sp.IndexedBase("dx")[n, c, u, v], scatter, SIZES, NAMES)]
    return [
        GeneratedFunction("max_pool_forward_naive", f'''
def max_pool_forward_naive(x, pool_param):
    """{_FORWARD_DOC.format(what=" as literal loops (slow; for reading)")}"""
    {_SETUP}
    # {_eq(forward.start, forward.steps[0].after)}, kept with its argmax indicator M
{_indent(forward_lines)}
    return out, (x, pool_param, mask)
''', (forward.title,)),
        GeneratedFunction("max_pool_backward_naive", f'''
def max_pool_backward_naive(dout, cache):
    """{_BACKWARD_DOC.format(what=" as literal loops (slow; for reading)")}"""
    x, pool_param, mask = cache
    {_SETUP}
    dout = _pool_upstream(dout, (N, C, H_out, W_out), x.dtype)
{_indent(backward_lines)}
    return dx
''', (backward.title,)),
    ]
