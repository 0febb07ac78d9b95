"""Drive a child that runs someone else's module: request, response, deadline, all in plain data.

A :class:`Session` owns one :class:`~numeric.checks.isolation.Child` for one module: it sends
the module's source once, then for each function to check asks the child for a fresh worker
(:meth:`Session.worker`), which imports the module afresh and answers calls. A
:class:`RemoteModule` stands in for the module in a check's :class:`~numeric.checks.spec.Context`:
its attributes are functions that send their arguments to the worker and return what the
worker sent back, so the checks — and every verdict — run here, in the checker's process, and
the submission never sees them. Every read has a deadline; a late, short, malformed or missing
answer raises :class:`ChildFailed` with the reason in plain words, and the session is then
restarted before the next function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .isolation import Child, Limits, Sandbox
from .wire import Reader, WireError, decode, encode, write_frame

__all__ = ["ChildFailed", "Raised", "RemoteModule", "Session", "Worker"]


class ChildFailed(BaseException):  # not an Exception: a check's `except Exception` must not swallow it
    """The child did not answer as it must (late, crashed, malformed): the function fails with ``reason``."""

    def __init__(self, reason: str, broken: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.broken = broken
        """Whether the session must be restarted before it is used again."""


class Raised(Exception):
    """The module's function raised (or exited); ``facts`` say what (see :func:`wire.exception_facts`)."""

    def __init__(self, facts: dict[str, Any]):
        super().__init__(str(facts.get("type", "")))
        self.facts = facts


def _ended(code: int) -> str:
    import signal

    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        extra = {signal.SIGKILL: " (the system stopped it, most likely for memory)",
                 signal.SIGXCPU: " (it used up its CPU time)",
                 signal.SIGXFSZ: " (it wrote a file larger than allowed)"}.get(-code, "")
        return f"crashed: the process was killed by {name}{extra}"
    return f"ended the process (exit code {code}) before finishing: os._exit or a crash in compiled code?"


class Session:
    """One module's child: started on demand, restarted after a failure, killed by :meth:`close`."""

    def __init__(self, source: bytes, sandbox: Sandbox, limits: Limits):
        self.source, self.sandbox, self.limits = source, sandbox, limits
        self.child: Child | None = None

    def _start(self, deadline: float) -> Child:
        child = Child(self.sandbox, self.limits.memory_mb)
        try:
            child.reader = Reader(child.read_fd)
            hello, _ = child.reader.read(deadline)
            if hello.get("op") != "hello":
                raise WireError("no greeting")
            limits = {"memory_mb": self.limits.memory_mb, "cpu_seconds": int(self.limits.timeout) + 2,
                      "file_bytes": 16 * 2**20, "files": 64, "processes": 0}
            write_frame(child.write_fd, {"op": "source", "limits": limits}, [self.source])
        except TimeoutError:
            child.kill()
            raise ChildFailed("could not be started: the checker's process did not start in time "
                              "(the machine is busy?)") from None
        except (EOFError, OSError, WireError) as exc:
            child.kill()
            raise ChildFailed(f"could not be started ({type(exc).__name__}: {exc})") from None
        return child

    def worker(self, deadline: float, late: str = "did not answer in time") -> Worker:
        """A fresh worker (a new import of the module) that must answer everything by ``deadline``
        (else it fails with ``late``)."""
        if self.child is None:
            self.child = self._start(deadline)
        worker = Worker(self, deadline, late)
        try:
            write_frame(self.child.write_fd, {"op": "fork"})
            reply = worker.read()
        except ChildFailed:
            self.reset()
            raise
        if reply.get("op") != "ready":
            self.reset()
            raise ChildFailed("sent something else than its greeting")
        return worker

    def reset(self) -> None:
        """Kill the child; the next :meth:`worker` starts a new one."""
        if self.child is not None:
            self.child.kill()
            self.child = None

    def close(self) -> None:
        """End the child: its pipe closed, it exits; whatever is left is killed."""
        if self.child is not None:
            self.child.kill(grace=0.5)
            self.child = None


