r"""Generate batch normalization and its family (course API) from the derivations.

Every line of arithmetic is printed by the lowering (:class:`numeric.codegen.lowering.Lowering`,
in normal form: :meth:`~numeric.codegen.lowering.Lowering.collect`) from a derived expression;
the statistics are arrays over the kept axes (:math:`\mu_j` of shape ``(d,)``), broadcast
against the input:

* the training forward pass from the definitions of :math:`\mu`, :math:`\sigma^2`, :math:`s`,
  :math:`Z` and :math:`Y`, with the centered input :math:`C = X - \mu` substituted so that the
  variance is a mean of squares of centered values (the power-sum form
  :math:`\overline{X^2} - \mu^2` loses about 7 digits when the mean is :math:`10^4`);
* the test-mode forward pass likewise, with the running statistics in place of the batch ones;
* ``*_backward`` (batch normalization's ``batchnorm_backward``) from the staged derivations,
  node by node through the graph, in centered form;
* ``batchnorm_backward_alt`` and the other layers' backward passes from the closed form the
  index engine recovered, with :math:`\sum dY` and :math:`\sum dY \odot Z` hoisted into
  temporaries shared with :math:`\partial L/\partial\beta` and :math:`\partial L/\partial\gamma`.

The rest is the course API's plumbing: reading ``bn_param`` (mode, ``eps`` = 1e-5 and
``momentum`` = 0.9 by default, running statistics that start at zero and are written back),
shapes, keeping the input's dtype, and clear errors for bad input.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import sympy as sp

from derive import batchnorm as bn
from derive.derivation import Assumption
from derive.errors import LayergradError
from derive.index import abbreviate, multiply_out, substitute, to_expr
from derive.printing import text

from .codegen.lowering import Lowering
from .codegen.module import FLOATING_HELPER, GeneratedFunction, floating

__all__ = ["NORM_HELPERS", "functions", "preamble"]

A = bn.arrays()
CENTERED = sp.IndexedBase("C", real=True)
"""The centered input :math:`C = X - \\mu` (``xc``), introduced for the code only."""
SCALED = sp.IndexedBase("G", real=True)
"""The scaled upstream gradient :math:`G = \\gamma \\odot dY` (``g``), introduced for the code only
where :math:`\\gamma` varies along the reduced indices (layer and group normalization): the closed
form's sums :math:`\\sum \\gamma\\,dY` and :math:`\\sum \\gamma\\,dY \\odot Z` become sums over one
array, and :math:`\\partial L/\\partial X` a multiple of it, with no outer product of
:math:`\\gamma` and :math:`1/s` of the input's size."""

