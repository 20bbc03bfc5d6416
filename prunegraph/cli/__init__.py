"""The ``prunegraph`` command line.

Each command group lives in its own module ``prunegraph/cli/<group>.py`` that
exposes ``register(subparsers)``; the handler it sets with
``parser.set_defaults(func=...)`` receives the parsed arguments and returns an
exit code. Errors derived from :class:`~prunegraph.errors.PrunegraphError`
print as one line, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from prunegraph.errors import PrunegraphError

COMMAND_MODULES = (
    "prunegraph.cli.db",
    "prunegraph.cli.encode",
    "prunegraph.cli.prune",
    "prunegraph.cli.query",
    "prunegraph.cli.metrics",
    "prunegraph.cli.analyze",
    "prunegraph.cli.study",
)


def build_parser() -> argparse.ArgumentParser:
    from prunegraph import __version__

    parser = argparse.ArgumentParser(
        prog="prunegraph",
        description="Graph-database-backed analysis store for the topology of sparse neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"prunegraph {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except PrunegraphError as exc:
        print(f"prunegraph: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # Ctrl-C, or SIGTERM turned into an interrupt by the study runner (prunegraph.study.lock)
        reason = str(exc) or "interrupted"
        print(
            f"prunegraph: {reason}; running work was stopped and what finished is recorded. "
            "Run the same command to resume.",
            file=sys.stderr,
        )
        return 143 if "SIGTERM" in reason else 130
    except BrokenPipeError:
        # The reader went away (`prunegraph query --list | head`): not an error of ours.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        # An error we did not anticipate: one line on the console, the traceback in a file
        # (PRUNEGRAPH_DEBUG=1 raises it instead).
        if os.environ.get("PRUNEGRAPH_DEBUG"):
            raise
        import tempfile
        import traceback

        path = os.path.join(tempfile.gettempdir(), f"prunegraph-error-{os.getpid()}.txt")
        with open(path, "w") as fh:
            fh.write(traceback.format_exc())
        print(
            f"prunegraph: unexpected error: {type(exc).__name__}: {one_line(str(exc))} "
            f"(traceback in {path}; PRUNEGRAPH_DEBUG=1 shows it here)",
            file=sys.stderr,
        )
        return 1


def one_line(message: str, limit: int = 2_000) -> str:
    """A message on one line (line breaks joined with spaces), at most ``limit`` characters."""
    text = " ".join(part.strip() for part in message.splitlines() if part.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."
