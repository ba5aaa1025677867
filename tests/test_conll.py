"""Column-file reader/writer and JSONL sentences: format quirks, exact round trips, clear errors."""
from __future__ import annotations

import random

import pytest

from ner_fewshot.data.conll import DataFormatError, read_conll, read_jsonl_sentences, write_conll, write_jsonl_sentences
from ner_fewshot.data.types import Sentence, Span


def write_bytes(tmp_path, name: str, text: str, newline: str = "\n"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


LIGHTNER_STYLE = """-DOCSTART-\tO

EU\tB-ORG
rejects\tO
German\tB-MISC
call\tO


Peter\tB-PER
Blackburn\tI-PER

-DOCSTART-\tO
BRUSSELS\tB-LOC   
1996-08-22\tO"""


def test_crlf_docstart_blank_runs_trailing_space_and_no_final_newline(tmp_path):
    path = write_bytes(tmp_path, "train.txt", LIGHTNER_STYLE, newline="\r\n")
    conll = read_conll(path)
    assert [s.words for s in conll.sentences] == [
        ("EU", "rejects", "German", "call"),
        ("Peter", "Blackburn"),
        ("BRUSSELS", "1996-08-22"),
    ]
    assert [s.spans for s in conll.sentences] == [
        (Span(0, 1, "ORG"), Span(2, 3, "MISC")),
        (Span(0, 2, "PER"),),
        (Span(0, 1, "LOC"),),
    ]
    assert [s.source for s in conll.sentences] == [f"{path}:3", f"{path}:9", f"{path}:13"]
    assert conll.repairs == 0 and conll.scheme == "iob2"


def test_space_separated_mit_style_file_is_detected(tmp_path):
    text = "-DOCSTART- O\n\nplease O\nfind O\na O\nmovie O\nstarring O\nal B-ACTOR\npacino I-ACTOR\n\nrating  B-RATINGS_AVERAGE\n"
    conll = read_conll(write_bytes(tmp_path, "10-shot-train.txt", text, "\r\n"))
    assert conll.sentences[0].spans == (Span(5, 7, "ACTOR"),)
    assert conll.sentences[1].spans == (Span(0, 1, "RATINGS_AVERAGE"),)


def test_tab_files_keep_tokens_with_inner_spaces_and_unicode(tmp_path):
    text = "New York\tB-location\n😂\tO\n@user_1\tO\nx\u2028y\tO\n"
    conll = read_conll(write_bytes(tmp_path, "tweets.conll", text))
    assert conll.sentences[0].words == ("New York", "😂", "@user_1", "x\u2028y")


def test_bc5cdr_style_tsv(tmp_path):
    text = (
        "Selegiline\tB-Chemical\n-\tO\ninduced\tO\npostural\tB-Disease\nhypotension\tI-Disease\n.\tO\n\n"
        "Naloxone\tB-Chemical\nreverses\tO\nthe\tO\nantihypertensive\tO\neffect\tO\nof\tO\nclonidine\tB-Chemical\n.\tO\n\n"
    )
    conll = read_conll(write_bytes(tmp_path, "train.tsv", text))
    assert len(conll) == 2
    assert [s.spans for s in conll.sentences] == [
        (Span(0, 1, "Chemical"), Span(3, 5, "Disease")),
        (Span(0, 1, "Chemical"), Span(6, 7, "Chemical")),
    ]
    assert conll.sentences[0].text_of(conll.sentences[0].spans[1]) == "postural hypotension"


def test_multi_column_files_use_the_chosen_columns(tmp_path):
    text = "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
    assert read_conll(write_bytes(tmp_path, "eng.train", text)).sentences[0].spans == (Span(0, 1, "ORG"),)
    pos_as_tags = read_conll(write_bytes(tmp_path, "chunks.txt", text), tag_column=2)
    assert pos_as_tags.sentences[0].spans == (Span(0, 1, "NP"), Span(1, 2, "VP"))


def test_stray_inside_tag_is_repaired_and_counted(tmp_path):
    path = write_bytes(tmp_path, "dev.txt", "the\tO\nUnited\tI-LOC\nStates\tI-LOC\n\nin\tO\nParis\tI-LOC\n")
    conll = read_conll(path)
    assert conll.repairs == 2
    assert [s.spans for s in conll.sentences] == [(Span(1, 3, "LOC"),), (Span(1, 2, "LOC"),)]


def test_strict_mode_names_file_line_and_fix(tmp_path):
    path = write_bytes(tmp_path, "dev.txt", "the\tO\nbig\tO\n\nin\tO\nParis\tI-LOC\n")
    with pytest.raises(DataFormatError, match=r"(?s)dev\.txt:5: .*'I-LOC'.*make it B-LOC") as caught:
        read_conll(path, strict=True)
    assert caught.value.line_no == 5 and "Paris\\tI-LOC" in str(caught.value)


def test_single_column_line_is_an_error_with_line_and_fix(tmp_path):
    path = write_bytes(tmp_path, "train.txt", "EU\tB-ORG\nrejects\n")
    with pytest.raises(DataFormatError, match=r"(?s)train\.txt:2: expected 2 columns.*found 1.*'rejects'.*fix: .*add the missing tag"):
        read_conll(path)


@pytest.mark.parametrize("text", ["", "\n\n  \n", "-DOCSTART- -X- O O\n\n"])
def test_file_without_sentences_is_an_error(tmp_path, text):
    with pytest.raises(DataFormatError, match="no sentences"):
        read_conll(write_bytes(tmp_path, "empty.txt", text))


def test_tag_invalid_for_scheme_names_line(tmp_path):
    path = write_bytes(tmp_path, "test.txt", "a\tO\nb\tS-PER\n")
    with pytest.raises(DataFormatError, match=r"(?s)test\.txt:2: tag 'S-PER'.*scheme='bioes'"):
        read_conll(path)
    assert read_conll(path, scheme="bioes").sentences[0].spans == (Span(1, 2, "PER"),)


def test_undecodable_bytes_name_file_and_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Zürich\tB-LOC\n\nM\u00fcnchen\tB-LOC\n".encode("utf-8") + "K\u00f6ln\tB-LOC\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"(?s)latin1\.txt:4: .*not valid UTF-8.*iconv"):
        read_conll(path)


