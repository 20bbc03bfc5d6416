"""Report sections of the bundled paper experiments (``examples/*.toml``).

Importing this package imports every module in it; each module registers its
section(s) with :func:`prunegraph.analysis.report.register_section`.
"""

from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
