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


# -- element-wise statements in one buffer ---------------------------------------------------------

CHAINS = [  # (expression, names of the statement's full-size floating arrays)
    ("(1 + X - X*s)*dY*s", {"X", "s", "dY"}),
    ("0.5*(1 + np.tanh(0.7978845608028654*X + 0.035677408136300125*(X*X*X)))*X", {"X"}),
    ("(X - m[:, None])/np.sqrt(v + 1e-5)[:, None]*g + b", {"X"}),
    ("np.exp(-np.abs(X)) + np.maximum(X, 0) - T*X", {"X", "T"}),
    ("-(X*s) / (1 + np.square(s))", {"X", "s"}),
    ("(X > 0)*dY + np.where(X > 0, 0, s)", {"X", "s", "dY"}),
    ("dY / (1 + np.exp(-X)) - s*(X - s)", {"X", "s", "dY"}),  # a plain operand before a computed one
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("expression, full", CHAINS)
def test_a_chain_computes_what_the_expression_computes_bit_for_bit_without_touching_its_operands(expression, full,
                                                                                                  dtype):
    import ast

    from numeric.codegen.inplace import chain, reordered

    rng = np.random.default_rng(11)
    names = {n: rng.standard_normal((6, 5)).astype(dtype) for n in ("X", "s", "dY", "T")}
    names.update(m=rng.standard_normal(6).astype(dtype), v=rng.uniform(1, 2, 6).astype(dtype),
                 g=rng.standard_normal(5).astype(dtype), b=rng.standard_normal(5).astype(dtype))
    before = {n: a.copy() for n, a in names.items()}
    printed = eval(expression, {"np": np}, dict(names))
    operations_first = ast.unparse(reordered(ast.parse(expression, mode="eval").body, full))
    expected = eval(operations_first, {"np": np}, dict(names))
    assert np.allclose(expected, printed, rtol=1e-5 if dtype == np.float32 else 1e-13, atol=0)
    counter = iter(range(100))
    lines = chain("out", expression, full, lambda: f"_s{next(counter)}")
    assert lines is not None and lines[0].startswith("out = ")
    scope = {"np": np, **names}
    exec("\n".join(lines), scope)
    assert scope["out"].dtype == expected.dtype == dtype
    assert np.array_equal(scope["out"], expected)  # the reordered expression's operations: its roundings
    assert all(np.array_equal(names[n], before[n]) for n in names)
    fresh = [line for line in lines if " = np." in line]
    assert len(fresh) <= 2, lines  # one buffer for the result, at most one for a second operand


def test_a_sums_operations_come_first_so_one_buffer_takes_the_rest():
    from numeric.codegen.inplace import chain

    counter = iter(range(100))
    lines = chain("dX", "(Y + s - Y*s)*dY", {"Y", "s", "dY"}, lambda: f"_s{next(counter)}")
    assert lines == ["dX = np.multiply(Y, s)", "np.subtract(Y, dX, out=dX)", "np.add(dX, s, out=dX)",
                     "np.multiply(dX, dY, out=dX)"]
    lines = chain("dX", "X + 1 + a*b - X*s", {"X", "s"}, lambda: f"_s{next(counter)}")  # scalars together
    assert lines[:2] == ["dX = np.multiply(X, s)", "np.subtract((1 + a * b), dX, out=dX)"]


def test_conditions_and_sums_without_an_operation_keep_their_form():
    import ast

    from numeric.codegen.inplace import reordered

    for code in ("(Y + s - Y*s > 0)*dY", "X - (s + dY)", "Y*s + X"):
        tree = ast.parse(code, mode="eval").body
        assert ast.unparse(reordered(tree, {"X", "Y", "s", "dY"})) == ast.unparse(ast.parse(code, mode="eval").body)


def test_a_chain_is_not_made_of_what_has_no_full_size_operand():
    from numeric.codegen.inplace import chain

    assert chain("y", "m[:, None] + 1", {"X"}, lambda: "_s0") is None  # a small array: as it is
    assert chain("y", "_sigmoid(X)", {"X"}, lambda: "_s0") is None  # a call the chain does not know
    assert chain("y", "X*2", {"X"}, lambda: "_s0") == ["y = X*2"]  # one operation: the statement itself
    assert chain("y", "y*2 + X", {"X", "y"}, lambda: "_s0") is None  # reads its own target


@pytest.mark.parametrize("name", ["softplus", "silu", "gelu_erf", "gelu_tanh", "elu", "bce_logits", "rmsnorm"])
def test_generated_element_wise_layers_keep_float32_and_leave_their_inputs_alone(name):
    from pathlib import Path

    defn = define(Path(__file__).resolve().parents[1] / "examples" / "layers" / f"{name}.toml")
    module = generated(defn)
    rng = np.random.default_rng(2)
    args = [rng.standard_normal([{"N": 4, "D": 5}[str(s)] for s in defn.shapes[n]]) for n in defn.arguments]
    single = [a.astype(np.float32) for a in args]
    kept = [a.copy() for a in single]
    forward, backward = getattr(module, f"{name}_forward"), getattr(module, f"{name}_backward")
    out, cache = forward(*single)
    dout = np.ones_like(out)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    assert all(np.array_equal(a, b) for a, b in zip(single, kept)) and np.all(dout == 1)
    out64, cache64 = forward(*args)  # float32 within float32's precision of the float64 values
    assert np.allclose(out, out64, rtol=2e-5, atol=2e-6)
    for g32, g64 in zip(grads, (lambda g: g if isinstance(g, tuple) else (g,))(backward(np.ones_like(out64),
                                                                                     cache64))):
        assert np.allclose(g32, g64, rtol=2e-4, atol=2e-5)


# -- what a module carries -------------------------------------------------------------------------

def _defined_names(source: str) -> tuple[set[str], set[str]]:
    import ast

    tree = ast.parse(source)
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return defined, {c for c in called if c.startswith("_")}


@pytest.mark.parametrize("name, has, lacks", [
    ("softplus", {"_softplus", "_sigmoid", "_floating", "_expect"}, {"_read", "_scatter", "_einsum", "_erf"}),
    ("gelu_erf", {"_erf"}, {"_sigmoid", "_read", "_scatter_sum"}),
    ("depthwise_conv", {"_read", "_einsum", "_offsets", "_scatter_sum", "_whole"}, {"_erf", "_sigmoid"}),
])
def test_a_module_carries_only_the_helpers_its_functions_call(name, has, lacks):
    from pathlib import Path

    from numeric.codegen.module import is_untouched
    from numeric.defined_code import module_source

    source = module_source([define(Path(__file__).resolve().parents[1] / "examples" / "layers" / f"{name}.toml")])
    defined, called = _defined_names(source)
    assert has <= defined and not (lacks & defined)
    assert called <= defined  # every helper called is there (a helper calling another, too: _einsum → _window)
    assert is_untouched(source) and not is_untouched(source.replace("def _", "def  _", 1))


# -- outputs are never views of what was passed in --------------------------------------------------

ALIASES = {
    "identity": (_table(["Y[n, d] = X[n, d]"]), (4, 5)),
    "transpose": (_table(["Y[d, n] = X[n, d]"], outputs={"Y": ["D", "N"]}), (4, 5)),
    "diagonal of a batch": (_table(["Y[n, i] = X[n, i, i]"], {"X": ["N", "D", "D"]}), (3, 4, 4)),
    "through an intermediate": (_table(["Z[n, d] = X[n, d]", "Y[n, d] = Z[n, d]"]), (4, 5)),
}


@pytest.mark.parametrize("name", list(ALIASES))
def test_an_output_that_reads_an_input_is_a_copy(name):
    table, shape = ALIASES[name]
    module = generated(define(table))
    X = np.random.default_rng(4).standard_normal(shape)
    kept = X.copy()
    out, cache = module.t_forward(X)
    assert not np.shares_memory(out, X)
    out[...] = 7.0
    assert np.array_equal(X, kept)
    dout = np.ones(out.shape)
    dX = module.t_backward(dout, cache)
    assert not np.shares_memory(dX, dout)
    dX[...] = 3.0
    assert np.all(dout == 1.0)


def test_an_output_computed_afresh_is_not_copied_again():
    from numeric.defined_code import module_source

    assert ".copy()" not in module_source([define(_table(["Y[n, d] = 2*X[n, d]"]))])


# -- the value at a kink ----------------------------------------------------------------------------

def test_relu_takes_the_course_value_at_the_kink_and_says_so():
    from pathlib import Path

    from numeric.codegen.lowering import KINK_ALONE, KINK_PAIR
    from numeric.defined_code import module_source

    layers = Path(__file__).resolve().parents[1] / "examples" / "layers"
    relu = generated(define(layers / "builtin" / "relu.toml"))
    assert "heaviside" not in module_source([define(layers / "builtin" / "relu.toml")])
    X = np.array([[-1.0, 0.0, -0.0, 2.0]])
    _, cache = relu.relu_forward(X)
    assert np.array_equal(relu.relu_backward(np.full((1, 4), 5.0), cache), [[0, 0, 0, 5]])  # as dout * (x > 0)
    assert KINK_ALONE in relu.relu_backward.__doc__
    leaky = generated(define(layers / "leaky_relu.toml"))  # a tie of two branches: 1/2 each, a subgradient
    _, cache = leaky.leaky_relu_forward(X)
    assert np.allclose(leaky.leaky_relu_backward(np.ones((1, 4)), cache), [[0.01, 0.505, 0.505, 1]])
    assert KINK_PAIR in leaky.leaky_relu_backward.__doc__ and KINK_ALONE not in leaky.leaky_relu_backward.__doc__


# -- element-wise layers against a high-precision reference ------------------------------------------

def _exact_layers():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40

    def sigmoid(v):
        return 1 / (1 + mp.exp(-v))

    def phi(v):  # the normal CDF Φ(v) and density φ(v)
        return (1 + mp.erf(v / mp.sqrt(2))) / 2, mp.exp(-v * v / 2) / mp.sqrt(2 * mp.pi)

    return mp, {
        "softplus": (lambda v: mp.log1p(mp.exp(v)), sigmoid),
        "silu": (lambda v: v * sigmoid(v), lambda v: sigmoid(v) * (1 + v * (1 - sigmoid(v)))),
        "gelu_erf": (lambda v: v * phi(v)[0], lambda v: phi(v)[0] + v * phi(v)[1]),
    }


@pytest.mark.parametrize("name", ["softplus", "silu", "gelu_erf"])
def test_generated_element_wise_layers_match_a_high_precision_reference_in_both_tails(name):
    from pathlib import Path

    mp, layers = _exact_layers()
    value, slope = layers[name]
    module = generated(define(Path(__file__).resolve().parents[1] / "examples" / "layers" / f"{name}.toml"))
    x = np.concatenate([-np.geomspace(1e-8, 30, 200), [0.0], np.geomspace(1e-8, 30, 200)]).reshape(1, -1)
    out, cache = getattr(module, f"{name}_forward")(x)
    grad = getattr(module, f"{name}_backward")(np.ones_like(x), cache)
    exact_out = np.array([float(value(mp.mpf(float(v)))) for v in x[0]])
    exact_grad = np.array([float(slope(mp.mpf(float(v)))) for v in x[0]])
    # relative to the value, except where the definition's own form cancels (1 + erf in GELU's left
    # tail, 1 - σ in SiLU's right one): there within a few ulps of the terms that cancel, |x|·ε
    assert np.all(np.abs(out[0] - exact_out) <= 1e-15 * np.abs(exact_out) + 4e-16 * np.abs(x[0]) * (name != "softplus"))
    assert np.all(np.abs(grad[0] - exact_grad) <= 1e-15 * np.abs(exact_grad) + 4e-16 * np.maximum(1, np.abs(x[0]))
                  * (name != "softplus"))
