"""A deterministic fake method for harness tests (in process and in torchrun worker processes): it
labels exact occurrences of the support's one-word mentions. Subclasses add what a test observes."""
from __future__ import annotations

from dataclasses import dataclass

from ner_fewshot.data.types import Span
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
