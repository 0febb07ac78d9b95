"""The machine's limits themselves (see :mod:`numeric.bench.limits`), as rows with a rate."""

from __future__ import annotations

from .core import Row, Work
from .limits import LIMITS

__all__ = ["rows"]


def rows(quick: bool) -> list[Row]:
    return [
        Row(name=limit.name, group="machine", size=limit.size(quick), dtype=limit.dtype,
            contenders=("numpy",), setup=lambda limit=limit: {"numpy": limit.build(quick)},
            work=Work(limit.amount(quick), limit.unit), memory=False)
        for limit in LIMITS.values()
    ]
