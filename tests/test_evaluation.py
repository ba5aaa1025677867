"""The span metric: hand-computed cases, agreement with seqeval (strict IOB2), the IO pitfall,
micro-over-episodes vs mean-of-episodes, error breakdown and the paired bootstrap."""
from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from ner_fewshot.data.tagging import tags_to_spans
from ner_fewshot.data.types import Span
from ner_fewshot.evaluation import (
    FEWNERD_EPISODE_SCORING,
    EpisodeScore,
    ErrorBreakdown,
    SpanCounts,
    bootstrap_f1_difference,
    concatenated_spans,
    score_episode,
    summarize,
)


def spans_to_iob2(spans: list[Span], length: int) -> list[str]:
    """Our own spans -> IOB2 conversion for seqeval (flat spans only)."""
    tags = ["O"] * length
    for span in sorted(spans):
        assert all(t == "O" for t in tags[span.start : span.end]), "spans overlap"
        tags[span.start] = f"B-{span.label}"
        for position in range(span.start + 1, span.end):
            tags[position] = f"I-{span.label}"
    return tags


# A hand case (query of 3 sentences), worked out on paper:
#   s0 gold PER[0,2) LOC[3,4)     pred PER[0,2) ORG[3,4)          -> 1 correct; ORG is a type error (FP),
#                                                                     LOC a type error (FN)
#   s1 gold ORG[1,3)              pred ORG[1,2) MISC[5,6) MISC[5,6) -> duplicate counted once; both FPs are
#                                                                     span errors; ORG[1,3) a span error (FN)
#   s2 no gold, no predictions
# predicted 4, gold 3, correct 1: P = 1/4, R = 1/3, F1 = 2PR/(P+R) = (1/6)/(7/12) = 2/7
HAND_GOLD = [[Span(0, 2, "PER"), Span(3, 4, "LOC")], [Span(1, 3, "ORG")], []]
HAND_PREDICTED = [
    [Span(0, 2, "PER"), Span(3, 4, "ORG")],
    [Span(1, 2, "ORG"), Span(5, 6, "MISC"), Span(5, 6, "MISC")],
    [],
]


def test_hand_computed_episode():
    score = score_episode(HAND_GOLD, HAND_PREDICTED)
    assert score.counts == SpanCounts(predicted=4, gold=3, correct=1)
    assert score.counts.precision == pytest.approx(1 / 4)
    assert score.counts.recall == pytest.approx(1 / 3)
    assert score.f1 == pytest.approx(2 / 7)
    assert score.per_type == {
        "LOC": SpanCounts(0, 1, 0),
        "MISC": SpanCounts(1, 0, 0),
        "ORG": SpanCounts(2, 1, 0),
        "PER": SpanCounts(1, 1, 1),
    }
    assert score.errors == ErrorBreakdown(false_positive_span=2, false_positive_type=1, false_negative_span=1, false_negative_type=1)
    # every false positive / negative is classified exactly once
    assert score.errors.false_positive_span + score.errors.false_positive_type == score.counts.predicted - score.counts.correct
    assert score.errors.false_negative_span + score.errors.false_negative_type == score.counts.gold - score.counts.correct


def test_undefined_scores_are_zero_and_lengths_must_match():
    empty = SpanCounts()
    assert (empty.precision, empty.recall, empty.f1) == (0.0, 0.0, 0.0)
    assert SpanCounts(predicted=3, gold=0, correct=0).f1 == 0.0
    with pytest.raises(ValueError, match="gold spans for 2 sentences but predictions for 1"):
        score_episode([[], []], [[]])


def test_spans_are_matched_per_sentence():
    # The same span in another sentence is no match: a flattened episode would get this wrong.
    score = score_episode([[Span(0, 1, "PER")], []], [[], [Span(0, 1, "PER")]])
    assert score.counts == SpanCounts(1, 1, 0)


def test_serialisation_round_trip():
    score = score_episode(HAND_GOLD, HAND_PREDICTED)
    restored = EpisodeScore.from_dict(score.to_dict())
    assert restored == score
    assert score.to_dict()["counts"]["f1"] == pytest.approx(2 / 7)
    summary = summarize([score, score]).to_dict()
    assert summary["micro"]["predicted"] == 8 and summary["n_episodes"] == 2


