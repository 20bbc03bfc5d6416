"""``python -m prunegraph.cli``: the ``prunegraph`` command."""

import sys

from prunegraph.cli import main

sys.exit(main())
