"""Convolution derivations: Quiz 8's example entry by entry, and the general layer."""

import subprocess
import sys

import pytest
import sympy as sp

from derive import conv
from derive.index import index_prover
from derive.printing import text
from derive.support import support_prover

X, W, dO = conv.X, conv.Wq, conv.dO
s = conv.symbols()
N, C, H, F, HH, WW, S, P, d = (s[name] for name in ("N", "C", "H", "F", "HH", "WW", "S", "P", "d"))
H_out, W_out = s["H_out"], s["W_out"]
n, f, i, j, c, k, l, a, b_, u, v = (s[name] for name in ["n", "f", "i", "j", "c", "k", "l", "a", "b_index", "u", "v"])
x, w, dout, xpad = s["x"], s["w"], s["dout"], s["xpad"]

QUIZ = {
    (1, 1): X[1, 1] * W[1, 1] + X[1, 2] * W[1, 2] + X[2, 1] * W[2, 1] + X[2, 2] * W[2, 2],
    (1, 2): X[1, 2] * W[1, 1] + X[1, 3] * W[1, 2] + X[2, 2] * W[2, 1] + X[2, 3] * W[2, 2],
    (2, 1): X[2, 1] * W[1, 1] + X[2, 2] * W[1, 2] + X[3, 1] * W[2, 1] + X[3, 2] * W[2, 2],
    (2, 2): X[2, 2] * W[1, 1] + X[2, 3] * W[1, 2] + X[3, 2] * W[2, 1] + X[3, 3] * W[2, 2],
}


@pytest.fixture(scope="module")
def quiz():
    return conv.quiz_example()


@pytest.fixture(scope="module")
def general():
    return conv.general()


def test_quiz_outputs_are_the_quiz_answer(quiz):
    assert [eq.lhs for eq in quiz.equations] == [conv.O[r, col] for r, col in QUIZ]
    for eq, expected in zip(quiz.equations, QUIZ.values()):
        assert sp.expand(eq.rhs - expected) == 0
    for derivation, expected in zip(quiz.outputs, QUIZ.values()):
        assert derivation.proves(expected)
        assert not derivation.proves(expected.xreplace({W[1, 1]: W[2, 2], W[2, 2]: W[1, 1]}))


def test_quiz_outputs_print_in_the_quizs_order(quiz):
    assert text(quiz.outputs[0].result) == "X[1, 1]·W[1, 1] + X[1, 2]·W[1, 2] + X[2, 1]·W[2, 1] + X[2, 2]·W[2, 2]"


def test_quiz_gradients_entry_by_entry(quiz):
    written_w = quiz.grad_w.steps[1].after
    assert sp.expand(written_w[0, 1] - sum(X[p, q + 1] * dO[p, q] for p in (1, 2) for q in (1, 2))) == 0
    written_x = quiz.grad_x.steps[1].after
    assert written_x.shape == (3, 3)
    assert sp.expand(written_x[1, 1] - (dO[1, 1] * W[2, 2] + dO[1, 2] * W[2, 1] + dO[2, 1] * W[1, 2]
                                        + dO[2, 2] * W[1, 1])) == 0
    assert sp.expand(written_x[0, 0] - dO[1, 1] * W[1, 1]) == 0
    assert written_x[0, 2] != 0 and sp.expand(written_x[0, 2] - dO[1, 2] * W[1, 2]) == 0


def test_quiz_gradients_are_recognised_correlations(quiz):
    assert isinstance(quiz.grad_w.result, conv.Correlation)
    assert text(quiz.grad_w.result) == "X ⋆ dO"
    assert text(quiz.grad_x.result) == "pad1(dO) ⋆ rot180(W)"
    for derivation in quiz.derivations:
        assert derivation.verify() == []


def test_the_unflipped_filter_is_not_the_input_gradient(quiz):
    wrong = conv.Correlation(conv.ZeroPadded(conv.dOm, 1), conv.Wm)
    assert not quiz.grad_x.proves(wrong, by=conv._entry_by_entry)
    right = conv.Correlation(conv.ZeroPadded(conv.dOm, 1), conv.Rotated180(conv.Wm))
    assert quiz.grad_x.proves(right, by=conv._entry_by_entry)


