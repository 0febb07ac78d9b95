r"""Quiz 8, generated: dropout forward and backward (Q1, Q2), in the quiz's notation.

The quiz calls :math:`Y` the activation before dropout and :math:`H` the output; the answers
are :math:`H = D \odot Y` with a Bernoulli mask :math:`D` and
:math:`\partial L/\partial Y = \partial L/\partial H \odot D`, each the result of a checked
derivation in :mod:`derive.dropout`, shown with its steps. With a
:class:`~worksheets.variants.QuizVariant` the questions also carry concrete data (sizes,
probability convention, numbers) and the solutions the numerical answers, which the variant
computed with the generated code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from derive import dropout
from derive.dropout import Convention

from ..document import Block, Fields, Formula, Paragraph, Sheet, SolutionOnly, Steps, StudentOnly, para, question
from .common import matrix_equation, number, numbers

if TYPE_CHECKING:
    from ..variants import QuizVariant

__all__ = ["NAME", "SUMMARY", "build"]

NAME = "quiz8"
SUMMARY = "Quiz 8: dropout forward/backward (Q1, Q2) with derivations; randomized variants with --seed"

_S = dropout.symbols()


def build(variant: QuizVariant | None = None) -> Sheet:
    """The Quiz 8 sheet; with ``variant``, its numbers and answer key."""
    name = NAME if variant is None else f"{NAME}-seed{variant.seed:03d}"
    title = "Quiz 8: dropout" + ("" if variant is None else f" (variant {variant.seed})")
    blocks = [*_header(variant), *_question_1(variant), *_question_2(variant)]
    return Sheet(name, title, tuple(blocks))


def _header(variant: QuizVariant | None) -> list[Block]:
    banner = (
        "Solution sheet. Every answer below is the result of a derivation in which each step was "
        "checked when it was made: either SymPy or layergrad's index engine proved it, or it applies "
        "one of the assumptions listed with the derivation. Each step names its rule."
    )
    if variant is not None:
        banner += " The numerical answers were computed by layergrad's generated NumPy code."
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
            Steps(forward),
            para("With the data given (computed by the generated dropout_forward):"),
            Formula(sp.Eq(_S["Hm"], numbers(v.H), evaluate=False), "Answer"),
        ]
    vanilla = dropout.forward("vanilla", "keep")
    inverted = dropout.forward("inverted", "keep")
    mean_vanilla, _ = dropout.moments("vanilla", "keep")
    mean_inverted, _ = dropout.moments("inverted", "keep")
    return [
        para("The mask ", _S["Dm"], " holds independent Bernoulli variables, ",
             vanilla.assumption("Bernoulli mask").statement,
             ", with q the keep probability. During training dropout multiplies the activation by the mask, "
             "entry by entry:"),
        Formula(matrix_equation(vanilla), "Answer"),
        Steps(vanilla),
        para("At test time no unit is dropped; the training-time mean is q times the activation, so the "
             "test-time output is scaled by q to match:"),
        Formula(mean_vanilla.equation),
        Steps(mean_vanilla),
        para("Inverted dropout (what the course code implements) divides by q during training instead, so "
             "the test-time layer is the identity:"),
        Formula(matrix_equation(inverted, step="matrix form")),
        Steps(inverted),
        Steps(mean_inverted),
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
            Steps(backward),
            para("With the data given (computed by the generated dropout_backward):"),
            Formula(sp.Eq(matrix_equation(backward).lhs, numbers(v.dY), evaluate=False), "Answer"),
        ]
    vanilla = dropout.backward("vanilla", "keep")
    inverted = dropout.backward("inverted", "keep")
    return [
        para("The loss depends on Y only through H. Differentiating entry by entry, every term with another "
             "position vanishes (a Kronecker delta), so the upstream gradient is masked exactly like the "
             "activation was: dropped units pass no gradient back."),
        Formula(matrix_equation(vanilla), "Answer"),
        Steps(vanilla),
        para("For inverted dropout the gradient carries the same 1/q scale as the forward pass, folded into the "
             "saved mask M = D/q:"),
        Formula(matrix_equation(inverted)),
        Steps(inverted),
    ]
