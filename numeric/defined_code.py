r"""Vectorized NumPy for a defined layer (:mod:`derive.define`, :mod:`derive.defined`).

The layer's statements and the derived gradients are printed by the one lowering of every
generated layer (:class:`numeric.codegen.lowering.Lowering`: arrays whose axes are index
symbols, hoisted reductions, window views, scatters, stable forms); this module adds the runtime
helpers the printed code calls (:data:`HELPERS`: ``_read``, a zero-padded strided view for the
affine indices of an entry, ``_scatter``, its adjoint, stable ``_sigmoid``/``_softplus``) and the
plumbing of the generated API.

A sum over a window view, :math:`\sum_{k,l} W_{ckl} X_{n,c,Si+k-P,Sj+l-P}`, and its adjoint
scatter run as ``_einsum`` and ``_scatter_sum``: a short loop over the kernel offsets
:math:`(k, l)` — the axes of the view that read an entry again, found from its strides
(``_offsets``) — each offset one whole-array product written or added in place; the rows of a
padded image read as one axis of stride 1 (its padding between rows computed and dropped, or
multiplied by zeros), so every offset is a few long contiguous passes; a scatter with unit
strides is the gather :math:`\sum_k G_{h-k}` of a padded copy, the same loop. NumPy's einsum
(with BLAS) stays where the kernel is contracted with channels, as in a full convolution.

:func:`functions` returns ``{name}_forward(*inputs, *params, *data, **constants) -> (out,
cache)`` and ``{name}_backward(dout, cache)`` for a definition; :func:`module_source` puts one
or several definitions into a module.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from derive.define import Definition
from derive.defined import Layer, derive
from derive.errors import LayergradError

from .codegen.lowering import Lowering
from .codegen.module import ERROR_IMPORT, FLOATING_HELPER, GeneratedFunction, Module

__all__ = ["HELPERS", "functions", "module_source", "used_helpers"]

HELPERS = r'''def _kept(key, shape, dtype, zero=False):
    """A buffer kept between calls (per thread) for an array that never leaves a helper (a
    product's scratch, a zero-padded copy read only inside it): the same key, shape and dtype get
    the same memory again. A large array allocated afresh each call is returned to the system when
    freed and faulted in again page by page (4 KiB each) on the next call. zero: zeros when made;
    a caller that writes the same entries every time keeps the others zero. At most 8 buffers and
    64 MiB are kept per thread, the least recently used dropped; a larger array is not kept."""
    if _kept.local is None:
        import threading
        _kept.local = threading.local()
    buffers = _kept.local.__dict__.setdefault("buffers", {})
    key = (key, tuple(shape), np.dtype(dtype).str)
    buffer = buffers.pop(key, None)
    if buffer is None:
        buffer = (np.zeros if zero else np.empty)(shape, dtype=dtype)
        if buffer.nbytes > 1 << 26:
            return buffer
        while buffers and (len(buffers) >= 8 or sum(b.nbytes for b in buffers.values()) + buffer.nbytes > 1 << 26):
            buffers.pop(next(iter(buffers)))
    buffers[key] = buffer
    return buffer


_kept.local = None


def _read(a, *reads, keep=None):
    """Reads along several axes of a at once, zero outside the array: each read (axis, start,
    [(c1, m1), (c2, m2), ...]) takes a at start + c1*i1 + c2*i2 + ... on that axis, for each i in
    range(m), and that axis becomes one axis per step. One zero-padded copy where a read leaves
    the array (none otherwise; with keep, a buffer kept under that key: the view must not outlive
    the caller), then a strided view of it (read-only, no copy)."""
    pads = [(0, 0)] * a.ndim
    for axis, start, steps in reads:
        low = start + sum(min(0, c * (m - 1)) for c, m in steps)
        high = start + sum(max(0, c * (m - 1)) for c, m in steps)
        pads[axis] = (max(0, -low), max(0, high - (a.shape[axis] - 1)))
    if any(before or after for before, after in pads):
        shape = tuple(n + sum(p) for n, p in zip(a.shape, pads))
        padded = (np.zeros(shape, dtype=a.dtype) if keep is None
                  else _kept(("read", keep, tuple(pads)), shape, a.dtype, zero=True))
        padded[tuple(slice(before, before + n) for n, (before, _) in zip(a.shape, pads))] = a
        a = padded
    first = {axis: (start + pads[axis][0], steps) for axis, start, steps in reads}
    at = a[tuple(slice(first[x][0], None) if x in first else slice(None) for x in range(a.ndim))]
    shape, strides = [], []
    for x in range(a.ndim):
        steps = first[x][1] if x in first else [(1, a.shape[x])]
        shape += [m for _, m in steps]
        strides += [c * a.strides[x] for c, _ in steps]
    return np.lib.stride_tricks.as_strided(at, tuple(shape), tuple(strides), writeable=False)


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


def _offsets(a):
    """The axes of a strided view that read entries again (a window's kernel offsets): the
    smallest axes to fix so that each remaining axis, by increasing stride, steps past all
    before it."""
    kept, fixed = [], []
    for x in sorted(range(a.ndim), key=lambda x: (abs(a.strides[x]), -a.shape[x])):
        while a.shape[x] > 1:
            extent = sum(abs(a.strides[y]) * (a.shape[y] - 1) for y in kept) + a.itemsize
            if abs(a.strides[x]) >= extent:
                kept.append(x)
                break
            if not kept or a.shape[x] <= a.shape[kept[-1]]:
                fixed.append(x)
                break
            fixed.append(kept.pop())
    return fixed


def _aligned(a, term, letters):
    """a (axes named by term) transposed to the order of letters, a new axis for each missing one."""
    a = a.transpose(sorted(range(len(term)), key=lambda x: letters.index(term[x])))
    return a[tuple(slice(None) if c in term else None for c in letters)]


def _add_product(out, letters, terms, parts, scratch, assign=False):
    """out += einsum(terms -> letters) of parts (out = ... with assign): where nothing is summed,
    the product written into scratch (one _kept buffer, the same between offsets and between
    calls) and added in place; else one einsum."""
    if all(set(t) <= set(letters) and len(set(t)) == len(t) for t in terms):
        aligned = [_aligned(p, t, letters) for p, t in zip(parts, terms)]
        if len(aligned) == 1:
            product = aligned[0]
        else:
            if not assign and not scratch:
                scratch.append(_kept("product", out.shape, out.dtype))
            product = out if assign else scratch[0]
            np.multiply(aligned[0], aligned[1], out=product)
            for p in aligned[2:]:
                np.multiply(product, p, out=product)
    else:
        present = "".join(c for c in letters if any(c in t for t in terms))
        product = _aligned(np.einsum(",".join(terms) + "->" + present, *parts), present, letters)
    if not assign:
        np.add(out, product, out=out)
    elif product is not out:
        np.copyto(out, product)


def _finite(a):
    """Are all entries of the array that holds a's memory finite?"""
    while getattr(a, "base", None) is not None:
        a = a.base
    return isinstance(a, np.ndarray) and bool(np.isfinite(a).all())


def _fold_pair(a, letters, sizes):
    """Two axes (p, q) of a strided view with stride_p = m·stride_q for a row length m a little
    longer than q (size_q < m < 2·size_q, as a padded row): read as one axis of stride_q, the
    m - size_q entries between rows extra. None when there is none."""
    best = None
    for q, sq, nq in zip(letters, a.strides, a.shape):
        for p, sp, np_ in zip(letters, a.strides, a.shape):
            if p == q or sq <= 0 or sp <= 0 or sp % sq or nq < 2 or np_ < 2:
                continue
            m = sp // sq
            if nq < m < 2 * nq and (best is None or (sq, m) < (best[3], best[2])):
                best = (p, q, m, sq)
    return None if best is None else best[:3]


def _embedded(shape, term, p, q, m, allocate):
    """A contiguous array with the axes p, q of shape (axes named by term) as one axis of length
    (size_p - 1)·m + size_q (rows m long, the extra entries between them), its axes' letters,
    and the view of it with the axes of shape."""
    x, y = term.index(p), term.index(q)
    folded = term.replace(q, "")
    flat = allocate(tuple((shape[x] - 1) * m + shape[y] if c == p else shape[term.index(c)] for c in folded))
    stride = flat.strides[folded.index(p)]
    strides = [m * stride if c == p else stride if c == q else flat.strides[folded.index(c)] for c in term]
    return flat, folded, np.lib.stride_tricks.as_strided(flat, shape, strides)


def _folded(a, term, p, q, m, sizes, zero_rows=False, keep=None):
    """a (axes named by term) with its axes p, q read as one axis (named p) of stride_q and
    length (size_p - 1)·m + size_q: a view where a's strides allow it, else (zero_rows) a
    contiguous copy with the entries between rows zero (in a buffer _kept under keep, if given:
    the same entries written every time, the others stay zero); None when neither."""
    if p not in term and q not in term:
        return a, term
    if p not in term or q not in term or len(set(term)) < len(term):
        return None
    x, y = term.index(p), term.index(q)
    if a.shape[x] != sizes[p] or a.shape[y] < sizes[q]:
        return None
    if zero_rows:
        def allocate(s):
            if keep is None:
                return np.zeros(s, dtype=a.dtype)
            return _kept(("rows", keep, term, p, q, m, a.shape), s, a.dtype, zero=True)

        flat, folded, view = _embedded(a.shape, term, p, q, m, allocate)
        view[...] = a
        return flat, folded
    if a.strides[x] != m * a.strides[y] or a.strides[y] <= 0:
        return None
    shape = [n for k, n in enumerate(a.shape) if k != y]
    strides = [s for k, s in enumerate(a.strides) if k != y]
    at = x - (y < x)
    shape[at], strides[at] = (sizes[p] - 1) * m + sizes[q], a.strides[y]
    return (np.lib.stride_tricks.as_strided(a, tuple(shape), tuple(strides), writeable=a.flags.writeable),
            term.replace(q, ""))


def _sizes(terms, operands):
    sizes = {}
    for term, a in zip(terms, operands):
        for letter, n in zip(term, a.shape):
            sizes[letter] = max(sizes.get(letter, 1), n)
    return sizes


def _fix(a, term, fixed):
    """a with the letters in fixed at their values (a broadcast axis at 0), and its other letters."""
    index = tuple(fixed.get(c, slice(None)) if n > 1 or c not in fixed else 0 for c, n in zip(term, a.shape))
    return a[index], "".join(c for c in term if c not in fixed)


def _fold_plan(reference, letters, terms, operands, sizes, cropped):
    """Where the rows of a padded image can be read as one axis (_fold_pair on reference): the
    pair, its row length and the operands folded (a plain operand copied with zero-padded rows).
    The extra entries land in the output's cropped rows when both letters are in cropped, else
    they must add zero: a zero-padded copy among the factors, every other factor finite."""
    pair = _fold_pair(reference, letters, sizes)
    if pair is None or any(len(set(t)) < len(t) for t in terms):
        return None
    p, q, m = pair
    if (p in cropped) != (q in cropped):
        return None
    folded, copies = [], 0
    for n, (t, a) in enumerate(zip(terms, operands)):
        copy = a.flags.writeable and p in t and q in t
        got = _folded(a, t, p, q, m, sizes, zero_rows=copy, keep=n)  # read only inside _einsum
        if got is None:
            return None
        copies += copy
        folded.append(got)
    if p not in cropped and not (copies and all(_finite(a) for t, a in zip(terms, operands)
                                                if not (a.flags.writeable and p in t and q in t))):
        return None
    return p, q, m, folded


def _over_offsets(target, letters, terms, operands, loop, sizes, fresh=False):
    """target += einsum(terms -> letters) of operands, as a loop over the letters in loop; a
    fresh target (not yet written) is assigned: the loop's letters are either all its axes (each
    offset writes its own entries) or none (the first offset writes them all)."""
    scratch = []
    for count, values in enumerate(np.ndindex(*(sizes[c] for c in loop))):
        fixed = dict(zip(loop, values))
        dst, dst_term = _fix(target, letters, fixed)
        parts = [_fix(a, t, fixed) for t, a in zip(terms, operands)]
        assign = fresh and (count == 0 or loop[0] in letters)
        _add_product(dst, dst_term, [t for _, t in parts], [a for a, _ in parts], scratch, assign)


def _einsum(spec, *operands, blas=False):
    """np.einsum; over a strided window view (_read), a loop over the view's kernel offsets (the
    axes that read entries again, _offsets; else the small axes it sums) of whole-array products
    added in place, the rows of a padded image read as one axis where that is a view."""
    inputs, output = spec.split("->")
    terms = inputs.split(",")
    sizes = _sizes(terms, operands)
    views = sorted((a.size, n) for n, a in enumerate(operands) if not a.flags.writeable)  # _read's
    if blas or not views or any(len(set(t)) < len(t) for t in terms + [output]):
        return np.einsum(spec, *operands, optimize=blas)
    window, term = operands[views[-1][1]], terms[views[-1][1]]
    loop = "".join(term[x] for x in _offsets(window)) or "".join(c for c in term if c not in output)
    if not loop or len(loop) == len(term) or np.prod([sizes[c] for c in loop]) > 256:
        return np.einsum(spec, *operands)
    shape, dtype = tuple(sizes[c] for c in output), np.result_type(*operands)
    fresh = (all(c in output for c in loop) or not any(c in output for c in loop)) and all(sizes[c] for c in loop)
    allocate = np.empty if fresh else np.zeros
    plan = _fold_plan(*_fix(window, term, dict.fromkeys(loop, 0)), terms, operands, sizes, output)
    if plan is None:
        out = allocate(shape, dtype=dtype)
        _over_offsets(out, output, terms, operands, loop, sizes, fresh)
        return out
    p, q, m, folded = plan
    if p in output:
        target, letters, out = _embedded(shape, output, p, q, m, lambda s: allocate(s, dtype=dtype))
    else:
        out = target = allocate(shape, dtype=dtype)
        letters = output
    _over_offsets(target, letters, [t for _, t in folded], [a for a, _ in folded], loop, sizes, fresh)
    return out


def _gather(terms, output, operands, deltas):
    """A scatter whose every delta's longest step d0 has coefficient 1 (a unit stride) read as a
    gather: h = start + d0 + c1*d1 + ... is d0 = h - start - c1*d1 - ..., so each operand holding
    d0 is read (_read, zero outside) at that index, with axes h, d1, ... in place of d0, and the
    sum is an _einsum over window views. None when it is not of that form, or when it sums more
    than the offsets."""
    reads, renamed = [[] for _ in terms], [dict() for _ in terms]
    steps_of = [d for _, _, steps, _ in deltas for _, d, _ in steps]
    for h, start, steps, n in deltas:
        c0, d0, m0 = max(steps, key=lambda step: (step[2], step[0] == 1))
        rest = [(c, d, m) for c, d, m in steps if d != d0]
        holders = [k for k, t in enumerate(terms) if d0 in t]
        if c0 != 1 or steps_of.count(d0) > 1 or not holders:
            return None
        for k in holders:
            t, x = terms[k], terms[k].index(d0)
            if operands[k].shape[x] != m0 or any(d in t for _, d, _ in rest) or t.count(d0) > 1:
                return None
            reads[k].append((x, -start, [(1, n)] + [(-c, m) for c, _, m in rest]))
            renamed[k][d0] = h + "".join(d for _, d, _ in rest)
    terms = ["".join(names.get(c, c) for c in t) for t, names in zip(terms, renamed)]
    if any(c not in output and c not in steps_of for t in terms for c in t):
        return None  # a contraction besides the offsets (a full convolution's channels)
    return ",".join(terms) + "->" + output, [_read(a, *r, keep=n) if r else a
                                              for n, (a, r) in enumerate(zip(operands, reads))]


def _scatter_sum(spec, operands, deltas):
    """einsum(spec) where each delta (h, start, [(c, d, m), ...], n) puts the summed letters d onto
    the output letter h = start + c1*d1 + c2*d2 + ... (zero outside range(n)). With unit strides
    a gather (_gather); else the output as one strided view with an axis per d, a loop over its
    kernel offsets (_offsets: the axes that write an entry again; else all but each delta's
    longest step) adding whole-array products in place."""
    inputs, output = spec.split("->")
    terms = inputs.split(",")
    gathered = _gather(terms, output, operands, deltas)
    if gathered is not None:  # its padded copies are _kept buffers: the sum must not be a view of one
        out = _einsum(gathered[0], *gathered[1])
        return out.copy() if any(np.may_share_memory(out, a) for a in gathered[1]) else out
    sizes = _sizes(terms, operands)
    pads, starts, strides = {}, {}, {}
    for h, start, steps, n in deltas:
        for _, d, m in steps:
            sizes.setdefault(d, m)
        low = start + sum(min(0, c * (m - 1)) for c, _, m in steps)
        high = start + sum(max(0, c * (m - 1)) for c, _, m in steps)
        pads[h] = (max(0, -low), max(0, high - (n - 1)), n)
        starts[h] = start + pads[h][0]
    shape = tuple(sum(pads[c]) if c in pads else sizes[c] for c in output)
    out = np.zeros(shape, dtype=np.result_type(*operands))
    letters = "".join(c for c in output if c not in pads)
    for h, _, steps, _ in deltas:
        for c, d, _ in steps:
            strides[d] = strides.get(d, 0) + c * out.strides[output.index(h)]
    letters += "".join(strides)
    at = out[tuple(slice(starts[c], None) if c in pads else slice(None) for c in output)]
    target = np.lib.stride_tricks.as_strided(
        at, tuple(sizes[c] for c in letters),
        tuple(out.strides[output.index(c)] for c in letters if c not in strides) + tuple(strides.values()))
    loop = "".join(letters[x] for x in _offsets(target))
    if not loop:  # windows side by side: still a loop
        loop = "".join(dict.fromkeys(d for _, _, steps, _ in deltas
                                     for _, d, _ in sorted(steps, key=lambda step: sizes[step[1]])[:-1]))
    _over_offsets(target, letters, terms, operands, loop, sizes)
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


def _where(c, a, b, out=None):
    """np.where(c, a, b) without a branch per entry (np.where on a condition in random order
    mispredicts one per entry and runs several times slower than arithmetic): a floating result
    is picked bit by bit, b ^ ((a ^ b)·c) with c as 0 or 1, exact for every value (NaN, inf,
    -0.0); three passes in the one array it returns (a second array the size of the result costs
    more than a pass where freed memory goes back to the system and faults in again). out: a or
    b itself, an array of the result's shape and dtype that the caller no longer needs, written
    over with the result (a ^ ((a ^ b)·¬c) when it is b); else ignored."""
    if max(np.size(c), np.size(a), np.size(b)) < 4096:  # small: np.where's branches cost nothing
        return np.where(c, a, b)
    kind = np.result_type(a, b)
    if kind.kind != "f":
        return np.where(c, a, b)
    shape = np.broadcast_shapes(np.shape(c), np.shape(a), np.shape(b))
    if out is b:
        a, b, c = b, a, ~np.asarray(c, dtype=bool)
    elif out is not a:
        out = None
    if out is not None and (out.shape != shape or out.dtype != kind or not out.flags.writeable):
        out = None
    bits = np.dtype(f"i{kind.itemsize}")
    a, b = (np.asarray(x, dtype=kind).view(bits) for x in (a, b))
    out = np.bitwise_xor(a, b, out=np.empty(shape, dtype=bits) if out is None else out.view(bits))
    np.multiply(out, np.asarray(c, dtype=bool), out=out)  # a ^ b where c, else 0
    out ^= b
    return out.view(kind)


def _sigmoid(u):
    """1/(1 + exp(-u)), element-wise, in one array: 1 + exp(-u) ≥ 1 never cancels, so both tails
    keep their relative precision; exp(-u) overflows to inf where σ(u) is below the smallest
    normal number (u < -708 in float64), and σ is 0 there. No branch per entry (np.where on
    signs in random order runs ten times slower than arithmetic)."""
    with np.errstate(over="ignore"):
        if np.ndim(u) == 0:
            return 1 / (1 + np.exp(-u))
        s = np.negative(u)
        np.exp(s, out=s)
        s += 1
        return np.divide(1, s, out=s)


def _softplus(u):
    """log(1 + exp(u)) without overflow, in one array: log1p(exp(-|u|)) + max(u, 0)."""
    if np.ndim(u) == 0:
        return max(u, 0) + np.log1p(np.exp(-abs(u)))
    s = np.abs(u)
    np.negative(s, out=s)
    np.exp(s, out=s)
    np.log1p(s, out=s)
    s += np.maximum(u, 0)
    return s


def _erf(u):
    """The error function, element-wise, to a few units in the last place of float64:
    erf(u) = u·p(u²) for |u| < 1.5, p of degree 13 fitting erf(√t)/√t on [0, 2.25] (13 steps of
    Horner's rule); ±(1 − exp(−u²)·g(|u|)) for |u| ≥ 1.5, g of degree 24 fitting erfc·exp(u²) on
    [1.5, 6] (held at 6 beyond, where erfc < 3e-17). The coefficients come from math.erf/erfc
    once, least squares at 2000 Chebyshev points each."""
    if _erf.core is None:
        import math
        from numpy.polynomial import Chebyshev, Polynomial
        def ratio(t):
            return math.erf(math.sqrt(t)) / math.sqrt(t) if t > 0 else 2 / math.sqrt(math.pi)
        def nodes(low, high):  # 2000 Chebyshev points: a least-squares fit averages the samples' roundings
            return low + (high - low) * (1 - np.cos(np.pi * (np.arange(2000) + 0.5) / 2000)) / 2

        t = nodes(0, 2.25)
        _erf.core = Chebyshev.fit(t, [ratio(v) for v in t], 13, domain=[0, 2.25]).convert(kind=Polynomial).coef.tolist()
        x = nodes(1.5, 6)
        _erf.tail = Chebyshev.fit(x, [math.erfc(v) * math.exp(v * v) for v in x], 24, domain=[1.5, 6])
    u = np.asarray(u)
    if u.ndim == 0:
        return _erf(u.reshape(1))[0]
    flat = u.reshape(-1)
    out = np.empty_like(flat)
    # in blocks of 65536 entries (512 kB in float64): u² stays in cache and needs no fresh pages per
    # call, and a block is long enough that the calls cost little; one block for a small array
    with np.errstate(over="ignore", invalid="ignore"):  # entries with u² ≥ 2.25 (inf, too) are replaced below
        for start in range(0, flat.size, 65536):
            v, p = flat[start:start + 65536], out[start:start + 65536]
            t = np.square(v)
            np.multiply(t, _erf.core[-1], out=p)
            for c in _erf.core[-2:0:-1]:
                p += c
                p *= t
            p += _erf.core[0]
            p *= v
            far = t >= 2.25  # NaN is not: it stays NaN
            if far.any():
                w = v[far]
                at = np.minimum(np.abs(w), 6.0)
                p[far] = np.copysign(1 - np.exp(-at * at) * _erf.tail(at), w)
    return out.reshape(u.shape)


_erf.core = _erf.tail = None


def _whole(name, numerator, denominator):
    """A derived size, refused unless it is a positive whole number."""
    if denominator == 0 or numerator % denominator or numerator // denominator < 1:
        raise LayergradError(f"size {name} = {numerator}/{denominator} is not a positive whole number "
                             "for these shapes and constants")
    return numerator // denominator'''
"""Module-level helpers of generated defined layers (once per module)."""


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


def _sizes_known(defn: Definition, layer: Layer) -> None:
    """Refuse a size the generated code could not know: one not read off an argument's shape,
    not derived in ``sizes`` and not a constant (such as the output size of a strided read)."""
    known = {*defn.base_sizes, *defn.derived_sizes, *defn.constants}
    places = [(f"axis {axis} of {name}", size)
              for name, shape in defn.shapes.items() for axis, size in enumerate(shape)]
    places += [(f"the range of {index}", size) for index, size in layer.ranges.items()]
    for place, size in places:
        for symbol in sorted(sp.sympify(size).free_symbols, key=str):
            if symbol.name not in known:
                raise LayergradError(f"{defn.name}: the size {symbol} ({place}) is neither an input's size nor given "
                                     f"in sizes; give it as a formula of the input sizes, e.g. sizes = "
                                     f"{{ {symbol} = \"...\" }}")


def functions(defn: Definition) -> list[GeneratedFunction]:
    """``{name}_forward`` and ``{name}_backward`` for ``defn``, from its derivations."""
    layer = derive(defn)
    _sizes_known(defn, layer)
    names = _names(defn, layer)
    floats = {name: len(defn.shapes[name]) for name in defn.arguments}  # made floating by _floating
    forward = Lowering(dict(layer.ranges), names, elementwise=True, floats=floats)
    for s in defn.statements:
        try:
            forward.assign(s.target, s.rhs, s.indices)
        except LayergradError as exc:
            raise LayergradError(f"{defn.name}, statement {s.number} ({s.text.strip()!r}): {exc}") from None
    for name, (mask, maximum) in layer.masks.items():
        body, have = forward.lower(maximum.function)
        want = tuple(mask.indices)
        forward.lines.append(f"{name} = _first_max_mask({forward.expand(body, have, want)}, "
                             f"{len(maximum.limits)})")
    output = defn.statements[-1]
    backward = Lowering(dict(layer.ranges), names, known=dict(forward.known), counter=forward.counter,
                        views=set(forward.views), elementwise=True,
                        floats={**forward.floats, f"d{output.target}": len(output.indices)})
    # a product the forward pass computed as a statement's value is read, not computed again
    # (SiLU's X·σ(X) is Y); an exact substitution of equals, made only where the indices match
    computed = {s.rhs: defn.arrays[s.target][s.indices] for s in defn.statements
                if s.indices and isinstance(s.rhs, sp.Mul) and not s.rhs.has(sp.Sum)}
    for g in layer.gradients:
        indices = tuple(g.entry.indices) if isinstance(g.entry, sp.Indexed) else ()
        backward.assign(f"d{g.name}", g.code.subs(computed) if computed else g.code, indices)
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
    forward_lines += _copies(forward.lines, defn.arguments, [output.target])
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
    notes = "".join(f"\n\n{pad}{note}" for note in dict.fromkeys(backward.notes))
    back_doc = (f'{pad}"""Backward pass of {defn.name}: the gradients with respect to '
                f'{", ".join(defn.differentiated)}, from the derivations (chain rule through the statements).'
                f'{notes}\n{pad}"""')
    swap = ["if cache is None:  # called as backward(cache): dout = 1", "    dout, cache = 1.0, dout"]
    backward_source = (f"def {defn.name}_backward(dout{default}, cache{'=None' if default else ''}):\n{back_doc}\n"
                       + "\n".join(pad + line for line in (swap if default else []) + unpack + check + backward.lines
                                    + _copies(backward.lines, [upstream, *stored], grads))
                       + f"\n{pad}return {', '.join(grads)}\n")
    titles = tuple(d.title for d in layer.derivations)
    return [GeneratedFunction(f"{defn.name}_forward", forward_source, titles[:1]),
            GeneratedFunction(f"{defn.name}_backward", backward_source, titles[1:])]


def _copies(lines: Sequence[str], borrowed: Sequence[str], results: Sequence[str]) -> list[str]:
    """``R = R.copy()`` for each result in ``results`` that the statements ``lines`` make a view
    of a borrowed array (an argument, the upstream gradient, the cache): a plain read ``Y = X``,
    a transpose, a diagonal (``np.einsum('abb->ab', X)``), a strided read. Writing into a result
    must not change what the caller passed in."""
    import ast

    views = set(borrowed)
    for line in lines:
        target, sep, code = line.partition(" = ")
        if sep and target.isidentifier():
            views.discard(target)
            if _view_of(ast.parse(code, mode="eval").body, views):
                views.add(target)
    return [f"{r} = {r}.copy()  # not a view of what was passed in" for r in results if r in views]


def _view_of(node, names: set[str]) -> bool:
    """Is ``node`` a view of one of ``names`` (no arithmetic, no copy)?"""
    import ast

    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Attribute) and node.attr == "T":
        return _view_of(node.value, names)
    if isinstance(node, ast.Subscript):
        return _view_of(node.value, names)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("transpose", "reshape", "swapaxes"):
            return _view_of(func.value, names)
        called = ast.unparse(func)
        if called in ("_read", "np.asarray", "np.broadcast_to") and node.args:
            return _view_of(node.args[0], names)
        if called == "np.einsum" and len(node.args) == 2:
            return _view_of(node.args[1], names)
    return False


def _doc(text: str) -> str:
    """``text`` safe inside a generated docstring: one line, no backslash, no closing quotes."""
    return " ".join(text.split()).replace("\\", "/").replace('"' * 3, "'" * 3).rstrip('"')


def printer_size(defn: Definition, name: str) -> list[str]:
    printer = Lowering({}, {s: s.name for s in defn.symbols.values()})
    return [printer.scalar(s) for s in defn.shapes[name]]


def module_source(definitions: Sequence[Definition], command: str = "") -> str:
    """A module with the forward and backward functions of every definition."""
    if not definitions:
        raise LayergradError("no definition to export")
    seen = set()
    module = Module(
        doc=("Layers defined in a few lines, derived and generated by layergrad "
             f"({', '.join(d.name for d in definitions)}).\n\n"
             + (f"Regenerate with: {command}\n" if command else "")),
        imports=["import numpy as np", ERROR_IMPORT],
    )
    for defn in definitions:
        if defn.name in seen:
            raise LayergradError(f"two definitions are called {defn.name!r}")
        seen.add(defn.name)
        module.functions += functions(defn)
    module.preamble = used_helpers("\n".join(f.source for f in module.functions))
    return module.source()


def _helper_sources() -> dict[str, str]:
    """Each runtime helper's name → its source (with the statements that follow its function)."""
    parts = [FLOATING_HELPER, *HELPERS.split("\n\n\ndef ")]
    parts = [parts[0], parts[1], *(f"def {part}" for part in parts[2:])]
    return {part.split("(", 1)[0].removeprefix("def "): part for part in parts}


def used_helpers(source: str) -> list[str]:
    """The sources of the helpers that ``source`` calls, and of the helpers those call, in the
    order of :data:`HELPERS`: a generated module carries only what its functions use."""
    import re

    helpers = _helper_sources()
    wanted: set[str] = set()
    pending = [source]
    while pending:
        text = pending.pop()
        for name, body in helpers.items():
            if name not in wanted and re.search(rf"(?<![\w.]){name}\(", text):
                wanted.add(name)
                pending.append(body)
    return [body for name, body in helpers.items() if name in wanted]
