r"""Generate the convolution layer (course API) from its derivations.

Every array operation is printed from a derived index expression by :mod:`numeric.codegen.windows`:

* the output size and its checks from :func:`derive.conv.output_size`
  (:math:`H' = 1 + (H + 2P - d(HH-1) - 1)/S`, a whole number or an error);
* the zero padding from the definition :math:`\text{xpad}_{ncab} = x_{n,c,a-P,b-P}` (kept for
  the backward pass);
* the window view from :math:`\text{win}_{ncijkl} = \text{xpad}_{n,c,Si+dk,Sj+dl}`, copied
  (im2col) a block at a time into one buffer that is reused: the whole batch when its windows
  are small (the course's sizes: one batched matrix multiply instead of one per example), one
  example when its windows fit in 1.5 MB, else one example's band of output rows :math:`i` whose
  windows fit in 512 kB: the copy is still in cache when the matrix multiplies read it, and a
  large example's windows (e.g. :math:`32 \cdot 9 \times 64 \cdot 64` in float32, 4.7 MB) are
  never stored whole;
* ``out`` from the forward pass as one matrix multiply per block, written straight into its
  rows of ``out``; ``dw`` (as :math:`dw^\top`, the faster order) summed over the blocks, in the
  input's dtype (float32 stays float32), ``db`` as a sum;
* ``dxpad`` from the scatter form :math:`\sum \delta_{a,Si+dk}\delta_{b,Sj+dl}\,\text{dout}\,w`,
  block by block: the sum over the filters as one matrix multiply with :math:`w^\top` (copied
  once, in the layout the multiply reads), then the deltas: for small inputs one multiply by
  their 0/1 matrix (cached per shape), otherwise an add into strided slices of the band's rows
  :math:`a = S\,\text{row} + \ldots` per kernel offset (neighbouring bands overlap by the
  kernel's height and add up); ``dx`` by cropping;
* at stride 1 without dilation, when dout's windows are at most twice x's (:math:`F \le 2C`)
  and the 0/1 matrix is not used, ``dx`` instead from the full convolution
  :func:`derive.conv.transposed` derives,
  :math:`d\text{xpad}_{ncab} = \sum_{f,k,l} \text{dout\_pad}_{n,f,a+k,b+l}\,\text{w\_rot}_{fckl}`,
  cropped by :math:`P` (:func:`derive.conv.backward_x`): dout zero-padded by :math:`HH-1`,
  :math:`WW-1` (its definition), its windows copied a block of dx's rows at a time like the
  forward pass's, one matrix multiply per block with the flipped filter (a reversed view of
  ``w``) written straight into ``dx``: no ``dxpad``, no scatter. Measured side by side on the
  benchmark's layer (float32, :math:`F = 2C`) about 10 % off the backward pass; with more
  filters (e.g. :math:`F = 16, C = 3`) the larger copy makes it slower than the scatter.

:func:`loop_functions` prints the same derivations as literal loops, for reading.
"""

from __future__ import annotations

import sympy as sp

from derive import conv
from derive.dropout import Convention
from derive.printing import text

from .codegen.module import FLOATING_HELPER, GeneratedFunction
from .codegen.windows import (
    Stored,
    code,
    crop,
    embed,
    expand,
    factors,
    loop_nest,
    reduce_sum,
    reverse,
    scatter_add,
    window_view,
)
from .codegen.windows import transpose as transposed

__all__ = ["WINDOW_IMPORT", "functions", "loop_functions", "preamble"]

WINDOW_IMPORT = "from numpy.lib.stride_tricks import sliding_window_view"
"""The one import the window views need (shared with max pooling; the exporter keeps one copy)."""

s = conv.symbols()
n, f, c, i, j, k, l, a, b_, u, v = (s[name] for name in ("n", "f", "c", "i", "j", "k", "l", "a", "b_index", "u", "v"))

NAMES = {s["S"]: "stride", s["P"]: "pad", s["d"]: "dilation", s["H_out"]: "H_out", s["W_out"]: "W_out"}
"""Symbols of the derivations → names in the generated code (sizes keep their names)."""

SIZES = {n: "N", f: "F", c: "C", i: "H_out", j: "W_out", k: "HH", l: "WW", u: "H", v: "W",
         a: code(s["H"] + 2 * s["P"], NAMES), b_: code(s["W"] + 2 * s["P"], NAMES)}
"""Index → the extent it runs over, as code."""

