r"""Dropout in depth: conventions, inverted vs vanilla, the missing 1/q, zero-out, Baldi–Sadowski.

Five exercises, each with exposition shown to students and a solution made of the derivations
in :mod:`derive.dropout`. The third solution adds a numerical demonstration computed by the
generated code: the training-time mean of inverted dropout (``dropout_forward`` from
:func:`numeric.export.generated_module`) against the same mask without the 1/q, printed as a
function from the vanilla forward derivation (:func:`numeric.codegen.printer.elementwise_function`),
next to what the moment derivations predict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from matplotlib.figure import Figure as MplFigure

from derive import dropout
from derive.dropout import Convention, Draw
from numeric.codegen.printer import elementwise_function
from numeric.export import generated_module

from ..document import Block, Figure, Formula, Heading, Math, Sheet, Steps, Table, para, question
from .common import matrix_equation, number, png

__all__ = ["NAME", "SUMMARY", "RescalingRow", "build", "rescaling_demo"]

NAME = "dropout"
SUMMARY = "Dropout in depth: conventions, inverted vs vanilla, no 1/q (numerical demo), zero-out, Baldi–Sadowski"

_S = dropout.symbols()
_Y_ENTRY = sp.Symbol("Y_ij", real=True)


@dataclass(frozen=True)
class RescalingRow:
    """One keep probability of the demonstration: input mean and the three output means."""

    q: float
    input_mean: float
    inverted_mean: float
    unscaled_mean: float
    test_mean: float
    zero_fraction: float


def rescaling_demo(qs=(0.2, 0.5, 0.8), shape=(500, 500), seed: int = 0) -> list[RescalingRow]:
    """Train- and test-time output means of the generated inverted dropout, and of the same
    mask applied without the 1/q, on an input of mean about 10 (as in the course notebooks)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) + 10
    layers = generated_module("keep", layers=("dropout",))
    unscaled = elementwise_function(dropout.forward("vanilla", "keep").result, {_S["Dm"]: "keep", _S["Ym"]: "x"})
    rows = []
    for q in qs:
        out, (_, mask) = layers.dropout_forward(x, {"p": q, "mode": "train", "seed": seed})
        test, _ = layers.dropout_forward(x, {"p": q, "mode": "test"})
        keep = (mask != 0).astype(x.dtype)
        rows.append(RescalingRow(q, float(x.mean()), float(out.mean()), float(unscaled(keep, x).mean()),
                                 float(test.mean()), float(np.mean(out == 0))))
    return rows


def build() -> Sheet:
    """The dropout-in-depth sheet."""
    blocks = [
        para("Dropout multiplies each activation by an independent Bernoulli variable. This sheet works through "
             "the choices hidden in that sentence: what the parameter p means, where the 1/q scale goes, what "
             "happens without it, why dropped units learn nothing in an iteration, and why dropout acts like a "
             "weight penalty. Every formula below is the result of a checked derivation."),
        *_conventions(),
        *_inverted_vs_vanilla(),
        *_no_rescaling(),
        *_zero_out(),
        *_baldi_sadowski(),
    ]
    return Sheet(NAME, "Dropout in depth", tuple(blocks))


def _conventions() -> list[Block]:
    q = sp.Symbol("q")
    rows = tuple((c.value, c.meaning, sp.Eq(q, dropout.keep_probability(c))) for c in Convention)
    table = Table(("convention", "what p means", "keep probability"),
                  tuple((name, meaning, Math(keep)) for name, meaning, keep in rows))
    draws = [para(f"{c.value} convention, the {d.value} draw ({source}): the course notebooks keep an entry when ",
                  dropout.mask_draw(c, d), ", with U uniform on [0, 1).")
             for c, d, source in ((Convention.KEEP, Draw.LT, "newer CS231n"),
                                  (Convention.DROP, Draw.GE, "CS231n 2017, CS182; the default"),
                                  (Convention.DROP, Draw.LT, "cs6353; --dropout-draw lt"))]
    draws.append(para("The two drop-rate draws have the same law and different seeded numbers; an exported "
                      "module records its own in DROPOUT_DRAW."))
    forward, backward = dropout.forward("inverted", "drop"), dropout.backward("inverted", "drop")
    return [
        Heading("1. What p means", 2),
        para("The course API has one parameter p. Half the sources mean the probability of keeping a unit, the "
             "other half the rate of dropping it; layergrad never guesses which."),
        table,
        *draws,
        *question("1", [para("Write the forward and backward pass of inverted dropout when p is the drop rate r.")],
                  [Formula(matrix_equation(forward, step="matrix form"), "Forward"), Steps(forward),
                   Formula(matrix_equation(backward), "Backward"), Steps(backward)], space=6),
    ]


