"""Episodes and episode sets, with a byte-stable JSONL file format and a sha256 content hash.

File layout (UTF-8, one JSON object per line, sorted keys, no spaces):
    line 1: {"format": "ner-fewshot-episodes", "version": 1, "sha256": ..., "protocol": ..., "n_episodes": ...}
    line 2..: one episode each: {"id", "label_set", "support", "query"}

The hash covers the protocol and every episode's id, label set, words and spans, but NOT the
sentences' `source` ("path:line"): that is provenance, and it holds the data folder's location, so
including it would give the same episodes a different hash on every machine.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from ..data.textfile import DataFormatError, read_text, split_lines
from ..data.types import LabelSet, Sentence

FILE_FORMAT = "ner-fewshot-episodes"
FILE_VERSION = 1
REGENERATE = "re-generate the file with the sampler (or restore an intact copy)"


class EpisodeFileError(ValueError):
    """An episode file that is corrupt, truncated, edited or of another format.

    Carries `path`, `line` (1-based, 0 when the whole file is concerned) and `fix`.
    """

    def __init__(self, path: str | os.PathLike, line: int, problem: str, fix: str = REGENERATE) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.fix = fix
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}; {fix}")


class ImpossibleEpisode(ValueError):
    """A sampling request the data cannot satisfy; the message names the type, the count available
    and what was asked."""


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sentence_without_source(sentence: Sentence) -> dict:
    return {"words": list(sentence.words), "spans": [s.to_json() for s in sentence.spans]}


@dataclass(frozen=True)
class Episode:
    """One few-shot task: learn `label_set` from `support`, predict `query`.

    Gold spans of support and query are restricted to the episode's types (checked here).
    """

    id: str
    label_set: LabelSet
    support: tuple[Sentence, ...]
    query: tuple[Sentence, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "support", tuple(self.support))
        object.__setattr__(self, "query", tuple(self.query))
        allowed = set(self.label_set.names)
        for part in ("support", "query"):
            for index, sentence in enumerate(getattr(self, part)):
                outside = sorted(sentence.labels - allowed)
                if outside:
                    where = f" ({sentence.source})" if sentence.source else ""
                    raise ValueError(
                        f"episode {self.id!r}: {part} sentence {index}{where} has spans of types {outside} "
                        f"outside the episode's label set {list(self.label_set.names)}; restrict it first "
                        f"with Sentence.restricted_to(label_set.names)"
                    )

    def to_json(self, *, with_source: bool = True) -> dict:
        encode = Sentence.to_json if with_source else _sentence_without_source
        return {
            "id": self.id,
            "label_set": self.label_set.to_json(),
            "support": [encode(s) for s in self.support],
            "query": [encode(s) for s in self.query],
        }

    @classmethod
    def from_json(cls, value: Mapping) -> "Episode":
        if not isinstance(value["id"], str) or not all(isinstance(value[p], list) for p in ("support", "query")):
            raise TypeError('an episode is {"id": "...", "label_set": [...], "support": [...], "query": [...]}')
        return cls(
            value["id"],
            LabelSet.from_json(value["label_set"]),
            tuple(Sentence.from_json(s) for s in value["support"]),
            tuple(Sentence.from_json(s) for s in value["query"]),
        )


@dataclass(frozen=True, eq=False)
class EpisodeSet:
    """An ordered collection of episodes plus the protocol that produced them (JSON-able dict:
    sampler name, dataset, n_way, k_shot, seed, ...). Two sets are equal when their hashes are."""

    episodes: tuple[Episode, ...]
    protocol: Mapping[str, object]

    def __post_init__(self) -> None:
        object.__setattr__(self, "episodes", tuple(self.episodes))
        try:
            # A private, JSON-normalised copy: the hash must not change if the caller mutates theirs.
            protocol = json.loads(_canonical(dict(self.protocol)))
        except (TypeError, ValueError) as error:
            raise ValueError(f"episode set protocol must be JSON-serialisable: {error}") from None
        object.__setattr__(self, "protocol", protocol)
        ids = Counter(e.id for e in self.episodes)
        repeated = sorted(i for i, n in ids.items() if n > 1)
        if repeated:
            raise ValueError(f"episode ids must be unique; repeated: {repeated}")

    def __len__(self) -> int:
        return len(self.episodes)

    def __iter__(self) -> Iterator[Episode]:
        return iter(self.episodes)

    def __getitem__(self, index: int) -> Episode:
        return self.episodes[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EpisodeSet) and self.content_hash == other.content_hash

    def __hash__(self) -> int:
        return hash(self.content_hash)

    @cached_property
    def content_hash(self) -> str:
        """sha256 hex of the canonical serialisation of protocol + episodes (sources excluded)."""
        digest = hashlib.sha256()
        digest.update(_canonical(self.protocol).encode("utf-8"))
        digest.update(b"\n")
        for episode in self.episodes:
            digest.update(_canonical(episode.to_json(with_source=False)).encode("utf-8"))
            digest.update(b"\n")
        return digest.hexdigest()

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]

    def header(self) -> dict:
        return {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "sha256": self.content_hash,
            "protocol": self.protocol,
            "n_episodes": len(self.episodes),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the JSONL file (byte-identical for equal inputs); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".partial")
        # Write then rename, so an interrupted save never leaves a plausible-looking half file.
        with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(_canonical(self.header()) + "\n")
            for episode in self.episodes:
                handle.write(_canonical(episode.to_json()) + "\n")
        os.replace(temporary, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "EpisodeSet":
        """Read a file written by `save`, verifying completeness and the content hash."""
        path = Path(path)
        if not path.exists():
            raise EpisodeFileError(path, 0, "episode file not found", "check the path or generate the episodes")
        text = read_episode_text(path)
        lines = split_lines(text)
        if lines and not text.endswith(("\n", "\r")):
            raise EpisodeFileError(path, len(lines), "the last line has no newline: the file is truncated")
        if not lines:
            raise EpisodeFileError(path, 0, "the file is empty")
        header = _parse_line(path, 1, lines[0])
        if not isinstance(header, dict) or header.get("format") != FILE_FORMAT:
            raise EpisodeFileError(
                path, 1, f"not a {FILE_FORMAT} file (header line lacks \"format\": \"{FILE_FORMAT}\")",
                "pass a file written by EpisodeSet.save (Few-NERD's released files: read_fewnerd_episodes)",
            )
        if header.get("version") != FILE_VERSION:
            raise EpisodeFileError(
                path, 1, f"file version {header.get('version')!r}, this code reads version {FILE_VERSION}",
                "re-generate the file with this version of ner-fewshot",
            )
        for key in ("sha256", "protocol", "n_episodes"):
            if key not in header:
                raise EpisodeFileError(path, 1, f"header has no {key!r}")
        expected = header["n_episodes"]
        if len(lines) - 1 != expected:
            raise EpisodeFileError(
                path, len(lines),
                f"header announces {expected} episodes but the file has {len(lines) - 1}: it is truncated or was edited",
            )
        episodes = []
        for number, text in enumerate(lines[1:], start=2):
            value = _parse_line(path, number, text)
            try:
                episode = Episode.from_json(value)
            except (KeyError, TypeError, ValueError) as error:
                raise EpisodeFileError(path, number, f"malformed episode: {error!r}") from None
            check_not_empty(path, number, episode)
            episodes.append(episode)
        try:
            loaded = cls(tuple(episodes), header["protocol"])
        except ValueError as error:
            raise EpisodeFileError(path, 1, str(error)) from None
        if loaded.content_hash != header["sha256"]:
            raise EpisodeFileError(
                path, 1,
                f"content hash mismatch: header says {header['sha256'][:12]}..., the content hashes to "
                f"{loaded.short_hash}...: the file was edited or corrupted",
            )
        return loaded


def read_episode_text(path: Path) -> str:
    """The file as text; a wrong encoding is an EpisodeFileError naming file, line and iconv fix."""
    try:
        return read_text(path)
    except DataFormatError as error:
        raise EpisodeFileError(path, error.line_no or 0, error.problem, error.fix) from None


def check_not_empty(path: Path, number: int, episode: Episode, fix: str = REGENERATE) -> None:
    """An episode needs support to learn from and queries to score; an empty part is a broken file."""
    for part in ("support", "query"):
        if not getattr(episode, part):
            raise EpisodeFileError(path, number, f"episode {episode.id!r} has no {part} sentences", fix)


def _parse_line(path: Path, number: int, text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise EpisodeFileError(path, number, f"invalid JSON ({error.msg} at column {error.colno})") from None


def restrict_all(sentences: Sequence[Sentence], names: Sequence[str]) -> tuple[Sentence, ...]:
    """Each sentence with only the spans of the given types (shares the object when nothing changes)."""
    keep = frozenset(names)
    return tuple(s if s.labels <= keep else s.restricted_to(keep) for s in sentences)
