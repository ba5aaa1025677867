"""Shared by the in-process harness tests and the torchrun worker: a deterministic fake method (it labels
exact occurrences of the support's one-word mentions; subclasses add what a test observes) and seeded
synthetic sentences."""
from __future__ import annotations

import random
from dataclasses import dataclass

from ner_fewshot.data.types import Sentence, Span
from ner_fewshot.methods import FewShotMethod, MethodConfig, ParameterCounts
from ner_fewshot.methods.base import option


@dataclass
class EchoConfig(MethodConfig):
    lowercase: bool = option(False, help="Lower-case before matching.")


class FakeGazetteer(FewShotMethod):
    """Not registered itself: subclasses set `name`."""

    config_class = EchoConfig
    summary = "fake gazetteer"
    citation = ""

    def fit(self, support, label_set):
        self._table = {s.words[sp.start]: sp.label for s in support for sp in s.spans}

    def predict(self, sentences):
        return [[Span(i, i + 1, self._table[w]) for i, w in enumerate(s.words) if w in self._table] for s in sentences]

    def parameter_counts(self):
        return ParameterCounts(0, 0)

    def describe_backbone(self):
        return "none"

    def row_tags(self):
        return {"training": "train-free"}


def synthetic_sentences(count: int, seed: int, tag: str, names: dict[str, list[str]],
                        filler: list[str]) -> tuple[Sentence, ...]:
    """Seeded sentences of filler words and one-word mentions of `names` (type -> words); source "tag.txt:i"."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        words, spans = [], []
        for _ in range(rng.randint(1, 3)):
            words += rng.sample(filler, 2)
            if rng.random() < 0.85:
                label = rng.choice(sorted(names))
                spans.append(Span(len(words), len(words) + 1, label))
                words.append(rng.choice(names[label]))
        out.append(Sentence(tuple(words), tuple(spans), f"{tag}.txt:{index + 1}"))
    return tuple(out)
