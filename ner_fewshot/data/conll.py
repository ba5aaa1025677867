"""Column files (CoNLL-2003, WNUT, BC5CDR/NCBI .tsv, LightNER's CRLF files): read and write.

One token per line with its tag in another column; blank lines (any number) end a sentence and a
`-DOCSTART-` line (after a blank line, tagged `O` or untagged) ends a document. Lines end with LF,
CRLF or a lone CR. Columns are separated by one tab, or by runs of ASCII spaces; with
`separator=None` the choice is made per file from its first token line. No other character
separates columns: NBSP, U+2028 or U+0085 stay inside the token. Every token line of a file has
the column count of the first one. Every problem raises `DataFormatError` naming the file, the
line, the offending text and the fix.

Also here: JSONL sentence files (one `Sentence.to_json()` per line), the lossless interchange format.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .tagging import OUTSIDE, TagError, check_scheme, spans_to_tags, tags_to_spans
from .textfile import DataFormatError, file_error as _error, read_text_lines
from .types import Sentence

DOCSTART = "-DOCSTART-"
_WHITESPACE = " "  # separator value meaning "runs of ASCII spaces"
_ASCII_BLANKS = " \t"
# Columns a -DOCSTART- line may carry besides the marker: CoNLL-2003's "-X-" and the tag O.
_DOCSTART_FILLERS = frozenset({OUTSIDE, "-X-"})

__all__ = ["DOCSTART", "ConllFile", "DataFormatError", "read_conll", "read_jsonl_sentences", "read_text_lines",
           "write_conll", "write_jsonl_sentences"]


@dataclass(frozen=True)
class ConllFile:
    """The sentences of one column file, and how many ill-formed tag sequences were repaired."""

    path: Path
    sentences: tuple[Sentence, ...]
    repairs: int
    scheme: str

    def __len__(self) -> int:
        return len(self.sentences)


def _marker_columns(body: str) -> list[str]:
    # A -DOCSTART- line is metadata: LightNER's space-separated MIT files write it with a tab.
    return re.split(r"[ \t]+", body)


def _is_docstart(body: str) -> bool:
    return body.startswith(DOCSTART) and _marker_columns(body)[0] == DOCSTART


def _detect_separator(lines: Sequence[str]) -> str:
    for line in lines:
        body = line.strip(_ASCII_BLANKS)
        if body and not _is_docstart(body):
            return "\t" if "\t" in body else _WHITESPACE
    return "\t"


def _split_columns(line: str, separator: str) -> list[str]:
    # Trailing tabs and spaces are not columns; a leading tab is (an empty token, reported).
    line = line.rstrip(_ASCII_BLANKS).lstrip(" ")
    if separator == _WHITESPACE:
        return [column for column in line.split(" ") if column]
    return [column.strip(" ") for column in line.split(separator)]


def _index_needed(column: int) -> int:
    return column + 1 if column >= 0 else -column


def read_conll(
    path: str | os.PathLike,
    *,
    scheme: str = "iob2",
    strict: bool = False,
    separator: str | None = None,
    token_column: int = 0,
    tag_column: int = -1,
) -> ConllFile:
    """Read a column file into sentences with gold spans.

    `separator`: "\\t", " " (runs of ASCII spaces) or None to detect per file (tab when the first
    token line has a tab). `strict`: raise on the first ill-formed tag sequence instead of repairing
    it (repairs are counted in `ConllFile.repairs`).
    """
    check_scheme(scheme)
    lines = read_text_lines(path)
    separator = separator if separator is not None else _detect_separator(lines)
    needed = max(_index_needed(token_column), _index_needed(tag_column), 2)
    shown_separator = "tab" if separator == "\t" else ("space" if separator == _WHITESPACE else repr(separator))
    options = "pass separator=/token_column=/tag_column= to match the file"

    sentences: list[Sentence] = []
    repairs = 0
    words: list[str] = []
    tags: list[str] = []
    first_line = 0
    columns_expected, columns_line = 0, 0  # fixed by the file's first token line

    def finish() -> None:
        nonlocal repairs, words, tags
        if not words:
            return
        source = f"{path}:{first_line}"
        try:
            spans, repaired = tags_to_spans(tags, scheme, strict=strict, source=source)
        except TagError as error:
            position = error.position or 0
            line_no = first_line + position
            raise _error(
                path, line_no, lines[line_no - 1], f"tag {error.tag!r} is not valid here for scheme {scheme!r}: {error}",
                "correct the tag, or pass the file's real scheme (scheme='iob1'/'iob2'/'bioes'/'io')",
            ) from None
        repairs += repaired
        sentences.append(Sentence(tuple(words), tuple(spans), source))
        words, tags = [], []

    for line_no, line in enumerate(lines, start=1):
        body = line.strip(_ASCII_BLANKS)
        if not body:
            finish()
            continue
        if _is_docstart(body):
            _check_docstart(path, line_no, line, body, bool(words))
            continue
        if separator == _WHITESPACE and "\t" in body:
            first = f" (line {columns_line}, the first token line, has none)" if columns_line else ""
            raise _error(path, line_no, line, f"a tab on a token line of a space-separated file{first}",
                         f"use one separator throughout the file, or {options}")
        columns = _split_columns(line, separator)
        if not columns_expected:
            if len(columns) < needed:
                raise _error(
                    path, line_no, line,
                    f"expected a token and a tag ({shown_separator} separated, tag in column {tag_column}) "
                    f"but found {len(columns)} column(s)",
                    f"add the missing tag ('O' for outside), put a blank line between sentences, or {options}",
                )
            columns_expected, columns_line = len(columns), line_no
        elif len(columns) != columns_expected:
            raise _error(
                path, line_no, line,
                f"expected {columns_expected} columns ({shown_separator} separated, as in line {columns_line}, the "
                f"first token line) but found {len(columns)}",
                "give every token line the same columns: add the missing tag ('O' for outside) or column (a "
                f"missing column shifts the tag column), put a blank line between sentences, or {options}",
            )
        token, tag = columns[token_column], columns[tag_column]
        if not token:
            raise _error(path, line_no, line, f"empty token in column {token_column}",
                         "write the token, or delete the line")
        if not words:
            first_line = line_no
        words.append(token)
        tags.append(tag)
    finish()
    if not sentences:
        raise _error(
            path, max(len(lines), 1), None, "the file has no sentences (it is empty, blank or only -DOCSTART- lines)",
            "point at the right file; a column file needs 'token<TAB>tag' lines with blank lines between sentences",
        )
    return ConllFile(Path(path), tuple(sentences), repairs, scheme)


def _check_docstart(path, line_no: int, line: str, body: str, inside_sentence: bool) -> None:
    """A -DOCSTART- line must stand between sentences and carry no entity tag."""
    if inside_sentence:
        raise _error(
            path, line_no, line, f"{DOCSTART} in the middle of a sentence (no blank line before it), so the "
            "sentence around it would be cut in two",
            f"put a blank line before the {DOCSTART} line (if the sentence ends there), or delete the line",
        )
    tagged = [column for column in _marker_columns(body)[1:] if column not in _DOCSTART_FILLERS]
    if tagged:
        raise _error(
            path, line_no, line, f"the {DOCSTART} line carries {tagged[0]!r}; a document break has no tag of its own",
            f"tag the {DOCSTART} line O (or leave it untagged); if {DOCSTART} is a real token, rename it",
        )


def _check_writable(text: str, what: str, sentence: Sentence, separator: str) -> None:
    bad_char = separator if separator != _WHITESPACE else None
    if (
        not text
        or text != text.strip()
        or "\n" in text
        or "\r" in text
        or (bad_char is not None and bad_char in text)
        or ((bad_char is None or what == "tag") and any(c.isspace() for c in text))
    ):
        raise ValueError(
            f"{what} {text!r} of sentence {sentence.source or sentence.words[:8]} cannot be written as one "
            f"column with separator {separator!r}: it is empty or holds whitespace/the separator; "
            f"use write_jsonl_sentences for such text"
        )


def write_conll(
    path: str | os.PathLike, sentences: Iterable[Sentence], *, scheme: str = "iob2", separator: str = "\t"
) -> None:
    """Write sentences as 'token<sep>tag' lines, blank line between sentences, LF line ends.

    Raises ValueError (before writing anything) for text that would not read back identically.
    """
    check_scheme(scheme)
    blocks = []
    for sentence in sentences:
        tags = spans_to_tags(sentence.spans, len(sentence.words), scheme)
        for word, tag in zip(sentence.words, tags):
            _check_writable(word, "word", sentence, separator)
            _check_writable(tag, "tag", sentence, separator)
        if DOCSTART in sentence.words:
            raise ValueError(f"sentence {sentence.source or sentence.words[:8]} holds the word {DOCSTART!r}, which readers "
                             f"treat as a document break; use write_jsonl_sentences for such text")
        blocks.append("".join(f"{word}{separator}{tag}\n" for word, tag in zip(sentence.words, tags)))
    Path(path).write_text("\n".join(blocks), encoding="utf-8")


def write_jsonl_sentences(path: str | os.PathLike, sentences: Iterable[Sentence]) -> None:
    """One `Sentence.to_json()` object per line (UTF-8, not ASCII-escaped)."""
    with open(path, "w", encoding="utf-8") as handle:
        for sentence in sentences:
            handle.write(json.dumps(sentence.to_json(), ensure_ascii=False) + "\n")


def read_jsonl_sentences(path: str | os.PathLike) -> tuple[Sentence, ...]:
    """Read sentences written by `write_jsonl_sentences`; blank lines are allowed and carry nothing."""
    sentences = []
    for line_no, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        try:
            sentences.append(Sentence.from_json(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise _error(
                path, line_no, line[:200], f"not a sentence object: {error}",
                'each line must be {"words": [...], "spans": [[start, end, label], ...], "source": "..."}',
            ) from None
    return tuple(sentences)
