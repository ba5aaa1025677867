"""Hostile-but-fair column files: odd line ends, Unicode whitespace, ragged columns, stray tags,
misplaced -DOCSTART-, wrong encodings. Each must read exactly or fail naming file, line and fix;
nothing may be dropped or split silently. Repair counts must reach the Dataset, per file."""
from __future__ import annotations

import pytest

from ner_fewshot.data.catalog import load_dataset, load_dataset_from_files
from ner_fewshot.data.conll import DataFormatError, read_conll, read_jsonl_sentences
from ner_fewshot.data.tagging import TagError, tags_to_spans
from ner_fewshot.data.types import Span


def twenty_sentences() -> str:
    blocks = [f"Alice{i}\tB-PER\nvisited\tO\nParis\tB-LOC\n" for i in range(20)]
    return "\n".join(blocks)


def write(tmp_path, name: str, text: str, newline: str = "\n", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


# ---- line ends ------------------------------------------------------------------------------------

@pytest.mark.parametrize("newline", ["\r", "\r\n"])
def test_lone_cr_and_crlf_read_exactly_like_lf(tmp_path, newline):
    expected = read_conll(write(tmp_path, "lf.txt", twenty_sentences()))
    got = read_conll(write(tmp_path, "other.txt", twenty_sentences(), newline))
    assert len(got) == 20 and got.repairs == 0
    assert [(s.words, s.spans) for s in got.sentences] == [(s.words, s.spans) for s in expected.sentences]
    assert [s.source.rpartition(":")[2] for s in got.sentences] == [s.source.rpartition(":")[2] for s in expected.sentences]


def test_mixed_line_ends_in_one_file(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"EU\tB-ORG\r\nrejects\tO\rGerman\tB-MISC\n\rPeter\tB-PER\r\n")
    conll = read_conll(path)
    assert [s.words for s in conll.sentences] == [("EU", "rejects", "German"), ("Peter",)]
    assert conll.sentences[1].source == f"{path}:5"


def test_lone_cr_jsonl_sentences(tmp_path):
    path = write(tmp_path, "s.jsonl", '{"words": ["a"], "spans": []}\n{"words": ["b", "c"], "spans": [[0, 1, "X"]]}\n', "\r")
    assert [s.words for s in read_jsonl_sentences(path)] == [("a",), ("b", "c")]


# ---- separators and columns -----------------------------------------------------------------------

@pytest.mark.parametrize("odd_space", ["\u00a0", "\u2028", "\u0085", "\u3000", "\x0b"])
def test_space_separated_files_split_on_ascii_space_only(tmp_path, odd_space):
    text = f"-DOCSTART- O\n\nplease O\nfour{odd_space}extra B-TITLE\nnow O\n"
    conll = read_conll(write(tmp_path, "10-shot-train.txt", text, "\r\n"))
    assert conll.sentences[0].words == ("please", f"four{odd_space}extra", "now")
    assert conll.sentences[0].spans == (Span(1, 2, "TITLE"),)


def test_unicode_space_in_the_tag_column_is_not_a_separator(tmp_path):
    path = write(tmp_path, "tab.txt", "four\u00a0extra\tB-TITLE\nsad\tO\u00a0B-X\n")
    with pytest.raises(DataFormatError, match=r"(?s)tab\.txt:2: .*whitespace"):
        read_conll(path)


def test_missing_ner_column_in_a_four_column_file_is_an_error(tmp_path):
    text = "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP\ncall NN I-NP O\n"
    path = write(tmp_path, "eng.train", text)
    with pytest.raises(DataFormatError) as caught:
        read_conll(path)
    message = str(caught.value)
    assert f"{path}:3:" in message and "4 columns" in message and "found 3" in message and "line 1" in message
    assert "fix:" in message and caught.value.line_no == 3


def test_extra_column_in_a_tab_file_is_an_error(tmp_path):
    path = write(tmp_path, "train.txt", "EU\tB-ORG\n\nrejects\tO\tO\n")
    with pytest.raises(DataFormatError, match=r"(?s)train\.txt:3: .*2 columns.*found 3"):
        read_conll(path)


def test_tab_in_a_space_separated_file_is_an_error(tmp_path):
    path = write(tmp_path, "test.txt", "please O\nfind\tO\n")
    with pytest.raises(DataFormatError, match=r"(?s)test\.txt:2: .*tab"):
        read_conll(path)


def test_empty_token_is_an_error(tmp_path):
    path = write(tmp_path, "train.txt", "EU\tB-ORG\n \tO\n")
    with pytest.raises(DataFormatError, match=r"(?s)train\.txt:2: .*empty"):
        read_conll(path)


# ---- tags -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme, tag", [("iob2", "B-ORG X"), ("io", "person actor"), ("iob2", "B-ORG\u00a0X")])
def test_tag_with_whitespace_inside_is_refused(scheme, tag):
    with pytest.raises(TagError, match="whitespace"):
        tags_to_spans(["O", tag], scheme)


def test_tag_with_space_never_becomes_a_type_when_the_label_set_is_inferred(tmp_path):
    path = write(tmp_path, "train.txt", "Acme\tB-ORG X\nsells\tO\n")
    with pytest.raises(DataFormatError, match=r"(?s)train\.txt:1: .*'B-ORG X'.*whitespace"):
        load_dataset_from_files("mine", {"train": path})


@pytest.mark.parametrize("line", ["-DOCSTART-", "-DOCSTART-\tO", "-DOCSTART- -X- -X- O"])
def test_docstart_with_o_or_no_tag_is_a_document_break(tmp_path, line):
    path = write(tmp_path, "train.txt", f"{line}\n\nEU\tB-ORG\n")
    assert read_conll(path).sentences[0].words == ("EU",)


def test_docstart_in_a_space_file_may_use_a_tab(tmp_path):
    # LightNER's MIT files: "-DOCSTART-<TAB>O" heads an otherwise space-separated file
    path = write(tmp_path, "50-shot-train.txt", "-DOCSTART-\tO\n\nplease O\nfind B-X\n", "\r\n")
    assert read_conll(path).sentences[0].spans == (Span(1, 2, "X"),)


def test_docstart_with_an_entity_tag_is_an_error(tmp_path):
    path = write(tmp_path, "train.txt", "-DOCSTART-\tB-ORG\n\nEU\tB-ORG\n")
    with pytest.raises(DataFormatError, match=r"(?s)train\.txt:1: .*-DOCSTART-.*'B-ORG'.*fix:"):
        read_conll(path)


def test_docstart_in_the_middle_of_a_sentence_is_an_error(tmp_path):
    path = write(tmp_path, "train.txt", "Peter\tB-PER\nBlackburn\tI-PER\n-DOCSTART-\tO\nBRUSSELS\tB-LOC\n")
    with pytest.raises(DataFormatError, match=r"(?s)train\.txt:3: .*middle of a sentence.*fix: .*blank line"):
        read_conll(path)


# ---- encodings ------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding, source", [("utf-16", "utf-16"), ("utf-16-le", "utf-16le"), ("utf-16-be", "utf-16be")])
def test_utf16_file_is_named_with_the_right_iconv_command(tmp_path, encoding, source):
    path = write(tmp_path, "wide.txt", "EU\tB-ORG\nrejects\tO\n", encoding=encoding)
    with pytest.raises(DataFormatError) as caught:
        read_conll(path)
    message = str(caught.value)
    assert str(path) in message and "UTF-16" in message and f"iconv -f {source} -t utf-8" in message
    assert "latin1" not in message


def test_latin1_file_names_file_line_byte_and_iconv(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"EU\tB-ORG\rK\xf6ln\tB-LOC\r")
    with pytest.raises(DataFormatError) as caught:
        read_conll(path)
    message = str(caught.value)
    assert f"{path}:2:" in message and "byte 0xf6" in message and "offset 10" in message
    assert "iconv -f latin1 -t utf-8" in message


def test_nul_bytes_in_a_utf8_file_are_an_error(tmp_path):
    path = tmp_path / "nul.txt"
    path.write_bytes(b"EU\tB-ORG\nrej\x00ects\tO\n")
    with pytest.raises(DataFormatError, match=r"(?s)nul\.txt:2: .*NUL"):
        read_conll(path)


# ---- repairs are reported per file ----------------------------------------------------------------

IOB1 = "EU\tI-ORG\nrejects\tO\nGerman\tI-MISC\ncall\tO\n\nPeter\tI-PER\nBlackburn\tI-PER\n"


def test_dataset_from_files_records_repairs_per_file(tmp_path):
    train, test = write(tmp_path, "train.txt", IOB1), write(tmp_path, "test.txt", "Paris\tB-LOC\n")
    as_iob2 = load_dataset_from_files("mine", {"train": train, "test": test}, scheme="iob2")
    assert as_iob2.repairs == {str(train): 3, str(test): 0}
    as_iob1 = load_dataset_from_files("mine", {"train": train}, scheme="iob1")
    assert as_iob1.repairs == {str(train): 0}


def test_registered_dataset_records_repairs_per_file(tmp_path):
    folder = tmp_path / "bc5cdr"
    folder.mkdir()
    (folder / "train.tsv").write_text("of\tO\nmyocardial\tI-Disease\ninfarction\tI-Disease\n", encoding="utf-8")
    (folder / "devel.tsv").write_text("Naloxone\tB-Chemical\n", encoding="utf-8")
    (folder / "test.tsv").write_text("Lidocaine\tB-Chemical\n", encoding="utf-8")
    dataset = load_dataset("bc5cdr", tmp_path)
    assert dataset.repairs == {str(folder / "train.tsv"): 1, str(folder / "devel.tsv"): 0, str(folder / "test.tsv"): 0}


def test_bad_label_set_file_names_the_file(tmp_path):
    data = write(tmp_path, "a.txt", "Paris\tB-LOC\n")
    types = tmp_path / "types.json"
    types.write_bytes('[{"name": "LOC", "label_words": ["location"], "definition": "a place"}]'.encode("utf-16"))
    with pytest.raises(DataFormatError, match=r"(?s)types\.json:1: .*UTF-16.*iconv -f utf-16"):
        load_dataset_from_files("mine", {"test": data}, label_set=types)
    types.write_text('[{"name": 5, "label_words": ["location"], "definition": "a place"}]', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"(?s)types\.json: not a label set file"):
        load_dataset_from_files("mine", {"test": data}, label_set=types)


def test_trailing_tabs_and_spaces_are_not_columns(tmp_path):
    path = write(tmp_path, "train.txt", "EU\tB-ORG\t\nrejects\tO \t\n\nplease\tO\n")
    assert [s.words for s in read_conll(path).sentences] == [("EU", "rejects"), ("please",)]
    spaced = write(tmp_path, "test.txt", "please O\t\nfind B-X \n")
    assert read_conll(spaced).sentences[0].spans == (Span(1, 2, "X"),)


def test_writer_refuses_what_the_reader_would_refuse_or_drop(tmp_path):
    from ner_fewshot.data.conll import write_conll
    from ner_fewshot.data.types import Sentence

    with pytest.raises(ValueError, match="-DOCSTART-"):
        write_conll(tmp_path / "x.txt", [Sentence(("see", "-DOCSTART-", "here"), ())])
    with pytest.raises(ValueError, match="cannot be written"):
        write_conll(tmp_path / "x.txt", [Sentence(("Acme", "Corp"), (Span(0, 2, "ORG X"),))])
    assert not (tmp_path / "x.txt").exists()
