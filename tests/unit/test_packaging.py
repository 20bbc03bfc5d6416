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
