"""``layergrad check``: is a layer module right, and if not, what is wrong with it?

* :mod:`.spec` — the shape of a layer's entry (functions, checks, recognized mistakes) and the
  context a check runs in;
* :mod:`.table` — the entries, one per layer (:mod:`.dropout`, ...);
* :mod:`.reference` — layergrad's generated code, the reference;
* :mod:`.isolation` — child processes with time and memory limits for someone else's code;
* :mod:`.runner` — choosing and running the checks of a module, a file or a folder;
* :mod:`.report` — terminal, JSON and CSV reports.
"""

from .dropout import Z, check_dropout
from .isolation import Limits, Outcome, Progress, run_isolated
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
    "StudentError",
    "Z",
    "check_dropout",
    "check_module",
    "check_path",
    "check_paths",
    "entry",
    "load_module",
    "python_files",
    "run_isolated",
    "summary_csv",
    "summary_rows",
]
