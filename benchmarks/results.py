"""The results file: one JSON line per (method, episode), appended and fsync-ed as soon as it exists.

Reading is strict about completeness: a line that does not parse, or lacks a required field, is
reported as damaged and its work is redone (a crash mid-write leaves at most one such line, the last).
When a (method, episode) pair appears more than once, the last record wins: a resumed run appends
the redone result after the failed or damaged one instead of rewriting the file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
STATUSES = (OK, FAILED, SKIPPED)

# Every record carries these; an OK record also needs its predictions and score.
REQUIRED_FIELDS = ("method", "episode_id", "setting", "status", "config_hash", "episode_hash")
REQUIRED_OK_FIELDS = ("predictions", "score", "fit_seconds", "predict_seconds")


@dataclass
class DamagedLine:
    line_number: int
    reason: str


@dataclass
class LoadedResults:
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (method, episode_id) -> last record
    damaged: list[DamagedLine] = field(default_factory=list)

    def done(self, method: str, episode_id: str) -> bool:
        record = self.records.get((method, episode_id))
        return record is not None and record["status"] == OK


def validate_record(record: Any) -> str | None:
    """Why `record` is not a complete result, or None if it is."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if not missing and record["status"] == OK:
        missing = [name for name in REQUIRED_OK_FIELDS if name not in record]
    if missing:
        return f"missing field(s) {missing}"
    if record["status"] not in STATUSES:
        return f"status {record['status']!r} is not one of {list(STATUSES)}"
    return None


class ResultStore:
    """Append-only JSONL of results at `path`."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        problem = validate_record(record)
        if problem:
            raise ValueError(f"refusing to write an incomplete result record: {problem}")
        line = json.dumps(record, ensure_ascii=False, sort_keys=True)
        self._ensure_line_start()
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())  # a record on screen is a record on disk, even if the machine dies next

    def _ensure_line_start(self) -> None:
        """A truncated last line (no newline) must not swallow the next record: end it first."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            last = handle.read(1)
        if last != b"\n":
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("\n")

    def load(self) -> LoadedResults:
        loaded = LoadedResults()
        if not self.path.exists():
            return loaded
        with self.path.open("r", encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    loaded.damaged.append(DamagedLine(number, f"not valid JSON ({error.msg} at column {error.colno})"))
                    continue
                problem = validate_record(record)
                if problem:
                    loaded.damaged.append(DamagedLine(number, problem))
                    continue
                loaded.records[(record["method"], record["episode_id"])] = record
        return loaded

    def reset(self) -> Path | None:
        """Start a fresh file; an existing one is kept beside it as results.previous.jsonl (never lost)."""
        if not self.path.exists():
            return None
        previous = self.path.with_name(self.path.stem + ".previous" + self.path.suffix)
        os.replace(self.path, previous)
        return previous

