"""Tagged sentences written as JSONL or CoNLL, to a file (all or nothing) or to stdout.

JSONL: one object per input sentence,
    {"source": "in.txt:3", "text": ..., "tokens": [...], "offsets": [[start, end], ...],
     "spans": [{"start": 0, "end": 2, "char_start": 0, "char_end": 10, "type": "person", "text": "Bill Gates"}]}
with token indices end-exclusive and character offsets into "text" (`text[char_start:char_end]`);
an input "id" is copied. CoNLL: `token<TAB>tag` lines in IOB2, a blank line after each sentence.
A file is written to a temporary name beside it and renamed when complete.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from ..data.tagging import spans_to_tags
from ..data.types import Span
from .inputs import STDIN, TextSentence

OUTPUT_FORMATS = ("jsonl", "conll")


def record(sentence: TextSentence, spans: Sequence[Span]) -> dict:
    items = []
    for span in spans:
        char_start, char_end = sentence.offsets[span.start][0], sentence.offsets[span.end - 1][1]
        items.append({"start": span.start, "end": span.end, "char_start": char_start, "char_end": char_end,
                      "type": span.label, "text": sentence.text[char_start:char_end]})
    head = {"id": sentence.id} if sentence.id is not None else {}
    return {**head, "source": sentence.source, "text": sentence.text, "tokens": list(sentence.tokens),
            "offsets": [list(pair) for pair in sentence.offsets], "spans": items}


def check_writable(sentences: Sequence[TextSentence], output_format: str) -> None:
    """Refuse, before any work, what the format cannot carry: a token holding whitespace in CoNLL."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {output_format!r}; choose one of {list(OUTPUT_FORMATS)}")
    if output_format == "conll":
        for sentence in sentences:
            for token in sentence.tokens:
                if any(c.isspace() for c in token):
                    raise ValueError(f"{sentence.source}: token {token!r} holds whitespace, which a CoNLL line cannot "
                                     "carry; write JSONL instead (--format jsonl)")


def _conll_block(sentence: TextSentence, spans: Sequence[Span]) -> str:
    tags = spans_to_tags(spans, len(sentence.tokens), "iob2")
    return "".join(f"{token}\t{tag}\n" for token, tag in zip(sentence.tokens, tags)) + "\n"


def render(sentences: Sequence[TextSentence], spans: Sequence[Sequence[Span]], output_format: str) -> list[str]:
    """The output text, one chunk per sentence (every check runs before anything is written)."""
    if output_format == "jsonl":
        return [json.dumps(record(s, p), ensure_ascii=False) + "\n" for s, p in zip(sentences, spans)]
    if output_format == "conll":
        check_writable(sentences, output_format)
        return [_conll_block(s, p) for s, p in zip(sentences, spans)]
    raise ValueError(f"unknown output format {output_format!r}; choose one of {list(OUTPUT_FORMATS)}")


def guess_output_format(path: str) -> str:
    return "conll" if path != STDIN and Path(path).suffix.lower() in (".conll", ".bio", ".iob", ".iob2", ".tsv") else "jsonl"


def write_atomically(path: str | os.PathLike, chunks: Sequence[str]) -> None:
    """Write to a temporary file in the target's folder, then rename over the target."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".partial", delete=False)
    try:
        with handle:
            handle.writelines(chunks)
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_output(path: str, chunks: Sequence[str]) -> None:
    if path == STDIN:
        sys.stdout.writelines(chunks)
        sys.stdout.flush()
    else:
        write_atomically(path, chunks)
