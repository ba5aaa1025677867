"""The floor every learned method must beat: a gazetteer of the support set's mentions.

Each mention's word sequence is remembered with its type; a query sentence is labelled with every
occurrence of a remembered sequence, longest first, never overlapping an accepted one.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..data.types import LabelSet, Sentence, Span
from .base import FewShotMethod, MethodConfig, ParameterCounts, option


@dataclass
class StringMatchConfig(MethodConfig):
    case_sensitive: bool = option(True, help="Match words exactly (True) or after lower-casing (False).")
    min_words: int = option(1, help="Ignore support mentions shorter than this many words.")


class StringMatch(FewShotMethod):
    name = "string-match"
    config_class = StringMatchConfig
    summary = "Exact match of the support set's mentions, longest first (no learning)."
    citation = ""  # a folk baseline: nothing to cite

    def __init__(self, config: StringMatchConfig | None = None) -> None:
        super().__init__(config)
        self._gazetteer: dict[tuple[str, ...], str] = {}
        self._max_words = 0

    def _key(self, words: Sequence[str]) -> tuple[str, ...]:
        return tuple(words) if self.config.case_sensitive else tuple(w.lower() for w in words)

    def fit(self, support: Sequence[Sentence], label_set: LabelSet) -> None:
        votes: dict[tuple[str, ...], Counter] = defaultdict(Counter)
        for sentence in support:
            for span in sentence.spans:
                if span.label in label_set and span.end - span.start >= self.config.min_words:
                    votes[self._key(sentence.words[span.start : span.end])][span.label] += 1
        order = {name: i for i, name in enumerate(label_set.names)}
        # A surface form seen with several types takes its most frequent one; ties go to label-set order.
        self._gazetteer = {
            key: min(counter, key=lambda label: (-counter[label], order[label])) for key, counter in votes.items()
        }
        self._max_words = max((len(key) for key in self._gazetteer), default=0)

    def predict(self, sentences: Sequence[Sentence]) -> list[list[Span]]:
        return [self._match(sentence.words) for sentence in sentences]

    def _match(self, words: Sequence[str]) -> list[Span]:
        keys = self._key(words)
        accepted: list[Span] = []
        taken = [False] * len(keys)
        for length in range(min(self._max_words, len(keys)), 0, -1):
            for start in range(len(keys) - length + 1):
                label = self._gazetteer.get(keys[start : start + length])
                if label is not None and not any(taken[start : start + length]):
                    accepted.append(Span(start, start + length, label))
                    taken[start : start + length] = [True] * length
        return sorted(accepted)

    def parameter_counts(self) -> ParameterCounts:
        return ParameterCounts(trainable=0, total=0, notes=f"{len(self._gazetteer)} gazetteer entries")

    def save(self, directory: str | Path) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        entries = [[list(key), label] for key, label in sorted(self._gazetteer.items())]
        (path / "gazetteer.json").write_text(json.dumps({"config": self.config.to_dict(), "entries": entries}))

    def load(self, directory: str | Path) -> None:
        data = json.loads((Path(directory) / "gazetteer.json").read_text())
        self.config = self.config_class.from_dict(data["config"])
        self._gazetteer = {tuple(key): label for key, label in data["entries"]}
        self._max_words = max((len(key) for key in self._gazetteer), default=0)
