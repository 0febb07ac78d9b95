r"""Check an implementation of a defined layer against its definition.

For ``{name}_forward`` / ``{name}_backward`` written by someone (or generated), at a random
point in float64 with small sizes that make every derived size whole (sizes written as
numbers are kept; an array of more than :data:`MAX_ENTRIES` entries is refused):

* the forward pass equals the definition's generated forward pass;
* each gradient the backward pass returns equals the finite-difference gradient of the
  *implementation's own* forward pass, :math:`\nabla_x \langle G, f(x) \rangle` with a random
  upstream gradient :math:`G` (:func:`numeric.gradcheck.check_vjp`);
* each gradient equals the generated backward pass's.

:func:`check_file` does the same for a Python file in a child process
(:mod:`numeric.checks.remote`): the submission never runs in the checker's process, answers
calls in plain data, and every verdict is computed by the checker. :func:`module_report` groups
its verdicts by function into the report ``layergrad check`` gives for the built-in layers (the
JSON an autograder bundle reads).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
import types
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import sympy as sp

from derive.define import Definition
from derive.errors import LayergradError

from .checks.report import FunctionReport, ModuleReport
from .defined_code import module_source
from .gradcheck import Verdict, check_vjp, rel_error

__all__ = ["MAX_ENTRIES", "check", "check_file", "generated", "module_report", "sample", "sizes_for"]

MAX_ENTRIES = 10**7
"""The most entries of one array the checker samples (80 MB in float64)."""


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


def _small_enough(defn: Definition, sizes: Mapping[str, int]) -> None:
    """Refuse a definition whose arrays at ``sizes`` (its literal sizes as written) would hold more
    than :data:`MAX_ENTRIES` entries each: too large to sample and to check by finite differences."""
    for name in defn.shapes:
        shape = _shape(defn, name, sizes)
        if math.prod(shape) > MAX_ENTRIES:
            raise LayergradError(f"{defn.name}: {name} has shape {shape}, {math.prod(shape):,} entries, too many to "
                                 f"check (at most {MAX_ENTRIES:,} per array); give its sizes as names, such as D, "
                                 "and the checker picks small ones")


def sample(defn: Definition, sizes: Mapping[str, int] | None = None, seed: int = 0) -> list[np.ndarray]:
    """Random float64 arguments: standard normal inputs and params, data uniform in [0, 1)."""
    sizes = sizes_for(defn, sizes)
    _small_enough(defn, sizes)
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


def check_file(path: str | Path, definitions: Sequence[Definition], *, timeout: float = 60.0,
               seed: int = 0) -> list[Verdict]:
    """:func:`check` of the Python file at ``path`` for each definition. The file runs in the
    checker's sandboxed child (:mod:`numeric.checks.remote`), which only imports it and answers calls
    in plain data; every verdict is computed here."""
    from .checks.isolation import Limits, Sandbox
    from .checks.remote import ChildFailed, Raised, RemoteModule, Session
    from .checks.text import clean

    path = Path(path)
    if not path.is_file():
        raise LayergradError(f"{path} is not a file; expected a Python module such as layers.py")
    for d in definitions:  # before the submission runs: a definition the checker cannot sample is refused
        _small_enough(d, sizes_for(d))
    session = Session(path.read_bytes(), Sandbox.detect(), Limits(timeout=timeout))
    verdicts: list[Verdict] = []
    try:
        for d in definitions:
            names = [f"{d.name}_forward", f"{d.name}_backward"]
            try:
                worker = session.worker(time.monotonic() + timeout,
                                        f"did not finish within {timeout:g} s (an endless loop?)")
                reply = worker.load(names)
                if "import_error" in reply:
                    raise ChildFailed("failed to import", broken=False)
                defined = [n for n in reply.get("defined") or [] if n in names]
                verdicts += check(RemoteModule(worker, defined), d, seed=seed)  # type: ignore[arg-type]
                worker.end()
            except Raised as exc:
                session.reset()
                words = ": ".join(clean(str(exc.facts.get(k, ""))) for k in ("type", "message") if exc.facts.get(k))
                verdicts.append(Verdict(d.name, False, np.inf, 0.0, "run", detail=f"raised {words}"))
            except ChildFailed as exc:
                session.reset()
                verdicts.append(Verdict(d.name, False, np.inf, 0.0, "run", detail=clean(exc.reason)))
            except LayergradError as exc:  # a function missing from the submission: it fails, the others go on
                session.reset()
                verdicts.append(Verdict(d.name, False, np.inf, 0.0, "run", detail=clean(str(exc))))
    finally:
        session.close()
    return verdicts


def module_report(path: str | Path, definitions: Sequence[Definition], verdicts: Sequence[Verdict]) -> ModuleReport:
    """:func:`check_file`'s verdicts as the report of the built-in checker: one function report for
    each definition's ``{name}_forward`` and ``{name}_backward`` holding the verdicts named after it,
    each name ending in the one case they ran on (``, at N=3 D=4``: the sizes :func:`sizes_for`
    picks), so that an autograder's visible checks are all of them; a verdict named after the layer
    (it could not run: a missing function, an exception, a time limit) fails both, its detail as
    their note."""
    functions = []
    for d in definitions:
        case = ", at " + " ".join(f"{k}={v}" for k, v in sizes_for(d).items())
        whole = [v for v in verdicts if v.name == d.name]
        for name in (f"{d.name}_forward", f"{d.name}_backward"):
            own = [dataclasses.replace(v, name=v.name + case) for v in verdicts
                   if v.name == name or v.name.startswith(name + " ")]
            if whole:
                functions.append(FunctionReport(name, d.name, own, "fail", "; ".join(v.detail for v in whole)))
            else:
                functions.append(FunctionReport(name, d.name, own))
    return ModuleReport(str(path), functions)
