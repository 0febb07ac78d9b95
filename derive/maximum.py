r"""The unevaluated maximum :math:`\max_{c = lo}^{hi} f(c)` (:class:`Maximum`), in a module of
its own so that layers defined in TOML read ``max`` without importing the softmax layer's
derivations; :mod:`derive.softmax` re-exports it."""

from __future__ import annotations

from sympy.concrete.expr_with_limits import ExprWithLimits

__all__ = ["Maximum"]


class Maximum(ExprWithLimits):
    r""":math:`\max_{c = lo}^{hi} f(c)`, unevaluated: ``Maximum(f, (c, lo, hi))``."""

    def _sympystr(self, printer) -> str:
        names = ",".join(printer._print(limit[0]) for limit in self.limits)
        return f"max_{{{names}}} {printer._print(self.function)}"

    def _latex(self, printer) -> str:
        names = ",".join(printer._print(limit[0]) for limit in self.limits)
        return rf"\max_{{{names}}} {printer._print(self.function)}"
