"""The one span metric: exact match of (sentence, start, end, type). Conventions: docs/protocols.md.

- Spans are compared per sentence, so no mention can run across a sentence boundary. The
  Few-NERD-compatible option (`span_scoring="fewnerd-episode"`, off by default, labelled wherever
  used) reproduces the Few-NERD code instead: an episode's query sentences are laid end to end as
  one IO tag sequence (gold and predicted alike) and a span is a maximal run of one type, so a run
  that ends one sentence and starts the next is one span, and adjacent mentions of one type merge.
- Duplicate spans within one sentence count once (predicted and gold alike).
- Precision, recall and F1 are 0 when undefined (no predictions / no gold / both 0), as in seqeval.
- `summarize` gives micro P/R/F1 from counts summed over ALL episodes (the Few-NERD / CONTaiNER
  number), plus mean and POPULATION std (ddof=0) of per-episode F1.
- Error breakdown (Few-NERD): a false-positive span is a *type error* when a gold span has exactly
  its boundaries (with another type), else a *span error*; a false-negative gold span is a type
  error when a predicted span has exactly its boundaries, else a span error.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping, Sequence

import numpy as np

from .data.types import Span


@dataclass(frozen=True)
class SpanCounts:
    predicted: int = 0
    gold: int = 0
    correct: int = 0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        # 2PR/(P+R) simplified; 0 when there is nothing correct.
        return 2 * self.correct / (self.predicted + self.gold) if self.correct else 0.0

    def __add__(self, other: "SpanCounts") -> "SpanCounts":
        return SpanCounts(self.predicted + other.predicted, self.gold + other.gold, self.correct + other.correct)

    def to_dict(self) -> dict:
        """Counts plus the derived P/R/F1 (for readers of the JSON; `from_dict` uses the counts)."""
        return {"predicted": self.predicted, "gold": self.gold, "correct": self.correct,
                "precision": self.precision, "recall": self.recall, "f1": self.f1}

    @classmethod
    def from_dict(cls, value: Mapping) -> "SpanCounts":
        return cls(int(value["predicted"]), int(value["gold"]), int(value["correct"]))


@dataclass(frozen=True)
class ErrorBreakdown:
    false_positive_span: int = 0
    false_positive_type: int = 0
    false_negative_span: int = 0
    false_negative_type: int = 0

    def __add__(self, other: "ErrorBreakdown") -> "ErrorBreakdown":
        return ErrorBreakdown(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, value: Mapping) -> "ErrorBreakdown":
        return cls(*(int(value[f.name]) for f in fields(cls)))


def _sum_per_type(tables: Sequence[Mapping[str, SpanCounts]]) -> dict[str, SpanCounts]:
    total: dict[str, SpanCounts] = {}
    for table in tables:
        for name, counts in table.items():
            total[name] = total.get(name, SpanCounts()) + counts
    return dict(sorted(total.items()))


@dataclass(frozen=True)
class EpisodeScore:
    counts: SpanCounts
    per_type: Mapping[str, SpanCounts]
    errors: ErrorBreakdown

    @property
    def f1(self) -> float:
        return self.counts.f1

    def to_dict(self) -> dict:
        return {"counts": self.counts.to_dict(), "per_type": {k: v.to_dict() for k, v in sorted(self.per_type.items())},
                "errors": self.errors.to_dict()}

    @classmethod
    def from_dict(cls, value: Mapping) -> "EpisodeScore":
        return cls(SpanCounts.from_dict(value["counts"]),
                   {k: SpanCounts.from_dict(v) for k, v in value["per_type"].items()},
                   ErrorBreakdown.from_dict(value["errors"]))


SENTENCE_SCORING = "sentence"
FEWNERD_EPISODE_SCORING = "fewnerd-episode"
SPAN_SCORINGS = (SENTENCE_SCORING, FEWNERD_EPISODE_SCORING)
# What a table row says when a run does not score per sentence.
SCORING_TAGS = {FEWNERD_EPISODE_SCORING: "Few-NERD-compatible (query sentences concatenated before span extraction)"}


def concatenated_spans(spans_per_sentence: Sequence[Sequence[Span]], lengths: Sequence[int], what: str = "spans") -> list[Span]:
    """The spans Few-NERD's code extracts from an episode: sentence i's spans become IO tags, the
    sentences' tags are concatenated, and every maximal run of one type is a span (positions count
    words from the first sentence's first word)."""
    if len(spans_per_sentence) != len(lengths):
        raise ValueError(f"{what}: {len(spans_per_sentence)} span lists for {len(lengths)} sentences")
    labels: list[str | None] = []
    for index, (spans, length) in enumerate(zip(spans_per_sentence, lengths)):
        tags: list[str | None] = [None] * length
        for span in sorted(set(spans)):
            if span.end > length:
                raise ValueError(f"{what} of sentence {index}: {span} runs past its {length} words")
            if any(tag is not None for tag in tags[span.start : span.end]):
                raise ValueError(f"{what} of sentence {index}: {span} overlaps another span; IO tags (Few-NERD "
                                 f"scoring) need flat spans: score per sentence instead")
            tags[span.start : span.end] = [span.label] * (span.end - span.start)
        labels.extend(tags)
    runs: list[Span] = []
    start = None
    for position, label in enumerate([*labels, None]):
        if start is not None and label != labels[start]:
            runs.append(Span(start, position, labels[start]))
            start = None
        if label is not None and start is None:
            start = position
    return runs


