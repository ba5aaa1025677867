"""From generated answers back to word spans (never string-level scoring).

Each "<<< words >>>" in an answer is a predicted string; it becomes every exact occurrence of its word
sequence in the input sentence. Candidates from all types of a sentence are then made non-overlapping:
longest first, then higher model score (the entity's sequence log-prob), then leftmost.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ..data.types import Span
from .prompts import CLOSE_MARKER, END_MARKER, OPEN_MARKER

_ENTITY = re.compile(re.escape(OPEN_MARKER) + r"(.*?)" + re.escape(CLOSE_MARKER), re.DOTALL)


@dataclass(frozen=True)
class PredictedString:
    words: tuple[str, ...]
    score: float  # sum of the token log-probs from "<<<" to ">>>"


@dataclass(frozen=True)
class Candidate:
    span: Span
    score: float


@dataclass(frozen=True)
class TokenAlignment:
    """Which generated token covers each character of the decoded text, and the log-prob prefix sums."""

    char_token: tuple[int, ...]  # char index -> token index
    prefix: tuple[float, ...]  # prefix[k] = sum of the log-probs of tokens 0..k-1

    def score(self, char_start: int, char_end: int) -> float:
        """Summed log-prob of every token overlapping text[char_start:char_end]."""
        first, last = self.char_token[char_start], self.char_token[char_end - 1]
        return self.prefix[last + 1] - self.prefix[first]


def align_tokens(tokenizer, token_ids: Sequence[int], token_logprobs: Sequence[float]) -> tuple[str, TokenAlignment]:
    """The decoded text and its alignment to the tokens (decoding growing prefixes: robust to byte-level BPE)."""
    text, char_token, prefix = "", [], [0.0]
    for k in range(len(token_ids)):
        piece = tokenizer.decode(list(token_ids[: k + 1]), skip_special_tokens=False, clean_up_tokenization_spaces=False)
        prefix.append(prefix[-1] + (token_logprobs[k] if k < len(token_logprobs) else 0.0))
        if len(piece) > len(text):
            char_token.extend([k] * (len(piece) - len(text)))
            text = piece
    return text, TokenAlignment(tuple(char_token), tuple(prefix))


def parse_answer(text: str, alignment: TokenAlignment | None = None, none_word: str | None = None,
                 ) -> list[PredictedString]:
    """Entities in generated answer text (after the fixed prefix), up to the end marker.

    With `alignment`, each string scores the summed log-prob of its tokens from "<<<" to ">>>"; without,
    0. An unterminated "<<< ..." (length cut-off) yields nothing; "<<< >>>" with no word is skipped, and so
    is "<<< none >>>" when `none_word` is "none" (empty_answer="none").
    """
    end = text.find(END_MARKER)
    body = text if end < 0 else text[:end]
    found = []
    for match in _ENTITY.finditer(body):
        words = tuple(match.group(1).split())
        if not words or (none_word is not None and words == (none_word,)):
            continue
        score = 0.0
        if alignment is not None and match.end() <= len(alignment.char_token):
            start = match.start() - (match.start() > 0 and body[match.start() - 1] == " ")  # the " <<<" segment
            score = alignment.score(start, match.end())
        found.append(PredictedString(words, score))
    return found


def occurrences(words: Sequence[str], target: Sequence[str]) -> list[tuple[int, int]]:
    """Every [start, end) where words[start:end] == target (overlapping occurrences included)."""
    n, k = len(words), len(target)
    return [(i, i + k) for i in range(n - k + 1) if tuple(words[i : i + k]) == tuple(target)]


def candidates_for(words: Sequence[str], label: str, predicted: Sequence[PredictedString]) -> tuple[list[Candidate], int]:
    """Candidates for one (sentence, type) and the number of predicted strings not found in the sentence."""
    found, missing = [], 0
    for item in predicted:
        spans = occurrences(words, item.words)
        missing += not spans
        found.extend(Candidate(Span(s, e, label), item.score) for s, e in spans)
    return found, missing


def resolve_overlaps(candidates: Sequence[Candidate]) -> list[Span]:
    """Greedy non-overlapping selection: longest, then best score, then leftmost; output sorted."""
    ranked = sorted(candidates, key=lambda c: (-(c.span.end - c.span.start), -c.score, c.span.start, c.span.label))
    taken = [False] * (max((c.span.end for c in candidates), default=0))
    chosen = []
    for cand in ranked:
        if any(taken[cand.span.start : cand.span.end]):
            continue
        taken[cand.span.start : cand.span.end] = [True] * (cand.span.end - cand.span.start)
        chosen.append(cand.span)
    return sorted(chosen)
