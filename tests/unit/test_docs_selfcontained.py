"""The repository is self-contained: no pointers outside it, and every docs link resolves.

Papers are cited by authors and year (``docs/references.md``), definitions live in
``docs/conventions.md``; nothing may refer to files a reader of the project does not have
or to working numbers of papers that only mean something outside it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# Working numbers of papers ("seed 001"), and paths into a folder outside the repository.
FORBIDDEN = re.compile(r"seed[ _-]?00\d|\.\./shared|shared/spec|shared/seeds", re.IGNORECASE)
# Folders whose files are not part of the project's own text.
EXCLUDED_DIRS = ("tests/",)
TEXT_SUFFIXES = frozenset(
    {".py", ".md", ".toml", ".cypher", ".cfg", ".ini", ".txt", ".yml", ".yaml", ".json", ".xml",
     ".template", ".sh", ".html", ".conf", ".in", ""}
)  # fmt: skip

LINK = re.compile(r"(?<!!)\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$", re.MULTILINE)


def _tracked_files() -> list[Path]:
    """Files under version control (every file outside ignored folders without git)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
        ).stdout
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "build", "results", "__pycache__", ".mypy_cache", ".ruff_cache"}
        names = [
            p.relative_to(ROOT).as_posix()
            for p in ROOT.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(ROOT).parts)
        ]
    return [ROOT / n for n in names]


def _project_text_files() -> list[Path]:
    files = []
    for path in _tracked_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(EXCLUDED_DIRS) or path.suffix not in TEXT_SUFFIXES:
            continue
        if path.is_file():  # a tracked file deleted in the working tree is not text
            files.append(path)
    return files


def _slug(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    title = CODE_SPAN.sub(lambda m: m.group(0).strip("`"), title)
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link keeps its text
    kept = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for m in HEADING.finditer(FENCE.sub("", markdown)):
        slug = _slug(m.group("title"))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _links(markdown: str) -> list[str]:
    text = CODE_SPAN.sub("", FENCE.sub("", markdown))
    return [m.group("target") for m in LINK.finditer(text)]


def test_no_file_points_outside_the_repository() -> None:
    files = _project_text_files()
    assert any(p.name == "README.md" for p in files)  # the walk found the project
    offenders = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()[:100]}")
    assert not offenders, (
        "cite papers by authors and year (docs/references.md) and definitions by "
        "docs/conventions.md, not by working numbers or paths outside the repository:\n"
        + "\n".join(offenders)
    )


def _markdown_pages() -> list[Path]:
    return [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]


@pytest.mark.parametrize("page", _markdown_pages(), ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, mailto:, ...
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
            continue
        if anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text("utf-8")):
            broken.append(f"{target} (no heading with that anchor)")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def test_docs_pages_cross_reference_the_definitions() -> None:
    """The conventions and references pages exist and are reachable from the README."""
    readme_links = {t.partition("#")[0] for t in _links((ROOT / "README.md").read_text("utf-8"))}
    for name in ("conventions.md", "references.md", "contributing.md"):
        assert (DOCS / name).is_file()
        assert f"docs/{name}" in readme_links, f"README does not link docs/{name}"


def test_checks_detect_what_they_look_for() -> None:
    """The patterns and the link parser catch the cases they exist for."""
    assert FORBIDDEN.search("as in Seed 001, Table 2")
    assert FORBIDDEN.search("the seed-003 DAG network")
    assert FORBIDDEN.search("see ../shared/spec/encoding.md")
    assert not FORBIDDEN.search("seed 0 and seed 1; random seed 42")
    md = "# A. MGE topometrics (x, y)\n## `kcore` and [link](b.md)\n```\n[no](c.md)\n```\n"
    assert _anchors(md) == {"a-mge-topometrics-x-y", "kcore-and-link"}
    assert _links(md + "see [b](b.md#x) and `[c](c.md)`, ![img](i.png)") == ["b.md", "b.md#x"]
