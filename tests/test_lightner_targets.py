"""BARTNER word-pointer targets: encoding gold spans and parsing them back."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from baselines.lightner.targets import END, FIRST_LABEL, START, SourceEncoder, decode_output, encode_target, pointer_offset
from ner_fewshot.data.types import Span
from test_lightner_support import one_thread, LABEL_SET, SUPPORT, build_tokenizer, sentence  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")

LABELS = LABEL_SET.names
INDEX = {name: i for i, name in enumerate(LABELS)}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return SourceEncoder(build_tokenizer(tmp_path_factory.mktemp("tok")), max_positions=128)


def test_source_layout_uses_first_sub_word_of_each_word(encoder):
    s = SUPPORT[0]  # "Barack" -> 3 sub-words, "Obama" -> 2, ...
    source = encoder.encode(s)
    assert source.token_ids[0] == encoder.bos_id and source.token_ids[-1] == encoder.eos_id
    assert source.word_starts[:3] == (1, 4, 6)
    assert len(source.token_ids) > len(s.words) + 2  # words really split into several sub-words
    assert source.position_words[0] is None and source.position_words[-1] is None
    assert [source.position_words[p] for p in source.word_starts] == list(range(len(s.words)))


def test_target_format_is_every_word_pointer_then_label(encoder):
    s = SUPPORT[0]
    source = encoder.encode(s)
    target = encode_target(source, s.spans, INDEX)
    offset = pointer_offset(len(LABELS))
    ws = source.word_starts
    assert target == [START, ws[0] + offset, ws[1] + offset, FIRST_LABEL + INDEX["PER"],
                      ws[3] + offset, FIRST_LABEL + INDEX["LOC"],
                      ws[5] + offset, ws[6] + offset, FIRST_LABEL + INDEX["PER"], END]


@pytest.mark.parametrize("s", [
    *SUPPORT,
    # adjacent entities of the same and of different types, sentence-initial and sentence-final
    sentence("Paris Berlin Madrid", (0, 1, "LOC"), (1, 2, "LOC"), (2, 3, "LOC")),
    sentence("Angela Merkel Microsoft visited", (0, 2, "PER"), (2, 3, "ORG")),
    sentence("visited New York City", (1, 4, "LOC")),
    sentence("Seattle", (0, 1, "LOC")),
    sentence("nothing here at all"),
])
def test_encode_then_decode_reproduces_gold_spans(encoder, s):
    source = encoder.encode(s)
    target = encode_target(source, s.spans, INDEX)
    assert decode_output(target[1:], source, LABELS) == sorted(s.spans)


def test_parse_rules(encoder):
    s = sentence("Lionel Messi scored twice for Barcelona in Madrid")
    source = encoder.encode(s)
    offset = pointer_offset(len(LABELS))
    ws = [p + offset for p in source.word_starts]
    per, loc = FIRST_LABEL + INDEX["PER"], FIRST_LABEL + INDEX["LOC"]
    # decreasing pointers: dropped; a good entity after it is kept
    assert decode_output([ws[1], ws[0], per, ws[7], loc, END], source, LABELS) == [Span(7, 8, "LOC")]
    # pointers of first and last word only: span runs first to last word
    assert decode_output([ws[0], ws[3], per, END], source, LABELS) == [Span(0, 4, "PER")]
    # a pointer to a non-first sub-word still names its word; a pointer to <s> drops the entity
    assert decode_output([ws[0] + 1, per, offset + 0, loc, END], source, LABELS) == [Span(0, 1, "PER")]
    # pointers with no label before end are discarded; nothing after end is read
    assert decode_output([ws[0], per, ws[5], END, ws[7], loc], source, LABELS) == [Span(0, 1, "PER")]
    # a label with no pointers, duplicates: ignored / merged
    assert decode_output([loc, ws[7], loc, ws[7], loc], source, LABELS) == [Span(7, 8, "LOC")]


def test_unknown_type_names_the_sentence(encoder):
    s = sentence("Paris", (0, 1, "GPE"))
    with pytest.raises(ValueError, match=r"GPE.*test.txt:1|test.txt:1.*GPE"):
        encode_target(encoder.encode(s), s.spans, INDEX, " (test.txt:1)")


def test_too_long_sentence_is_an_error_not_a_truncation(encoder):
    long = sentence(" ".join(["Barcelona"] * 60))
    with pytest.raises(ValueError, match="split the sentence"):
        encoder.encode(long)


WORDS = ["Barack", "Obama", "Paris", "with", "New", "York", "City", "Microsoft", "in", ".", "Seattle", "Madrid", "ü"]


@st.composite
def sentences_with_spans(draw):
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12))
    spans, position = [], 0
    while position < len(words):
        if draw(st.booleans()):
            end = draw(st.integers(position + 1, len(words)))
            spans.append((position, end, draw(st.sampled_from(LABELS))))
            position = end
        else:
            position += 1
    return sentence(" ".join(words), *spans)


@settings(max_examples=60, deadline=None)
@given(s=sentences_with_spans())
def test_round_trip_for_any_non_overlapping_spans(encoder, s):
    source = encoder.encode(s)
    assert decode_output(encode_target(source, s.spans, INDEX)[1:], source, LABELS) == sorted(s.spans)
