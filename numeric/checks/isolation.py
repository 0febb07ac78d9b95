"""Start, confine and end the processes that run someone else's code.

A submission runs in a fresh interpreter (:mod:`.child`, ``python -I -S``: no environment
variables of Python's, no user site, nothing but the standard library, NumPy and layergrad on
``sys.path``), started with a scrubbed environment, no file descriptors but its two pipes, in a
session and process group of its own, in a private temporary working directory. Where the
machine has bubblewrap (Debian ``bubblewrap``) it also runs in an OS sandbox
(:class:`Sandbox`): new user, PID, network, IPC and UTS namespaces (no network at all), a
read-only view of the system and Python, a small private ``/tmp`` and working directory, no
home directory, the instructor's files out of sight, and a PID namespace that dies with the
checker. Where the machine lets us make a control group (:class:`Group`), every process of a
child shares one memory and process budget; inside, each worker limits its own address space,
CPU time, file size, open files and processes. :meth:`Child.kill` ends the whole group, the
session and, without bubblewrap, any process that escaped the session (this process is a
child subreaper, so orphans come back to it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TextIO

__all__ = ["INSTALL_HINT", "Child", "Group", "Limits", "Progress", "Sandbox", "kill_all"]

INSTALL_HINT = ("submissions run without a sandbox and can read (and change) every file you can; install "
                "bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap) to confine them")

HERE = Path(__file__).resolve().parent
SCRATCH_BYTES = 64 * 2**20
"""Size of a sandbox's private working directory and ``/tmp`` (memory-backed)."""


@dataclass(frozen=True)
class Limits:
    """Budgets: seconds per function (``timeout``), per module and for the whole run (``None``:
    no budget), and megabytes of memory per function."""

    timeout: float = 10.0
    memory_mb: int = 1024
    module_timeout: float | None = None
    run_timeout: float | None = None

    @property
    def module_budget(self) -> float:
        """Seconds a module may take in all: ``module_timeout``, else ten functions' worth."""
        return self.module_timeout if self.module_timeout is not None else 10 * self.timeout + 30


class Progress:
    """A one-line progress bar on a terminal (silent when the stream is not one)."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool | None = None, width: int = 30):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total, self.done, self.width = total, 0, width
        self._lock = threading.Lock()

    def advance(self, label: str = "") -> None:
        with self._lock:
            self.done += 1
            if not self.enabled:
                return
            filled = self.width * self.done // max(1, self.total)
            bar = "#" * filled + "." * (self.width - filled)
            shown = "".join(c if c.isprintable() else "?" for c in label[:40])
            self.stream.write(f"\r  checking [{bar}] {self.done}/{self.total} {shown:40}")
            if self.done == self.total:
                self.stream.write("\r" + " " * (self.width + 70) + "\r")
            self.stream.flush()


def _python() -> tuple[str, list[str]]:
    """The interpreter to start and the directories to put on its ``sys.path`` after the standard
    library: NumPy's site-packages and the folder holding layergrad's packages."""
    import numpy

    executable = os.path.realpath(getattr(sys, "_base_executable", sys.executable) or sys.executable)
    site = str(Path(numpy.__file__).resolve().parent.parent)
    return executable, [site, str(HERE.parent.parent)]


ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
       "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
"""The whole environment of a child: one thread of BLAS, nothing of the instructor's."""


@dataclass(frozen=True)
class Sandbox:
    """How children are confined: ``bwrap`` (the path of bubblewrap) or ``""`` (no OS sandbox,
    ``reason`` says why)."""

    bwrap: str = ""
    reason: str = ""

    @staticmethod
    @cache
    def detect() -> Sandbox:
        """bubblewrap if it is installed and works here, else none (with the reason)."""
        if os.environ.get("LAYERGRAD_SANDBOX") == "none":
            return Sandbox(reason="LAYERGRAD_SANDBOX=none")
        bwrap = shutil.which("bwrap") or ""
        if not bwrap:
            return Sandbox(reason="bubblewrap (bwrap) is not installed")
        probe = Sandbox(bwrap)
        python, _ = _python()
        try:
            done = subprocess.run([*probe.prefix(), python, "-I", "-S", "-c", "pass"], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=30, env=ENV, close_fds=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Sandbox(reason=f"bubblewrap does not start here ({exc})")
        if done.returncode != 0:
            words = done.stderr.decode(errors="replace").strip().splitlines()
            return Sandbox(reason=f"bubblewrap does not work here ({words[-1] if words else done.returncode})")
        return probe

    def prefix(self) -> list[str]:
        """The bubblewrap command line up to the program to run."""
        python, paths = _python()
        argv = [self.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                "--clearenv", "--hostname", "sandbox"]
        for name, value in ENV.items():
            argv += ["--setenv", name, value]
        argv += ["--setenv", "HOME", "/sandbox"]
        for top in ("usr", "bin", "sbin", "lib", "lib32", "lib64"):
            path = Path("/") / top
            if path.is_symlink():
                argv += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                argv += ["--ro-bind", str(path), str(path)]
        # the private /tmp, /proc and /dev first: binds after them stay visible even when the
        # interpreter or layergrad lives under /tmp (a clone checked there)
        argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(SCRATCH_BYTES), "--tmpfs", "/tmp",
                 "--size", str(SCRATCH_BYTES), "--tmpfs", "/sandbox"]
        prefix = Path(sys.base_prefix).resolve()
        bound = [prefix] if not str(prefix).startswith("/usr") else []
        stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
        if not any(stdlib.is_relative_to(b) for b in [*bound, Path("/usr")]):
            bound.append(stdlib)
        if not any(Path(python).is_relative_to(b) for b in [*bound, Path("/usr")]):
            bound.append(Path(python))
        for path in [*bound, *(Path(p) for p in paths[:1])]:
            argv += ["--ro-bind", str(path), str(path)]
        for package in ("derive", "numeric", "layergrad"):  # layergrad itself, for modules that import from it
            if (Path(paths[1]) / package).is_dir():
                argv += ["--ro-bind", str(Path(paths[1]) / package), f"/layergrad/{package}"]
        argv += ["--ro-bind", str(HERE / "child.py"), "/child/child.py", "--ro-bind", str(HERE / "wire.py"),
                 "/child/wire.py", "--chdir", "/sandbox"]
        return argv

    def command(self) -> list[str]:
        """The command line of a child."""
        python, paths = _python()
        if self.bwrap:
            return [*self.prefix(), python, "-I", "-S", "/child/child.py", "--path", paths[0], "--path", "/layergrad"]
        return [python, "-I", "-S", str(HERE / "child.py"), "--path", paths[0], "--path", paths[1]]


