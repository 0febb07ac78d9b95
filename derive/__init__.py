"""Symbolic layer of layergrad: derivations of layers, checked step by step with SymPy."""

from .derivation import Assumption, Derivation, Prover, Step, by_sympy, unfold
from .errors import LayergradError

__all__ = ["Assumption", "Derivation", "LayergradError", "Prover", "Step", "by_sympy", "unfold"]
