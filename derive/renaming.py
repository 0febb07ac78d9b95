"""Renaming the symbols of an expression without SymPy asking again what it already knows
(:func:`renamed`): the index engine renames bound variables all the time (fresh dummies for
every sum it multiplies out, canonical names for every term it collects), and each renamed
sum would otherwise be searched through anew for properties such as being finite."""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp

__all__ = ["renamed"]


def renamed(expr: sp.Basic, mapping: Mapping[sp.Symbol, sp.Symbol]) -> sp.Basic:
    r"""``expr.xreplace(mapping)`` where ``mapping`` is a *renaming*: symbols to symbols with the
    same assumptions, no two to the same one (any other mapping is left to ``xreplace``).

    A renaming :math:`\rho` changes no property of a sub-expression :math:`e` in which no
    target occurs already (:math:`\rho(e)` is positive, finite, zero… exactly when :math:`e` is),
    so what SymPy has settled about each such :math:`e` is told to its renamed copy before the
    copy's parent is built: the parent's evaluation asks its arguments those questions (``Pow``
    asks whether each term of a two-term base is infinite, which for a sum means a search
    through its summand) and finds the answers instead of searching again. Every
    sub-expression is still built by SymPy from its renamed arguments, as ``xreplace`` builds
    it, so the result is the same expression."""
    if not _is_renaming(mapping):
        return expr.xreplace(mapping)
    targets = set(mapping.values())
    done: dict[sp.Basic, tuple[sp.Basic, bool]] = {}

    def walk(e: sp.Basic) -> tuple[sp.Basic, bool]:
        """``e`` renamed, and whether no target occurs in ``e`` (then its facts carry over)."""
        if e in mapping:
            return mapping[e], True
        if not e.args:
            return e, e not in targets
        if e in done:
            return done[e]
        pairs = [walk(a) if isinstance(a, sp.Basic) else (a, True) for a in e.args]
        clean = all(c for _, c in pairs)
        if all(a is b for (a, _), b in zip(pairs, e.args)):
            out = e
        else:
            out = e.func(*(a for a, _ in pairs))
            if clean:
                _told(e, out)
        done[e] = (out, clean)
        return out, clean

    return walk(expr)[0]


def _is_renaming(mapping: Mapping[sp.Symbol, sp.Symbol]) -> bool:
    """Does ``mapping`` send symbols to distinct symbols with the same assumptions (see :func:`renamed`)?"""
    if len(set(mapping.values())) != len(mapping):
        return False
    return all(isinstance(k, sp.Symbol) and isinstance(v, sp.Symbol) and k.assumptions0 == v.assumptions0
               for k, v in mapping.items())


def _told(old: sp.Basic, new: sp.Basic) -> sp.Basic:
    """``new``, the renamed copy of ``old``, told every property SymPy has settled for ``old``."""
    if type(new) is not type(old) or len(new.args) != len(old.args):
        return new
    known = old._assumptions
    if known is old.default_assumptions or not known:
        return new
    if new._assumptions is new.default_assumptions:
        new._assumptions = new.default_assumptions.copy()
    mine = new._assumptions
    for fact, value in known.items():
        if fact not in mine:
            mine[fact] = value
    return new
