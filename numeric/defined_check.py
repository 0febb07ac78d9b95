r"""Check an implementation of a defined layer against its definition.

For ``{name}_forward`` / ``{name}_backward`` written by someone (or generated), at a random
point in float64 with small sizes that make every derived size whole:

* the forward pass equals the definition's generated forward pass;
* each gradient the backward pass returns equals the finite-difference gradient of the
  *implementation's own* forward pass, :math:`\nabla_x \langle G, f(x) \rangle` with a random
  upstream gradient :math:`G` (:func:`numeric.gradcheck.check_vjp`);
* each gradient equals the generated backward pass's.

:func:`check_file` does the same for a Python file in a child process
(:func:`numeric.checks.isolation.run_isolated`): the submission never runs in the checker's
process, and only plain verdicts come back.
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import sympy as sp

from derive.define import Definition, define
from derive.errors import LayergradError

from .defined_code import module_source
from .gradcheck import Verdict, check_vjp, rel_error

__all__ = ["check", "check_file", "generated", "sample", "sizes_for"]


def generated(defn: Definition) -> types.ModuleType:
    """The definition's generated module, imported from its source in memory."""
    module = types.ModuleType(f"layergrad_defined_{defn.name}")
    exec(compile(module_source([defn]), f"<layergrad defined {defn.name}>", "exec"), module.__dict__)
    return module


def sizes_for(defn: Definition, sizes: Mapping[str, int] | None = None) -> dict[str, int]:
    """Small sizes, distinct where possible, for the definition's base sizes (those given in ``sizes`` kept) such
    that every derived size is a positive whole number with the constants' defaults."""
    given = dict(sizes or {})
    free = [s for s in defn.base_sizes if s not in given]
    constants = {defn.symbols[k]: v for k, v in defn.constants.items()}
    combos = list(itertools.islice(itertools.product(*([range(3, 8)] * len(free))), 5000))
    combos.sort(key=lambda values: len(set(values)) != len(values))  # distinct sizes first: a transpose shows
    for values in combos:
        pick = {**given, **dict(zip(free, values))}
        table = {defn.symbols[k]: v for k, v in pick.items()} | constants
        derived = [sp.sympify(f).xreplace(table) for f in defn.derived_sizes.values()]
        if all(d.is_integer and d > 0 for d in derived):
            return pick
    raise LayergradError(f"no small sizes make the derived sizes of {defn.name} whole numbers; give them")


def _shape(defn: Definition, name: str, sizes: Mapping[str, int]) -> tuple[int, ...]:
    table = {defn.symbols[k]: v for k, v in sizes.items()}
    table |= {defn.symbols[k]: v for k, v in defn.constants.items()}
    for k, f in defn.derived_sizes.items():
        table[defn.symbols[k]] = sp.sympify(f).xreplace(table)
    return tuple(int(sp.sympify(s).xreplace(table)) for s in defn.shapes[name])


def sample(defn: Definition, sizes: Mapping[str, int] | None = None, seed: int = 0) -> list[np.ndarray]:
    """Random float64 arguments: standard normal inputs and params, data uniform in [0, 1)."""
    sizes = sizes_for(defn, sizes)
    rng = np.random.default_rng(seed)
    out = []
    for name in defn.arguments:
        shape = _shape(defn, name, sizes)
        out.append(rng.random(shape) if name in defn.data else rng.standard_normal(shape))
    return out


def _function(module: types.ModuleType, name: str):
    f = getattr(module, name, None)
    if not callable(f):
        raise LayergradError(f"the module has no function {name}")
    return f


def check(module: types.ModuleType, defn: Definition, *, sizes: Mapping[str, int] | None = None,
          seed: int = 0) -> list[Verdict]:
    """Verdicts for ``module``'s ``{name}_forward`` / ``{name}_backward`` against ``defn``."""
    forward = _function(module, f"{defn.name}_forward")
    backward = _function(module, f"{defn.name}_backward")
    reference = generated(defn)
    ref_forward = getattr(reference, f"{defn.name}_forward")
    ref_backward = getattr(reference, f"{defn.name}_backward")
    args = sample(defn, sizes, seed)
    rng = np.random.default_rng(seed + 1)
    verdicts = []
    out, cache = forward(*[a.copy() for a in args])
    expected, ref_cache = ref_forward(*[a.copy() for a in args])
    out = np.asarray(out, dtype=float)
    same_shape = out.shape == np.shape(expected)
    error = rel_error(out, expected) if same_shape else np.inf
    verdicts.append(Verdict(f"{defn.name}_forward", same_shape and error < 1e-7, error, 1e-7,
                            "against the definition",
                            detail="" if same_shape else f"shape {out.shape}, expected {np.shape(expected)}"))
    dout = rng.standard_normal(np.shape(expected))
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    ref_grads = ref_backward(dout, ref_cache)
    ref_grads = ref_grads if isinstance(ref_grads, tuple) else (ref_grads,)
    if len(grads) != len(defn.differentiated):
        verdicts.append(Verdict(f"{defn.name}_backward", False, np.inf, 0.0, "returned values",
                                detail=f"returned {len(grads)} gradients, expected {len(defn.differentiated)} "
                                       f"({', '.join(defn.differentiated)})"))
        return verdicts
    for position, name in enumerate(defn.differentiated):
        at = defn.arguments.index(name)

        def f(x: np.ndarray, at: int = at) -> np.ndarray:
            values = [a.copy() for a in args]
            values[at] = x
            return np.asarray(forward(*values)[0], dtype=float)

        analytic = np.asarray(grads[position], dtype=float)
        verdicts.append(check_vjp(f"{defn.name}_backward d{name} (finite differences)", f, args[at].copy(),
                                  dout, analytic, method="central", batched=False))
        same = analytic.shape == np.shape(ref_grads[position])
        error = rel_error(analytic, ref_grads[position]) if same else np.inf
        verdicts.append(Verdict(f"{defn.name}_backward d{name} (derived)", same and error < 1e-7, error, 1e-7,
                                "against the definition's derived gradient",
                                detail="" if same else f"shape {analytic.shape}, expected "
                                                       f"{np.shape(ref_grads[position])}"))
    return verdicts


def _in_child(path: str, source: dict, sizes: dict | None, seed: int) -> list[Verdict]:
    from .checks.runner import load_module

    return check(load_module(path), define(source), sizes=sizes, seed=seed)


def check_file(path: str | Path, definitions: Sequence[Definition], *, timeout: float = 60.0,
               seed: int = 0) -> list[Verdict]:
    """:func:`check` of the Python file at ``path`` for each definition, each in a child process."""
    from .checks.isolation import Limits, run_isolated

    path = Path(path)
    if not path.is_file():
        raise LayergradError(f"{path} is not a file; expected a Python module such as layers.py")
    tasks = [(_in_child, (str(path), dict(d.table), None, seed)) for d in definitions]
    verdicts = []
    for d, outcome in zip(definitions, run_isolated(tasks, Limits(timeout=timeout))):
        if outcome.failure:
            verdicts.append(Verdict(d.name, False, np.inf, 0.0, "run", detail=outcome.failure))
        else:
            verdicts += outcome.value
    return verdicts