NORM_HELPERS = '''def _norm_settings(function, param, running):
    """(mode, eps, momentum) from a bn_param / ln_param / gn_param dict, each checked."""
    if type(param) is dict and (not running or "mode" in param):  # the common case, attribute reads only
        mode, eps, momentum = param.get("mode", "train"), param.get("eps", 1e-5), param.get("momentum", 0.9)
        if type(eps) is float and type(momentum) is float and eps > 0 and 0 <= momentum <= 1 and (
                mode == "train" or mode == "test"):
            return mode, eps, momentum
    if not isinstance(param, dict):
        raise LayergradError(f"{function}: the parameter dict must be a dict, got {type(param).__name__}")
    if running and "mode" not in param:
        raise LayergradError(f"{function}: bn_param['mode'] is missing; expected 'train' or 'test'")
    mode = param.get("mode", "train")
    if mode not in ("train", "test"):
        raise LayergradError(f"{function}: mode is {mode!r}; expected 'train' or 'test'")
    eps = param.get("eps", 1e-5)
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)) or not eps > 0:
        raise LayergradError(f"{function}: eps = {eps!r}; expected a number > 0 (it keeps sqrt(var + eps) > 0)")
    momentum = param.get("momentum", 0.9)
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating, np.integer)) or not (
        0 <= momentum <= 1
    ):
        raise LayergradError(f"{function}: momentum = {momentum!r}; expected a number in [0, 1]")
    return mode, float(eps), float(momentum)


def _norm_params(function, gamma, beta, shape):
    """gamma and beta as floating arrays of the given shape."""
    if type(gamma) is np.ndarray and type(beta) is np.ndarray and gamma.shape == shape and beta.shape == shape \
            and gamma.dtype.kind in "fc" and beta.dtype.kind in "fc":
        return gamma, beta
    gamma, beta = _floating("gamma", gamma), _floating("beta", beta)
    for name, value in (("gamma", gamma), ("beta", beta)):
        if value.shape != shape:
            raise LayergradError(f"{function}: {name} has shape {value.shape}, expected {shape} (one per feature)")
    return gamma, beta


def _norm_count(function, count, what):
    """Refuse to normalize over a single value: its variance is 0, so every output would be beta."""
    if count < 2:
        raise LayergradError(
            f"{function}: the statistics are taken over {count} value ({what}); its variance is 0, so the "
            "output would be beta whatever the input. Normalize over at least 2 values (or use mode='test')"
        )


def _norm_running(function, param, shape, dtype):
    """The running mean and variance in param, created as zeros (train mode) when absent."""
    mean, var = param.get("running_mean"), param.get("running_var")
    if type(mean) is np.ndarray and type(var) is np.ndarray and mean.shape == shape and var.shape == shape:
        return mean, var
    for key in ("running_mean", "running_var"):
        if key not in param:
            param[key] = np.zeros(shape, dtype=dtype)
        value = param[key]
        if np.shape(value) != shape:
            raise LayergradError(f"{function}: bn_param['{key}'] has shape {np.shape(value)}, expected {shape}")
    return param["running_mean"], param["running_var"]


def _norm_dtype(x, gamma, beta):
    """The output dtype: x's (no silent upcast), unless gamma or beta is complex."""
    if gamma.dtype.kind == "c" or beta.dtype.kind == "c":
        return np.result_type(x, gamma, beta)
    return x.dtype


def _norm_cache(function, cache):
    """(mode, z, s, gamma, shape, param_shape) from a cache made by the matching forward function."""
    if type(cache) is dict:
        try:
            return cache["mode"], cache["z"], cache["s"], cache["gamma"], cache["shape"], cache["param_shape"]
        except KeyError:
            pass
    raise LayergradError(f"{function}: cache must be the cache returned by the forward pass")'''
"""Module-level helpers shared by the normalization layers (appear once per module)."""


def preamble() -> list[str]:
    """Module-level helpers the normalization functions use."""
    return [FLOATING_HELPER, NORM_HELPERS]


@dataclass(frozen=True)
class _Api:
    """How one family member meets the course API."""

    forward: str
    backward: str
    param: str  # the name of the parameter dict
    shape: str  # code unpacking x.shape into the size names
    param_shape: str  # the API shape of gamma and beta, as code
    running_shape: str  # the API shape of the running statistics, as code
    over: str  # what the statistics are taken over, for the error message
    groups: bool = False


_APIS = {
    "batchnorm": _Api("batchnorm_forward", "batchnorm_backward_alt", "bn_param", "n, d = x.shape", "(d,)", "(d,)",
                      "examples in the batch"),
    "layernorm": _Api("layernorm_forward", "layernorm_backward", "ln_param", "n, d = x.shape", "(d,)", "",
                      "features of an example"),
    "spatial_batchnorm": _Api("spatial_batchnorm_forward", "spatial_batchnorm_backward", "bn_param",
                              "N, C, H, W = x.shape", "(C,)", "(C,)", "examples times pixels"),
    "groupnorm": _Api("spatial_groupnorm_forward", "spatial_groupnorm_backward", "gn_param",
                      "N, C, H, W = x.shape", "(1, C, 1, 1)", "", "channels of a group times pixels", groups=True),
}


def _shape(f: bn.Family, indices: tuple[sp.Symbol, ...]) -> str:
    """The shape of an array spanning ``indices``, as code."""
    sizes = [a.size.name for a in f.axes if a.index in indices]
    return "(" + ", ".join(sizes) + ("," if len(sizes) == 1 else "") + ")"


_NAMES = {"X": "x", "Z": "z", "dY": "dout", "dZ": "dz", "mu": "mu", "var": "var", "s": "s", "dmu": "dmu",
          "dvar": "dvar", "running_mean": "running_mean", "running_var": "running_var", "gamma": "gamma",
          "beta": "beta"}


