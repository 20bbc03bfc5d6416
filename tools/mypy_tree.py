"""Run mypy on the `prunegraph` namespace as installed (loader/, queries/, analysis/ mapped in).

mypy cannot follow setuptools' editable-install finder, so this builds a
symlink tree `build/mypy/prunegraph/{loader,queries,analysis}` and checks it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "mypy" / "prunegraph"
MAPPED = {"loader": "loader", "queries": "queries", "analysis": "analysis"}


def main() -> int:
    TREE.mkdir(parents=True, exist_ok=True)
    for entry in TREE.iterdir():
        if entry.is_symlink():
            entry.unlink()
    for src in (ROOT / "prunegraph").iterdir():
        if src.suffix == ".py" or (src.is_dir() and (src / "__init__.py").exists()):
            os.symlink(src, TREE / src.name)
    for name, folder in MAPPED.items():
        os.symlink(ROOT / folder, TREE / name)
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), str(TREE)]
    return subprocess.call(cmd, cwd=ROOT / "build" / "mypy")


if __name__ == "__main__":
    sys.exit(main())
