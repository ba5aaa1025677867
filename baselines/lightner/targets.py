"""BARTNER "word" pointer targets: sentence -> source sub-word ids, spans -> output indices, and back.

Output space at every decoding step: index 0 = start (never predicted), 1 = end, 2..2+L-1 = the L
labels, then one index per source position (position 0 = `<s>`). A word's pointer is the source
position of its FIRST sub-word. Target = for each entity, left to right, the pointer of every word
of the entity, then its label; finally end. Words are tokenised one by one with a leading space
(as the reference code's `add_prefix_space=True`), which works for byte-level BPE and WordPiece alike.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ner_fewshot.data.types import Sentence, Span

START = 0
END = 1
FIRST_LABEL = 2


def pointer_offset(n_labels: int) -> int:
    """Output index of source position 0."""
    return FIRST_LABEL + n_labels


@dataclass(frozen=True)
class EncodedSource:
    token_ids: tuple[int, ...]  # <s> sub-words... </s>
    word_starts: tuple[int, ...]  # source position of each word's first sub-word
    position_words: tuple[int | None, ...]  # word index of each source position (None for <s>, </s>)


class SourceEncoder:
    """Turns sentences into source sub-word ids with the word <-> position maps (cached per word)."""

    def __init__(self, tokenizer, max_positions: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.max_positions = max_positions
        self.bos_id = self._special_id("bos_token_id", "<s>")
        self.eos_id = self._special_id("eos_token_id", "</s>")
        self.unk_id = tokenizer.unk_token_id
        self._word_cache: dict[str, tuple[int, ...]] = {}

    def _special_id(self, attribute: str, name: str) -> int:
        value = getattr(self.tokenizer, attribute, None)
        if value is None:
            raise ValueError(f"the backbone's tokenizer has no {name} token ({attribute}); LightNER needs BART-style "
                             "special tokens <s> and </s>: set the `backbone` option to a BART checkpoint")
        return int(value)

    def word_ids(self, word: str, where: str = "") -> tuple[int, ...]:
        cached = self._word_cache.get(word)
        if cached is None:
            cached = tuple(self.tokenizer.encode(" " + word, add_special_tokens=False))
            if not cached:
                # A word the tokenizer erases entirely (e.g. a lone control character) still needs a pointer.
                if self.unk_id is None:
                    raise ValueError(f"word {word!r}{where} produces no sub-words and the tokenizer has no <unk> token")
                cached = (int(self.unk_id),)
            self._word_cache[word] = cached
        return cached

    def encode(self, sentence: Sentence) -> EncodedSource:
        where = f" ({sentence.source})" if sentence.source else ""
        token_ids, word_starts, position_words = [self.bos_id], [], [None]
        for index, word in enumerate(sentence.words):
            pieces = self.word_ids(word, where)
            word_starts.append(len(token_ids))
            token_ids.extend(pieces)
            position_words.extend([index] * len(pieces))
        token_ids.append(self.eos_id)
        position_words.append(None)
        if self.max_positions is not None and len(token_ids) > self.max_positions:
            raise ValueError(
                f"sentence{where} has {len(token_ids)} sub-words with <s> and </s>, more than the backbone's "
                f"{self.max_positions} positions; split the sentence before running LightNER"
            )
        return EncodedSource(tuple(token_ids), tuple(word_starts), tuple(position_words))


def encode_target(source: EncodedSource, spans: Sequence[Span], label_index: dict[str, int], where: str = "") -> list[int]:
    """Output indices [start, (pointers..., label)*, end] for the gold spans, entities left to right."""
    offset = pointer_offset(len(label_index))
    target = [START]
    for span in sorted(spans, key=lambda s: (s.start, s.end, label_index.get(s.label, -1))):
        if span.label not in label_index:
            raise ValueError(f"span {span}{where} has type {span.label!r}, which is not in the label set "
                             f"{sorted(label_index)}")
        target.extend(offset + source.word_starts[word] for word in range(span.start, span.end))
        target.append(FIRST_LABEL + label_index[span.label])
    target.append(END)
    return target


def decode_output(indices: Sequence[int], source: EncodedSource, labels: Sequence[str]) -> list[Span]:
    """Spans from predicted output indices (without the leading start).

    Pointers are collected until a label; the entity is kept only if its pointers strictly increase
    and all point at words; its span runs from the first to the last pointed word. Stops at end.
    """
    offset = pointer_offset(len(labels))
    spans: set[Span] = set()
    pointers: list[int] = []
    for index in indices:
        index = int(index)
        if index == END:
            break
        if index >= offset:
            pointers.append(index - offset)
            continue
        if index >= FIRST_LABEL and pointers:
            words = [source.position_words[p] if p < len(source.position_words) else None for p in pointers]
            increasing = all(a < b for a, b in zip(pointers, pointers[1:]))
            if increasing and None not in words:
                spans.add(Span(words[0], words[-1] + 1, labels[index - FIRST_LABEL]))
        pointers = []  # a label (or a stray start) closes the entity either way
    return sorted(spans)
