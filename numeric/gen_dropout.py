r"""Generate ``dropout_forward`` / ``dropout_backward`` (course API) from the derivations.

Every line of arithmetic is printed by the lowering (:class:`numeric.codegen.lowering.Lowering`)
from a derived expression:

* the mask draw from :func:`derive.dropout.mask_draw` (``rand < p``, ``rand >= p`` or ``rand < 1 - p``),
* the scaled mask :math:`M = D/q` from the forward derivation's definition,
* the output :math:`H = M \odot Y` from the forward derivation's result,
* the test-time output from the train-time mean (:math:`E[H] = Y`: the identity),
* the gradient :math:`\partial L/\partial Y = \partial L/\partial H \odot M` from the backward
  derivation's result.

The rest is the course API's plumbing: reading ``dropout_param``, seeding NumPy's global
random state exactly as the notebooks do, keeping the input's dtype, and clear errors.
"""

from __future__ import annotations

import sympy as sp

from derive import dropout
from derive.dropout import Convention, Draw, draw_text

from .codegen.lowering import Lowering
from .codegen.module import FLOATING_HELPER, GeneratedFunction, floating
from .codegen.printer import code

__all__ = ["functions", "preamble"]


def _interval_text(interval: sp.Interval) -> str:
    left = "(" if interval.left_open else "["
    right = ")" if interval.right_open else "]"
    return f"{left}{interval.start}, {interval.end}{right}"


def preamble(convention: Convention | str, draw: Draw | str | None = None) -> list[str]:
    """Module-level lines: the convention and draw constants and the parameter check."""
    convention = Convention.parse(convention)
    draw = Draw.parse(draw, convention)
    p = dropout.symbols()["p"]
    allowed = dropout.p_range(convention)
    condition = code(allowed.as_relational(p))
    word = "KEEP probability" if convention is Convention.KEEP else "DROP rate"
    return [
        f'DROPOUT_CONVENTION = "{convention.value}"\n'
        f'"""In this module dropout_param[\'p\'] is the {word} ({convention.meaning})."""\n'
        f'DROPOUT_DRAW = "{draw_text(convention, draw)}"\n'
        f'"""The keep event as drawn here, rand = np.random.rand(*x.shape) (the {draw.value} draw)."""',
        f'''
def _dropout_settings(dropout_param):
    """Read and check (p, mode) from dropout_param; p is the {word} here."""
    if not isinstance(dropout_param, dict):
        raise LayergradError(
            f"dropout_param must be a dict with keys 'p' and 'mode', got {{type(dropout_param).__name__}}"
        )
    if "mode" not in dropout_param:
        raise LayergradError("dropout_param['mode'] is missing; expected 'train' or 'test'")
    mode = dropout_param["mode"]
    if mode not in ("train", "test"):
        raise LayergradError(f"dropout_param['mode'] is {{mode!r}}; expected 'train' or 'test'")
    if "p" not in dropout_param:
        raise LayergradError("dropout_param['p'] is missing; expected the {word} in {_interval_text(allowed)}")
    p = dropout_param["p"]
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise LayergradError(f"dropout_param['p'] must be a number, got {{p!r}}")
    if not ({condition}):
        raise LayergradError(
            f"dropout_param['p'] = {{p}} is outside {_interval_text(allowed)}: "
            "in this module p is the {word}"
        )
    return p, mode''',
        '''
def _dropout_backward_arguments(dout, cache):
    """(dout, mask, train) from dropout_backward's arguments, each checked (the slow path)."""
    try:
        dropout_param, mask = cache
        mode = dropout_param["mode"]
    except (TypeError, ValueError, KeyError, IndexError):
        raise LayergradError(
            "dropout_backward: cache must be the (dropout_param, mask) returned by dropout_forward"
        ) from None
    dout = _floating("dout", dout)
    if mode != "train" or mask is None:  # the mask is None when the forward pass ran in test mode
        return dout, None, False
    if dout.shape != np.shape(mask):
        raise LayergradError(f"dropout_backward: dout has shape {dout.shape}, expected {np.shape(mask)} (x's)")
    return dout, mask, True''',
        FLOATING_HELPER,
    ]


