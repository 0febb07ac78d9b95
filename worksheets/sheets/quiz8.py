r"""Quiz 8, generated: dropout forward and backward (Q1, Q2) and convolution (Q3, Q4), in the
quiz's notation.

The quiz calls :math:`Y` the activation before dropout and :math:`H` the output; the answers
are :math:`H = D \odot Y` with a Bernoulli mask :math:`D` and
:math:`\partial L/\partial Y = \partial L/\partial H \odot D`, each the result of a checked
derivation in :mod:`derive.dropout`, shown with its steps. Question 3 is the 3×3 ∗ 2×2 example
with 1-based :math:`O_{11} \ldots O_{22}` written out by SymPy, question 4 the general layer
and its output size (:mod:`derive.conv`). With a
:class:`~worksheets.variants.QuizVariant` the questions also carry concrete data (sizes,
probability convention, numbers) and the solutions the numerical answers, which the variant
computed with the generated code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import sympy as sp
from matplotlib.figure import Figure as MplFigure
from matplotlib.patches import Rectangle

from derive import conv, dropout
from derive.dropout import Convention
from derive.printing import latex

from ..document import (
    Block,
    Fields,
    Figure,
    Formula,
    Paragraph,
    Sheet,
    SolutionOnly,
    Steps,
    StudentOnly,
    para,
    question,
)
from .common import matrix_equation, number, numbers, png

if TYPE_CHECKING:
    from ..variants import QuizVariant

__all__ = ["NAME", "SUMMARY", "build"]

NAME = "quiz8"
SUMMARY = "Quiz 8: dropout forward/backward, the 3×3 ∗ 2×2 convolution, the general case; variants with --seed"

_S = dropout.symbols()


def build(variant: QuizVariant | None = None) -> Sheet:
    """The Quiz 8 sheet; with ``variant``, its numbers and answer key."""
    name = NAME if variant is None else f"{NAME}-seed{variant.seed:03d}"
    title = "Quiz 8: dropout and convolution" + ("" if variant is None else f" (variant {variant.seed})")
    blocks = [*_header(variant), *_question_1(variant), *_question_2(variant), *_question_3(variant),
              *_question_4(variant)]
    return Sheet(name, title, tuple(blocks))


def _header(variant: QuizVariant | None) -> list[Block]:
    banner = ("Solution. Each answer is the result of a derivation whose every step was checked when it was made; "
              "the sheet written with --detail full shows every step with its rule and assumptions.")
    if variant is not None:
        banner += " The numbers were computed by layergrad's generated NumPy code."
    return [
        StudentOnly((Fields(("Name", "Student ID")),)),
        SolutionOnly((Paragraph((banner,)),)),
        para(
            "Overfitting has always been the enemy of generalization. Dropout is a very simple and yet very "
            "effective way to regularize networks by reducing co-adaptation between the neurons. Let ",
            _S["Ym"], " be the intermediate activation of the neuron before dropout and ", _S["Hm"],
            " the output of dropout.",
        ),
    ]


def _convention_sentence(convention: Convention) -> Paragraph:
    keep = dropout.keep_probability(convention)
    return para(
        f"Convention: {convention.meaning}; the keep probability is ", sp.Eq(sp.Symbol("q"), keep), "."
    )


def _question_1(variant: QuizVariant | None) -> tuple[Block, ...]:
    prompt: list[Block] = [para("Write the forward propagation of dropout in mathematical form.")]
    given: list[Block] = []
    if variant is not None:
        v = variant.dropout
        prompt.append(para(
            "Then compute the training-time output of inverted dropout for the data below, with ",
            sp.Eq(_S["p"], number(v.p)),
            f" ({'the keep probability' if v.convention is Convention.KEEP else 'the drop rate'}) and the mask ",
            _S["Dm"], " as drawn:",
        ))
        given += [Formula(sp.Eq(_S["Ym"], numbers(v.Y), evaluate=False)),
                  Formula(sp.Eq(_S["Dm"], numbers(v.D), evaluate=False))]
    return question("1", prompt, _forward_solution(variant), given)


def _forward_solution(variant: QuizVariant | None) -> list[Block]:
    if variant is not None:
        v = variant.dropout
        forward = dropout.forward("inverted", v.convention)
        return [
            _convention_sentence(v.convention),
            para("Inverted dropout multiplies by the mask and divides by the keep probability:"),
            Formula(matrix_equation(forward, step="matrix form"), "Answer"),
            Steps(forward, inline=False),
            para("With the data given (computed by the generated dropout_forward):"),
            Formula(sp.Eq(_S["Hm"], numbers(v.H), evaluate=False), "Answer"),
        ]
    vanilla = dropout.forward("vanilla", "keep")
    inverted = dropout.forward("inverted", "keep")
    mean_vanilla, _ = dropout.moments("vanilla", "keep")
    mean_inverted, _ = dropout.moments("inverted", "keep")
    return [
        para("Each entry of the mask ", _S["Dm"], " is an independent Bernoulli variable, ",
             vanilla.assumption("Bernoulli mask").statement,
             ", with q the keep probability; training multiplies the activation by the mask entry by entry:"),
        Formula(matrix_equation(vanilla), "Answer"),
        para("At test time nothing is dropped; since ", mean_vanilla.equation,
             ", the test-time output is scaled by q. Inverted dropout (the course code) divides by q while "
             "training instead, so that the test-time layer is the identity:"),
        Formula(matrix_equation(inverted, step="matrix form")),
        *(Steps(d, inline=False) for d in (vanilla, mean_vanilla, inverted, mean_inverted)),
    ]


def _question_2(variant: QuizVariant | None) -> tuple[Block, ...]:
    prompt: list[Block] = [para("Write the backward propagation of dropout in mathematical form.")]
    given: list[Block] = []
    if variant is not None:
        prompt.append(para("Then compute the gradient with respect to ", _S["Ym"],
                           " for the upstream gradient below (same mask as in question 1):"))
        given.append(Formula(sp.Eq(_S["dL_dH"], numbers(variant.dropout.G), evaluate=False)))
    return question("2", prompt, _backward_solution(variant), given)


def _backward_solution(variant: QuizVariant | None) -> list[Block]:
    if variant is not None:
        v = variant.dropout
        backward = dropout.backward("inverted", v.convention)
        return [
            para("Differentiate the forward pass entry by entry: only the entry of the same position survives, "
                 "so the upstream gradient is masked and scaled exactly like the activation was."),
            Formula(matrix_equation(backward), "Answer"),
            Steps(backward, rules=("upstream gradient", "differentiate term by term", "Kronecker delta")),
            para("With the data given (computed by the generated dropout_backward):"),
            Formula(sp.Eq(matrix_equation(backward).lhs, numbers(v.dY), evaluate=False), "Answer"),
        ]
    vanilla = dropout.backward("vanilla", "keep")
    inverted = dropout.backward("inverted", "keep")
    return [
        para("L depends on Y only through H. Differentiating entry by entry, only the term at the same position "
             "survives (a Kronecker delta):"),
        Steps(vanilla, rules=("upstream gradient", "differentiate term by term", "Kronecker delta")),
        Formula(matrix_equation(vanilla), "Answer"),
        para("Dropped units pass no gradient back. For inverted dropout the gradient carries the same 1/q, folded "
             "into the saved mask M = D/q: ", matrix_equation(inverted), "."),
        Steps(inverted, inline=False),
    ]


def _size_lines(choice) -> list[Block]:
    """The output-size formula solved from the tiling equation, then the variant's sizes put into
    it, then its value."""
    size = conv.output_size(dilation=False)
    formula = size.result
    lines: list[Block] = [Steps(size)]
    for out, size, window, value in ((conv.H_out, choice.H, choice.HH, choice.output_size()[0]),
                                     (conv.W_out, choice.W, choice.WW, choice.output_size()[1])):
        with sp.evaluate(False):
            filled = formula.rhs.subs({conv.H: size, conv.HH: window, conv.S: choice.S, conv.P: choice.P})
        lines.append(Formula(sp.Eq(out, sp.Eq(filled, number(value), evaluate=False), evaluate=False)))
    return lines


def _variant_question_3(variant: QuizVariant) -> tuple[Block, ...]:
    c = variant.conv
    ch = c.choice
    forward = conv.forward(dilation=False)
    o = sp.MatrixSymbol("O", *c.O.shape)
    prompt: list[Block] = [
        para(f"Consider a convolutional layer with a {ch.H}×{ch.W} input ", conv.Xm, f", a {ch.HH}×{ch.WW} filter ",
             conv.Wm, ", stride ", sp.Eq(conv.S, ch.S), " and zero padding ", sp.Eq(conv.P, ch.P),
             " (cross-correlation, no bias). What is the size of the output O? Compute O."),
    ]
    given: list[Block] = [Formula(sp.Eq(conv.Xm, numbers(c.X), evaluate=False)),
                          Formula(sp.Eq(conv.Wm, numbers(c.Wf), evaluate=False))]
    solution: list[Block] = [
        para("The windows must tile the padded input: the output size is"),
        *_size_lines(ch),
        para("Each output is the sum of the products of the filter with the window under it (indices from 0, "
             "one input channel, one filter, no bias):"),
        Formula(sp.Eq(forward.start, forward.steps[0].after, evaluate=False)),
    ]
    if ch.P:
        solution += [para("The padded input:"),
                     Formula(sp.Eq(sp.Symbol("xpad"), numbers(np.pad(c.X, ch.P)), evaluate=False))]
    solution += [para("Computed by the generated conv_forward_fast:"),
                 Formula(sp.Eq(o, numbers(c.O), evaluate=False), "Answer")]
    return question("3", prompt, solution, given, space=10)


def _variant_question_4(variant: QuizVariant) -> tuple[Block, ...]:
    g = variant.general
    ch = g.choice
    forward = conv.forward(dilation=False)
    sizes = {conv.N: g.N, conv.C: g.C, conv.H: ch.H, conv.W: ch.W, conv.F: g.F, conv.HH: ch.HH, conv.WW: ch.WW,
             conv.S: ch.S, conv.P: ch.P}
    prompt: list[Block] = [
        para("Consider the general case: N inputs with C channels of height H and width W, F filters spanning all "
             "C channels with height HH and width WW, stride S and zero padding P. Write how the outputs are "
             "computed, and give the shape of the output for"),
        para(*[part for k, (symbol, value) in enumerate(sizes.items())
               for part in ((", " if k else ""), sp.Eq(symbol, value))], "."),
    ]
    shape = sp.Tuple(conv.N, conv.F, conv.H_out, conv.W_out)
    solution: list[Block] = [
        Formula(sp.Eq(forward.start, forward.steps[0].after, evaluate=False), "Answer"),
        Formula(forward.assumption("zero padding").statement),
        para("The output size, by the formula (the width with W and WW):"),
        *_size_lines(ch),
        para("Confirmed by running the generated conv_forward_fast on an input of these sizes:"),
        Formula(sp.Eq(shape, sp.Tuple(*g.out_shape), evaluate=False), "Answer"),
    ]
    return question("4", prompt, solution, (), space=8)


def _question_3(variant: QuizVariant | None) -> tuple[Block, ...]:
    if variant is not None:
        return _variant_question_3(variant)
    example = conv.quiz_example()
    x_given = sp.Matrix(3, 3, lambda r, c: conv.X[r + 1, c + 1])
    w_given = sp.Matrix(2, 2, lambda r, c: conv.Wq[r + 1, c + 1])
    prompt: list[Block] = [
        para("Consider a simple convolutional layer with input ", conv.Xm, " a 3×3 matrix and filter ", conv.Wm,
             " a 2×2 matrix, as shown below. Show that the outputs are given by"),
        Formula(sp.Tuple(*example.equations)),
    ]
    given: list[Block] = [
        Formula(sp.Tuple(sp.Eq(conv.Xm, x_given, evaluate=False), sp.Eq(conv.Wm, w_given, evaluate=False))),
        quiz_grid_figure(),
    ]
    definition = example.outputs[0].assumption("cross-correlation")
    solution: list[Block] = [
        para("The filter slides over the input (cross-correlation, stride 1, no padding); with indices from 1, "
             "output (i, j) is"),
        Formula(definition.statement),
        para("Writing the sum out at (i, j) = (1, 1), (1, 2), (2, 1), (2, 2) gives the four equations above, "
             "for instance"),
        Steps(example.outputs[0]),
        *(Steps(d, inline=False) for d in example.outputs[1:]),
        para("Backwards, with dO = ∂L/∂O: ", example.grad_w.equation, " and ", example.grad_x.equation, "."),
        Steps(example.grad_w, inline=False),
        Steps(example.grad_x, inline=False),
    ]
    return question("3", prompt, solution, given, space=10)


def _question_4(variant: QuizVariant | None) -> tuple[Block, ...]:
    if variant is not None:
        return _variant_question_4(variant)
    forward = conv.forward(dilation=False)
    size = conv.output_size(dilation=False)
    prompt: list[Block] = [
        para("Consider the general case: the input consists of N data points, each with C channels, height H and "
             "width W. We convolve each input with F different filters, where each filter spans all C channels "
             "and has height HH and width WW; the stride is S and the zero padding P. Observing the rule in the "
             "example above, write how the outputs are computed, and the size of the output."),
    ]
    solution: list[Block] = [
        para("With indices from 0 and xpad the input surrounded by P rows and columns of zeros, output (i, j) "
             "of filter f for input n is"),
        Formula(sp.Eq(forward.start, forward.steps[0].after, evaluate=False), "Answer"),
        Formula(forward.assumption("zero padding").statement),
        para("The windows start every S rows and the last one ends on the last row of the padded input, which "
             "fixes the output height (the width likewise with W, WW):"),
        Steps(size),
        para("The output is N × F × H′ × W′; H′ is a whole number, and the layer possible, exactly when ",
             size.assumption("integer window count").statement, "."),
        Steps(forward, inline=False),
    ]
    return question("4", prompt, solution, (), space=10)


def quiz_grid_figure() -> Figure:
    """Question 3's picture: the 3×3 input and the 2×2 filter, entry names printed from the
    derivation's arrays, with the window of O_11 shaded."""
    fig = MplFigure(figsize=(6.4, 2.4))
    ax = fig.add_subplot()
    ax.set_aspect("equal")
    ax.axis("off")
    grids = ((conv.X, 3, 0.0, "X (input)"), (conv.Wq, 2, 4.2, "W (filter)"), (conv.O, 2, 7.4, "O (output)"))
    for array, size, left, caption in grids:
        for r in range(size):
            for c in range(size):
                shaded = (array is conv.X and r < 2 and c < 2) or (array is conv.O and (r, c) == (0, 0))
                ax.add_patch(Rectangle((left + c, size - 1 - r), 1, 1, facecolor="#cfe3f7" if shaded else "white",
                                       edgecolor="black"))
                ax.text(left + c + 0.5, size - 0.5 - r, f"${latex(array[r + 1, c + 1])}$", ha="center",
                        va="center", fontsize=11)
        ax.text(left + size / 2, -0.45, caption, ha="center", va="top", fontsize=10)
    ax.text(3.6, 1.0, "⋆", ha="center", va="center", fontsize=20)
    ax.text(6.8, 1.0, "=", ha="center", va="center", fontsize=18)
    ax.set_xlim(-0.1, 9.5)
    ax.set_ylim(-1.0, 3.1)
    return Figure("conv-example", png(fig), "The 3×3 input X and the 2×2 filter W; the shaded window of X "
                  "gives the shaded output O_11.")
