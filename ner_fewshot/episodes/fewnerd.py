"""Few-NERD's released episode files: read them into an EpisodeSet, write an EpisodeSet back.

One episode per line:
    {"support": {"word": [[...], ...], "label": [[...], ...]}, "query": {...}, "types": [...]}
Labels are IO tags: a bare type name (`person-actor`) or `O`. Tags are decoded into spans per
sentence (a run never crosses a sentence boundary, unlike the reference code that flattens an
episode); a mention is a maximal run of one type, so two adjacent mentions of one type read as one.
Writing uses Python's default `json.dumps` layout (", " / ": ", ASCII escapes), the layout of the
released files, so reading and writing a released file gives it back byte for byte.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence

from ..data.catalog import generated_label_words, load_label_set
from ..data.tagging import TagError, spans_to_tags, tags_to_spans
from ..data.types import EntityType, LabelSet, Sentence
from ..data.textfile import split_lines
from .model import Episode, EpisodeFileError, EpisodeSet, check_not_empty, read_episode_text

_PARTS = ("support", "query")


def generated_entity_type(name: str) -> EntityType:
    """An EntityType made from a type name alone: `person-actor` -> label words (person, actor)."""
    words = generated_label_words(name)
    return EntityType(name, words, f"an entity of type {' '.join(words)}")


_FIX = "the file must follow Few-NERD's episode format: {\"support\": {\"word\": [[...]], \"label\": [[...]]}, \"query\": {...}, \"types\": [...]}"


def _types_of(path: Path, number: int, value: Mapping) -> list[str]:
    types = value.get("types")
    if not isinstance(types, list) or not types or not all(isinstance(t, str) and t for t in types):
        raise EpisodeFileError(path, number, "\"types\" must be a non-empty list of type names", _FIX)
    return types


def _episode_lines(path: Path):
    for number, text in enumerate(split_lines(read_episode_text(path)), start=1):
        if not text.strip():
            continue  # blank lines carry no episode
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise EpisodeFileError(path, number, f"invalid JSON ({error.msg} at column {error.colno})", _FIX) from None
        if not isinstance(value, dict):
            raise EpisodeFileError(path, number, "an episode line must be a JSON object", _FIX)
        yield number, value


def read_fewnerd_episodes(path: str | os.PathLike, *, label_set: LabelSet | None = None) -> EpisodeSet:
    """Read a Few-NERD episode JSONL file.

    `label_set` gives the EntityType (label words, definition) of each type; every type in the file
    must be in it. When None: the catalog's Few-NERD label set if it has every type of the file, else
    types generated from their names (`generated_entity_type`); the protocol says which
    ("label_source").
    """
    path = Path(path)
    if not path.exists():
        raise EpisodeFileError(path, 0, "Few-NERD episode file not found", "check the path (e.g. episode-data/inter/test_5_1.jsonl)")
    records = list(_episode_lines(path))
    if label_set is None:
        names = list(dict.fromkeys(t for number, value in records for t in _types_of(path, number, value)))
        catalog = load_label_set("few-nerd")
        if all(n in catalog for n in names):
            label_set, label_source = catalog, "catalog:few-nerd"
        else:
            label_set, label_source = LabelSet(tuple(generated_entity_type(n) for n in names)), "generated from type names"
    else:
        label_source = "given"
    episodes: list[Episode] = []
    for number, value in records:
        episodes.append(_read_episode(path, number, value, label_set, len(episodes)))
    if not episodes:
        raise EpisodeFileError(path, 0, "the file holds no episodes", _FIX)
    ways = sorted({len(e.label_set) for e in episodes})
    protocol = {
        "sampler": "fewnerd-file",
        "file": path.name,
        "n_episodes": len(episodes),
        "n_way": ways[0] if len(ways) == 1 else ways,
        "label_source": label_source,
        "tag_scheme": "io (maximal runs of one type, per sentence)",
    }
    return EpisodeSet(tuple(episodes), protocol)


def _read_episode(path: Path, number: int, value: Mapping, label_set: LabelSet, index: int) -> Episode:
    types = _types_of(path, number, value)
    unknown = [t for t in types if t not in label_set]
    if unknown:
        raise EpisodeFileError(
            path, number, f"types {unknown} are not in the given label set ({len(label_set)} types, e.g. {list(label_set.names)[:5]})",
            "pass a label set that has every type of the file (or label_set=None to generate them)",
        )
    try:
        episode_types = label_set.subset(types)
    except ValueError as error:
        raise EpisodeFileError(path, number, f"\"types\": {error}", _FIX) from None
    parts = {part: _read_part(path, number, value, part, set(types)) for part in _PARTS}
    episode = Episode(f"ep-{index:04d}", episode_types, parts["support"], parts["query"])
    check_not_empty(path, number, episode, "give the episode support and query sentences, or delete its line")
    return episode


def _read_part(path: Path, number: int, value: Mapping, part: str, types: set[str]) -> tuple[Sentence, ...]:
    block = value.get(part)
    if not isinstance(block, dict) or not isinstance(block.get("word"), list) or not isinstance(block.get("label"), list):
        raise EpisodeFileError(path, number, f"{part!r} must be an object with \"word\" and \"label\" lists", _FIX)
    words, labels = block["word"], block["label"]
    if len(words) != len(labels):
        raise EpisodeFileError(path, number, f"{part}: {len(words)} word lists but {len(labels)} label lists", _FIX)
    sentences = []
    for position, (sentence_words, tags) in enumerate(zip(words, labels)):
        source = f"{path}:{number}:{part}[{position}]"
        if not isinstance(sentence_words, list) or not isinstance(tags, list) or len(sentence_words) != len(tags):
            raise EpisodeFileError(path, number, f"{part} sentence {position}: words and labels must be lists of equal length", _FIX)
        if not sentence_words:
            raise EpisodeFileError(path, number, f"{part} sentence {position} has no words", _FIX)
        for word_index, word in enumerate(sentence_words):
            if not isinstance(word, str) or not word:
                kind = "empty" if word == "" else f"of type {type(word).__name__}, not a string"
                raise EpisodeFileError(path, number, f"{part} sentence {position}, word {word_index}: {word!r} is {kind}",
                                       "every word must be a non-empty string")
        try:
            spans, _ = tags_to_spans(tags, "io", strict=True, source=source)
        except TagError as error:
            raise EpisodeFileError(path, number, str(error), _FIX) from None
        stray = sorted({s.label for s in spans} - types)
        if stray:
            raise EpisodeFileError(
                path, number, f"{part} sentence {position} is tagged with {stray}, which are not in the episode's types {sorted(types)}",
                "fix the tags or add the types to the episode's \"types\" list",
            )
        sentences.append(Sentence(tuple(sentence_words), tuple(spans), source))
    return tuple(sentences)


def _write_part(episode: Episode, part: str) -> dict:
    sentences: Sequence[Sentence] = getattr(episode, part)
    labels = []
    for position, sentence in enumerate(sentences):
        try:
            labels.append(spans_to_tags(sentence.spans, len(sentence), "io"))
        except ValueError as error:
            raise ValueError(
                f"episode {episode.id!r} {part} sentence {position} ({sentence.source or 'no source'}) cannot be "
                f"written as Few-NERD IO tags: {error}"
            ) from None
    return {"word": [list(s.words) for s in sentences], "label": labels}


def write_fewnerd_episodes(path: str | os.PathLike, episode_set: EpisodeSet) -> Path:
    """Write episodes in Few-NERD's released format (ids and protocol are not part of that format)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for episode in episode_set:
        record = {"support": _write_part(episode, "support"), "query": _write_part(episode, "query"),
                  "types": list(episode.label_set.names)}
        lines.append(json.dumps(record) + "\n")
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(lines)
    return path
