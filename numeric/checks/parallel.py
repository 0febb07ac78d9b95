"""Run layergrad's own work in parallel: forked children, each with a time and a memory limit.

For trusted code only (tests, benchmarks: results come back pickled). Someone else's code is
never run this way: :mod:`.isolation` and :mod:`.remote` confine it and speak plain data.
Each task runs in a forked child whose output goes to ``/dev/null``; a task that loops past
``timeout``, crashes or exits fails with a plain-words reason instead of a value.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import resource
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from .isolation import Limits

__all__ = ["Outcome", "run_parallel"]


@dataclass(frozen=True)
class Outcome:
    """A task's result, or why there is none (``failure`` in plain words)."""

    value: Any = None
    failure: str = ""
    seconds: float = 0.0


def _limit_memory(megabytes: int) -> None:
    with open("/proc/self/statm") as stream:
        size = int(stream.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + megabytes * 2**20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _child(conn: Connection, target: Callable[..., Any], args: tuple, memory_mb: int) -> None:
    try:
        faulthandler.disable()  # a crash is reported by the parent, not dumped on the terminal
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        _limit_memory(memory_mb)
        result: tuple[str, Any] = ("ok", target(*args))
    except MemoryError:
        result = ("failed", f"ran out of memory (more than the {memory_mb} MB limit)")
    except BaseException as exc:  # someone else's code may raise anything, SystemExit included
        result = ("failed", f"{type(exc).__name__}: {exc}")
    try:
        conn.send(result)
    except Exception as exc:
        conn.send(("failed", f"its result could not be sent back: {exc}"))
    conn.close()
    os._exit(0)


def _ended(code: int | None, limits: Limits) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        extra = " (the system stopped it, most likely for memory)" if -code == signal.SIGKILL else ""
        return f"crashed: the process was killed by {name}{extra}"
    return f"ended the process (exit code {code}) before finishing: os._exit or a crash in compiled code?"


def run_parallel(
    tasks: Sequence[tuple[Callable[..., Any], tuple]],
    limits: Limits | None = None,
    jobs: int | None = None,
    on_done: Callable[[int, Outcome], None] | None = None,
) -> list[Outcome]:
    """Run each ``(target, args)`` in its own child, up to ``jobs`` at a time; outcomes in task order."""
    jobs = max(1, jobs or os.cpu_count() or 1)
    limits = limits or Limits()
    context = multiprocessing.get_context("fork")
    pending = deque(enumerate(tasks))
    running: dict[Connection, tuple[int, multiprocessing.process.BaseProcess, float]] = {}
    outcomes: list[Outcome | None] = [None] * len(tasks)

    def finish(index: int, outcome: Outcome) -> None:
        outcomes[index] = outcome
        if on_done is not None:
            on_done(index, outcome)

    while pending or running:
        while pending and len(running) < jobs:
            index, (target, args) = pending.popleft()
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(writer, target, args, limits.memory_mb), daemon=True)
            process.start()
            writer.close()
            running[reader] = (index, process, time.monotonic())
        now = time.monotonic()
        wait_for = min(start + limits.timeout for _, _, start in running.values()) - now
        for reader in wait(list(running), timeout=max(0.0, wait_for)):
            index, process, start = running.pop(reader)
            try:
                kind, value = reader.recv()
            except (EOFError, OSError):
                process.join()
                finish(index, Outcome(failure=_ended(process.exitcode, limits), seconds=time.monotonic() - start))
            else:
                process.join()
                outcome = Outcome(value=value) if kind == "ok" else Outcome(failure=value)
                finish(index, Outcome(outcome.value, outcome.failure, time.monotonic() - start))
            reader.close()
        now = time.monotonic()
        for reader, (index, process, start) in list(running.items()):
            if now - start >= limits.timeout:
                process.kill()
                process.join()
                reader.close()
                del running[reader]
                finish(index, Outcome(failure=f"did not finish within {limits.timeout:g} s (an endless loop?); "
                                              "--timeout sets the limit", seconds=now - start))
    return [o if o is not None else Outcome(failure="not run") for o in outcomes]
