"""Max pooling derivations: the masked product and the routed gradient."""

import sympy as sp

from derive import pool
from derive.conv import _solves_for
from derive.index import index_prover

s = pool.symbols()
N, C, H, HH, WW, S, H_out, W_out = (s[name] for name in ("N", "C", "H", "HH", "WW", "S", "H_out", "W_out"))
n, c, i, j, k, l, u, v = (s[name] for name in ["n", "c", "i", "j", "k", "l", "u", "v"])
x, dout, M, win = s["x"], s["dout"], s["M"], s["win"]


def test_output_size_without_padding():
    d = pool.output_size()
    assert d.proves(sp.Eq(H_out, 1 + (H - HH) / S), by=_solves_for(H_out))
    assert not d.proves(sp.Eq(H_out, (H - HH) / S), by=_solves_for(H_out))


def test_forward_is_a_masked_product():
    d = pool.forward()
    assert d.result == sp.Sum(M[n, c, i, j, k, l] * win[n, c, i, j, k, l], (k, 0, HH - 1), (l, 0, WW - 1))
    assert d.verify() == []


def test_backward_routes_dout_through_the_mask():
    d = pool.backward()
    routed = sp.Sum(dout[n, c, i, j] * M[n, c, i, j, u - S * i, v - S * j], (i, 0, H_out - 1), (j, 0, W_out - 1))
    assert d.proves(routed, by=index_prover(zero_outside=pool.SHAPES))
    assert not d.proves(routed.xreplace({M: x}), by=index_prover(zero_outside=pool.SHAPES))
    scatter = d.steps[3].after
    assert scatter.atoms(sp.KroneckerDelta) == {sp.KroneckerDelta(u, S * i + k), sp.KroneckerDelta(v, S * j + l)}
    assert d.verify() == []


def test_tie_rule_is_stated_where_users_read_it():
    assert "first" in pool.TIE_RULE and "row-major" in pool.TIE_RULE
    assert pool.TIE_RULE in pool.backward().notes[0]
    assert "tie rule" in pool.forward().assumption("argmax indicator").why