X = Stored("x", (n, c, u, v))
W = Stored("w", (f, c, k, l))
B_ = Stored("b", (f,))
DOUT = Stored("dout", (n, f, i, j), size_rank=1)
XPAD = Stored("xpad", (n, c, a, b_), size_rank=2)
COLS = Stored("cols", (c, i, j, k, l), (c, k, l, i, j), size_rank=3)
"""The im2col copy of one example's windows: one row per (c, k, l), one column per output position."""
DXPAD = Stored("dxpad", (n, c, a, b_))


def _eq(lhs: sp.Expr, rhs: sp.Expr) -> str:
    return f"{text(lhs)} = {text(rhs)}"


def _output_size_helper() -> str:
    derivation = conv.output_size(True)
    formula = derivation.result.rhs
    S, H, HH = s["S"], s["H"], s["HH"]
    names = {**NAMES, H: "size", HH: "kernel"}
    numerator = sp.Mul(formula - 1, S)
    fits = derivation.assumption("window fits").statement
    return f'''
def _conv_output_size(what, size, kernel, stride, pad, dilation):
    """Windows along one axis: {code(formula, names)} (derived); a whole number ≥ 1."""
    span, padded = {code(fits.rhs, names)}, {code(fits.lhs, names)}
    if span > padded:
        raise LayergradError(
            f"the kernel is larger than the padded input along the {{what}}: it spans {{span}} "
            f"(dilation·(kernel − 1) + 1) but the padded input has {{padded}} (size + 2·pad)"
        )
    numerator = {code(numerator, names)}
    if numerator % stride:
        raise LayergradError(
            f"output {{what}} {code(formula, names)} = 1 + {{numerator}}/{{stride}} is not an integer "
            f"(size={{size}}, kernel={{kernel}}, pad={{pad}}, stride={{stride}}, dilation={{dilation}}): "
            "the windows do not tile the padded input; change pad or stride"
        )
    return 1 + numerator // stride'''