def _lowering(f: bn.Family, accumulate: tuple[str, str] | None = None) -> Lowering:
    """The lowering over the member's axes, with the code's names of its arrays and sizes."""
    names = {A[key]: name for key, name in _NAMES.items()} | {CENTERED: "xc", SCALED: "g", bn.EPS: "eps"}
    names |= {a.size: a.size.name for a in f.axes}
    return Lowering({a.index: a.size for a in f.axes}, names, accumulate=accumulate)


def _centered(f: bn.Family, expr: sp.Expr, mean: sp.IndexedBase, variance: sp.IndexedBase) -> sp.Expr:
    """``expr`` with X = C + mean substituted and √(variance + ε) named s."""
    written = Assumption("centered input", sp.Eq(A["X"][f.layout], CENTERED[f.layout] + mean[f.kept]),
                         "C = X − mean", unfold=True)
    terms = substitute(multiply_out(expr), [written])
    terms = abbreviate(terms, A["s"][f.kept], sp.sqrt(variance[f.kept] + bn.EPS))
    return to_expr(terms)


def _scaled(f: bn.Family, expr: sp.Expr) -> sp.Expr:
    """``expr`` with every product :math:`\\gamma_{\\ldots} dY_{\\ldots}` at matching parameter
    indices written :math:`G_{\\ldots}` (checked: substituting G's definition back gives ``expr``)."""
    positions = [f.layout.index(p) for p in f.param_indices]

    def fold(product: sp.Mul) -> sp.Expr:
        factors = list(product.args)
        for gamma in [e for e in factors if isinstance(e, sp.Indexed) and e.base == A["gamma"]]:
            for dout in [e for e in factors if isinstance(e, sp.Indexed) and e.base == A["dY"]]:
                if gamma in factors and dout in factors and \
                        tuple(dout.indices[n] for n in positions) == tuple(gamma.indices):
                    factors.remove(gamma)
                    factors.remove(dout)
                    factors.append(SCALED[dout.indices])
        return sp.Mul(*factors)

    expr = sp.expand(expr)
    folded = expr.replace(lambda e: isinstance(e, sp.Mul), fold)
    back = folded.replace(lambda e: isinstance(e, sp.Indexed) and e.base == SCALED,
                          lambda e: A["gamma"][tuple(e.indices[n] for n in positions)] * A["dY"][e.indices])
    if sp.expand(back - expr) != 0:
        raise LayergradError(f"writing γ·dY as G changed {expr}")
    return folded


def _forward_statements(f: bn.Family, mode: str, indent: int = 8) -> str:
    defs = bn.definitions(f)
    program = _lowering(f, accumulate=("wide", "dtype"))
    x, mu = A["X"][f.layout], A["mu"][f.kept]
    if mode == "train":
        mean, variance = A["mu"], A["var"]
        program.collect("mu", defs["mean"].statement.rhs, f.kept)
        program.collect("xc", x - mu, f.layout)
        program.collect("var", _centered(f, defs["variance"].statement.rhs, mean, variance), f.kept)
        program.collect("s", defs["scale"].statement.rhs, f.kept)
    else:
        mean, variance = A["running_mean"], A["running_var"]
        program.collect("xc", x - mean[f.kept], f.layout)
        program.collect("s", defs["scale"].statement.rhs.xreplace({A["var"]: variance}), f.kept)
    z = defs["normalize"].statement.rhs.xreplace({A["mu"]: mean, A["var"]: variance})
    program.collect("z", _centered(f, z, mean, variance), f.layout)
    program.reuse("z", "xc")  # the centered input is read for the last time
    program.collect("out", defs["affine"].statement.rhs, f.layout)
    return program.source(indent)