def _inverted_vs_vanilla() -> list[Block]:
    vanilla, inverted = dropout.forward("vanilla", "keep"), dropout.forward("inverted", "keep")
    moments = {v: dropout.moments(v, "keep") for v in dropout.VARIANTS}
    table = Table(("variant", "training output", "E[H]", "Var[H]"), tuple(
        (variant, Math(matrix_equation(dropout.forward(variant, "keep"), step="matrix form").rhs),
         Math(mean.result), Math(var.result))
        for variant, (mean, var) in moments.items()
    ), "Per entry; the test-time layer must output the training-time mean.")
    solution: list[Block] = [table]
    for mean, var in moments.values():
        solution += [Steps(mean), Steps(var)]
    return [
        Heading("2. Inverted and vanilla dropout", 2),
        para("Vanilla dropout keeps the kept units as they are; inverted dropout scales them by 1/q:"),
        Formula(matrix_equation(vanilla)),
        Formula(matrix_equation(inverted, step="matrix form")),
        *question("2", [para("Compute the training-time mean and variance of one output entry for both variants. "
                             "Which variant must change the network at test time, and how?")], solution, space=8),
    ]


def _no_rescaling() -> list[Block]:
    derivation = dropout.no_rescaling("keep")
    rows = rescaling_demo()
    mean_inverted = dropout.moments("inverted", "keep")[0].result
    q = _S["q"]

    def predicted(expr: sp.Expr, row: RescalingRow) -> sp.Number:
        return number(expr.subs({_Y_ENTRY: row.input_mean, q: row.q}), 3)

    table = Table(
        ("q", "input", "train, inverted", "derived", "train, no 1/q", "derived", "test", "zeros"),
        tuple((f"{r.q:g}", f"{r.input_mean:.3f}", f"{r.inverted_mean:.3f}",
               _cell(predicted(mean_inverted, r)), f"{r.unscaled_mean:.3f}", _cell(predicted(derivation.result, r)),
               f"{r.test_mean:.3f}", f"{r.zero_fraction:.3f}") for r in rows),
        "Output means of the generated dropout_forward on a 500×500 input with mean about 10 (train and test "
        "time, and the same mask without the 1/q), the means the derivations predict, and the fraction of "
        "training outputs that are zero.",
    )
    return [
        Heading("3. Forgetting the 1/q", 2),
        *question("3", [para("An implementation of inverted dropout forgets to divide by q during training but "
                             "still leaves the test-time layer as the identity. What mean does the next layer see "
                             "during training, and at test time?")],
                  [Steps(derivation), table, _rescaling_figure(rows, mean_inverted, derivation.result)], space=6),
    ]


def _cell(value: sp.Number) -> str:
    return f"{float(value):.3f}"


def _rescaling_figure(rows: list[RescalingRow], inverted: sp.Expr, unscaled: sp.Expr) -> Figure:
    q = _S["q"]
    grid = np.linspace(0.05, 1.0, 96)
    curves = {name: sp.lambdify(q, expr.subs(_Y_ENTRY, 1) * sp.Integer(1), "numpy")
              for name, expr in (("inverted", inverted), ("no 1/q", unscaled))}
    fig = MplFigure(figsize=(6, 3.4))
    ax = fig.add_subplot()
    for (name, curve), color in zip(curves.items(), ("tab:blue", "tab:red")):
        ax.plot(grid, np.broadcast_to(curve(grid), grid.shape), color=color, label=f"derived E[H]/Y, {name}")
    ax.plot([r.q for r in rows], [r.inverted_mean / r.input_mean for r in rows], "o", color="tab:blue",
            label="generated code, inverted")
    ax.plot([r.q for r in rows], [r.unscaled_mean / r.input_mean for r in rows], "s", color="tab:red",
            label="generated code, no 1/q")
    ax.set_xlabel("keep probability q")
    ax.set_ylabel("training-time mean / input mean")
    ax.set_ylim(0, 1.15)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return Figure("rescaling", png(fig),
                  "Training-time output mean relative to the input mean: with 1/q it matches the test-time "
                  "identity; without it the next layer sees q times less during training.")


def _zero_out() -> list[Block]:
    dw2, dw1 = dropout.zero_out()
    network = [Formula(a.statement) for a in dw2.assumptions if a.unfold]
    return [
        Heading("4. Dropped units do not learn", 2),
        para("A hidden unit with dropout between an input weight and an output weight:"),
        *network,
        *question("4", [para("Show that in an iteration where the hidden unit is dropped (D = 0) neither its "
                             "incoming weight nor its outgoing weight is updated by gradient descent.")],
                  [Steps(dw2), Steps(dw1)], space=8),
    ]


def _baldi_sadowski() -> list[Block]:
    grad, loss, three_grad, three, thinned, ensemble = dropout.baldi_sadowski()
    definitions = [Formula(a.statement) for a in loss.assumptions if a.unfold]
    return [
        Heading("5. Dropout as a regularizer (Baldi and Sadowski)", 2),
        para("A linear unit with dropout on its inputs, and the same unit with its weights scaled by the retention "
             "probability p instead:"),
        *definitions,
        *question("5", [para("Show that, in expectation over the mask, the dropout loss is the ensemble loss plus "
                             "a weight penalty:"), Formula(loss.equation),
                        para("Where is the penalty largest? Check the identity for three inputs and work the "
                             "example x = (1, 2, 3), w = (2, 2, 2), mask (0, 1, 1), p = 2/3.")],
                  [Steps(d) for d in (grad, loss, three_grad, three, thinned, ensemble)], space=10),
    ]