def preamble(convention: Convention | None = None) -> list[str]:
    """Module-level helpers: reading ``conv_param``, checking the arrays, the output size."""
    dilation = 'CONV_DILATION = True\n"""conv_param may hold "dilation" (default 1) besides "stride" and "pad"."""'
    return [FLOATING_HELPER, WINDOW_IMPORT, dilation, _output_size_helper(), '''
def _whole(name, value, least):
    """value as an int ≥ least, or a LayergradError saying what was expected."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        expected = "a positive integer" if least == 1 else f"an integer ≥ {least}"
        raise LayergradError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def _conv_settings(conv_param):
    """(stride, pad, dilation) from conv_param = {'stride', 'pad', optional 'dilation' (default 1)}."""
    if not isinstance(conv_param, dict):
        raise LayergradError(f"conv_param must be a dict with 'stride' and 'pad', got {type(conv_param).__name__}")
    for key in ("stride", "pad"):
        if key not in conv_param:
            raise LayergradError(f"conv_param[{key!r}] is missing; expected conv_param = {{'stride': S, 'pad': P}}")
    return (_whole("conv_param['stride']", conv_param["stride"], 1), _whole("conv_param['pad']", conv_param["pad"], 0),
            _whole("conv_param['dilation']", conv_param.get("dilation", 1), 1))


def _conv_arrays(x, w, b):
    """x, w, b as floating-point arrays of one dtype, their shapes checked against each other."""
    arrays = []
    for name, value, shape, ndim in (("x", x, "(N, C, H, W)", 4), ("w", w, "(F, C, HH, WW)", 4), ("b", b, "(F,)", 1)):
        # integers are computed in float64, as NumPy would; complex too: the layer is linear (complex-step checks)
        value = _floating(name, value)
        if value.ndim != ndim:
            raise LayergradError(f"{name} must have shape {shape}, got shape {value.shape}")
        arrays.append(value)
    x, w, b = arrays
    if x.shape[1] != w.shape[1]:
        raise LayergradError(
            f"channel mismatch: x has C = {x.shape[1]} channels (shape {x.shape}) but the filters "
            f"w expect C = {w.shape[1]} (shape {w.shape}, (F, C, HH, WW))"
        )
    if b.shape != (w.shape[0],):
        raise LayergradError(f"b has shape {b.shape}; expected (F,) = ({w.shape[0]},): one bias per filter")
    if x.dtype == w.dtype == b.dtype:
        return x, w, b
    dtype = np.result_type(x, w, b)
    return x.astype(dtype, copy=False), w.astype(dtype, copy=False), b.astype(dtype, copy=False)


def _conv_setup(x, w, b, conv_param):
    """Checked arrays, settings and sizes (N, C, H, W, F, HH, WW, H_out, W_out)."""
    stride, pad, dilation = _conv_settings(conv_param)
    x, w, b = _conv_arrays(x, w, b)
    (N, C, H, W), (F, _, HH, WW) = x.shape, w.shape
    H_out = _conv_output_size("height", H, HH, stride, pad, dilation)
    W_out = _conv_output_size("width", W, WW, stride, pad, dilation)
    return x, w, b, (stride, pad, dilation), (N, C, H, W, F, HH, WW, H_out, W_out)


def _conv_blocks(N, H_out, row_bytes):
    """(examples, output rows) per im2col block, row_bytes the size of one output row's windows:
    the whole batch when all its windows fit in 64 kB (the course's sizes: one batched multiply
    instead of N small ones); one whole example when its windows fit in 1.5 MB (longer multiplies
    beat a smaller copy there); else a band of one example's output rows whose windows fit in
    512 kB (the band stays in cache from the copy to the multiplies that read it)."""
    if N*H_out*row_bytes <= 65536:
        return N, H_out
    if H_out*row_bytes <= 1572864:
        return 1, H_out
    return 1, max(1, min(H_out, 524288 // row_bytes))


def _dx_as_full_convolution(stride, dilation, F, C):
    """Whether dx is computed as the full convolution of the padded dout with the flipped filter
    (an im2col of dout and one matrix multiply per block, written straight into dx) rather than
    as wᵀ·dout scattered back per kernel offset: only at stride 1 without dilation (where the
    derivation gives that form), and when dout's windows (F·HH·WW rows) are at most twice x's
    (C·HH·WW rows): with more filters the larger copy costs more than the scatter saves."""
    return stride == 1 and dilation == 1 and F <= 2*C


_COL2IM_PLANS = {}


def _col2im_plan(HH, WW, H_out, W_out, Hp, Wp, stride, dilation, dtype):
    """For small inputs, the scatter δ(a, S·i + d·k)·δ(b, S·j + d·l) as a 0/1 matrix: rows
    (k, l, i, j), columns (a, b) of the padded input; cached per shape. None when it would hold
    more than 2^16 entries (then the scatter runs as strided adds, one per kernel offset)."""
    if HH*WW*H_out*W_out*Hp*Wp > 65536:
        return None
    key = (HH, WW, H_out, W_out, Hp, Wp, stride, dilation, np.dtype(dtype))
    plan = _COL2IM_PLANS.get(key)
    if plan is None:
        k, l, i, j = np.indices((HH, WW, H_out, W_out)).reshape(4, -1)
        plan = np.zeros((k.size, Hp*Wp), dtype=dtype)
        plan[np.arange(k.size), (stride*i + dilation*k)*Wp + stride*j + dilation*l] = 1
        if len(_COL2IM_PLANS) >= 64:
            _COL2IM_PLANS.clear()
        _COL2IM_PLANS[key] = plan
    return plan


def _upstream(dout, shape, dtype):
    """dout checked to have the forward output's shape."""
    dout = _floating("dout", dout)
    if dout.shape != shape:
        raise LayergradError(f"dout has shape {dout.shape}; expected the forward output's shape {shape}")
    if dout.dtype == dtype:
        return dout
    return dout.astype(np.result_type(dout, dtype), copy=False)''']


def _indent(lines: list[str] | str, spaces: int = 4) -> str:
    if isinstance(lines, str):
        lines = lines.splitlines()
    return "\n".join(" " * spaces + line for line in lines)


def _sizes(layout: tuple[sp.Symbol, ...]) -> list[str]:
    return [SIZES[index] for index in layout]