def _backward_statements(f: bn.Family, how: str) -> str:
    """``dx``, ``dgamma``, ``dbeta`` from the staged derivations, the closed form or test mode.
    Their sums add up in the data's dtype: their terms are centered (Z) or upstream gradients,
    so a float32 sum loses no more than it must (unlike the forward's mean of raw inputs)."""
    program = _lowering(f)
    beta, gamma = bn.stage(f, "beta"), bn.stage(f, "gamma")
    if how == "staged":
        for name, target, axes in (("Z", "dz", f.layout), ("var", "dvar", f.kept), ("mu", "dmu", f.kept)):
            program.collect(target, bn.stage(f, name).result, axes)
        dx = bn.stage(f, "X").result
    elif how == "closed":
        dx = bn.closed_form(f).result
        if set(f.param_indices) & set(f.reduced_indices):
            program.collect("g", A["gamma"][f.param_indices] * A["dY"][f.layout], f.layout)
            dx = _scaled(f, dx)
    else:
        test = bn.test_mode(f).result
        dx = _centered(f, test, A["running_mean"], A["running_var"])
    program.collect("dbeta", beta.result, f.param_indices)
    program.collect("dgamma", gamma.result, f.param_indices)
    program.collect("dx", dx, f.layout)
    program.reuse("dx", "g")  # G, where there is one, is read for the last time
    return program.source(8)


def _formula(d) -> str:
    return _wrapped(f"{text(d.start)} = {text(d.result)}")


def _wrapped(line: str, indent: int = 4) -> str:
    """A long formula over several docstring lines (generated lines stay under 120 characters)."""
    pad = " " * (indent + 4)
    return textwrap.fill(line, 100, subsequent_indent=pad, break_long_words=False, break_on_hyphens=False)


def _definitions_doc(f: bn.Family) -> str:
    defs = bn.definitions(f)
    return "\n    ".join(_wrapped(text(defs[key].statement)) for key in ("mean", "variance", "normalize", "affine"))


def _forward(f: bn.Family, api: _Api) -> GeneratedFunction:
    layout = _shape(f, f.layout)
    params = _shape(f, f.param_indices)
    reduced = " * ".join(a.size.name for a in f.axes if a.index in f.reduced_indices)
    rank = 4 if api.groups or f.name == "spatial_batchnorm" else 2
    extra = ", G" if api.groups else ""
    group_lines = ""
    if api.groups:
        group_lines = f'''
    if isinstance(G, bool) or not isinstance(G, (int, np.integer)) or G < 1 or C % G:
        raise LayergradError(f"{api.forward}: G = {{G!r}} groups must be a positive integer dividing C = {{C}}")
    K = C // G
    x = x.reshape({layout})
    gamma, beta = gamma.reshape({params}), beta.reshape({params})'''
    if f.running:
        modes = f'''
    if mode == "train":
        _norm_count("{api.forward}", {reduced}, "{api.over}")
        running_mean, running_var = _norm_running("{api.forward}", {api.param}, {api.running_shape}, x.dtype)
{_forward_statements(f, "train")}
        {api.param}["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        {api.param}["running_var"] = momentum * running_var + (1 - momentum) * var
    else:  # before any training the running statistics are zeros, as in the course code
        running_mean, running_var = _norm_running("{api.forward}", {api.param}, {api.running_shape}, x.dtype)
{_forward_statements(f, "test")}'''
        mode_doc = (f"Train: the batch's statistics; {api.param}['running_mean'] and ['running_var'] become\n"
                    "    momentum·running + (1 − momentum)·batch (biased variance; they start from zeros).\n"
                    "    Test: the running statistics in place of μ and σ² (zeros before any training, as the\n"
                    "    course's bn_param.get('running_mean', np.zeros(D)): then out = γ·x/√ε + β).")
    else:
        modes = f'''
    _norm_count("{api.forward}", {reduced}, "{api.over}")
{_forward_statements(f, "train", 4)}'''
        mode_doc = "The statistics are always those of the input itself (train and test alike)."
    derivation = bn.forward(f)
    axes = ", ".join(map(str, f.layout))
    over = ", ".join(map(str, f.reduced_indices))
    keys = "'eps' (default 1e-5)"
    if f.running:
        keys = "'mode' ('train' or 'test'), " + keys + ", 'momentum' (default 0.9)"
    x_shape = "(N, C, H, W)" if rank == 4 else "(N, D)"
    cache_shape = "(N, C, H, W)" if api.groups else "x.shape"
    source = f'''
def {api.forward}(x, gamma, beta{extra}, {api.param}):
    """{f.title}, forward pass (indices {axes}; statistics over {over}):

    {_definitions_doc(f)}
    {mode_doc}

    Inputs: x of shape {x_shape}; gamma and beta of shape {api.param_shape}; {api.param}: dict with
    {keys}.
    Returns (out, cache): out with x's shape and dtype; cache for the backward pass.
    """
    {floating("x")}
    dtype, wide = x.dtype, np.promote_types(x.dtype, np.float64)  # reductions add up in wide
    if x.ndim != {rank}:
        raise LayergradError(f"{api.forward}: x has shape {{x.shape}}; expected {rank} axes")
    {api.shape}
    mode, eps, momentum = _norm_settings("{api.forward}", {api.param}, {f.running})
    gamma, beta = _norm_params("{api.forward}", gamma, beta, {api.param_shape}){group_lines}{modes}
    cache = {{"mode": mode, "z": z, "s": s, "gamma": gamma, "shape": {cache_shape}, "param_shape": {api.param_shape}}}
    return out{'.reshape(cache["shape"])' if api.groups else ''}.astype(_norm_dtype(x, gamma, beta), copy=False), cache
'''
    return GeneratedFunction(api.forward, source, (derivation.title,))


