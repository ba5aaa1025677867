"""Text to tag, read from raw lines, pre-tokenised CoNLL or JSONL (a path, or `-` for stdin).

Every sentence keeps its text, tokens, character offsets and the `file:line` it came from. Problems
raise `DataFormatError` naming the file and line, before anything is tagged.
  * raw: one sentence per line, tokenised by `tokenize` (blank lines separate nothing and yield no record);
  * conll: one token per line in the first column (other columns, e.g. gold tags, are ignored), blank
    lines between sentences, `-DOCSTART-` lines skipped; the text is the tokens joined by spaces;
  * jsonl: one object per line with "text" (tokenised like raw) or "tokens"/"words" (a list of
    strings); an "id" is copied to the output.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.conll import DOCSTART, DataFormatError, read_text_lines
from ..data.types import Sentence
from .tokenize import join_tokens, tokenize

INPUT_FORMATS = ("raw", "conll", "jsonl")
_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".conll": "conll", ".bio": "conll", ".iob": "conll",
             ".iob2": "conll", ".tsv": "conll"}
STDIN = "-"


@dataclass(frozen=True)
class TextSentence:
    """One sentence to tag: its text, tokens, each token's (start, end) in the text, and origin."""

    text: str
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    source: str  # "file:line"
    id: Any = None

    def to_sentence(self) -> Sentence:
        return Sentence(self.tokens, (), self.source)


def guess_format(path: str) -> str:
    """'jsonl' for .jsonl/.json, 'conll' for .conll/.bio/.iob/.iob2/.tsv, else 'raw' (stdin too)."""
    return "raw" if path == STDIN else _SUFFIXES.get(Path(path).suffix.lower(), "raw")


def _lines(path: str) -> list[str]:
    if path != STDIN:
        return read_text_lines(path)
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line_no = data[: error.start].count(b"\n") + 1
        raise DataFormatError(f"<stdin>:{line_no}: not valid UTF-8 ({error.reason})\n  fix: pipe UTF-8 text "
                              "(e.g. through `iconv -f latin1 -t utf-8`)", path="<stdin>", line_no=line_no) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _error(name: str, line_no: int, line: str, problem: str, fix: str) -> DataFormatError:
    return DataFormatError(f"{name}:{line_no}: {problem}\n  line {line_no}: {line[:200]!r}\n  fix: {fix}",
                           path=name, line_no=line_no)


def _from_text(text: str, source: str, id: Any = None) -> TextSentence:
    tokens, offsets = tokenize(text)
    return TextSentence(text, tokens, offsets, source, id)


def _from_tokens(tokens: tuple[str, ...], source: str, id: Any = None) -> TextSentence:
    text, offsets = join_tokens(tokens)
    return TextSentence(text, tokens, offsets, source, id)


def _read_raw(name: str, lines: list[str]) -> list[TextSentence]:
    return [_from_text(line, f"{name}:{n}") for n, line in enumerate(lines, start=1) if line.strip()]


def _read_conll(name: str, lines: list[str]) -> list[TextSentence]:
    sentences, tokens, first = [], [], 0
    for line_no, line in enumerate([*lines, ""], start=1):
        body = line.strip()
        if body and body.split()[0] == DOCSTART:
            body = ""
        if not body:
            if tokens:
                sentences.append(_from_tokens(tuple(tokens), f"{name}:{first}"))
            tokens = []
            continue
        if not tokens:
            first = line_no
        tokens.append(body.split("\t")[0].strip() if "\t" in body else body.split()[0])
    return sentences


def _read_jsonl(name: str, lines: list[str]) -> list[TextSentence]:
    fix = 'each line must be an object such as {"text": "Bill visited Paris"} or {"tokens": ["Bill", "visited", "Paris"]}'
    sentences = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise _error(name, line_no, line, f"not valid JSON ({error.msg} at column {error.colno})", fix) from None
        if not isinstance(value, dict):
            raise _error(name, line_no, line, f"a JSON {type(value).__name__}, not an object", fix)
        source = f"{name}:{line_no}"
        tokens = value.get("tokens", value.get("words"))
        if "text" in value and tokens is None:
            if not isinstance(value["text"], str) or not value["text"].strip():
                raise _error(name, line_no, line, '"text" is empty or not a string', fix)
            sentences.append(_from_text(value["text"], source, value.get("id")))
        elif tokens is not None:
            if (not isinstance(tokens, list) or not tokens
                    or not all(isinstance(t, str) and t and t == t.strip() for t in tokens)):
                raise _error(name, line_no, line, "the tokens must be a non-empty list of non-empty strings without "
                             "surrounding whitespace", fix)
            sentences.append(_from_tokens(tuple(tokens), source, value.get("id")))
        else:
            raise _error(name, line_no, line, 'the object has neither "text" nor "tokens" (or "words")', fix)
    return sentences


def read_inputs(path: str, input_format: str | None = None) -> list[TextSentence]:
    """The sentences of `path` (`-` = stdin) in `input_format` (None: guessed from the file name)."""
    input_format = input_format or guess_format(path)
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"unknown input format {input_format!r}; choose one of {list(INPUT_FORMATS)}")
    name = "<stdin>" if path == STDIN else str(path)
    reader = {"raw": _read_raw, "conll": _read_conll, "jsonl": _read_jsonl}[input_format]
    sentences = reader(name, _lines(path))
    if not sentences:
        raise DataFormatError(f"{name}: nothing to tag (the input is empty or blank)\n  fix: give a file with one "
                              "sentence per line (raw), tokens per line (conll) or JSON objects per line (jsonl)", path=name)
    return sentences
