"""``layergrad check``: is a layer module right, and if not, what is wrong with it?

* :mod:`.spec` — the shape of a layer's entry (functions, checks, recognized mistakes) and the
  context a check runs in;
* :mod:`.table` — the entries, one per layer (:mod:`.dropout`, ...);
* :mod:`.reference` — layergrad's generated code, the reference;
* :mod:`.isolation`, :mod:`.child`, :mod:`.wire`, :mod:`.remote` — someone else's code in a fresh,
  confined child (bubblewrap where installed) that answers calls in plain data;
* :mod:`.runner` — choosing and running the checks of a module, a file or a folder;
* :mod:`.parallel` — layergrad's own work in forked children (tests, benchmarks);
* :mod:`.origin`, :mod:`.text` — copies of layergrad's code; submission text made safe to show;
* :mod:`.report` — terminal, JSON and CSV reports.
"""

from .dropout import Z, check_dropout
from .isolation import Limits, Progress, Sandbox
from .parallel import Outcome, run_parallel
from .report import FunctionReport, ModuleReport, summary_csv, summary_rows
from .runner import Options, check_module, check_path, check_paths, load_module, python_files
from .spec import Context, FunctionCheck, LayerChecks, Mistake, StudentError
from .table import FUNCTIONS, TABLE, entry

__all__ = [
    "FUNCTIONS",
    "TABLE",
    "Context",
    "FunctionCheck",
    "FunctionReport",
    "LayerChecks",
    "Limits",
    "Mistake",
    "ModuleReport",
    "Options",
    "Outcome",
    "Progress",
    "Sandbox",
    "StudentError",
    "Z",
    "check_dropout",
    "check_module",
    "check_path",
    "check_paths",
    "entry",
    "load_module",
    "python_files",
    "run_parallel",
    "summary_csv",
    "summary_rows",
]