def functions(convention: Convention | str, draw: Draw | str | None = None) -> list[GeneratedFunction]:
    """The generated ``dropout_forward`` and ``dropout_backward`` for ``convention``, drawing the
    mask as ``draw`` says (by default the convention's: ``rand < p`` or ``rand >= p``)."""
    convention = Convention.parse(convention)
    draw = Draw.parse(draw, convention)
    s = dropout.symbols()
    probability = {s["q"]: "p"} if convention is Convention.KEEP else {s["r"]: "p"}
    forward = dropout.forward("inverted", convention)
    backward = dropout.backward("inverted", convention)
    mean, _ = dropout.moments("inverted", convention)
    scaled_mask = forward.assumption("scaled mask").statement.rhs

    names = {dropout.U: "np.random.rand(*x.shape)", s["D"]: "keep", s["Mm"]: "mask", s["Ym"]: "x", s["p"]: "p",
             s["dL_dH"]: "dout", sp.Symbol("Y_ij", real=True): "x", **probability}
    # the draw compares with the API's p itself (the notebooks' masks, entry for entry); the scaled
    # mask divides by it in x's dtype, so that the mask, the output and the gradient stay in x's dtype
    in_dtype = {**names, **{symbol: "p_x" for symbol in probability}}
    axes = (s["i"], s["j"])
    draw_program, train, test, grad = (Lowering(dict.fromkeys(axes, sp.Symbol("n")), table)
                                       for table in (names, in_dtype, names, names))
    draw_program.assign("keep", dropout.mask_draw(convention, draw), ())
    train.assign("mask", scaled_mask, axes)
    train.assign("out", forward.result, axes)
    test.assign("out", mean.result, ())
    grad.assign("dx", backward.result, axes)
    formula = f"{_eq(forward)}, with M = D/q and D_ij = [{draw_text(convention, draw)}] ~ Bernoulli(q)"
    q_is = "p" if convention is Convention.KEEP else "1 - p"
    forward_source = f'''
def dropout_forward(x, dropout_param):
    """Inverted dropout, forward pass.

    Train:  {formula}; here q = {q_is}.
    Test:   H = Y (the train-time mean E[H_ij] = Y_ij, so no rescaling is needed).
    {convention.meaning}.

    Inputs:
    - x: floating-point array of any shape.
    - dropout_param: dict with 'p', 'mode' ('train' or 'test') and optionally 'seed';
      with 'seed', NumPy's global random state is seeded with it first, as in the notebooks.

    Returns (out, cache): out has x's shape and dtype; cache = (dropout_param, mask), where
    mask = D/q (in x's dtype) in training and None at test time.
    """
    p, mode = _dropout_settings(dropout_param)
    {floating("x")}
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    if mode == "train":
{draw_program.source(8)}
        p_x = x.dtype.type(p)  # p in x's dtype: the mask and the output stay in it
{train.source(8)}
    else:
{test.source(8)}
    return out, (dropout_param, mask)
'''
    backward_source = f'''
def dropout_backward(dout, cache):
    """Inverted dropout, backward pass: {_eq(backward)} (train), ∂L/∂Y = ∂L/∂H (test).

    Inputs: dout, the upstream gradient ∂L/∂H; cache = (dropout_param, mask) from dropout_forward
    (the mode is read again here, as the course's code reads it).
    Returns dx = ∂L/∂Y with dout's shape, in NumPy's dtype for dout·M (dout's own when it has x's).
    """
    try:  # the common case: the course's unpacking and one shape comparison (dout of a type or dtype
        # that does not multiply, e.g. a list or strings, raises and takes the slow path, which refuses it)
        dropout_param, mask = cache
        if dropout_param["mode"] == "train" and dout.shape == mask.shape:
{grad.source(12)}
            return dx
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        pass  # anything unusual takes the slow path, which says what is wrong
    dout, mask, train = _dropout_backward_arguments(dout, cache)
    if not train:
        return dout
{grad.source(4)}
    return dx
'''
    return [
        GeneratedFunction("dropout_forward", forward_source, (forward.title, mean.title)),
        GeneratedFunction("dropout_backward", backward_source, (backward.title,)),
    ]


def _eq(d) -> str:
    from derive.printing import text

    return f"{text(d.start)} = {text(d.result)}"