class Group:
    """A control group for one child's processes (memory and process count for all of them together),
    where the machine lets this process make one (cgroup v2, or v1's memory and pids controllers)."""

    def __init__(self, directories: list[Path]):
        self.directories = directories

    @staticmethod
    def make(memory_bytes: int, processes: int) -> Group | None:
        """A new group with these limits, or ``None`` where cgroups cannot be written."""
        if os.environ.get("LAYERGRAD_CGROUP") == "none":
            return None
        name = f"layergrad-{os.getpid()}-{time.monotonic_ns()}-{threading.get_ident()}"
        try:
            with open("/proc/self/cgroup") as stream:
                own = dict(line.rstrip("\n").split(":", 2)[1:] for line in stream)
        except OSError:
            return None
        made: list[Path] = []
        try:
            v2 = Path("/sys/fs/cgroup")
            if "" in own and (v2 / "cgroup.controllers").exists():
                folder = v2 / own[""].lstrip("/") / name
                folder.mkdir()
                made.append(folder)
                (folder / "memory.max").write_text(str(memory_bytes))
                (folder / "pids.max").write_text(str(processes))
            else:
                for controller, limit, value in (("memory", "memory.limit_in_bytes", memory_bytes),
                                                 ("pids", "pids.max", processes)):
                    folder = Path("/sys/fs/cgroup") / controller / own.get(controller, "/").lstrip("/") / name
                    folder.mkdir()
                    made.append(folder)
                    (folder / limit).write_text(str(value))
        except OSError:
            Group(made).remove()
            return None
        return Group(made)

    def join_command(self, command: list[str]) -> list[str]:
        """``command``, started after its process has joined the group (so everything it starts does)."""
        joins = " && ".join(f'echo $$ > "{d}/cgroup.procs"' for d in self.directories)
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh", *command]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for folder in self.directories:
            with contextlib.suppress(OSError, ValueError):
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
        return sorted(found)

    def kill(self) -> None:
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        for folder in self.directories:
            for _ in range(100):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


PR_SET_CHILD_SUBREAPER = 36


@cache
def _subreaper() -> bool:
    """Make this process the one orphaned descendants are given to (Linux), so none escapes."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


_live: set[int] = set()
_live_lock = threading.Lock()


class Child:
    """A running child: its pipes, its process, its group; :meth:`kill` ends all of it."""

    def __init__(self, sandbox: Sandbox, memory_mb: int):
        self.sandbox = sandbox
        self.scratch = None if sandbox.bwrap else tempfile.mkdtemp(prefix="layergrad-")
        self.group = Group.make((memory_mb + 512) * 2**20, 64)
        command = sandbox.command()
        if self.group is not None:
            command = self.group.join_command(command)
        if not sandbox.bwrap:
            _subreaper()
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True,
                                        env=dict(ENV, HOME=self.scratch or "/sandbox"), cwd=self.scratch or "/",
                                        bufsize=0)
        with _live_lock:
            _live.add(self.process.pid)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.write_fd, self.read_fd = self.process.stdin.fileno(), self.process.stdout.fileno()
        self.reader: Any = None
        """The :class:`~numeric.checks.wire.Reader` of its answers."""

    def kill(self, grace: float = 0.0) -> None:
        """End every process of this child (its process group, control group and, without a sandbox,
        orphans that escaped its session) and remove its traces; with ``grace``, first let it exit
        on its own for that many seconds (its pipe closed)."""
        pid = self.process.pid
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]
        if grace > 0:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        if self.group is not None:
            self.group.kill()
        self.process.wait()
        if not self.sandbox.bwrap:
            _reap_orphans()
        if self.group is not None:
            self.group.kill()
            self.group.remove()
        with _live_lock:
            _live.discard(pid)
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _reap_orphans() -> None:
    """Kill and reap the processes given to this process (as subreaper) from other sessions than
    its own: a submission's daemons. Children other code of this program started share its session."""
    me, session = os.getpid(), os.getsid(0)
    for _ in range(20):
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in _live:
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as stream:
                    fields = stream.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and int(fields[3]) != session:
                found.append(int(entry))
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass


def kill_all() -> None:
    """End every child still running (on an interrupt)."""
    with _live_lock:
        pids = list(_live)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
