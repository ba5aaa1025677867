"""Column files (CoNLL-2003, WNUT, BC5CDR/NCBI .tsv, LightNER's CRLF files): read and write.

One token per line with its tag in another column; blank lines (any number) end a sentence and
`-DOCSTART-` lines end a document (and so a sentence). Columns are tab separated, or separated by
runs of spaces; with `separator=None` the choice is made per file from its first token line. Every
problem raises `DataFormatError` naming the file, the line, the offending text and the fix.

Also here: JSONL sentence files (one `Sentence.to_json()` per line), the lossless interchange format.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .tagging import TagError, check_scheme, spans_to_tags, tags_to_spans
from .types import Sentence

DOCSTART = "-DOCSTART-"
_WHITESPACE = " "  # separator value meaning "runs of spaces/tabs"


class DataFormatError(ValueError):
    """A data file that cannot be read as asked; the message names file, line, text and fix."""

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, line_no: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line_no = line_no


@dataclass(frozen=True)
class ConllFile:
    """The sentences of one column file, and how many ill-formed tag sequences were repaired."""

    path: Path
    sentences: tuple[Sentence, ...]
    repairs: int
    scheme: str

    def __len__(self) -> int:
        return len(self.sentences)


def _error(path, line_no: int, text: str | None, problem: str, fix: str) -> DataFormatError:
    shown = f"\n  line {line_no}: {text!r}" if text is not None else ""
    return DataFormatError(f"{path}:{line_no}: {problem}{shown}\n  fix: {fix}", path=path, line_no=line_no)


def read_text_lines(path: str | os.PathLike) -> list[str]:
    """The file's lines as text, without line ends (LF or CRLF); a clear error for non-UTF-8 bytes.

    Splits on '\\n' only: str.splitlines would also break inside tokens holding U+2028 or \\x1c.
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"data file not found: {path}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line_no = raw[: error.start].count(b"\n") + 1
        line_start = raw.rfind(b"\n", 0, error.start) + 1
        line_end = raw.find(b"\n", error.start)
        bad_line = raw[line_start : line_end if line_end >= 0 else len(raw)]
        raise _error(
            path, line_no, None,
            f"byte {raw[error.start]:#04x} is not valid UTF-8 ({error.reason}) in line {bad_line!r}",
            "re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`",
        ) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline does not start another line
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _detect_separator(lines: Sequence[str]) -> str:
    for line in lines:
        body = line.strip()
        if body and not body.startswith(DOCSTART):
            return "\t" if "\t" in body else _WHITESPACE
    return "\t"


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

    `separator`: "\\t", " " (any run of whitespace) or None to detect per file (tab when the first
    token line has a tab). `strict`: raise on the first ill-formed tag sequence instead of repairing
    it (repairs are counted in `ConllFile.repairs`).
    """
    check_scheme(scheme)
    lines = read_text_lines(path)
    separator = separator if separator is not None else _detect_separator(lines)
    split = str.split if separator == _WHITESPACE else (lambda body: body.split(separator))
    needed = max(token_column if token_column >= 0 else -token_column - 1, tag_column if tag_column >= 0 else -tag_column - 1) + 1
    shown_separator = "tab" if separator == "\t" else ("whitespace" if separator == _WHITESPACE else repr(separator))

    sentences: list[Sentence] = []
    repairs = 0
    words: list[str] = []
    tags: list[str] = []
    first_line = 0

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
        body = line.strip()
        if not body:
            finish()
            continue
        if body.startswith(DOCSTART) and body.split()[0] == DOCSTART:
            finish()  # a document break is also a sentence break
            continue
        columns = split(body)
        if len(columns) < max(needed, 2):
            raise _error(
                path, line_no, line,
                f"expected a token and a tag ({shown_separator} separated, tag in column {tag_column}) "
                f"but found {len(columns)} column(s)",
                "add the missing tag ('O' for outside), put a blank line between sentences, or pass "
                "separator=/token_column=/tag_column= to match the file",
            )
        if not words:
            first_line = line_no
        words.append(columns[token_column].strip())
        tags.append(columns[tag_column].strip())
    finish()
    if not sentences:
        raise _error(
            path, max(len(lines), 1), None, "the file has no sentences (it is empty, blank or only -DOCSTART- lines)",
            "point at the right file; a column file needs 'token<TAB>tag' lines with blank lines between sentences",
        )
    return ConllFile(Path(path), tuple(sentences), repairs, scheme)


def _check_writable(text: str, what: str, sentence: Sentence, separator: str) -> None:
    bad_char = separator if separator != _WHITESPACE else None
    if (
        not text
        or text != text.strip()
        or "\n" in text
        or "\r" in text
        or (bad_char is not None and bad_char in text)
        or (bad_char is None and any(c.isspace() for c in text))
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
        if sentence.words[0] == DOCSTART:
            raise ValueError(f"sentence {sentence.source} starts with {DOCSTART!r}, which readers treat as a document break")
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
