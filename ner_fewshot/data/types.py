"""The data model every layer shares: spans, sentences, entity types, label sets, datasets."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, Sequence


@dataclass(frozen=True, order=True)
class Span:
    """An entity mention: words[start:end] (end exclusive) of one sentence, with its type name."""

    start: int
    end: int
    label: str

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end):
            raise ValueError(f"invalid span [{self.start}, {self.end}) for {self.label!r}: need 0 <= start < end")

    def to_json(self) -> list:
        return [self.start, self.end, self.label]

    @classmethod
    def from_json(cls, value: Sequence) -> "Span":
        """[start, end, label] with integer positions and a string label; nothing is coerced."""
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            raise ValueError(f"a span is [start, end, label], got {value!r}")
        start, end, label = value
        for name, position in (("start", start), ("end", end)):
            if not isinstance(position, int) or isinstance(position, bool):
                raise TypeError(f"span {value!r}: {name} {position!r} is of type {type(position).__name__}, not an integer")
        if not isinstance(label, str) or not label:
            raise TypeError(f"span {value!r}: label {label!r} is of type {type(label).__name__}, not a type name string")
        return cls(start, end, label)


@dataclass(frozen=True)
class Sentence:
    """A tokenised sentence with its gold spans.

    `source` says where it came from ("path:line") so that later errors can point at the file.
    """

    words: tuple[str, ...]
    spans: tuple[Span, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", tuple(self.words))
        object.__setattr__(self, "spans", tuple(sorted(self.spans)))
        where = f" ({self.source})" if self.source else ""
        if not self.words:
            raise ValueError(f"sentence with no words{where}")
        for index, word in enumerate(self.words):
            if not isinstance(word, str) or not word:
                # caught here, not as a crash inside a tokenizer several layers further on
                kind = "empty" if word == "" else f"of type {type(word).__name__}, not a string"
                raise TypeError(f"word {index} ({word!r}) is {kind}{where}")
        for span in self.spans:
            if span.end > len(self.words):
                raise ValueError(f"span {span} runs past the sentence's {len(self.words)} words{where}")

    def __len__(self) -> int:
        return len(self.words)

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(span.label for span in self.spans)

    def text_of(self, span: Span) -> str:
        return " ".join(self.words[span.start : span.end])

    def with_spans(self, spans: Iterable[Span]) -> "Sentence":
        return Sentence(self.words, tuple(spans), self.source)

    def restricted_to(self, labels: Iterable[str]) -> "Sentence":
        """The same sentence keeping only spans whose type is in `labels` (others become O)."""
        keep = set(labels)
        return self.with_spans(s for s in self.spans if s.label in keep)

    def to_json(self) -> dict:
        return {"words": list(self.words), "spans": [s.to_json() for s in self.spans], "source": self.source}

    @classmethod
    def from_json(cls, value: Mapping) -> "Sentence":
        words, spans, source = value["words"], value.get("spans", []), value.get("source", "")
        if not isinstance(words, list) or not isinstance(spans, list) or not isinstance(source, str):
            raise TypeError(f'a sentence is {{"words": [...], "spans": [...], "source": "..."}}, got words {words!r:.80}, '
                            f"spans {spans!r:.80}, source {source!r:.80}")
        return cls(tuple(words), tuple(Span.from_json(s) for s in spans), source)


@dataclass(frozen=True)
class EntityType:
    """One entity type: its tag name in the data, natural-language label words, and a definition.

    LightNER builds its answer space from `label_words`; CLLMFS writes `definition` into its prompts.
    """

    name: str
    label_words: tuple[str, ...]
    definition: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_words", tuple(self.label_words))
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"entity type name {self.name!r} is not a non-empty string")
        if not all(isinstance(word, str) and word for word in self.label_words) or not isinstance(self.definition, str):
            raise TypeError(f"entity type {self.name!r}: label words {self.label_words!r} and definition must be strings")
        if not self.label_words:
            raise ValueError(f"entity type {self.name!r} needs at least one label word")

    @property
    def natural_name(self) -> str:
        """The label words joined, e.g. 'city name' for `fromloc.city_name`."""
        return " ".join(self.label_words)

    def to_json(self) -> dict:
        return {"name": self.name, "label_words": list(self.label_words), "definition": self.definition}

    @classmethod
    def from_json(cls, value: Mapping) -> "EntityType":
        return cls(value["name"], tuple(value["label_words"]), value["definition"])


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of entity types. Order matters: it fixes label indices inside methods."""

    types: tuple[EntityType, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", tuple(self.types))
        names = [t.name for t in self.types]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"label set repeats entity types {duplicates}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.types)

    def __len__(self) -> int:
        return len(self.types)

    def __iter__(self) -> Iterator[EntityType]:
        return iter(self.types)

    def __contains__(self, name: object) -> bool:
        return any(t.name == name for t in self.types)

    def __getitem__(self, name: str) -> EntityType:
        for entity_type in self.types:
            if entity_type.name == name:
                return entity_type
        raise KeyError(f"unknown entity type {name!r}; this label set has {list(self.names)}")

    def subset(self, names: Iterable[str]) -> "LabelSet":
        """The types named, in the order given."""
        return LabelSet(tuple(self[name] for name in names))

    def to_json(self) -> list:
        return [t.to_json() for t in self.types]

    @classmethod
    def from_json(cls, value: Sequence) -> "LabelSet":
        return cls(tuple(EntityType.from_json(t) for t in value))


@dataclass(frozen=True)
class Dataset:
    """A named dataset: its splits (e.g. train/dev/test, or fixed k-shot support files) and label set.

    `repairs`: every file read -> how many ill-formed tag sequences were repaired in it (0 when clean),
    so that a harness can report them; empty for datasets not read from files.
    """

    name: str
    splits: Mapping[str, tuple[Sentence, ...]]
    label_set: LabelSet
    citation: str = ""
    notes: str = ""
    extra: Mapping[str, object] = field(default_factory=dict)
    repairs: Mapping[str, int] = field(default_factory=dict)

    def split(self, name: str) -> tuple[Sentence, ...]:
        try:
            return self.splits[name]
        except KeyError:
            raise KeyError(f"dataset {self.name!r} has no split {name!r}; it has {sorted(self.splits)}") from None
