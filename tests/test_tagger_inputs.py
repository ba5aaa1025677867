"""What `ner-fewshot tag` reads: the raw-text tokenisation rule, the input formats, support files."""
import io
import sys

import pytest
from hypothesis import given, strategies as st

from ner_fewshot.data.conll import DataFormatError
from ner_fewshot.data.tagging import detect_scheme
from ner_fewshot.data.types import Span
from ner_fewshot.tagger import read_inputs, read_support, resolve_label_set, tokenize


@pytest.mark.parametrize("text, tokens", [
    ("Bill Gates visited Paris, France (again)!", ["Bill", "Gates", "visited", "Paris", ",", "France", "(", "again", ")", "!"]),
    ("lol @justinbieber in #NYC see https://t.co/abc. ok", ["lol", "@justinbieber", "in", "#NYC", "see", "https://t.co/abc", ".", "ok"]),
    ("I don't e-mail the U.S. 3.5 times", ["I", "don't", "e-mail", "the", "U.S", ".", "3.5", "times"]),
    ("Café 👍🏽 über 👨‍👩‍👧 ☕️", ["Café", "👍🏽", "über", "👨‍👩‍👧", "☕️"]),
    ("Cafe\u0301 ok", ["Cafe\u0301", "ok"]),  # decomposed accent stays in its word
    ("   \t ", []),
])
def test_tokenisation_rule(text, tokens):
    found, offsets = tokenize(text)
    assert list(found) == tokens
    assert [text[start:end] for start, end in offsets] == tokens


@given(st.text(max_size=80))
def test_tokens_are_exact_slices_in_order_and_cover_every_non_space_character(text):
    tokens, offsets = tokenize(text)
    assert [text[a:b] for a, b in offsets] == list(tokens)
    assert all(a < b for a, b in offsets) and all(b1 <= a2 for (_, b1), (a2, _) in zip(offsets, offsets[1:]))
    covered = {i for a, b in offsets for i in range(a, b)}
    assert all(text[i].isspace() for i in range(len(text)) if i not in covered)


def test_raw_input_one_sentence_per_line_blank_lines_skipped(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("Bill visited Paris\n\n  \r\nNew iPhone out\r\n", encoding="utf-8")
    first, second = read_inputs(str(path))
    assert (first.tokens, first.source) == (("Bill", "visited", "Paris"), f"{path}:1")
    assert (second.text, second.source) == ("New iPhone out", f"{path}:4")


def test_conll_input_takes_the_first_column_and_joins_tokens_with_spaces(tmp_path):
    path = tmp_path / "in.conll"
    path.write_text("-DOCSTART- O\n\nBill\tB-person\nvisited\tO\n\n\nParis B-loc\n", encoding="utf-8")
    first, second = read_inputs(str(path))
    assert (first.text, first.offsets, first.source) == ("Bill visited", ((0, 4), (5, 12)), f"{path}:3")
    assert (second.tokens, second.source) == (("Paris",), f"{path}:7")


def test_jsonl_input_text_or_tokens_and_ids(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 7, "text": "Bill visited Paris!"}\n\n{"tokens": ["New", "York"]}\n{"words": ["x"]}\n', encoding="utf-8")
    a, b, c = read_inputs(str(path))
    assert (a.id, a.tokens) == (7, ("Bill", "visited", "Paris", "!"))
    assert (b.text, b.source) == ("New York", f"{path}:3")
    assert c.tokens == ("x",)


@pytest.mark.parametrize("line, problem", [
    ('{"text": "ok"', "not valid JSON"),
    ('["a"]', "not an object"),
    ('{"text": "  "}', "empty"),
    ('{"tokens": ["a", " b"]}', "non-empty strings"),
    ('{"sentence": "a"}', 'neither "text" nor "tokens"'),
])
def test_bad_jsonl_names_file_and_line(tmp_path, line, problem):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "fine"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=problem) as error:
        read_inputs(str(path))
    assert str(error.value).startswith(f"{path}:2:") and "fix:" in str(error.value)


def test_non_utf8_and_empty_inputs_are_errors(tmp_path):
    bad = tmp_path / "in.txt"
    bad.write_bytes("fine\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=rf"{bad}:2:"):
        read_inputs(str(bad))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="nothing to tag"):
        read_inputs(str(empty))


def test_stdin_is_read_as_raw_text(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("Bill visited Paris\n".encode()), encoding="utf-8"))
    [sentence] = read_inputs("-")
    assert (sentence.tokens, sentence.source) == (("Bill", "visited", "Paris"), "<stdin>:1")


@pytest.mark.parametrize("tags, scheme", [
    ([["B-PER", "I-PER", "O", "B-LOC"]], "iob2"),
    ([["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]], "iob1"),
    ([["S-PER", "O", "B-LOC", "E-LOC"]], "bioes"),
    ([["person", "person", "O", "location"]], "io"),
    ([["O", "O"]], "iob2"),
])
def test_scheme_detection(tags, scheme):
    assert detect_scheme(tags) == scheme


def test_support_file_scheme_detected_and_label_set_from_the_file_or_given(tmp_path):
    path = tmp_path / "support.txt"
    path.write_text("Bill I-person\nGates I-person\nvisited O\nParis I-loc\nParis B-loc\n", encoding="utf-8")
    support = read_support(path)
    assert support.scheme == "iob1"
    assert support.sentences[0].spans == (Span(0, 2, "person"), Span(3, 4, "loc"), Span(4, 5, "loc"))
    assert resolve_label_set(support)[0].names == ("loc", "person")
    assert resolve_label_set(support, "person,loc,org")[0].names == ("person", "loc", "org")
    with pytest.raises(DataFormatError, match=rf"{path}:4: entity type 'loc'"):
        resolve_label_set(support, "person")


def test_support_jsonl_and_packaged_label_set(tmp_path):
    path = tmp_path / "support.jsonl"
    path.write_text('{"words": ["Bill", "in", "Paris"], "spans": [[0, 1, "person"], [2, 3, "geo-loc"]]}\n', encoding="utf-8")
    support = read_support(path)
    label_set, origin = resolve_label_set(support, "wnut16")
    assert {"person", "geo-loc"} <= set(label_set.names) and "wnut16" in origin


def test_support_without_mentions_is_an_error(tmp_path):
    path = tmp_path / "support.txt"
    path.write_text("nothing O\nhere O\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="no entity mention"):
        resolve_label_set(read_support(path))
