"""Renaming the symbols of an expression without SymPy asking again what it already knows
(:func:`renamed`): the index engine renames bound variables all the time (fresh dummies for
every sum it multiplies out, canonical names for every term it collects), and each renamed
sum would otherwise be searched through anew for properties such as being finite."""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp

__all__ = ["renamed", "shared"]


def renamed(expr: sp.Basic, mapping: Mapping[sp.Symbol, sp.Symbol], *, apart: bool = False) -> sp.Basic:
    r"""``expr.xreplace(mapping)`` where ``mapping`` is a *renaming*: symbols to symbols with the
    same assumptions, no two to the same one (any other mapping is left to ``xreplace``).

    A renaming :math:`\rho` changes no property of a sub-expression :math:`e` in which no
    target occurs already (:math:`\rho(e)` is positive, finite, zero… exactly when :math:`e` is),
    so each such :math:`e` and its renamed copy share SymPy's record of settled properties
    (:func:`shared`), from before the copy's parent is built: the parent's evaluation asks its
    arguments those questions (``Pow`` asks whether each term of a two-term base is infinite,
    which for a sum means a search through its summand) and finds the answers instead of
    searching again. Every sub-expression is still built by SymPy from its renamed arguments,
    as ``xreplace`` builds it, so the result is the same expression.

    ``apart=True`` allows two symbols to take the same name where they never occur together
    in a sub-expression, as the bound variables of two sums side by side that
    :func:`derive.index.rename_bound` names alike (a sub-expression holding both sums is only
    renamed inside them, and keeps its value)."""
    if not _is_renaming(mapping, apart):
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
                shared(e, out)
        done[e] = (out, clean)
        return out, clean

    return walk(expr)[0]


def _is_renaming(mapping: Mapping[sp.Symbol, sp.Symbol], apart: bool = False) -> bool:
    """Does ``mapping`` send symbols to symbols with the same assumptions, distinct ones unless
    ``apart`` (see :func:`renamed`)?"""
    if not apart and len(set(mapping.values())) != len(mapping):
        return False
    return all(isinstance(k, sp.Symbol) and isinstance(v, sp.Symbol) and k.assumptions0 == v.assumptions0
               for k, v in mapping.items())


def shared(old: sp.Basic, new: sp.Basic) -> None:
    """Let ``old`` and its renamed copy ``new`` share one record of settled properties: what
    SymPy has settled for either so far, and what it settles for either from now on (a copy
    is built afresh for every sum multiplied out, while the original stays, so the next copy
    starts from everything learnt about the earlier ones)."""
    if type(new) is not type(old) or len(new.args) != len(old.args):
        return
    if old._assumptions is old.default_assumptions:
        old._assumptions = old.default_assumptions.copy()
    record = old._assumptions
    mine = new._assumptions
    if mine is record:
        return
    if mine is not new.default_assumptions:
        for fact, value in mine.items():
            if record.get(fact) is None:
                record[fact] = value
    new._assumptions = record
