"""Time ``layergrad check`` on a class of identical, correct modules, against another layergrad.

``python -m numeric.bench.class_check --modules 100 --other /path/to/other/bin/layergrad``
exports one module (every checked layer), copies it ``--modules`` times into a temporary folder,
then runs ``layergrad check FOLDER`` with this layergrad and with the other one in alternation
(``--rounds`` times each), and prints each run's wall-clock time and the median ratio
this/other. The ratio is what counts: absolute times on a shared machine drift.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed (exit code {done.returncode}): {done.stderr.strip()[-300:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--other", required=True, help="the other layergrad executable (e.g. main's)")
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args(argv)
    this = str(Path(sys.executable).with_name("layergrad"))
    with tempfile.TemporaryDirectory() as folder:
        module = Path(folder) / "layers.py"
        subprocess.run([this, "export", "--api", "cs231n", "--dropout-p", "keep", "-o", str(module)], check=True,
                       stdout=subprocess.DEVNULL)
        klass = Path(folder) / "class"
        klass.mkdir()
        for k in range(args.modules):
            shutil.copy(module, klass / f"student{k:03d}.py")
        jobs = ["--jobs", str(args.jobs)] if args.jobs else []
        times: dict[str, list[float]] = {"this": [], "other": []}
        for r in range(args.rounds):
            for name in (("this", "other") if r % 2 == 0 else ("other", "this")):
                exe = this if name == "this" else args.other
                summary = Path(folder) / f"summary-{name}-{r}"
                seconds = _time([exe, "check", str(klass), "--summary", str(summary), *jobs])
                times[name].append(seconds)
                print(f"round {r + 1}: {name:5} {seconds:7.1f} s", flush=True)
    ratio = statistics.median(times["this"]) / statistics.median(times["other"])
    print(f"{args.modules} modules: this {statistics.median(times['this']):.1f} s, other "
          f"{statistics.median(times['other']):.1f} s, this/other = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