def _windows() -> tuple[list[str], str]:
    """The window view of the padded input, the block sizes, and the lines that start a loop over
    the blocks and copy a block's windows into ``cols`` (im2col)."""
    window = conv.forward(True).assumption("window view")
    view, win = window_view("win", window.statement, XPAD, (k, l), SIZES, NAMES)
    block = {n: "n:n + m", i: "row:row + r"}
    slices = [block.get(s_, ":") for s_ in win.layout]
    while slices[-1] == ":":
        slices.pop()
    chunk = Stored(f"{win.name}[{', '.join(slices)}]", win.logical, win.layout)
    lines = [f"# {_eq(window.statement.lhs, window.statement.rhs)}: a view, axes {win.layout}", view,
             "# im2col a block at a time into one buffer that is reused: the whole batch when its windows",
             "# are small (one batched matrix multiply instead of one per example), else one example's band",
             "# of output rows whose windows stay in cache from the copy to the multiply that reads them",
             "B, R = _conv_blocks(N, H_out, C*HH*WW*W_out*xpad.itemsize)",
             "buffer = np.empty(B*C*HH*WW*R*W_out, dtype=xpad.dtype)"]
    loop = ["for n in range(0, N, B):",
            "    m = min(B, N - n)",
            "    for row in range(0, H_out, R):",
            "        r = min(R, H_out - row)",
            f"        cols = buffer[:m*C*HH*WW*r*W_out].reshape(m, {', '.join(_sizes(COLS.layout[:-2]))}, r, W_out)",
            f"        cols[...] = {transposed(chunk, (n, *COLS.layout))}",
            "        cols3 = cols.reshape(m, C*HH*WW, r*W_out)"]
    return lines, "\n".join(loop)


def _forward_body() -> tuple[list[str], tuple[str, ...]]:
    forward = conv.forward(True)
    padding = forward.assumption("zero padding")
    lines = [f"# {_eq(padding.statement.lhs, padding.statement.rhs)} (zero outside x)"]
    lines += embed(XPAD, padding.statement, X, SIZES, NAMES)
    windows, loop = _windows()
    bias = next(term for term in forward.result.args if isinstance(term, sp.Indexed))
    lines += [*windows,
              "out = np.empty((N, F, H_out, W_out), dtype=x.dtype)",
              "out3, w_rows = out.reshape(N, F, H_out*W_out), w.reshape(F, C*HH*WW)",
              f"# {_eq(forward.start, forward.result)}",
              *loop.splitlines(),
              "        block = out3[n:n + m, :, row*W_out:(row + r)*W_out]",
              "        np.matmul(w_rows, cols3, out=block)",
              "        # the bias while the block is in cache (its positions (i, j) flattened into one axis)",
              f"        block += {expand(B_.relabel(bias), (n, f, i))}"]
    return lines, (forward.title,)


def _full_convolution() -> tuple[list[str], str]:
    r"""Lines computing ``dx`` at stride 1 from :func:`derive.conv.transposed` (``strided=False``):
    :math:`d\text{xpad}_{ncab} = \sum_{f,k,l} \text{dout\_pad}_{n,f,a+k,b+l}\,\text{w\_rot}_{fckl}`,
    cropped as :func:`derive.conv.backward_x` says (:math:`dx_{ncuv} = d\text{xpad}_{n,c,u+P,v+P}`):
    the padded dout's windows copied a block of rows of dx at a time (im2col, as in the forward
    pass), one matrix multiply per block with the flipped filter written straight into dx."""
    full_d, dx_d = conv.transposed(False), conv.backward_x()
    rotated, padded = full_d.assumption("rotated filter"), full_d.assumption("padded dout")
    m_, m2_ = padded.statement.lhs.indices[2:]
    dout_pad = Stored("dout_pad", (n, f, m_, m2_))
    sizes = {**SIZES, m_: code(s["H_out"] + 2 * (s["HH"] - 1), NAMES), m2_: code(s["W_out"] + 2 * (s["WW"] - 1), NAMES),
             a: "H", b_: "W"}
    summand = full_d.result.function
    read = next(t for t in summand.args if t.base == padded.statement.lhs.base)
    positions = [index if isinstance(index, sp.Symbol) else next(iter(index.free_symbols - {k, l}))
                 for index in read.indices]
    window = sp.Eq(sp.IndexedBase("dwin")[(*positions, k, l)], read)
    view, dwin = window_view("dwin", window, dout_pad, (k, l), sizes, NAMES)
    view = view.removesuffix("[" + ", ".join([":"] * len(dwin.layout)) + "]")
    # the crop: dx row u is dxpad row u + P (a shift read off the derivation)
    shifts = {axis: code(_affine_shift(index, axis), NAMES)
              for axis, index in zip((a, b_), dx_d.result.indices[2:])}
    block = {n: "n:n + m", a: f"{shifts[a]} + row:{shifts[a]} + row + r", b_: f"{shifts[b_]}:{shifts[b_]} + W"}
    slices = [block.get(s_, ":") for s_ in dwin.layout]
    while slices[-1] == ":":
        slices.pop()
    chunk = Stored(f"dwin[{', '.join(slices)}]", dwin.logical, dwin.layout)
    flipped = Stored(reverse(rotated.statement, W, sizes, NAMES), W.logical)
    lines = [f"# dx: {_eq(dx_d.start, dx_d.result)}, where at stride 1 (no dilation)",
             f"# {_eq(conv.dxpad[n, c, a, b_], full_d.result)}:",
             "# the padded dout's windows copied a block of dx's rows at a time (im2col), one matrix",
             "# multiply per block with the flipped filter, written straight into dx",
             f"# {_eq(padded.statement.lhs, padded.statement.rhs)} (zero outside dout)",
             *embed(dout_pad, padded.statement, DOUT, sizes, NAMES),
             f"# {_eq(window.lhs, window.rhs)}: a view, axes {dwin.layout}",
             view,
             f"# {_eq(rotated.statement.lhs, rotated.statement.rhs)}, rows c and columns (f, k, l)",
             f"w_rot = np.ascontiguousarray({transposed(flipped, (c, f, k, l))}).reshape(C, F*HH*WW)",
             "B, R = _conv_blocks(N, H, F*HH*WW*W*dout.itemsize)",
             "buffer = np.empty(B*F*HH*WW*R*W, dtype=dout.dtype)",
             "dx = np.empty((N, C, H, W), dtype=dout.dtype)",
             "dx3 = dx.reshape(N, C, H*W)",
             "for n in range(0, N, B):",
             "    m = min(B, N - n)",
             "    for row in range(0, H, R):",
             "        r = min(R, H - row)",
             "        cols = buffer[:m*F*HH*WW*r*W].reshape(m, F, HH, WW, r, W)",
             f"        cols[...] = {transposed(chunk, (n, f, k, l, a, b_))}",
             "        np.matmul(w_rot, cols.reshape(m, F*HH*WW, r*W), out=dx3[n:n + m, :, row*W:(row + r)*W])"]
    return lines, full_d.title


