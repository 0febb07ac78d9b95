"""``layergrad experiment NAME``: run one of the seeds' experiments on the generated layers."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["HELP", "NAME", "add_parser", "run"]

NAME = "experiment"
HELP = "run one of the seeds' experiments and plot it"


def add_parser(commands: argparse._SubParsersAction) -> None:
    from numeric.experiments import EXPERIMENTS

    parser = commands.add_parser(
        NAME, help=HELP,
        description="Train networks built from layergrad's generated layers and reproduce an experiment "
        "of the course material; write the histories (JSON), the figures (PNG and SVG) and print a "
        "summary table with the findings. A progress bar shows on a terminal.",
    )
    parser.add_argument("name", nargs="?", help=f"one of: {', '.join(EXPERIMENTS)}")
    parser.add_argument("--data", default="digits", metavar="digits|cifar10:PATH",
                        help="the embedded digits (default; no download) or the CIFAR-10 python batches in PATH")
    parser.add_argument("-o", "--output", type=Path, default=Path("out/experiments"),
                        help="folder (default: out/experiments)")
    parser.add_argument("--epochs", type=int, help="epochs per training run (default: the experiment's)")
    parser.add_argument("--lr", type=float, dest="learning_rate", help="learning rate (default: the experiment's)")
    parser.add_argument("--weight-scale", type=float, help="scale of the initial weights (default: the experiment's)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1: small matrices)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--force", action="store_true", help="replace files layergrad did not write")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")


def run(args: argparse.Namespace) -> int:
    from derive.errors import LayergradError
    from numeric.experiments import EXPERIMENTS
    from worksheets.experiments import run as run_experiment

    if args.list:
        if args.name is not None:
            raise LayergradError(f"give an experiment or --list, not both (got {args.name!r} and --list)")
        for name, module in EXPERIMENTS.items():
            print(f"{name:24s} {module.TITLE}")
        return 0
    if args.name is None:
        raise LayergradError(f"name an experiment: {', '.join(EXPERIMENTS)} "
                             "(layergrad experiment --list describes them)")
    run_experiment(args.name, args.data, args.output, force=args.force, quiet=args.quiet, threads=args.threads,
                   epochs=args.epochs, learning_rate=args.learning_rate, weight_scale=args.weight_scale)
    return 0
