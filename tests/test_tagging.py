"""Tag schemes <-> spans: round trips on random span sets, and the conventional repairs, by hand."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ner_fewshot.data.tagging import SCHEMES, TagError, spans_to_tags, tags_to_spans
from ner_fewshot.data.types import Span

LABELS = ["PER", "fromloc.city_name", "person-actor", "B", "state_name"]


@st.composite
def flat_spans(draw, allow_adjacent_same_type: bool = True):
    """A sentence length and a random set of non-overlapping spans inside it."""
    length = draw(st.integers(min_value=1, max_value=25))
    spans, position = [], 0
    while position < length:
        position += draw(st.integers(min_value=0, max_value=3))
        if position >= length:
            break
        end = draw(st.integers(min_value=position + 1, max_value=min(length, position + 4)))
        label = draw(st.sampled_from(LABELS))
        if not allow_adjacent_same_type and spans and spans[-1].end == position and spans[-1].label == label:
            position += 1
            continue
        spans.append(Span(position, end, label))
        position = end
    return length, spans


@pytest.mark.parametrize("scheme", ["iob1", "iob2", "bioes"])
@settings(max_examples=150, deadline=None)
@given(case=flat_spans())
def test_prefixed_schemes_round_trip(scheme, case):
    length, spans = case
    tags = spans_to_tags(spans, length, scheme)
    assert len(tags) == length
    decoded, repairs = tags_to_spans(tags, scheme, strict=True)
    assert decoded == spans
    assert repairs == 0


@settings(max_examples=150, deadline=None)
@given(case=flat_spans(allow_adjacent_same_type=False))
def test_io_round_trip(case):
    length, spans = case
    tags = spans_to_tags(spans, length, "io")
    assert tags_to_spans(tags, "io", strict=True) == (spans, 0)


@settings(max_examples=150, deadline=None)
@given(tags=st.lists(st.sampled_from(["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]), max_size=15))
def test_bioes_repairs_always_give_valid_spans_that_re_encode_cleanly(tags):
    spans, repairs = tags_to_spans(tags, "bioes")
    assert all(0 <= s.start < s.end <= len(tags) for s in spans)
    re_encoded = spans_to_tags(spans, len(tags), "bioes")
    assert tags_to_spans(re_encoded, "bioes", strict=True) == (spans, 0)
    assert (repairs == 0) == (re_encoded == list(tags))


def test_io_adjacent_different_types_are_two_mentions():
    tags = ["O", "person-actor", "person-actor", "location-city", "O", "person-actor"]
    spans, repairs = tags_to_spans(tags, "io")
    assert spans == [Span(1, 3, "person-actor"), Span(3, 4, "location-city"), Span(5, 6, "person-actor")]
    assert repairs == 0


def test_io_cannot_encode_adjacent_same_type_spans():
    with pytest.raises(ValueError, match="IO tags would merge"):
        spans_to_tags([Span(0, 1, "person-actor"), Span(1, 2, "person-actor")], 2, "io")


def test_io_rejects_prefixed_tags_with_a_hint():
    with pytest.raises(TagError, match="not an IO tag.*scheme='iob2'"):
        tags_to_spans(["O", "B-person-actor"], "io", source="episodes.jsonl:7")


def test_iob2_stray_inside_tag_is_repaired_and_counted():
    tags = ["I-PER", "I-PER", "O", "B-LOC", "I-ORG", "I-ORG"]
    spans, repairs = tags_to_spans(tags, "iob2")
    assert spans == [Span(0, 2, "PER"), Span(3, 4, "LOC"), Span(4, 6, "ORG")]
    assert repairs == 2


def test_iob2_strict_error_names_source_position_and_fix():
    with pytest.raises(TagError, match=r"train\.txt:12: token 2: tag 'I-LOC'.*make it B-LOC") as caught:
        tags_to_spans(["B-PER", "O", "I-LOC"], "iob2", strict=True, source="train.txt:12")
    assert caught.value.position == 2 and caught.value.tag == "I-LOC"


def test_iob1_inside_opens_and_begin_separates_same_type():
    tags = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]
    assert tags_to_spans(tags, "iob1", strict=True) == (
        [Span(0, 2, "PER"), Span(2, 3, "PER"), Span(4, 5, "LOC"), Span(5, 6, "ORG")],
        0,
    )
    assert spans_to_tags([Span(0, 2, "PER"), Span(2, 3, "PER"), Span(4, 5, "LOC")], 5, "iob1") == [
        "I-PER", "I-PER", "B-PER", "O", "I-LOC",
    ]


def test_iob1_begin_without_preceding_same_type_is_a_repair():
    assert tags_to_spans(["O", "B-PER", "I-PER"], "iob1") == ([Span(1, 3, "PER")], 1)
    with pytest.raises(TagError, match="IOB1"):
        tags_to_spans(["O", "B-PER"], "iob1", strict=True)


@pytest.mark.parametrize(
    "tags, spans, repairs",
    [
        (["B-X", "I-X", "E-X", "S-Y"], [Span(0, 3, "X"), Span(3, 4, "Y")], 0),
        (["B-X", "I-X", "O"], [Span(0, 2, "X")], 1),  # missing E-: closed before O
        (["B-X", "I-X"], [Span(0, 2, "X")], 1),  # open at the end of the sentence
        (["O", "E-X"], [Span(1, 2, "X")], 1),  # lone E- is a one-word span
        (["I-X", "E-X"], [Span(0, 2, "X")], 1),  # I- without B- opens the span
        (["B-X", "E-Y"], [Span(0, 1, "X"), Span(1, 2, "Y")], 1),  # one repair per token
        (["B-X", "S-X"], [Span(0, 1, "X"), Span(1, 2, "X")], 1),
    ],
)
def test_bioes_conventional_repairs(tags, spans, repairs):
    assert tags_to_spans(tags, "bioes") == (spans, repairs)
    if repairs:
        with pytest.raises(TagError, match="strict=False"):
            tags_to_spans(tags, "bioes", strict=True)


def test_labels_keep_dots_underscores_and_hyphens():
    tags = ["B-fromloc.city_name", "I-fromloc.city_name", "B-person-actor"]
    assert tags_to_spans(tags, "iob2")[0] == [Span(0, 2, "fromloc.city_name"), Span(2, 3, "person-actor")]


@pytest.mark.parametrize(
    "tag, scheme, message",
    [
        ("PER", "iob2", "no prefix.*scheme='io'"),
        ("X-PER", "iob2", "unknown prefix 'X-'"),
        ("E-PER", "iob2", "scheme='bioes'"),
        ("B-", "bioes", "no label"),
        ("L-PER", "bioes", "unknown prefix 'L-'"),
    ],
)
def test_unknown_prefix_names_the_tag(tag, scheme, message):
    with pytest.raises(TagError, match=message) as caught:
        tags_to_spans(["O", tag], scheme, source="f.txt:1")
    assert tag in str(caught.value) and caught.value.position == 1


def test_spans_to_tags_rejects_overlap_and_overflow():
    with pytest.raises(ValueError, match="overlap"):
        spans_to_tags([Span(0, 2, "A"), Span(1, 3, "B")], 3, "iob2")
    with pytest.raises(ValueError, match="runs past"):
        spans_to_tags([Span(2, 4, "A")], 3, "bioes")


def test_unknown_scheme_lists_the_schemes():
    with pytest.raises(ValueError, match="iob1"):
        tags_to_spans(["O"], "bilou")
    assert SCHEMES == ("iob1", "iob2", "bioes", "io")


def test_empty_sequence_has_no_spans():
    for scheme in SCHEMES:
        assert tags_to_spans([], scheme) == ([], 0)
        assert spans_to_tags([], 0, scheme) == []
