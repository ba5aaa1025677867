"""The `ner-fewshot` console script: one entry point for the harness and for tagging.

It lives in the top layer because `compare` is the harness; the core never imports benchmarks/.
  ner-fewshot compare ...                      = python -m benchmarks.compare ...
  ner-fewshot tag ...                          = python -m ner_fewshot.tagger.command ...
  ner-fewshot methods | datasets | profiles    = python -m benchmarks.compare --list-...
"""
from __future__ import annotations

import sys
from typing import Sequence

COMMANDS = {
    "compare": "run methods on identical episodes and print the comparison table",
    "tag": "fit a method on a few annotated sentences (or load a saved one) and tag your own text",
    "methods": "list registered methods and their options",
    "datasets": "list datasets",
    "profiles": "list named benchmark protocols",
}
LISTING_FLAGS = {"methods": "--list-methods", "datasets": "--list-datasets", "profiles": "--list-profiles"}
USAGE = ("usage: ner-fewshot COMMAND [ARGS]\n\ncommands:\n"
         + "".join(f"  {name:10s} {text}\n" for name, text in COMMANDS.items())
         + "\n`ner-fewshot COMMAND --help` shows a command's options.\n")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(USAGE, end="", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    if command == "--version":
        from importlib.metadata import version

        print(f"ner-fewshot {version('ner-fewshot')}")
        return 0
    if command == "tag":
        from ner_fewshot.tagger.command import main as tag

        return tag(rest)
    if command in LISTING_FLAGS and rest[:1] in (["-h"], ["--help"]):
        print(f"usage: ner-fewshot {command} [--data-dir DIR]\n\n{COMMANDS[command]}")
        return 0
    if command == "compare" or command in LISTING_FLAGS:
        from . import compare

        return compare.main([LISTING_FLAGS[command], *rest] if command in LISTING_FLAGS else rest)
    print(f"ner-fewshot: unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