def _affine_shift(index: sp.Expr, axis: sp.Symbol) -> sp.Expr:
    """The constant ``P`` of an index ``u + P`` (the one free index of ``index``)."""
    free = [s_ for s_ in index.free_symbols if s_ in (s["u"], s["v"])]
    return sp.expand(index - sum(free))


def _backward_body() -> tuple[list[str], tuple[str, ...]]:
    dw_d, db_d, dxpad_d, dx_d = conv.backward_w(True), conv.backward_b(), conv.backward_xpad(True), conv.backward_x()
    lines = [f"# db: {_eq(db_d.start, db_d.result)}",
             f"db = {reduce_sum(DOUT, [lim[0] for lim in db_d.result.limits], (f,))}"]
    windows, loop = _windows()
    full_lines, full_title = _full_convolution()
    _, deltas, _ = factors(dxpad_d.result.function)
    dcols = Stored("dcols", (n, c, k, l, i, j))
    band = Stored("dxpad[n:n + m, :, stride*row:]", DXPAD.logical)  # the band's rows start at S·row
    col2im = scatter_add(band, deltas, dcols, (k, l), {**SIZES, i: "r"}, NAMES)
    lines += [*windows,
              "# wᵀ copied once into the layout the matrix multiply reads",
              "w_cols = np.ascontiguousarray(w.reshape(F, C*HH*WW).T)",
              "dout3 = dout.reshape(N, F, H_out*W_out)",
              "dw_cols = np.zeros((C*HH*WW, F), dtype=dout.dtype)  # dwᵀ: the faster order of the multiply",
              "dw_parts = np.empty((B, C*HH*WW, F), dtype=dout.dtype)  # one block's share, per example",
              "plan = None  # the 0/1 matrix covers whole examples: only when a block holds all their rows",
              "if R == H_out:",
              "    plan = _col2im_plan(HH, WW, H_out, W_out, H + 2*pad, W + 2*pad, stride, dilation, dout.dtype)",
              "# small inputs keep the 0/1 matrix; at stride 1 dx is otherwise the full convolution (below)",
              "full = plan is None and _dx_as_full_convolution(stride, dilation, F, C)",
              "d_buffer = None if full else np.empty_like(buffer)",
              f"dxpad = None if full else np.zeros(({', '.join(SIZES[s_] for s_ in DXPAD.layout)}), dtype=dout.dtype)",
              *loop.splitlines(),
              "        dout_block = dout3[n:n + m, :, row*W_out:(row + r)*W_out]",
              f"        # dw: {_eq(dw_d.start, dw_d.result)}, summed block by block",
              "        np.matmul(cols3, dout_block.transpose(0, 2, 1), out=dw_parts[:m])",
              "        dw_cols += dw_parts[0] if m == 1 else dw_parts[:m].sum(axis=0)",
              "        if full:",
              "            continue",
              f"        # dxpad: {_eq(dxpad_d.start, dxpad_d.result)}",
              "        # the sum over the filters as one matrix multiply (the windows' gradients), then the deltas",
              "        # (col2im): one matrix multiply with their 0/1 matrix for small inputs, else per kernel offset",
              "        # an add into a strided slice of the band's rows",
              "        dcols = d_buffer[:cols.size].reshape(cols.shape)",
              "        np.matmul(w_cols, dout_block, out=dcols.reshape(cols3.shape))",
              "        if plan is not None:",
              "            np.matmul(dcols.reshape(m*C, HH*WW*H_out*W_out), plan, out=dxpad[n:n + m].reshape(m*C, -1))",
              "            continue",
              *_indent(col2im, 8).splitlines(),
              "if full:",
              *_indent(full_lines).splitlines(),
              "else:",
              f"    # dx: {_eq(dx_d.start, dx_d.result)}: the padding cropped",
              f"    dx = {crop(X, dx_d.result, DXPAD, SIZES, NAMES)}",
              "dw = np.ascontiguousarray(dw_cols.T).reshape(F, C, HH, WW)"]
    return lines, (dw_d.title, db_d.title, dxpad_d.title, dx_d.title, full_title)


