"""One module per ``layergrad`` subcommand: ``add_parser(subparsers)`` and ``run(args) -> int``.

Each only parses its arguments and calls the library; :mod:`layergrad.cli` lists them.
"""
