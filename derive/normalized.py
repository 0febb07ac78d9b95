r"""The closed form of a defined layer that normalizes: batch normalization's recognition,
found in the derived gradient instead of being written for one layer.

A gradient that the index engine has collected may hold a root of a mean square of the
differentiated input :math:`X`, centred or not,

.. math:: s_\kappa = \sqrt{c \sum_\rho u_{\kappa\rho}^2 + b}, \qquad
          u_{\kappa\rho} = X_{\kappa\rho} - \mu_\kappa \text{ with }
          \mu_\kappa = \frac1M \sum_\rho X_{\kappa\rho}
          \quad\text{or}\quad u_{\kappa\rho} = X_{\kappa\rho},

where :math:`\rho` are the reduced indices (:math:`M` values), :math:`\kappa` the kept ones,
and :math:`c, b` do not depend on :math:`X` (:math:`b = \epsilon`, :math:`c = 1/M` for a mean). The
recognition reads :math:`\rho`, :math:`\kappa`, :math:`c` and :math:`b` off the expression — any
layer whose gradient holds such a root, whatever its name or its statements. It then names

.. math:: s_\kappa, \qquad \hat{x}_{\kappa\rho} = \frac{u_{\kappa\rho}}{s_\kappa},

(each a definition the provers write out), and continues the derivation as batch
normalization's closed form does: name the square root, substitute the input by
:math:`X = s\,\hat{x} + \mu` (:math:`X = s\,\hat{x}` without centring; the :math:`\mu` terms
cancel), apply :math:`\sum_\rho \hat{x}_{\kappa\rho} = 0` where centred, and factor. Every step
is proved by the index engine's normal form with the names written out.

Where no such root is found, or where a step would leave :math:`X` or :math:`\mu` behind (the
input also enters otherwise than through :math:`\hat{x}` and :math:`s`), there is no closed form
and the derivation stays as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from .derivation import Assumption, Derivation
from .errors import LayergradError
from .index import (
    Term,
    ZeroSum,
    abbreviate,
    apply_zero_sums,
    collect,
    index_prover,
    rename_bound,
    substitute,
    sum_constants,
    to_expr,
)

__all__ = ["Normalization", "closed_form_steps", "recognize"]


def _eq(lhs: sp.Expr, rhs: sp.Expr) -> sp.Equality:
    return sp.Eq(lhs, rhs, evaluate=False)


@dataclass(frozen=True)
class Normalization:
    """What was recognised: the root :math:`s` and its definition, :math:`\\hat{x}`, the
    mean :math:`\\mu` (``None`` without centring), the reduced axes and their sizes."""

    entry: sp.Indexed
    root: sp.Expr
    root_value: sp.Expr
    hat: sp.Indexed
    mean: sp.Expr | None
    mean_value: sp.Expr | None
    reduced: tuple[int, ...]
    sizes: tuple[sp.Expr, ...]

    @property
    def centred(self) -> bool:
        return self.mean is not None

    @property
    def definitions(self) -> list[Assumption]:
        """The names as definitions (written out by the provers), the substitution and, where
        centred, the zero sum."""
        x = self.entry
        word = "standard deviation" if self.centred else "root mean square"
        out = [Assumption(word, _eq(self.root, self.root_value),
                          f"{self._name(self.root)} names the square root the layer divides by "
                          f"({'centred' if self.centred else 'not centred'})", unfold=True)]
        if self.centred:
            out.append(Assumption("mean", _eq(self.mean, self.mean_value),
                                  f"{self._name(self.mean)} is the mean the layer subtracts", unfold=True))
            out.append(Assumption("normalize", _eq(self.hat, (x - self.mean) / self.root),
                                  f"the input centred and divided by {self._name(self.root)}", unfold=True))
            out.append(Assumption("centered input", _eq(x, self.root * self.hat + self.mean),
                                  f"the definition of {self._name(self.hat)} solved for {self._name(x)}"))
            out.append(Assumption("Σ x̂ = 0", _eq(self._zero_sum_expr(), 0),
                                  f"{self._name(self.hat)} is centred: its sum over the reduced indices is zero "
                                  f"because {self._name(self.mean)} is the mean"))
        else:
            out.append(Assumption("normalize", _eq(self.hat, x / self.root),
                                  f"the input divided by {self._name(self.root)}", unfold=True))
            out.append(Assumption("normalized input", _eq(x, self.root * self.hat),
                                  f"the definition of {self._name(self.hat)} solved for {self._name(x)}"))
        return out

    @staticmethod
    def _name(entry: sp.Expr) -> str:
        return str(getattr(entry, "base", entry))

    def _zero_sum_expr(self) -> sp.Expr:
        indices = list(self.hat.indices)
        limits = [(indices[a], 0, size - 1) for a, size in zip(self.reduced, self.sizes)]
        return sp.Sum(self.hat, *reversed(limits))

    @property
    def zero_sum(self) -> ZeroSum:
        return ZeroSum(self.hat.base, self.reduced, tuple(sp.S.Zero for _ in self.reduced),
                       tuple(size - 1 for size in self.sizes), "Σ x̂ = 0")


def _fresh(preferred: Sequence[str], taken: set[str]) -> str:
    for name in preferred:
        if name not in taken:
            return name
    name = preferred[0]
    while name in taken:
        name += "_"
    return name


def recognize(terms: Sequence[Term], entry: sp.Indexed, ranges: Mapping[sp.Symbol, sp.Expr],
              taken: set[str]) -> Normalization | None:
    """The normalization in the collected gradient ``terms`` of ``entry``'s array, if any.
    ``ranges`` gives the size each index runs over; ``taken`` the names already in use."""
    if not isinstance(entry, sp.Indexed):
        return None
    array = entry.base
    candidates = []
    for t in terms:
        for p in (t.coeff * t.factor).atoms(sp.Pow):
            if (2 * p.exp).is_odd and p.base.has(array) and p.base.has(sp.Sum) and p.base not in candidates:
                candidates.append(p.base)
    for base in sorted(candidates, key=sp.default_sort_key):
        found = _match(base, entry, ranges, taken)
        if found is not None:
            return found
    return None


def _match(base: sp.Expr, entry: sp.Indexed, ranges, taken: set[str]) -> Normalization | None:
    """``base`` as :math:`c \\sum_\\rho u^2 + b` (see the module docstring; a constant weight
    inside the sum, as in ``mean(2*(X[n, k] - mu[n])**2, k)``, counts towards :math:`c`), or ``None``."""
    array = entry.base
    inner = [a for a in sp.Add.make_args(base) if a.has(array)]
    if len(inner) != 1:
        return None
    sums = [f for f in sp.Mul.make_args(inner[0]) if isinstance(f, sp.Sum)]
    if len(sums) != 1 or (inner[0] / sums[0]).has(array):
        return None
    total = sums[0]
    dummies = [lim[0] for lim in total.limits]
    weight, body = total.function.as_independent(array, *dummies, as_Add=False)  # c·u², c a constant
    if weight.has(sp.Sum) or not (isinstance(body, sp.Pow) and body.exp == 2):
        return None
    u = body.base
    reads = [e for e in u.atoms(sp.Indexed) if e.base == array]
    outer = [e for e in reads if all(i.is_Symbol for i in e.indices) and set(dummies) <= set(e.indices)]
    if len(outer) != 1:
        return None
    x = outer[0]
    if len(set(x.indices)) != len(x.indices):
        return None
    reduced = tuple(pos for pos, i in enumerate(x.indices) if i in dummies)
    sizes = []
    for pos, lim in zip(reduced, (next(lim for lim in total.limits if lim[0] == x.indices[p]) for p in reduced)):
        size = ranges.get(entry.indices[pos])
        if size is None or lim[1] != 0 or sp.simplify(lim[2] - (size - 1)) != 0:
            return None
        sizes.append(size)
    if len(reduced) != len(dummies):
        return None
    kept = {x.indices[p]: entry.indices[p] for p in range(len(x.indices)) if p not in reduced}
    kept_entry = tuple(entry.indices[p] for p in range(len(x.indices)) if p not in reduced)
    count = sp.Mul(*sizes)
    rest = u - x
    mean_value = None
    if rest != 0:
        primes = {d: sp.Dummy(d.name, integer=True) for d in dummies}
        mean = sp.Sum(x.xreplace(primes), *[(primes[d], 0, s - 1) for d, s in
                                            zip((x.indices[p] for p in reduced), sizes)]) / count
        if rename_bound(rest + mean) != 0:
            return None
        mean_value = mean.xreplace(kept)
    names = taken | {str(s) for s in entry.free_symbols}
    hat = sp.IndexedBase(_fresh(["xhat", "Xhat", "zhat"], names), real=True)
    root, mean_entry = (_entry(_fresh(preferred, names), kept_entry) for preferred in (["s", "sigma", "r"],
                                                                                     ["mu", "m", "mean"]))
    shown = names | {str(i) for i in kept_entry}
    return Normalization(entry, root, _readable(sp.sqrt(base.xreplace(kept)), shown), hat[entry.indices],
                         mean_entry if mean_value is not None else None,
                         None if mean_value is None else _readable(mean_value, shown), reduced, tuple(sizes))


def _readable(expr: sp.Expr, taken: set[str]) -> sp.Expr:
    """``expr`` with the bound variable of every sum renamed to a letter of its own (nested
    sums never reuse an outer sum's letter), none of them in ``taken``."""
    expr = rename_bound(expr)
    bound = sorted({lim[0] for s in expr.atoms(sp.Sum) for lim in s.limits}, key=lambda b: b.name)
    pool = [c for c in "klmpqrtuvabcefg" if c not in taken]
    return expr.xreplace({b: sp.Symbol(letter, integer=True) for b, letter in zip(bound, pool)})


def _entry(name: str, indices: tuple[sp.Expr, ...]) -> sp.Expr:
    return sp.IndexedBase(name, real=True)[indices] if indices else sp.Symbol(name, real=True)


def closed_form_steps(d: Derivation, terms: Sequence[Term], found: Normalization) -> bool:
    """Continue ``d`` (whose result is ``terms``, and which declares ``found.definitions``) to
    the closed form; ``False`` (and ``d`` unchanged) where the recognition does not carry
    through — the input or the mean left behind, or a step the prover refuses."""
    prover = index_prover(nested_sums=True)
    root_def = found.definitions[0]
    named = collect(abbreviate(terms, found.root, root_def.statement.rhs))
    substitution = next(a for a in found.definitions if a.name in ("centered input", "normalized input"))
    moved = collect(sum_constants(substitute(named, [substitution])))
    leftover = [found.entry.base] + ([getattr(found.mean, "base", found.mean)] if found.centred else [])
    if any((t.coeff * t.factor).has(b) for t in moved for b in leftover):
        return False
    steps = [(to_expr(named), "name the square root",
              f"{_text(root_def.statement.rhs)} = {found._name(found.root)}, so its powers are powers of "
              f"{found._name(found.root)}")]
    if found.centred:
        mean = found._name(found.mean)
        steps.append((to_expr(moved), "substitute the centered input",
                      f"{substitution.statement.lhs} = {_text(substitution.statement.rhs)} everywhere; "
                      f"the {mean} terms cancel"))
        zero = collect(apply_zero_sums(moved, [found.zero_sum]))
        if zero != moved:
            steps.append((to_expr(zero), "apply Σ x̂ = 0", "every sum of x̂ alone over the reduced indices vanishes"))
        moved = zero
    else:
        steps.append((to_expr(moved), "substitute the normalized input",
                      f"{substitution.statement.lhs} = {_text(substitution.statement.rhs)} everywhere"))
    steps.append((sp.factor(to_expr(moved)), "factor", "take out the common factor"))
    done = len(d.steps)
    try:
        for after, rule, why in steps:
            if after != d.result:
                d.step(after, rule, why, by=prover)
    except LayergradError:  # the recognition was wrong: the prover said so; no closed form
        del d.steps[done:]
        return False
    return True


def _text(expr: sp.Expr) -> str:
    from .printing import text

    return text(expr)