_FORWARD_DOC = '''Convolution forward pass{what}.

    out[n, f, i, j] = b[f] + Σ_{{c,k,l}} xpad[n, c, S·i + d·k, S·j + d·l]·w[f, c, k, l],
    xpad = x zero-padded by P; H' = 1 + (H + 2P − d(HH − 1) − 1)/S, W' likewise.

    Inputs:
    - x: (N, C, H, W) input; w: (F, C, HH, WW) filters; b: (F,) biases (floating point).
    - conv_param: {{'stride': S, 'pad': P}} and optionally 'dilation': d (default 1).

    Returns (out, cache): out has shape (N, F, H', W') and the inputs' dtype.
    '''

_BACKWARD_DOC = '''Convolution backward pass{what}.

    Inputs: dout, the upstream gradient ∂L/∂out of shape (N, F, H', W'); cache from the forward.
    Returns (dx, dw, db) with the shapes of x, w and b:
    dw[f, c, k, l] = Σ_{{n,i,j}} dout[n, f, i, j]·xpad[n, c, S·i + d·k, S·j + d·l]
    db[f] = Σ_{{n,i,j}} dout[n, f, i, j]
    dx = dxpad cropped, where
    dxpad[n, c, a, b] = Σ_{{f,i,j,k,l}} [a = S·i + d·k][b = S·j + d·l]·dout[n, f, i, j]·w[f, c, k, l],
    at S = d = 1 the full convolution Σ_{{f,k,l}} dout_pad[n, f, a + k, b + l]·w[f, c, HH − 1 − k, WW − 1 − l]
    (dout zero-padded by HH − 1 rows and WW − 1 columns)
    '''


_FAST_BACKWARD = (" (vectorized: matrix multiplies per band of rows; dx at stride 1 as a full convolution, "
                  "else a scatter per kernel offset)")