def test_micro_over_episodes_differs_from_mean_of_episodes():
    # Episode A: 1 gold, found (F1 1.0). Episode B: 9 gold, 9 wrong predictions (F1 0.0).
    a = score_episode([[Span(0, 1, "X")]], [[Span(0, 1, "X")]])
    b_gold = [[Span(i, i + 1, "X")] for i in range(9)]
    b_predicted = [[Span(i, i + 1, "Y")] for i in range(9)]
    b = score_episode(b_gold, b_predicted)
    summary = summarize([a, b])
    # micro: predicted 10, gold 10, correct 1 -> P = R = F1 = 0.1
    assert summary.micro == SpanCounts(10, 10, 1)
    assert summary.micro.f1 == pytest.approx(0.1)
    # mean of per-episode F1 = (1 + 0) / 2; population std (ddof=0) = 0.5
    assert summary.mean_f1 == pytest.approx(0.5)
    assert summary.std_f1 == pytest.approx(0.5)
    assert summary.per_type == {"X": SpanCounts(1, 10, 1), "Y": SpanCounts(9, 0, 0)}
    assert summary.errors == ErrorBreakdown(0, 9, 0, 9)


def test_raw_io_tags_must_not_go_to_seqeval():
    # Few-NERD IO tags: seqeval reads "person-other" as prefix "p" + type "other", and
    # "location-other" as prefix "l" + type "other", so a wrong type scores a perfect 1.0.
    gold_io = ["person-other", "person-other", "O", "location-other"]
    predicted_io = ["location-other", "location-other", "O", "person-other"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert f1_score([gold_io], [predicted_io]) == 1.0
    gold, _ = tags_to_spans(gold_io, "io")
    predicted, _ = tags_to_spans(predicted_io, "io")
    score = score_episode([gold], [predicted])
    assert score.f1 == 0.0
    assert score.errors.false_positive_type == 2 and score.errors.false_negative_type == 2


LABELS = ["PER", "LOC", "person-other", "location-other"]
segment = st.tuples(st.integers(1, 3), st.sampled_from([None, *LABELS]))


def _spans_from_segments(segments) -> list[Span]:
    spans, position = [], 0
    for length, label in segments:
        if label is not None:
            spans.append(Span(position, position + length, label))
        position += length
    return spans


sentence_pair = st.tuples(st.lists(segment, max_size=5), st.lists(segment, max_size=5))


@settings(max_examples=150, deadline=None)
@given(st.lists(sentence_pair, min_size=1, max_size=6))
def test_agrees_with_seqeval_strict_iob2(pairs):
    gold, predicted, gold_tags, predicted_tags = [], [], [], []
    for gold_segments, predicted_segments in pairs:
        length = max(sum(n for n, _ in gold_segments), sum(n for n, _ in predicted_segments), 1)
        gold.append(_spans_from_segments(gold_segments))
        predicted.append(_spans_from_segments(predicted_segments))
        gold_tags.append(spans_to_iob2(gold[-1], length))
        predicted_tags.append(spans_to_iob2(predicted[-1], length))
    ours = score_episode(gold, predicted).counts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns when P or R is undefined (it uses 0, as we do)
        options = dict(mode="strict", scheme=IOB2)
        assert ours.precision == pytest.approx(precision_score(gold_tags, predicted_tags, **options))
        assert ours.recall == pytest.approx(recall_score(gold_tags, predicted_tags, **options))
        assert ours.f1 == pytest.approx(f1_score(gold_tags, predicted_tags, **options))
        if ours.gold:
            report = classification_report(gold_tags, predicted_tags, output_dict=True, **options)
            for name, counts in score_episode(gold, predicted).per_type.items():
                if counts.gold:
                    assert counts.f1 == pytest.approx(report[name]["f1-score"])
                    assert counts.gold == report[name]["support"]


def _episodes(correct_fraction: list[float], gold_per_episode: int = 10) -> list[EpisodeScore]:
    scores = []
    for fraction in correct_fraction:
        hits = round(fraction * gold_per_episode)
        gold = [[Span(i, i + 1, "X")] for i in range(gold_per_episode)]
        predicted = [[Span(i, i + 1, "X" if i < hits else "Y")] for i in range(gold_per_episode)]
        scores.append(score_episode(gold, predicted))
    return scores


def test_bootstrap_identical_systems_give_zero():
    scores = _episodes([0.2, 0.5, 0.9, 0.4, 0.7, 0.6])
    delta, low, high = bootstrap_f1_difference(scores, scores, n_resamples=200, seed=3)
    assert delta == 0.0 and low <= 0.0 <= high


def test_bootstrap_clearly_better_system_is_above_zero():
    better = _episodes([0.8, 0.9, 0.7, 0.8, 1.0, 0.9, 0.8, 0.7, 0.9, 0.8])
    worse = _episodes([0.5, 0.4, 0.6, 0.3, 0.5, 0.6, 0.4, 0.5, 0.3, 0.4])
    delta, low, high = bootstrap_f1_difference(better, worse, n_resamples=500, seed=0)
    assert delta == pytest.approx(summarize(better).micro.f1 - summarize(worse).micro.f1)
    assert 0 < low <= delta <= high
    # deterministic for a seed; the reverse comparison mirrors the interval
    assert bootstrap_f1_difference(better, worse, n_resamples=500, seed=0) == (delta, low, high)
    reverse = bootstrap_f1_difference(worse, better, n_resamples=500, seed=0)
    assert reverse[0] == pytest.approx(-delta) and reverse[2] == pytest.approx(-low)


def test_bootstrap_needs_paired_episodes():
    with pytest.raises(ValueError, match="same episodes"):
        bootstrap_f1_difference(_episodes([0.5]), _episodes([0.5, 0.5]))


def test_fewnerd_episode_scoring_joins_runs_across_sentences_and_is_off_by_default():
    # Sentence 0 ends with a PER word, sentence 1 starts with one: Few-NERD's code reads one span.
    gold = [[Span(0, 1, "LOC"), Span(2, 3, "PER")], [Span(0, 2, "PER")]]
    predicted = [[Span(0, 1, "LOC"), Span(2, 3, "PER")], [Span(0, 1, "PER")]]
    lengths = [3, 4]
    assert concatenated_spans(gold, lengths) == [Span(0, 1, "LOC"), Span(2, 5, "PER")]
    assert concatenated_spans(predicted, lengths) == [Span(0, 1, "LOC"), Span(2, 4, "PER")]
    per_sentence = score_episode(gold, predicted, lengths=lengths)  # lengths alone change nothing
    assert (per_sentence.counts.predicted, per_sentence.counts.gold, per_sentence.counts.correct) == (3, 3, 2)
    joined = score_episode(gold, predicted, span_scoring=FEWNERD_EPISODE_SCORING, lengths=lengths)
    assert (joined.counts.predicted, joined.counts.gold, joined.counts.correct) == (2, 2, 1)


def test_fewnerd_episode_scoring_merges_adjacent_mentions_of_one_type_as_io_does():
    assert concatenated_spans([[Span(0, 1, "PER"), Span(1, 2, "PER"), Span(2, 3, "LOC")]], [3]) == [
        Span(0, 2, "PER"), Span(2, 3, "LOC")]


def test_fewnerd_episode_scoring_refuses_what_io_tags_cannot_hold():
    with pytest.raises(ValueError, match="needs the query sentences' lengths"):
        score_episode([[]], [[]], span_scoring=FEWNERD_EPISODE_SCORING)
    with pytest.raises(ValueError, match="predicted spans of sentence 0: .* overlaps"):
        score_episode([[]], [[Span(0, 2, "A"), Span(1, 3, "B")]], span_scoring=FEWNERD_EPISODE_SCORING, lengths=[3])
    with pytest.raises(ValueError, match="runs past its 2 words"):
        concatenated_spans([[Span(1, 3, "A")]], [2])
    with pytest.raises(ValueError, match="is not one of"):
        score_episode([[]], [[]], span_scoring="corpus")
