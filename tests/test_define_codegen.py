"""Generated code for the index patterns a definition may read: a diagonal :math:`X_{ii}`, a
constant index :math:`X_{n,0}` or :math:`X_{n,P}`, a shifted vector — each checked against plain
NumPy written here and against finite differences of its own forward pass; and the checker's
refusal of a definition too large to sample, from the Python API and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from derive.define import define
from derive.errors import LayergradError
from layergrad.cli import main
from numeric.defined_check import MAX_ENTRIES, check, check_file, generated


def _table(forward, inputs=None, **extra):
    return {"name": "t", "inputs": inputs or {"X": ["N", "D"]}, "forward": forward, **extra}


# each: the definition, plain NumPy of its forward pass, and of dX given dout
PLAIN = {
    "trace as loss": (_table(["L = sum(X[i, i], i)"], {"X": ["D", "D"]}),
                      lambda X: np.trace(X), lambda X, g: g * np.eye(len(X))),
    "diagonal read": (_table(["Y[i] = X[i, i] * X[i, i]"], {"X": ["D", "D"]}),
                      lambda X: np.diag(X) ** 2, lambda X, g: np.diag(2 * np.diag(X) * g)),
    "diagonal times column 0": (_table(["Y[i] = X[i, i] * X[i, 0]"], {"X": ["D", "D"]}),
                                lambda X: np.diag(X) * X[:, 0],
                                lambda X, g: np.diag(g * X[:, 0]) + np.outer(g * np.diag(X), np.eye(len(X))[0])),
    "diagonal times row": (_table(["Y[i, j] = X[i, i] * X[i, j]"], {"X": ["D", "D"]}),
                           lambda X: np.diag(X)[:, None] * X,
                           lambda X, g: np.diag((g * X).sum(axis=1)) + g * np.diag(X)[:, None]),
    "constant index": (_table(["Y[n] = X[n, 0] * X[n, 1]"]),
                       lambda X: X[:, 0] * X[:, 1],
                       lambda X, g: np.pad(np.stack([g * X[:, 1], g * X[:, 0]], axis=1),
                                           [(0, 0), (0, X.shape[1] - 2)])),
    "integer constant as index": (_table(["Y[n] = X[n, P]"], constants={"P": 1}),
                                  lambda X: X[:, 1], lambda X, g: np.pad(g[:, None], [(0, 0), (1, X.shape[1] - 2)])),
    "diagonal of a batch": (_table(["Y[n, i] = X[n, i, i]"], {"X": ["N", "D", "D"]}),
                            lambda X: np.einsum("nii->ni", X),
                            lambda X, g: g[:, :, None] * np.eye(X.shape[1])),
}


@pytest.mark.parametrize("name", list(PLAIN))
def test_diagonals_and_constant_indices_generate_what_plain_numpy_computes(name):
    table, forward, gradient = PLAIN[name]
    defn = define(table)
    module = generated(defn)
    rng = np.random.default_rng(3)
    X = rng.standard_normal([5 if s == "D" else 4 for s in table["inputs"]["X"]])
    out, cache = module.t_forward(X.copy())
    assert np.allclose(out, forward(X))
    dout = rng.standard_normal(np.shape(out))
    assert np.allclose(module.t_backward(dout, cache), gradient(X, dout))
    verdicts = check(module, defn)  # finite differences of its own forward pass, and the derivation
    assert verdicts and all(v.passed for v in verdicts), [v for v in verdicts if not v.passed]


def test_a_diagonal_is_read_as_a_view_and_written_as_a_mask():
    from numeric.defined_code import module_source

    source = module_source([define(PLAIN["diagonal read"][0])])
    assert "np.einsum('aa->a', X)" in source
    assert "for " not in source.split("def t_forward")[1]  # vectorized: no Python loop


def test_a_shifted_vector_reads_its_own_entries():
    # _read of a 1-D array: a view into the array, not of a copied scalar
    defn = define(_table(["Y[n, d] = X[n, d] * w[d + 1] + w[d - 1]"], params={"w": ["D"]}))
    module = generated(defn)
    X, w = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0])
    out, _ = module.t_forward(X, w)
    assert np.array_equal(out, X * np.array([2.0, 3.0, 0.0]) + np.array([0.0, 1.0, 2.0]))
    assert all(v.passed for v in check(module, defn))


def test_the_export_command_writes_a_diagonal(tmp_path, capsys):
    path = tmp_path / "trace.toml"
    path.write_text('name = "trace"\ninputs = { X = ["D", "D"] }\nforward = ["L = sum(X[i, i], i)"]\n')
    assert main(["export", "--define", str(path), "-o", str(tmp_path / "trace.py")]) == 0
    assert main(["check", str(tmp_path / "trace.py"), "--define", str(path)]) == 0
    assert "3 of 3 checks passed" in capsys.readouterr().out


# -- a definition too large to sample ------------------------------------------------------------

HUGE = 'name = "huge"\ninputs = { X = ["N", 100000000000] }\nforward = ["Y[n, d] = X[n, d]**2"]\n'
STUDENT = ("def huge_forward(X):\n    return X**2, X\n\n\n"
           "def huge_backward(dout, cache):\n    return 2*cache*dout\n")


def test_the_checker_refuses_an_array_too_large_to_sample(tmp_path):
    defn = define(HUGE)
    with pytest.raises(LayergradError) as info:
        check(generated(defn), defn)
    message = str(info.value)
    assert "X has shape (3, 100000000000)" in message and f"{MAX_ENTRIES:,}" in message and "\n" not in message
    (tmp_path / "m.py").write_text(STUDENT)
    with pytest.raises(LayergradError, match="X has shape"):
        check_file(tmp_path / "m.py", [defn])


def test_the_check_command_refuses_it_in_one_line(tmp_path, capsys):
    (tmp_path / "huge.toml").write_text(HUGE)
    (tmp_path / "m.py").write_text(STUDENT)
    assert main(["check", str(tmp_path / "m.py"), "--define", str(tmp_path / "huge.toml")]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().count("\n") == 0 and "X has shape (3, 100000000000)" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_a_small_literal_size_is_kept_and_checked():
    defn = define(_table(["Y[n, d] = X[n, d]**2"], {"X": ["N", 2]}))
    module = generated(defn)
    out, _ = module.t_forward(np.ones((4, 2)))
    assert out.shape == (4, 2)
    assert all(v.passed for v in check(module, defn))


# -- what the generated code cannot know, refused when it is generated -----------------------------

def test_a_diagonal_through_an_affine_index_is_refused_naming_the_statement():
    from numeric.defined_code import module_source

    table = _table(["Y[n, i] = sum(X[n, i + k, i + k], k)"], {"X": ["N", "H", "H"]}, ranges={"k": "K", "i": "I"},
                   outputs={"Y": ["N", "I"]}, sizes={"I": "H - K + 1"}, constants={"K": 2})
    with pytest.raises(LayergradError) as info:
        module_source([define(table)])
    message = str(info.value)
    assert message.startswith("t, statement 1 ('Y[n, i] = sum(X[n, i + k, i + k], k)'):")
    assert "shifted or strided on two axes" in message and "\n" not in message
    # the way out the message names: the diagonal read plainly, then shifted
    table["forward"] = ["G[n, j] = X[n, j, j]", "Y[n, i] = sum(G[n, i + k], k)"]
    defn = define(table)
    module = generated(defn)
    X = np.random.default_rng(5).standard_normal((2, 4, 4))
    out, _ = module.t_forward(X)
    diagonal = np.einsum("nii->ni", X)
    assert np.allclose(out, diagonal[:, :-1] + diagonal[:, 1:])
    assert all(v.passed for v in check(module, defn))


def test_a_size_the_code_cannot_know_is_refused_and_works_once_given():
    from numeric.defined_code import module_source

    table = _table(["Y[n, i] = X[n, 2*i]**2"], {"X": ["N", "H"]}, ranges={"i": "I"}, outputs={"Y": ["N", "I"]})
    with pytest.raises(LayergradError, match=r"the size I \(axis 1 of Y\) is neither an input's size nor given in "
                                             r"sizes"):
        module_source([define(table)])
    defn = define({**table, "sizes": {"I": "H/2"}})
    module = generated(defn)
    X = np.arange(12.0).reshape(2, 6)
    assert np.array_equal(module.t_forward(X)[0], X[:, ::2] ** 2)
    assert all(v.passed for v in check(module, defn))
