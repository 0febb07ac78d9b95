r"""The corners of a layer's parameter domain, derived from its declared parameters.

A layer declares its integer parameters with their domains, :math:`p \in [\text{low},
\text{high}(\text{case})]` (``high`` may depend on the other parameters: a kernel fits the
padded input, :math:`HH \le H + 2P`; ``None``: unbounded), some of them moved together (the
two sides of a kernel). From a base case, :func:`corners` moves one declared parameter (or
group) at a time to each end of its domain and repairs the sizes that must stay whole (an
output size :math:`1 + (H + 2P - HH)/S`), so the checks meet pad = 0, stride = 1, a 1×1
kernel, a kernel as large as the input, a batch of one, one channel, one filter — whatever the
declaration implies, without a list written by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Parameter", "corners"]

Case = dict[str, int]


@dataclass(frozen=True)
class Parameter:
    """Declared parameters ``names`` (moved together) with the domain ``[low, high(case, name)]``."""

    names: tuple[str, ...]
    low: int
    high: Callable[[Case, str], int] | None = None
    words: str = ""
    """How to say the corner (``"{name} = {value}"`` by default)."""


def corners(base: Case, parameters: Sequence[Parameter],
            repair: Callable[[Case], Case | None]) -> list[tuple[str, Case]]:
    """``(label, case)`` for each end of each parameter's domain that differs from ``base``, repaired
    (``repair`` returns a valid case near the one given, or ``None`` to drop it); each case once."""
    found: list[tuple[str, Case]] = []
    for parameter in parameters:
        ends = [("low", lambda case, name, p=parameter: p.low)]
        if parameter.high is not None:
            ends.append(("high", parameter.high))
        for end, value in ends:
            case = dict(base)
            for name in parameter.names:
                case[name] = value(base, name)
            if all(case[n] == base[n] for n in parameter.names):
                continue
            repaired = repair(case)
            if repaired is None or any(repaired == c for _, c in found) or repaired == base:
                continue
            values = ", ".join(f"{n} = {repaired[n]}" for n in parameter.names)
            label = parameter.words.format(end=end, values=values) if parameter.words else values
            found.append((label, repaired))
    return found
