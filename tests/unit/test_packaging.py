"""The import namespace maps the top-level folders into `prunegraph`."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_declared() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(cfg["packages"])
    mapping = {v: k for k, v in cfg["package-dir"].items()}
    found = set()
    for folder in ("prunegraph", "loader", "queries", "analysis"):
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).parts
            found.add(".".join((mapping[rel[0]], *rel[1:])))
    assert found == declared, (
        f"declare these in pyproject [tool.setuptools] packages: {found ^ declared}"
    )


def test_subpackages_import_under_one_namespace() -> None:
    import prunegraph.analysis
    import prunegraph.loader
    import prunegraph.queries

    assert prunegraph.loader.__file__ is not None
    assert Path(prunegraph.loader.__file__).parent.name == "loader"
    assert prunegraph.__version__


def test_public_entry_points_resolve_lazily() -> None:
    import subprocess
    import sys

    import prunegraph
    import prunegraph.loader

    for name in prunegraph._LAZY:
        assert callable(getattr(prunegraph, name)) or getattr(prunegraph, name) is not None
    for name in prunegraph.loader._LAZY:
        assert getattr(prunegraph.loader, name) is not None
    # `import prunegraph` stays light: no torch until an entry point is used.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, prunegraph, prunegraph.loader; print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
