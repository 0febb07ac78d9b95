"""``python -m layergrad``: the same as the ``layergrad`` command."""

import sys

from layergrad.cli import main

sys.exit(main())