def score_episode(gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]], *,
                  span_scoring: str = SENTENCE_SCORING, lengths: Sequence[int] | None = None) -> EpisodeScore:
    """Score one episode: `gold[i]` and `predicted[i]` are the spans of query sentence i.

    `span_scoring="fewnerd-episode"` scores the spans of the concatenated query (`concatenated_spans`)
    instead; it needs `lengths[i]`, the word count of query sentence i."""
    if len(gold) != len(predicted):
        raise ValueError(
            f"score_episode got gold spans for {len(gold)} sentences but predictions for {len(predicted)}; "
            f"predict() must return one list of spans per query sentence"
        )
    if span_scoring not in SPAN_SCORINGS:
        raise ValueError(f"span_scoring {span_scoring!r} is not one of {list(SPAN_SCORINGS)}")
    if span_scoring == FEWNERD_EPISODE_SCORING:
        if lengths is None:
            raise ValueError("span_scoring='fewnerd-episode' needs the query sentences' lengths")
        return score_episode([concatenated_spans(gold, lengths, "gold spans")],
                             [concatenated_spans(predicted, lengths, "predicted spans")])
    predicted_by_type: dict[str, int] = {}
    gold_by_type: dict[str, int] = {}
    correct_by_type: dict[str, int] = {}
    fp_span = fp_type = fn_span = fn_type = 0
    for index, (gold_spans, predicted_spans) in enumerate(zip(gold, predicted)):
        gold_set, predicted_set = set(gold_spans), set(predicted_spans)
        for span in predicted_set:
            if not isinstance(span, Span):
                raise TypeError(f"prediction for sentence {index} holds {span!r}, not a Span")
        gold_bounds = {(s.start, s.end) for s in gold_set}
        predicted_bounds = {(s.start, s.end) for s in predicted_set}
        for span in predicted_set:
            predicted_by_type[span.label] = predicted_by_type.get(span.label, 0) + 1
            if span in gold_set:
                correct_by_type[span.label] = correct_by_type.get(span.label, 0) + 1
            elif (span.start, span.end) in gold_bounds:
                fp_type += 1
            else:
                fp_span += 1
        for span in gold_set:
            gold_by_type[span.label] = gold_by_type.get(span.label, 0) + 1
            if span in predicted_set:
                continue
            if (span.start, span.end) in predicted_bounds:
                fn_type += 1
            else:
                fn_span += 1
    names = sorted(set(predicted_by_type) | set(gold_by_type))
    per_type = {n: SpanCounts(predicted_by_type.get(n, 0), gold_by_type.get(n, 0), correct_by_type.get(n, 0)) for n in names}
    total = SpanCounts(sum(predicted_by_type.values()), sum(gold_by_type.values()), sum(correct_by_type.values()))
    return EpisodeScore(total, per_type, ErrorBreakdown(fp_span, fp_type, fn_span, fn_type))


@dataclass(frozen=True)
class Summary:
    micro: SpanCounts  # counts summed over all episodes (Few-NERD convention): the headline F1
    mean_f1: float  # mean of per-episode F1
    std_f1: float  # population std (ddof=0) of per-episode F1
    n_episodes: int
    per_type: Mapping[str, SpanCounts]
    errors: ErrorBreakdown

    def to_dict(self) -> dict:
        return {"micro": self.micro.to_dict(), "mean_f1": self.mean_f1, "std_f1": self.std_f1,
                "n_episodes": self.n_episodes, "per_type": {k: v.to_dict() for k, v in self.per_type.items()},
                "errors": self.errors.to_dict()}


def summarize(scores: Sequence[EpisodeScore]) -> Summary:
    if not scores:
        raise ValueError("summarize needs at least one episode score")
    micro, errors = SpanCounts(), ErrorBreakdown()
    for score in scores:
        micro, errors = micro + score.counts, errors + score.errors
    f1s = np.array([score.f1 for score in scores], dtype=np.float64)
    return Summary(micro, float(f1s.mean()), float(f1s.std(ddof=0)), len(scores),
                   _sum_per_type([s.per_type for s in scores]), errors)


def _count_matrix(scores: Sequence[EpisodeScore]) -> np.ndarray:
    return np.array([[s.counts.predicted, s.counts.gold, s.counts.correct] for s in scores], dtype=np.float64)


def _micro_f1(counts: np.ndarray) -> np.ndarray:
    """Micro F1 = 2 * correct / (predicted + gold) (same as 2PR/(P+R)); 0 when both are 0."""
    denominator = counts[..., 0] + counts[..., 1]
    return np.divide(2 * counts[..., 2], denominator, out=np.zeros_like(denominator), where=denominator > 0)


def bootstrap_f1_difference(
    scores_a: Sequence[EpisodeScore],
    scores_b: Sequence[EpisodeScore],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Paired bootstrap over episodes: (micro F1 of a - micro F1 of b, low, high) with a percentile
    interval at `confidence`. Episode i of a and of b must be the same episode."""
    if len(scores_a) != len(scores_b):
        raise ValueError(f"paired bootstrap needs the same episodes for both systems: got {len(scores_a)} and {len(scores_b)} scores")
    if not scores_a:
        raise ValueError("bootstrap_f1_difference needs at least one episode")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    counts_a, counts_b = _count_matrix(scores_a), _count_matrix(scores_b)
    delta = float(_micro_f1(counts_a.sum(0)) - _micro_f1(counts_b.sum(0)))
    rng = np.random.default_rng(seed)
    differences = np.empty(n_resamples)
    for start in range(0, n_resamples, 256):  # chunks bound memory for many episodes
        stop = min(start + 256, n_resamples)
        picks = rng.integers(0, len(scores_a), size=(stop - start, len(scores_a)))
        differences[start:stop] = _micro_f1(counts_a[picks].sum(1)) - _micro_f1(counts_b[picks].sum(1))
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    return delta, float(low), float(high)