def functions(convention: Convention | None = None) -> list[GeneratedFunction]:
    """``conv_forward_fast`` / ``conv_backward_fast`` and the course API's ``*_naive`` names,
    all backed by the vectorized code."""
    forward, forward_from = _forward_body()
    backward, backward_from = _backward_body()
    forward_source = f'''
def conv_forward_fast(x, w, b, conv_param):
    """{_FORWARD_DOC.format(what=" (vectorized: window view, im2col and one matrix multiply per band of rows)")}"""
    x, w, b, (stride, pad, dilation), (N, C, H, W, F, HH, WW, H_out, W_out) = _conv_setup(x, w, b, conv_param)
{_indent(forward)}
    return out, (x, w, b, conv_param, xpad)
'''
    backward_source = f'''
def conv_backward_fast(dout, cache):
    """{_BACKWARD_DOC.format(what=_FAST_BACKWARD)}"""
    x, w, b, conv_param, xpad = cache
    x, w, b, (stride, pad, dilation), (N, C, H, W, F, HH, WW, H_out, W_out) = _conv_setup(x, w, b, conv_param)
    dout = _upstream(dout, (N, F, H_out, W_out), x.dtype)
{_indent(backward)}
    return dx, dw.astype(w.dtype, copy=False), db.astype(b.dtype, copy=False)
'''
    naive_forward = '''
def conv_forward_naive(x, w, b, conv_param):
    """The course API's naive name, backed by the generated vectorized code (conv_forward_fast).
    Export with --teaching-loops for the literal loop version."""
    return conv_forward_fast(x, w, b, conv_param)
'''
    naive_backward = '''
def conv_backward_naive(dout, cache):
    """The course API's naive name, backed by the generated vectorized code (conv_backward_fast)."""
    return conv_backward_fast(dout, cache)
'''
    return [
        GeneratedFunction("conv_forward_naive", naive_forward, forward_from),
        GeneratedFunction("conv_backward_naive", naive_backward, backward_from),
        GeneratedFunction("conv_forward_fast", forward_source, forward_from),
        GeneratedFunction("conv_backward_fast", backward_source, backward_from),
    ]


def loop_functions() -> list[GeneratedFunction]:
    """``conv_forward_naive`` / ``conv_backward_naive`` as literal loops over every index of
    the derived formulas (slow: for reading, never the default)."""
    forward = conv.forward(True)
    padding = forward.assumption("zero padding")
    xpad_nchw = Stored("xpad", XPAD.logical)
    pad_lines = embed(xpad_nchw, padding.statement, X, SIZES, NAMES)
    definition = forward.steps[0].after
    out_lines = ["out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)",
                 *loop_nest(conv.out[n, f, i, j], definition, SIZES, NAMES)]
    dw_d, db_d, dxpad_d, dx_d = conv.backward_w(True), conv.backward_b(), conv.backward_xpad(True), conv.backward_x()
    dw_expr = dw_d.steps[3].after
    backward_lines = [
        f"# {_eq(dw_d.start, dw_expr)}", "dw = np.zeros_like(w)",
        *loop_nest(sp.IndexedBase("dw")[f, c, k, l], dw_expr, SIZES, NAMES),
        f"# {_eq(db_d.start, db_d.result)}", "db = np.zeros_like(b)",
        *loop_nest(sp.IndexedBase("db")[f], db_d.result, SIZES, NAMES, accumulate=True),
        f"# {_eq(dxpad_d.start, dxpad_d.result)}", "dxpad = np.zeros_like(xpad)",
        *loop_nest(conv.dxpad[n, c, a, b_], dxpad_d.result, SIZES, NAMES),
        f"# {_eq(dx_d.start, dx_d.result)}",
        f"dx = {crop(X, dx_d.result, Stored('dxpad', DXPAD.logical), SIZES, NAMES)}",
    ]
    forward_source = f'''
def conv_forward_naive(x, w, b, conv_param):
    """{_FORWARD_DOC.format(what=" as literal loops, one per index of the formula (slow; for reading)")}"""
    x, w, b, (stride, pad, dilation), (N, C, H, W, F, HH, WW, H_out, W_out) = _conv_setup(x, w, b, conv_param)
    # {_eq(padding.statement.lhs, padding.statement.rhs)} (zero outside x)
{_indent(pad_lines)}
    # {_eq(forward.start, definition)}
{_indent(out_lines)}
    return out, (x, w, b, conv_param)
'''
    backward_source = f'''
def conv_backward_naive(dout, cache):
    """{_BACKWARD_DOC.format(what=" as literal loops (slow; for reading)")}"""
    x, w, b, conv_param = cache[:4]
    x, w, b, (stride, pad, dilation), (N, C, H, W, F, HH, WW, H_out, W_out) = _conv_setup(x, w, b, conv_param)
    dout = _upstream(dout, (N, F, H_out, W_out), x.dtype)
{_indent(pad_lines)}
{_indent(backward_lines)}
    return dx, dw, db
'''
    return [
        GeneratedFunction("conv_forward_naive", forward_source, (forward.title,)),
        GeneratedFunction("conv_backward_naive", backward_source, (dw_d.title, db_d.title, dxpad_d.title, dx_d.title)),
    ]
