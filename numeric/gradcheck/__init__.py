r"""Gradient validation that cannot be fooled, in NumPy alone.

* :mod:`.differences` — central differences and complex step, all perturbed inputs through
  one forward call where the function broadcasts over a leading axis;
* :mod:`.points` — float64 enforcement, evaluation points away from kinks and ties;
* :mod:`.tolerance` — tolerances derived from the step size and the dtype;
* :mod:`.checks` — vector–Jacobian, Jacobian–vector and second-order checks, always with a
  random upstream gradient or projection;
* :mod:`.verdict` — the outcome: pass/fail, worst error, where, tolerance, method, diagnosis.
"""

from .checks import check_jvp, check_projections, check_second_order, check_vjp, choose_method
from .differences import (
    EPS,
    Estimate,
    Evaluator,
    directional,
    estimate_gradient,
    numerical_gradient,
    scale_of,
    step,
)
from .points import as_float64, away_from_kinks, require_float64, without_ties
from .tolerance import SAFETY, Tolerance
from .verdict import Verdict, rel_error

__all__ = [
    "EPS",
    "SAFETY",
    "Estimate",
    "Evaluator",
    "Tolerance",
    "Verdict",
    "as_float64",
    "away_from_kinks",
    "check_jvp",
    "check_projections",
    "check_second_order",
    "check_vjp",
    "choose_method",
    "directional",
    "estimate_gradient",
    "numerical_gradient",
    "rel_error",
    "require_float64",
    "scale_of",
    "step",
    "without_ties",
]
