r"""Checks of layer functions in the course API: gradients, statistics, conventions.

Statistical checks compare counts with binomial bounds at :data:`Z` standard deviations. The
number of dropped entries among :math:`N` is Binomial(:math:`N`, :math:`1 - q`), so a correct
layer lands within :math:`Z\sqrt{N q (1-q)}` of :math:`N(1-q)` except with probability below
:math:`2 \cdot 10^{-9}`; and NumPy's global random state is seeded before every draw, so a
check gives the same answer on every run.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from derive.dropout import Convention
from derive.errors import LayergradError

from .gradcheck import Verdict, check_vjp

__all__ = ["Z", "check_dropout", "check_module", "load_module", "notebook_mask"]

Z = 6.0
"""Width of the statistical bounds, in standard deviations."""


def notebook_mask(shape: tuple[int, ...], p: float, convention: Convention, seed: int) -> np.ndarray:
    """The scaled mask exactly as the course notebooks draw it after ``np.random.seed(seed)``."""
    q = p if convention is Convention.KEEP else 1 - p
    np.random.seed(seed)
    return (np.random.rand(*shape) < q) / q


def check_dropout(
    forward: Callable, backward: Callable, convention: Convention | str, seed: int = 0
) -> list[Verdict]:
    """Every check of a ``dropout_forward`` / ``dropout_backward`` pair in ``convention``."""
    convention = Convention.parse(convention)
    rng = np.random.default_rng(seed)
    verdicts: list[Verdict] = []
    x = rng.standard_normal((500, 500)) + 10
    n = x.size
    for p in (0.3, 0.6, 0.75):
        q = p if convention is Convention.KEEP else 1 - p
        np.random.seed(seed)
        out, _ = forward(x, {"mode": "train", "p": p})
        zeros = float(np.mean(out == 0))
        bound = Z * np.sqrt(q * (1 - q) / n)
        verdicts.append(Verdict(
            f"dropout_forward zero fraction, p = {p}", abs(zeros - (1 - q)) <= bound,
            abs(zeros - (1 - q)), bound, f"binomial bound ({Z:g}σ)",
            detail=f"{zeros:.4f} of outputs are zero, expected {1 - q:.4f}",
        ))
        spread = Z * np.sqrt(np.sum(x**2) * (1 - q) / q) / n
        gap = abs(float(out.mean()) - float(x.mean()))
        verdicts.append(Verdict(
            f"dropout_forward train-time mean, p = {p}", gap <= spread, gap, spread,
            f"mean within {Z:g}σ",
            detail=f"output mean {out.mean():.4f}, input mean {x.mean():.4f}",
        ))
        out_test, _ = forward(x, {"mode": "test", "p": p})
        same = np.array_equal(out_test, x)
        verdicts.append(Verdict(
            f"dropout_forward test-time identity, p = {p}", same,
            float(np.max(np.abs(np.asarray(out_test) - x))), 0.0, "exact",
        ))
    verdicts += _dropout_gradients(forward, backward, rng)
    verdicts += _dropout_conventions(forward, convention, rng)
    return verdicts


def _dropout_gradients(forward: Callable, backward: Callable, rng: np.random.Generator) -> list[Verdict]:
    x = rng.standard_normal((10, 10)) + 10
    dout = rng.standard_normal(x.shape)
    verdicts = []
    for mode in ("train", "test"):
        param = {"mode": mode, "p": 0.8, "seed": 123}
        _, cache = forward(x, param)
        dx = backward(dout, cache)
        verdicts.append(check_vjp(
            f"dropout_backward ({mode})", lambda xx, param=param: forward(xx, param)[0], x, dout, dx
        ))
    return verdicts


def _dropout_conventions(forward: Callable, convention: Convention, rng: np.random.Generator) -> list[Verdict]:
    x = rng.standard_normal((50, 40))
    param = {"mode": "train", "p": 0.7, "seed": 231}
    first, _ = forward(x, param)
    second, _ = forward(x, param)
    expected = x * notebook_mask(x.shape, 0.7, convention, 231)
    out32, _ = forward(x.astype(np.float32), param)
    return [
        Verdict("dropout_forward seed reproducibility", np.array_equal(first, second),
                float(np.max(np.abs(first - second))), 0.0, "exact"),
        Verdict(
            f"dropout_forward seeded draw ({convention.value} convention)",
            np.array_equal(first, expected), float(np.max(np.abs(first - expected))), 0.0,
            "exact",
            detail="must equal x * mask with the notebooks' mask after np.random.seed(seed)",
        ),
        Verdict("dropout_forward keeps float32", out32.dtype == np.float32, 0.0, 0.0, "dtype",
                detail=f"output dtype {out32.dtype}"),
    ]


def check_module(module: ModuleType, convention: Convention | str | None = None) -> list[Verdict]:
    """Check every course-API layer function ``module`` defines.

    The dropout convention comes from ``convention`` or, for exported modules, from the
    module's ``DROPOUT_CONVENTION``; it is never guessed."""
    verdicts: list[Verdict] = []
    if hasattr(module, "dropout_forward") and hasattr(module, "dropout_backward"):
        declared = getattr(module, "DROPOUT_CONVENTION", None)
        chosen = convention if convention is not None else declared
        if chosen is None:
            raise LayergradError(
                f"{module.__name__} defines dropout but not its convention; pass "
                "--dropout-p keep (p is the keep probability) or --dropout-p drop (p is the drop rate)"
            )
        verdicts += check_dropout(module.dropout_forward, module.dropout_backward, chosen)
    if not verdicts:
        raise LayergradError(f"{module.__name__} defines no layer function layergrad can check")
    return verdicts


def load_module(path: str | Path) -> ModuleType:
    """Import the Python file at ``path`` as a fresh module.

    A missing file or a module that fails to import raises :class:`LayergradError` whose
    message shows the import error in one readable block (the last lines of its traceback)."""
    path = Path(path)
    if not path.is_file():
        raise LayergradError(f"{path} is not a file; expected a Python module such as layers.py")
    name = f"_layergrad_checked_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LayergradError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # someone else's code: report whatever it raised
        if isinstance(exc, KeyboardInterrupt):
            raise
        lines = traceback.format_exception_only(type(exc), exc)
        raise LayergradError(f"{path} failed to import:\n  " + "  ".join(lines).rstrip()) from None
    finally:
        sys.path.remove(folder)
    return module