def test_io_scheme_reads_fewnerd_style_tags(tmp_path):
    path = write_bytes(tmp_path, "io.txt", "Tom\tperson-actor\nHanks\tperson-actor\nParis\tlocation-GPE\nis\tO\n")
    assert read_conll(path, scheme="io").sentences[0].spans == (Span(0, 2, "person-actor"), Span(2, 3, "location-GPE"))


def random_sentences(seed: int, count: int, allow_adjacent_same_type: bool = True) -> list[Sentence]:
    rng = random.Random(seed)
    vocabulary = ["EU", "Zürich", "fromloc", "😂", "-", "1996-08-22", "O", "B-PER", "a.b_c", "I"]
    labels = ["PER", "fromloc.city_name", "person-actor", "Restaurant_Name"]
    sentences = []
    for index in range(count):
        length = rng.randint(1, 12)
        spans, position = [], 0
        while position < length:
            position += rng.randint(0, 2)
            end = min(length, position + rng.randint(1, 3))
            if position >= end:
                break
            label = rng.choice(labels)
            adjacent = spans and spans[-1].end == position and spans[-1].label == label
            if allow_adjacent_same_type or not adjacent:
                spans.append(Span(position, end, label))
            position = end
        words = tuple(rng.choice(vocabulary) for _ in range(length))
        sentences.append(Sentence(words, tuple(spans), f"generated:{index}"))
    return sentences


@pytest.mark.parametrize("scheme, separator", [("iob2", "\t"), ("iob1", " "), ("bioes", "\t"), ("io", "\t")])
def test_write_then_read_round_trips_words_and_spans(tmp_path, scheme, separator):
    sentences = random_sentences(seed=len(scheme), count=200, allow_adjacent_same_type=scheme != "io")
    path = tmp_path / f"{scheme}.txt"
    write_conll(path, sentences, scheme=scheme, separator=separator)
    back = read_conll(path, scheme=scheme, strict=True)
    assert [(s.words, s.spans) for s in back.sentences] == [(s.words, s.spans) for s in sentences]
    assert back.repairs == 0


def test_write_refuses_words_that_would_not_read_back(tmp_path):
    with pytest.raises(ValueError, match="cannot be written"):
        write_conll(tmp_path / "x.txt", [Sentence(("New York", "is"), ())], separator=" ")
    with pytest.raises(ValueError, match="cannot be written"):
        write_conll(tmp_path / "x.txt", [Sentence((" padded",), ())])


def test_jsonl_round_trip_is_exact(tmp_path):
    sentences = random_sentences(seed=7, count=50) + [Sentence(("New York", "\u2028", "tab\there"), (Span(0, 1, "LOC"),), "x:1")]
    path = tmp_path / "sentences.jsonl"
    write_jsonl_sentences(path, sentences)
    assert read_jsonl_sentences(path) == tuple(sentences)


def test_jsonl_bad_line_names_file_and_line(tmp_path):
    path = write_bytes(tmp_path, "s.jsonl", '{"words": ["a"], "spans": []}\n{"words": []}\n')
    with pytest.raises(DataFormatError, match=r"s\.jsonl:2: not a sentence object.*no words"):
        read_jsonl_sentences(path)


def test_real_lightner_file_with_crlf_and_docstarts(shared_data):
    conll = read_conll(shared_data / "lightner" / "conll2003" / "dev.txt")
    assert len(conll) == 3250
    assert sum(len(s.spans) for s in conll.sentences) == 5942
    assert conll.repairs == 0
    assert all(not w.endswith("\r") for s in conll.sentences[:50] for w in s.words)
