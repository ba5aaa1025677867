"""Constrained decoding: answers can only be (" <<<" contiguous input words " >>>")* " <im_end>" eos.

Per prompt row, a token automaton over that row's words:
  S0 --" <<<"--> E  --tokens of " w_i" ... " w_j" (any contiguous run of the input)--> W --" >>>"--> S0
  S0 --" <im_end>"--> FINAL --eos--> done
With empty_answer="none" the first entity may instead be " none", after which only " >>> <im_end>" eos
can follow (the explicit empty answer " <<< none >>> <im_end>").
The word part is equivalent to a token-level trie over the input's word n-grams, but expanded lazily
from word positions (state = which word and which of its tokens come next), so nothing is built per
row up front. Each word is the tokens of " word" (the segmentation the SFT targets use, so leading-space
and sub-word behaviour of the tokenizer is handled by construction). States are small sets of items (an
NFA), so markers or words whose token sequences share prefixes need no special cases.

The decoder (generation.RowDecoder) advances each row's state by the one token it chose (no
re-tokenisation), picks only among the allowed tokens, and records each chosen token's raw model log-prob
(before masking) so spans can be ranked by sequence log-prob. When a state leaves a single path that ends
the answer (`forced_ending`), the decoder appends it without running the model.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

_START, _ENTITY, _FINAL = "start", "entity", "final"
_FIRST, _FIRST_ENTITY, _NONE_CLOSE, _END_ONLY = "first", "first-entity", "none-close", "end-only"
Item = tuple  # ("seq", marker, k, then) | ("word", j, k) | ("final",)


class AnswerGrammar:
    """The automaton of valid answers for one input sentence, expanded lazily (nothing precomputed).

    A state is a tuple of items, each waiting for one token: ("seq", m, k, then) = token k of marker m,
    then go to `then`; ("word", j, k) = token k of input word j inside an entity; ("final",) = eos.
    Several items at once make it an NFA, so words or markers sharing token prefixes need no special
    case; all contiguous runs of the input are allowed without building an n-gram trie (cost O(words) per step).
    """

    def __init__(self, words: Sequence[str], word_ids: Callable[[str], Sequence[int]], open_ids: Sequence[int],
                 close_ids: Sequence[int], end_ids: Sequence[int], eos_id: int,
                 none_ids: Sequence[int] | None = None) -> None:
        self.markers = {"open": tuple(open_ids), "close": tuple(close_ids), "end": tuple(end_ids)}
        if none_ids is not None:  # empty_answer="none": the first entity may be " none", and then nothing else
            self.markers["none"] = tuple(none_ids)
        if not all(self.markers.values()):
            raise ValueError(f"a marker tokenises to nothing: {self.markers}")
        self.words = [tuple(word_ids(w)) for w in words]
        if not all(self.words):
            raise ValueError("an input word tokenises to nothing")
        self.eos_id = eos_id

    def _expand(self, where) -> list[Item]:
        """The token-consuming items of a position between tokens."""
        if where == _FIRST:
            return [("seq", "open", 0, _FIRST_ENTITY if "none" in self.markers else _ENTITY), ("seq", "end", 0, _FINAL)]
        if where == _START:
            return [("seq", "open", 0, _ENTITY), ("seq", "end", 0, _FINAL)]
        if where == _ENTITY:
            return [("word", j, 0) for j in range(len(self.words))]
        if where == _FIRST_ENTITY:
            return self._expand(_ENTITY) + [("seq", "none", 0, _NONE_CLOSE)]
        if where == _NONE_CLOSE:
            return [("seq", "close", 0, _END_ONLY)]
        if where == _END_ONLY:
            return [("seq", "end", 0, _FINAL)]
        if where == _FINAL:
            return [("final",)]
        j = where[1]  # ("after", j): a word ended; continue the run or close the entity
        return ([("word", j + 1, 0)] if j + 1 < len(self.words) else []) + [("seq", "close", 0, _START)]

    def initial(self) -> tuple[Item, ...]:
        return tuple(self._expand(_FIRST))

    def allowed(self, state: tuple[Item, ...]) -> tuple[int, ...]:
        ids = set()
        for item in state:
            if item[0] == "seq":
                ids.add(self.markers[item[1]][item[2]])
            elif item[0] == "word":
                ids.add(self.words[item[1]][item[2]])
            else:
                ids.add(self.eos_id)
        return tuple(ids)

    def step(self, state: tuple[Item, ...], token: int) -> tuple[Item, ...]:
        """The next state; () once eos has been emitted (done). Raises on a token the grammar forbids."""
        if token == self.eos_id and ("final",) in state:
            return ()
        nxt: dict[Item, None] = {}
        for item in state:
            if item[0] == "seq":
                sequence, k = self.markers[item[1]], item[2]
                if sequence[k] == token:
                    following = self._expand(item[3]) if k + 1 == len(sequence) else [item[:2] + (k + 1,) + item[3:]]
                    nxt.update(dict.fromkeys(following))
            elif item[0] == "word":
                j, k = item[1], item[2]
                if self.words[j][k] == token:
                    following = self._expand(("after", j)) if k + 1 == len(self.words[j]) else [("word", j, k + 1)]
                    nxt.update(dict.fromkeys(following))
        if not nxt:
            raise ValueError(f"token {token} is not allowed by the answer grammar here")
        return tuple(nxt)

    def forced_ending(self, state: tuple[Item, ...]) -> tuple[int, ...] | None:
        """The tokens that must follow when only one path remains and it ends the answer (e.g. the rest of
        the end marker, then eos), else None. A decoder can append them without running the model."""
        tokens: list[int] = []
        while state != ():
            allowed = self.allowed(state)
            if len(allowed) != 1 or len(tokens) > 64:
                return None
            tokens.append(allowed[0])
            state = self.step(state, allowed[0])
            if any(item[0] == "word" for item in state):
                return None  # inside an entity: not an ending
        return tuple(tokens)

    def choice_points(self, tokens: Sequence[int]) -> list[bool]:
        """For a valid answer's tokens: True where the grammar allowed more than one token (a decision the
        model makes), False where the token was forced (the rest of a marker, eos after the end marker)."""
        state, choices = self.initial(), []
        for token in tokens:
            choices.append(len(self.allowed(state)) > 1)
            state = self.step(state, token)
        return choices

    def accepts(self, tokens: Sequence[int]) -> bool:
        state = self.initial()
        for token in tokens:
            if state == ():
                return False
            try:
                state = self.step(state, token)
            except ValueError:
                return False
        return state == ()