def test_output_size_formula(general):
    assert general.output_size.result == sp.Eq(H_out, 1 + (H + 2 * P - d * (HH - 1) - 1) / S)
    solve = conv._solves_for(H_out)
    assert general.output_size.proves(sp.Eq(H_out, 1 + (H + 2 * P - d * (HH - 1) - 1) / S), by=solve)
    assert general.output_size_undilated.proves(sp.Eq(H_out, 1 + (H + 2 * P - HH) / S), by=solve)
    assert not general.output_size.proves(sp.Eq(H_out, 1 + (H + 2 * P - d * HH) / S), by=solve)
    condition = general.output_size.assumption("integer window count").statement
    assert condition.lhs.args[1] == S


def test_forward_window_form(general):
    windows = conv.win[n, c, i, j, k, l] * w[f, c, k, l]
    expected = conv.b[f] + sp.Sum(windows, (c, 0, C - 1), (k, 0, HH - 1), (l, 0, WW - 1))
    assert general.forward.result == expected
    assert "proved" in general.forward.steps[-1].proof


def test_filter_and_bias_gradients(general):
    dw = sp.Sum(dout[n, f, i, j] * xpad[n, c, S * i + d * k, S * j + d * l],
                (n, 0, N - 1), (i, 0, H_out - 1), (j, 0, W_out - 1))
    assert general.backward_w.steps[3].after == dw
    zero_outside = index_prover(zero_outside=conv._shapes(conv.xpad, conv.w, conv.dout))
    assert general.backward_w.proves(dw, by=zero_outside)
    wrong = dw.xreplace({dout[n, f, i, j]: dout[n, c, i, j]})
    assert not general.backward_w.proves(wrong, by=zero_outside)
    db = sp.Sum(dout[n, f, i, j], (n, 0, N - 1), (i, 0, H_out - 1), (j, 0, W_out - 1))
    assert general.backward_b.proves(db, by=index_prover())


def test_input_gradients(general):
    closed = sp.Sum(dout[n, f, i, j] * w[f, c, a - S * i, b_ - S * j],
                    (f, 0, F - 1), (i, 0, H_out - 1), (j, 0, W_out - 1))
    assert general.backward_xpad_undilated.result == closed
    scatter = general.backward_xpad.result
    deltas = {sp.KroneckerDelta(a, S * i + d * k), sp.KroneckerDelta(b_, S * j + d * l)}
    assert scatter.atoms(sp.KroneckerDelta) == deltas
    assert general.backward_x.result == conv.dxpad[n, c, u + P, v + P]


def test_full_and_strided_transposed_convolutions(general):
    expected = sp.Sum(conv.dout_pad[n, f, a + k, b_ + l] * conv.w_rot[f, c, k, l],
                      (f, 0, F - 1), (k, 0, HH - 1), (l, 0, WW - 1))
    for derivation in (general.full_convolution, general.strided_transpose):
        assert derivation.result == expected
        assert "sums over array supports" in derivation.steps[-1].proof
    shapes = conv._shapes(xpad, w, dout, conv.dout_pad, conv.w_rot, stride=sp.S.One)
    unflipped = expected.xreplace({conv.w_rot: w})
    assert not general.full_convolution.proves(unflipped, by=support_prover(shapes))


def test_every_general_step_still_holds(general):
    for derivation in general.derivations:
        assert derivation.verify() == [], derivation.title
        assert all(step.rule for step in derivation.steps)


def test_unknown_example():
    with pytest.raises(ValueError, match="unknown convolution example 'exam'"):
        conv.derivations("exam")


def test_cli_prints_the_quiz_and_rejects_examples_elsewhere():
    run = [sys.executable, "-m", "layergrad.cli", "derive"]
    done = subprocess.run([*run, "conv", "--example", "quiz"], capture_output=True, text=True, check=True)
    for expected in QUIZ.values():
        assert text(conv._quiz_order(expected, W)) in done.stdout
    assert "pad1(dO) ⋆ rot180(W)" in done.stdout
    bad = subprocess.run([*run, "maxpool", "--example", "quiz"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "applies only to the conv layer" in bad.stderr
