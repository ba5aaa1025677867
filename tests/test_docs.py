"""The project's docs state facts in their own words: they never cite files outside the repository."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
OUTSIDE = re.compile(r"NUMBERS\.md|METHODS\.md|BACKBONES\.md|shared/|golden/")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_cite_nothing_outside_the_repository(path):
    hits = [f"line {n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), start=1)
            if OUTSIDE.search(line)]
    assert not hits, f"{path.relative_to(ROOT)} points outside the repository: {hits}"
