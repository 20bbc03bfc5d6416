"""The Cypher library: one parameterised query per ``queries/cypher/<name>.cypher`` file.

File format (also runnable as is in Neo4j Browser)::

    // What the query answers, in one or more comment lines.
    // :param study => 'demo'
    // :param limit => 25
    MATCH ... WHERE n.study = $study ... LIMIT $limit

Leading ``//`` lines are the header: ``:param`` lines are Browser examples
(and document the parameters), the others the description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from prunegraph.errors import UnknownNameError, ValidationError

CYPHER_DIR = Path(__file__).resolve().parent / "cypher"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PARAM_EXAMPLE = re.compile(r"^//\s*:param\s+([A-Za-z_][A-Za-z0-9_]*)\s*=>\s*(.+?)\s*;?\s*$")
_PARAM_USE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Query:
    """A library query: its name, Cypher text, description and parameters.

    ``params`` lists every ``$parameter`` the text uses; ``examples`` maps
    parameter names to the Browser ``:param`` example values (as Cypher
    literals, unparsed).
    """

    name: str
    text: str
    description: str
    params: tuple[str, ...]
    examples: dict[str, str]

    def browser_text(self) -> str:
        """The text to paste into Neo4j Browser: ``:param`` lines, then the query."""
        lines = [f":param {k} => {v};" for k, v in self.examples.items()]
        return "\n".join([*lines, self.text])


def list_queries() -> list[str]:
    """Names of every query in the library, sorted."""
    return sorted(p.stem for p in CYPHER_DIR.glob("*.cypher"))


@cache
def load_query(name: str) -> Query:
    """Load a query by name; unknown names raise with a did-you-mean hint."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(f"Query names are lowercase snake_case. Got {name!r}.")
    path = CYPHER_DIR / f"{name}.cypher"
    if not path.is_file():
        raise UnknownNameError("query", name, list_queries())
    raw = path.read_text(encoding="utf-8")
    description: list[str] = []
    examples: dict[str, str] = {}
    body: list[str] = []
    in_header = True
    for line in raw.splitlines():
        stripped = line.strip()
        if in_header and (stripped.startswith("//") or not stripped):
            match = _PARAM_EXAMPLE.match(stripped)
            if match:
                examples[match.group(1)] = match.group(2)
            elif stripped:
                description.append(stripped[2:].strip())
            continue
        in_header = False
        body.append(line)
    text = "\n".join(body).strip()
    if not text:
        raise ValidationError(f"Query file {path} has no Cypher body.")
    params = tuple(dict.fromkeys(_PARAM_USE.findall(text)))
    return Query(
        name=name, text=text, description=" ".join(description), params=params, examples=examples
    )
