"""What the checker knows about a layer: one entry per layer, read by every part of the checker.

A :class:`LayerChecks` entry lists the course-API functions of a layer, for each the check
that runs it (:class:`FunctionCheck`) and the mistakes the checks recognize
(:class:`Mistake`): a key that reports and tests refer to, and what it means in plain words.
A check receives a :class:`Context` — the module under check, the dropout convention, the
seed, random streams, layergrad's own generated reference — and returns verdicts. Whatever
the module's code raises becomes a :class:`StudentError` with a plain-words description.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from derive.dropout import Convention

from ..gradcheck import Verdict
from .text import clean
from .wire import exception_facts

__all__ = [
    "DTYPE_CHANGED",
    "FORWARD_WRONG",
    "RAISED",
    "REFUSED",
    "WRITES_INPUT",
    "Context",
    "FunctionCheck",
    "LayerChecks",
    "Mistake",
    "StudentError",
    "describe_exception",
    "describe_facts",
    "guarded",
    "names",
]


@dataclass(frozen=True)
class Mistake:
    """A mistake the checker recognizes: ``key`` for reports and tests, ``summary`` for people."""

    key: str
    summary: str


@dataclass(frozen=True)
class FunctionCheck:
    """The check of one course-API function; ``needs`` are the other functions it calls."""

    name: str
    run: Callable[[Context], list[Verdict]]
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerChecks:
    """A layer's entry in the checker's table."""

    layer: str
    functions: tuple[FunctionCheck, ...]
    mistakes: tuple[Mistake, ...]
    needs_convention: bool = False

    def mistake(self, key: str) -> Mistake:
        return next(m for m in self.mistakes if m.key == key)


RAISED = Mistake("raised", "the function raised an exception or exited")


REFUSED = Mistake("refused", "the function cannot be checked numerically (e.g. it computes in float32)")
DTYPE_CHANGED = Mistake("dtype-changed", "the output's dtype differs from the input's")
FORWARD_WRONG = Mistake("forward-wrong", "a backward pass that cannot match while its forward pass is wrong")
WRITES_INPUT = Mistake("writes-input", "the function writes into an input array (the caller's array changes)")


class StudentError(Exception):
    """The module under check raised (or exited); the message says what and where in plain words,
    ``mistake`` names it for reports."""

    def __init__(self, words: str, mistake: str = RAISED.key):
        super().__init__(words)
        self.mistake = mistake


def describe_exception(exc: BaseException, function: str, path: Path | None) -> str:
    """``dropout_forward raised KeyError: 'seed' (layers.py, line 12: p = dropout_param['seed'])``."""
    return describe_facts(exception_facts(exc, str(path) if path is not None else None), function,
                          path.name if path is not None else None)


def describe_facts(facts: dict[str, Any], function: str, filename: str | None) -> str:
    """The words for an exception described by ``facts`` (:func:`~numeric.checks.wire.exception_facts`,
    perhaps from a child: every text is cleaned and cut)."""
    kind, kind_name = facts.get("kind"), clean(str(facts.get("type", "")), 80)
    message = clean(str(facts.get("message", "")), 300)
    if kind == "exit":
        what = f"called sys.exit({clean(str(facts.get('code', '')), 80)})"
    elif kind == "memory":
        what = "ran out of memory (MemoryError: it allocates more than the memory limit)"
    elif kind == "read-only":
        what = "writes into an input array in place (the caller's array would change); compute a new array instead"
    elif kind == "recursion":
        what = "recursed without end (RecursionError)"
    else:
        what = f"raised {kind_name}" + (f": {message}" if message else "")
    line = facts.get("line")
    where = ""
    if filename is not None and isinstance(line, int):
        where = f" ({clean(filename, 80)}, line {line}: {clean(str(facts.get('source', '')), 160)})"
    return f"{function} {what}{where}"


def guarded(name: str, thunk: Callable[[], list[Verdict]]) -> list[Verdict]:
    """Run one group of checks; if the module's code raised, that group is one failed verdict."""
    try:
        return thunk()
    except StudentError as exc:
        return [Verdict(name, False, np.inf, 0.0, "call", mistake=exc.mistake, diagnosis=str(exc))]


@dataclass
class Context:
    """What a check works with: the module, the dropout convention, the seed, a reference."""

    module: ModuleType
    path: Path | None = None
    convention: Convention | None = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    display: str | None = None
    """The module's file name as reports show it (its path may be a private copy's)."""

    def fn(self, name: str) -> Callable[..., Any]:
        """The module's function ``name``, raising :class:`StudentError` for whatever it raises;
        ``fn(name).seeded(seed, *args)`` calls it after seeding NumPy's global random state."""
        from .remote import Raised

        function = getattr(self.module, name)
        path = self.path
        display = self.display or (path.name if path is not None else None)

        def run(call: Callable[[], Any]) -> Any:
            try:
                with np.errstate(all="ignore"):  # overflow is judged by the results, not printed
                    return call()
            except Raised as exc:
                raise StudentError(describe_facts(exc.facts, name, display),
                                   WRITES_INPUT.key if exc.facts.get("kind") == "read-only" else RAISED.key) from None
            except (Exception, SystemExit) as exc:
                facts = exception_facts(exc, str(path) if path is not None else None)
                raise StudentError(describe_facts(facts, name, display),
                                   WRITES_INPUT.key if facts["kind"] == "read-only" else RAISED.key) from None

        def call(*args: Any, **kwargs: Any) -> Any:
            return run(lambda: function(*args, **kwargs))

        def seeded(seed: int, *args: Any, **kwargs: Any) -> Any:
            if hasattr(function, "seeded"):
                return run(lambda: function.seeded(seed, *args, **kwargs))

            def draw() -> Any:
                np.random.seed(seed)
                return function(*args, **kwargs)

            return run(draw)

        call.seeded = seeded  # type: ignore[attr-defined]
        return call

    def rng(self, *salt: str) -> np.random.Generator:
        """An independent random stream for each (seed, salt): checks do not share draws."""
        return np.random.default_rng([self.seed, zlib.crc32("/".join(salt).encode())])

    @cached_property
    def reference(self) -> ModuleType:
        """layergrad's generated module in this context's dropout convention."""
        from .reference import reference_module

        return reference_module(self.convention or Convention.KEEP)

    def q(self, p: float) -> float:
        """The keep probability that the API's ``p`` means in this context's convention."""
        return p if self.convention is Convention.KEEP else 1 - p


def names(checks: Sequence[LayerChecks]) -> list[str]:
    """Every function name in ``checks``, in table order."""
    return [f.name for entry in checks for f in entry.functions]