class Worker:
    """One import of the module, answering calls until :meth:`end`."""

    def __init__(self, session: Session, deadline: float, late: str = "did not answer in time"):
        self.session, self.deadline, self.late = session, deadline, late

    def read(self) -> dict[str, Any]:
        header, _ = self._read()
        return header

    def _read(self) -> tuple[dict[str, Any], list[bytearray]]:
        child = self.session.child
        assert child is not None
        try:
            header, buffers = child.reader.read(self.deadline)
        except TimeoutError:
            raise ChildFailed(self.late) from None
        except (EOFError, OSError):
            raise ChildFailed(self._died()) from None
        except WireError as exc:
            raise ChildFailed(f"sent a malformed message ({exc})") from None
        if header.get("op") == "ended":
            code = header.get("code")
            raise ChildFailed(_ended(code if isinstance(code, int) else 1), broken=False)
        return header, buffers

    def _died(self) -> str:
        child = self.session.child
        assert child is not None
        try:
            code = child.process.wait(timeout=1)
        except Exception:
            return "closed its pipe without answering"
        return _ended(code) if code < 0 else "closed its pipe without answering"

    def _send(self, header: dict[str, Any], buffers: Sequence[Any] = ()) -> None:
        child = self.session.child
        assert child is not None
        try:
            write_frame(child.write_fd, header, list(buffers))
        except OSError:
            raise ChildFailed(self._died()) from None

    def load(self, names: Sequence[str], constants: Sequence[str] = ()) -> dict[str, Any]:
        """Import the module; which of ``names`` it defines as functions, the values of ``constants``
        that are plain numbers or strings, where each function comes from (or the facts of its import error)."""
        self._send({"op": "load", "names": list(names), "constants": list(constants)})
        return self.read()

    def call(self, function: str, args: tuple, kwargs: dict, seed: int | None = None) -> Any:
        """``function(*args, **kwargs)`` in the worker (after ``np.random.seed(seed)``); dictionaries among
        the arguments come back as the function left them."""
        buffers: list[Any] = []
        try:
            request = {"op": "call", "function": function, "args": encode(list(args), buffers),
                       "kwargs": encode(dict(kwargs), buffers), "seed": seed}
        except WireError as exc:  # the checker's own mistake: say so plainly
            raise ChildFailed(f"could not be called ({exc})") from None
        self._send(request, buffers)
        header, received = self._read()
        if "raised" in header and isinstance(header["raised"], dict):
            raise Raised({k: v for k, v in header["raised"].items() if isinstance(v, str | int)})
        if "value" not in header:
            raise ChildFailed("sent a malformed result (no value)")
        try:
            value = decode(header["value"], received)
            updates = [decode(a, received) for a in header.get("args") or []]
            updates_kw = {k: decode(v, received) for k, v in (header.get("kwargs") or {}).items()}
        except (WireError, AttributeError, TypeError) as exc:
            raise ChildFailed(f"sent a malformed result ({exc})") from None
        for sent, back in [*zip(args, updates), *((kwargs[k], v) for k, v in updates_kw.items() if k in kwargs)]:
            if isinstance(sent, dict) and isinstance(back, dict):
                sent.clear()
                sent.update(back)
        return value

    def end(self) -> None:
        """Let the worker exit; read its end so the session stays in step."""
        try:
            self._send({"op": "end"})
            self._read()
        except ChildFailed as exc:
            if exc.broken:
                self.session.reset()
            return
        self.session.reset()  # an answer where the end was expected: out of step


class RemoteFunction:
    """A function of the module that runs in the worker."""

    def __init__(self, worker: Worker, name: str):
        self.worker, self.__name__ = worker, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.worker.call(self.__name__, args, kwargs)

    def seeded(self, seed: int, *args: Any, **kwargs: Any) -> Any:
        """Call after seeding NumPy's global random state in the worker."""
        return self.worker.call(self.__name__, args, kwargs, seed)


class RemoteModule:
    """The module under check, as far as the checks see it: its functions (run in the worker) and
    the names it defines."""

    def __init__(self, worker: Worker, defined: Sequence[str], constants: dict[str, Any] | None = None):
        self._worker, self._defined = worker, set(defined)
        self.__dict__.update(constants or {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name not in self._defined:
            raise AttributeError(name)
        return RemoteFunction(self._worker, name)
