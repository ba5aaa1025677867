"""The results file: one JSON line per (method, episode), appended and fsync-ed as soon as it exists.

Reading is strict about completeness: a line that does not parse, or lacks a required field, is
reported as damaged and its work is redone (a crash mid-write leaves at most one such line, the last).
When a (method, episode) pair appears more than once, the last record wins: a resumed run appends
the redone result after the failed or damaged one instead of rewriting the file. A run reads only the
records of its own episode set and method configs (`RunKey`); any other record is left alone, unused.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ner_fewshot.evaluation import EpisodeScore

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
STATUSES = (OK, FAILED, SKIPPED)

# Every record carries these; an OK record also needs its predictions and score.
REQUIRED_FIELDS = ("method", "episode_id", "setting", "status", "config_hash", "episode_hash")
REQUIRED_OK_FIELDS = ("predictions", "score", "fit_seconds", "predict_seconds")


@dataclass
class DamagedLine:
    line_number: int
    reason: str


@dataclass(frozen=True)
class RunKey:
    """What a record must carry to belong to a run: its episode set hash and each method's config hash."""

    episode_hash: str
    config_hashes: Mapping[str, str]

    def owns(self, record: Mapping[str, Any]) -> bool:
        return (record["episode_hash"] == self.episode_hash
                and self.config_hashes.get(record["method"]) == record["config_hash"])


@dataclass
class LoadedResults:
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (method, episode_id) -> last record
    damaged: list[DamagedLine] = field(default_factory=list)
    foreign: int = 0  # well-formed records of another episode set or config (ignored)

    def done(self, method: str, episode_id: str) -> bool:
        record = self.records.get((method, episode_id))
        return record is not None and record["status"] == OK


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _score_problem(score: Any) -> str | None:
    """Why `score` is not an EpisodeScore.to_dict(), or None: the table must never meet a broken one."""
    try:
        parsed = EpisodeScore.from_dict(score)
        counts = [score["counts"], *score["per_type"].values()]
        numbers = [c[k] for c in counts for k in ("predicted", "gold", "correct")]
        numbers += [score["errors"][k] for k in parsed.errors.to_dict()]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return f"score is not a valid episode score ({type(error).__name__}: {error})"
    if not all(_is_count(n) for n in numbers):
        return "score has counts that are not non-negative integers"
    return None


def _ok_problem(record: dict[str, Any]) -> str | None:
    predictions = record["predictions"]
    if not isinstance(predictions, list) or not all(isinstance(p, list) for p in predictions):
        return "predictions is not a list of span lists"
    for name in ("fit_seconds", "predict_seconds"):
        if not _is_seconds(record[name]):
            return f"{name} {record[name]!r} is not a non-negative number"
    for name in ("peak_rss_mb", "cuda_peak_mb"):
        if record.get(name) is not None and not _is_seconds(record[name]):
            return f"{name} {record[name]!r} is not a non-negative number"
    if "n_query" in record and not _is_count(record["n_query"]):
        return f"n_query {record['n_query']!r} is not a count"
    return _score_problem(record["score"])


def validate_record(record: Any) -> str | None:
    """Why `record` is not a complete, well-typed result, or None if it is."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if not missing and record["status"] == OK:
        missing = [name for name in REQUIRED_OK_FIELDS if name not in record]
    if missing:
        return f"missing field(s) {missing}"
    if record["status"] not in STATUSES:
        return f"status {record['status']!r} is not one of {list(STATUSES)}"
    not_text = [name for name in REQUIRED_FIELDS if not isinstance(record[name], str)]
    if not_text:
        return f"field(s) {not_text} are not strings"
    return _ok_problem(record) if record["status"] == OK else None


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

    def append_many(self, records: list[dict[str, Any]]) -> None:
        """Several records with one fsync (merging the shards of a distributed run)."""
        for record in records:
            problem = validate_record(record)
            if problem:
                raise ValueError(f"refusing to write an incomplete result record: {problem}")
        if not records:
            return
        self._ensure_line_start()
        with self.path.open("a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
            handle.flush()
            os.fsync(handle.fileno())

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

    def load(self, run: RunKey | None = None) -> LoadedResults:
        """Every complete record, or with `run` only that run's (others are counted in `foreign`)."""
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
                if run is not None and not run.owns(record):
                    loaded.foreign += 1
                    continue
                loaded.records[(record["method"], record["episode_id"])] = record
        return loaded

    def reset(self) -> Path | None:
        """Start a fresh file; an existing one is kept beside it as results.previous-<n>.jsonl, n one more
        than any earlier one's, so that no run's results are ever overwritten."""
        if not self.path.exists():
            return None
        pattern = re.compile(re.escape(self.path.stem) + r"\.previous-(\d+)" + re.escape(self.path.suffix))
        numbers = [int(m.group(1)) for p in self.path.parent.iterdir() if (m := pattern.fullmatch(p.name))]
        previous = self.path.with_name(f"{self.path.stem}.previous-{max(numbers, default=0) + 1}{self.path.suffix}")
        os.link(self.path, previous)  # raises rather than overwrite, should that name exist after all
        self.path.unlink()
        return previous
