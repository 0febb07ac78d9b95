"""The process that runs someone else's module, started afresh (``python -I -S child.py``) per module.

It speaks :mod:`wire` frames on the two pipes it was started with, and nothing else: its
standard streams are ``/dev/null``, so whatever the module prints goes nowhere. It waits for
the submission's source (sent by the checker, written to ``module.py`` in its private working
directory), then forks one worker per request ``fork``: the worker limits itself (address space,
CPU time, file size, open files, processes), imports the module afresh and answers ``call``
requests — call one function on the inputs sent, return its outputs as plain data — until
``end``. The first process never runs the module's code, so each function is checked in a fresh
import, and a worker that crashes is reported (``ended``, with its status) without ending the
others. Verdicts are never computed here.

Arguments: the directories to append to ``sys.path`` (NumPy's, layergrad's), each after ``--path``.
"""

import contextlib
import faulthandler
import importlib.util
import os
import resource
import signal
import sys

IN, OUT = 3, 4
"""The pipes, moved off 0 and 1 (which become /dev/null)."""


def _load_wire():
    spec = importlib.util.spec_from_file_location("_layergrad_wire", os.path.join(os.path.dirname(__file__), "wire.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _limit(resource_id: int, value: int) -> None:
    _soft, hard = resource.getrlimit(resource_id)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(resource_id, (value, value))


def _processes() -> int:
    """The processes (threads count too) this user has that this process can see."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                count += os.stat(f"/proc/{entry}").st_uid == uid
    return count


def _limit_worker(limits: dict) -> None:
    with open("/proc/self/statm") as stream:
        size = int(stream.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    _limit(resource.RLIMIT_AS, size + int(limits["memory_mb"]) * 2**20)
    _limit(resource.RLIMIT_CPU, int(limits["cpu_seconds"]))
    _limit(resource.RLIMIT_FSIZE, int(limits["file_bytes"]))
    _limit(resource.RLIMIT_NOFILE, int(limits["files"]))
    _limit(resource.RLIMIT_CORE, 0)
    if limits.get("processes") is not None:  # no processes beyond those running now (and a few more)
        _limit(resource.RLIMIT_NPROC, _processes() + int(limits["processes"]))


def _worker(wire, reader, source: bytes, code, limits: dict) -> None:
    import numpy as np

    _limit_worker(limits)
    path = os.path.abspath("module.py")
    with open(path, "wb") as stream:  # a fresh copy for each import
        stream.write(source)
    handles: dict = {}
    module = None
    wire.write_frame(OUT, {"op": "ready"})
    while True:
        try:
            request, buffers = reader.read()
        except EOFError:
            os._exit(0)
        op = request.get("op")
        if op == "end":
            os._exit(0)
        try:
            if op == "load":
                module, reply = _import(wire, path, code, request.get("names", []), request.get("constants", []))
                wire.write_frame(OUT, reply)
            elif op == "call" and module is not None:
                _call(wire, np, module, path, request, buffers, handles)
            else:
                wire.write_frame(OUT, {"error": f"unknown request {op!r}"})
        except MemoryError:
            handles.clear()
            wire.write_frame(OUT, {"raised": {"kind": "memory", "type": "MemoryError", "message": "", "code": ""}})


def _import(wire, path: str, code, names: list, constants: list):
    spec = importlib.util.spec_from_file_location("_layergrad_submission", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        if isinstance(code, BaseException):
            raise code
        exec(code, module.__dict__)
    except BaseException as exc:  # someone else's code may raise anything, SystemExit included
        return None, {"import_error": wire.exception_facts(exc, path)}
    defined = [name for name in names if callable(getattr(module, name, None))]
    values = {name: getattr(module, name, None) for name in constants if isinstance(name, str)}
    plain = {name: v if not isinstance(v, str) else v[:200] for name, v in values.items()
             if type(v) in (bool, int, float, str)}
    origins = {}
    for name in defined:
        origin = getattr(getattr(module, name), "__module__", "")
        origins[name] = origin[:200] if isinstance(origin, str) else ""
    return module, {"defined": defined, "constants": plain, "origins": origins}


def _call(wire, np, module, path: str, request: dict, buffers: list, handles: dict) -> None:
    def resolve(number: int):
        if number not in handles:
            raise wire.WireError("unknown handle")
        return handles[number]

    args = wire.decode(request.get("args", {"$": "list", "v": []}), buffers, resolve)
    kwargs = wire.decode(request.get("kwargs", {"$": "dict", "k": [], "v": []}), buffers, resolve)
    function = getattr(module, str(request.get("function")), None)
    if not callable(function) or not isinstance(args, list) or not isinstance(kwargs, dict):
        wire.write_frame(OUT, {"error": "a malformed request"})
        return
    if isinstance(request.get("seed"), int):
        np.random.seed(request["seed"])
    try:
        with np.errstate(all="ignore"):  # overflow is judged by the results
            result = function(*args, **kwargs)
    except BaseException as exc:  # KeyboardInterrupt cannot come from the checker: it is the module's too
        wire.write_frame(OUT, {"raised": wire.exception_facts(exc, path)})
        return
    out: list = []
    try:
        value = wire.encode(result, out, handles)
        updated = [wire.encode(a, out, handles) if isinstance(a, dict) else None for a in args]
        updated_kw = {k: wire.encode(v, out, handles) for k, v in kwargs.items() if isinstance(v, dict)}
    except BaseException as exc:
        wire.write_frame(OUT, {"raised": wire.exception_facts(exc, None)})
        return
    wire.write_frame(OUT, {"value": value, "args": updated, "kwargs": updated_kw}, out)


def main() -> None:
    faulthandler.disable()
    os.dup2(0, IN)
    os.dup2(1, OUT)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    argv = sys.argv[1:]
    sys.path.extend(argv[k + 1] for k in range(len(argv) - 1) if argv[k] == "--path")
    wire = _load_wire()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the checker ends this process, not the terminal
    wire.write_frame(OUT, {"op": "hello"})
    reader = wire.Reader(IN)
    source, code, limits = b"", None, {}
    while True:
        try:
            request, buffers = reader.read()
        except EOFError:
            return
        op = request.get("op")
        if op == "source" and buffers:
            source, limits = bytes(buffers[0]), request.get("limits", {})
            try:  # compiled once (compiling runs none of its code); executed afresh by each worker
                code = compile(source, os.path.abspath("module.py"), "exec", dont_inherit=True)
            except BaseException as exc:  # a syntax error is the import's failure, in each worker
                code = exc
        elif op == "fork":
            pid = os.fork()
            if pid == 0:
                try:
                    _worker(wire, reader, source, code, limits)
                finally:
                    os._exit(0)
            _, status = os.waitpid(pid, 0)
            wire.write_frame(OUT, {"op": "ended", "code": os.waitstatus_to_exitcode(status)})
        else:
            return


if __name__ == "__main__":
    main()
