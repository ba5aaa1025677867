"""Published numbers (benchmarks/references/*.json), shown beside a row only under the same protocol.

A reference file holds one source: its description, BibTeX, metric, the conditions of the
published runs (backbone, training), an optional `episode_version`, and entries
{method, protocol, f1, std}. A setting matches an entry when its `reference_protocol` string is
equal (e.g. "few-nerd-inter/5-way/1~2-shot", only set when the whole released test file ran) and
its episode version is the file's (default "v6").
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent / "references"
DEFAULT_EPISODE_VERSION = "v6"


@dataclass(frozen=True)
class Reference:
    method: str
    protocol: str
    f1: float  # percent
    std: float | None
    source: str
    source_key: str
    citation: str
    conditions: str
    metric: str
    episode_version: str

    def short(self) -> str:
        spread = f"±{self.std:.2f}" if self.std is not None else ""
        return f"{self.f1:.2f}{spread} [{self.source_key}]"


def _parse(path: Path) -> list[Reference]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        shared = dict(source=data["source"], source_key=data["source_key"], citation=data["citation"],
                      conditions=data.get("conditions", ""), metric=data["metric"],
                      episode_version=data.get("episode_version", DEFAULT_EPISODE_VERSION))
        return [Reference(method=e["method"], protocol=e["protocol"], f1=float(e["f1"]),
                          std=None if e.get("std") is None else float(e["std"]), **shared)
                for e in data["entries"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: malformed reference file ({type(error).__name__}: {error}); "
                         "see benchmarks/references.py for the expected fields") from error


@lru_cache(maxsize=None)
def all_references(directory: Path = REFERENCE_DIR) -> tuple[Reference, ...]:
    found: list[Reference] = []
    for path in sorted(directory.glob("*.json")):
        found.extend(_parse(path))
    return tuple(found)


def references_for(method: str, protocol: str | None, episode_version: str = DEFAULT_EPISODE_VERSION) -> list[Reference]:
    """Published numbers for `method` under exactly this protocol (none when protocol is None)."""
    if not protocol:
        return []
    return [r for r in all_references() if r.method == method and r.protocol == protocol
            and r.episode_version == episode_version]