def _backward(f: bn.Family, name: str, how: str) -> GeneratedFunction:
    layout = _shape(f, f.layout)
    sizes = ", ".join(a.size.name for a in f.axes)
    unpack = f"{sizes} = z.shape" if len(f.axes) > 1 else f"({sizes},) = z.shape"
    groups = _APIS[f.name].groups  # arrays in the (N, G, K, H, W) layout, parameters as (G, K)
    regroup = f"\n    dout = dout.reshape({layout})" if groups else ""
    reshaped = {"dx": ".reshape(shape)", "dgamma": ".reshape(param_shape)", "dbeta": ".reshape(param_shape)"}
    returned = ", ".join(f"{g}{reshaped[g] if groups else ''}.astype(dtype, copy=False)" for g in reshaped)
    derivation = bn.closed_form(f) if how == "closed" else bn.stage(f, "X")
    test = bn.test_mode(f) if f.running else None
    body = _backward_statements(f, how)
    if f.running:
        body = f'''    if mode == "train":
{body}
    else:
{_backward_statements(f, "test")}'''
    else:
        body = "\n".join(line[4:] for line in body.splitlines())
    how_doc = ("node by node through the computational graph\n    (the staged derivation, in centered form)"
               if how == "staged" else "the closed form recovered by the index engine")
    nodes = ""
    if how == "staged":
        nodes = "".join(f"\n    {_formula(bn.stage(f, name))}" for name in ("Z", "var", "mu"))
    test_doc = f"\n    Test mode: {_formula(test)}." if test is not None else ""
    source = f'''
def {name}(dout, cache):
    """{f.title}, backward pass: {how_doc}.
{nodes}
    {_formula(derivation)}
    with ∂L/∂γ = Σ dY·Z and ∂L/∂β = Σ dY over the reduced indices.{test_doc}

    Inputs: dout = ∂L/∂Y with the shape of the forward output; cache from the forward pass.
    Returns (dx, dgamma, dbeta) with the shapes of x, gamma and beta, in dout's dtype.
    """
    mode, z, s, gamma, shape, param_shape = _norm_cache("{name}", cache)
    {floating("dout")}
    if dout.shape != shape:
        raise LayergradError(f"{name}: dout has shape {{dout.shape}}, expected {{shape}}")
    {unpack}{regroup}
{body}
    dtype = dout.dtype
    return ({returned})
'''
    titles = tuple(d.title for d in (derivation, bn.stage(f, "gamma"), bn.stage(f, "beta"), test) if d is not None)
    return GeneratedFunction(name, source, titles)


def functions(name: str) -> list[GeneratedFunction]:
    """The generated forward and backward functions of one family member."""
    f = bn.family(name)
    api = _APIS[name]
    out = [_forward(f, api)]
    if name == "batchnorm":
        out.append(_backward(f, "batchnorm_backward", "staged"))
    out.append(_backward(f, api.backward, "closed"))
    return out

