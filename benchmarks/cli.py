"""The `ner-fewshot` console script: one entry point for the harness and for tagging.

It lives in the top layer (it reaches the harness), so the core never imports benchmarks/:
  ner-fewshot compare ...    = python -m benchmarks.compare ...
  ner-fewshot tag ...        fit a method on a few annotated sentences and tag new text
  ner-fewshot methods | datasets | profiles    the listings (compare --list-*)
"""
from __future__ import annotations

import sys
from typing import Sequence

USAGE = """usage: ner-fewshot COMMAND [ARGS]

commands:
  compare    run methods on identical episodes and print the comparison table (python -m benchmarks.compare)
  tag        fit a method on a few annotated sentences (or load a saved one) and tag your own text
  methods    list registered methods and their options
  datasets   list datasets
  profiles   list named benchmark protocols

`ner-fewshot COMMAND --help` shows a command's options.
"""
LISTINGS = {"methods": "--list-methods", "datasets": "--list-datasets", "profiles": "--list-profiles"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if argv else 2
    if argv[0] == "--version":
        from importlib.metadata import version

        print(f"ner-fewshot {version('ner-fewshot')}")
        return 0
    command, rest = argv[0], argv[1:]
    if command == "tag":
        from ner_fewshot.tagger.command import main as tag

        return tag(rest)
    if command == "compare" or command in LISTINGS:
        from . import compare

        if command in LISTINGS:
            if rest and rest[0] in ("-h", "--help"):
                print(f"usage: ner-fewshot {command} [--data-dir DIR]\n\n{USAGE.split(command, 1)[1].splitlines()[0].strip()}")
                return 0
            rest = [LISTINGS[command], *rest]
        return compare.main(rest)
    print(f"ner-fewshot: unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
