"""Constrained decoding: answers can only be (" <<<" contiguous input words " >>>")* " <im_end>" eos.

Per prompt row, a token automaton over that row's words:
  S0 --" <<<"--> E  --tokens of " w_i" ... " w_j" (any contiguous run of the input)--> W --" >>>"--> S0
  S0 --" <im_end>"--> FINAL --eos--> done
The word part is equivalent to a token-level trie over the input's word n-grams, but expanded lazily
from word positions (state = which word and which of its tokens come next), so nothing is built per
row up front. Each word is the tokens of " word" (the segmentation the SFT targets use, so leading-space
and sub-word behaviour of the tokenizer is handled by construction). States are small sets of items (an
NFA), so markers or words whose token sequences share prefixes need no special cases.

`AnswerLogitsProcessor` is a transformers `LogitsProcessor` for batched, left-padded `generate` with
the KV cache: it advances each row's state by the one token produced since the last call (no
re-tokenisation), masks every other token to -inf, and records each chosen token's raw model log-prob
(before masking) so spans can be ranked by sequence log-prob.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import torch

try:  # transformers >= 4.x: public path
    from transformers import LogitsProcessor
except ImportError:  # pragma: no cover
    from transformers.generation.logits_process import LogitsProcessor


_START, _ENTITY, _FINAL = "start", "entity", "final"
Item = tuple  # ("seq", marker, k, then) | ("word", j, k) | ("final",)


class AnswerGrammar:
    """The automaton of valid answers for one input sentence, expanded lazily (nothing precomputed).

    A state is a tuple of items, each waiting for one token: ("seq", m, k, then) = token k of marker m,
    then go to `then`; ("word", j, k) = token k of input word j inside an entity; ("final",) = eos.
    Several items at once make it an NFA, so words or markers sharing token prefixes need no special
    case; all contiguous runs of the input are allowed without building an n-gram trie (cost O(words) per step).
    """

    def __init__(self, words: Sequence[str], word_ids: Callable[[str], Sequence[int]], open_ids: Sequence[int],
                 close_ids: Sequence[int], end_ids: Sequence[int], eos_id: int) -> None:
        self.markers = {"open": tuple(open_ids), "close": tuple(close_ids), "end": tuple(end_ids)}
        if not all(self.markers.values()):
            raise ValueError(f"a marker tokenises to nothing: {self.markers}")
        self.words = [tuple(word_ids(w)) for w in words]
        if not all(self.words):
            raise ValueError("an input word tokenises to nothing")
        self.eos_id = eos_id

    def _expand(self, where) -> list[Item]:
        """The token-consuming items of a position between tokens."""
        if where == _START:
            return [("seq", "open", 0, _ENTITY), ("seq", "end", 0, _FINAL)]
        if where == _ENTITY:
            return [("word", j, 0) for j in range(len(self.words))]
        if where == _FINAL:
            return [("final",)]
        j = where[1]  # ("after", j): a word ended; continue the run or close the entity
        return ([("word", j + 1, 0)] if j + 1 < len(self.words) else []) + [("seq", "close", 0, _START)]

    def initial(self) -> tuple[Item, ...]:
        return tuple(self._expand(_START))

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


class AnswerLogitsProcessor(LogitsProcessor):
    """Masks each row to its grammar (when `grammars` is given) and records chosen-token log-probs."""

    def __init__(self, grammars: Sequence[AnswerGrammar] | None, batch_size: int, eos_id: int) -> None:
        self.grammars = list(grammars) if grammars is not None else None
        if self.grammars is not None and len(self.grammars) != batch_size:
            raise ValueError(f"{len(self.grammars)} grammars for a batch of {batch_size} rows")
        self.eos_id = eos_id
        self.states = [g.initial() for g in self.grammars] if self.grammars is not None else None
        self.token_logprobs: list[list[float]] = [[] for _ in range(batch_size)]
        self.done = [False] * batch_size
        self._prompt_length: int | None = None
        self._last_logprobs: torch.Tensor | None = None
        self._advanced = 0  # tokens accounted for so far
        self.seconds = 0.0  # time spent in this processor (its overhead inside generate)

    def _advance(self, tokens: torch.Tensor) -> None:
        chosen = self._last_logprobs.gather(1, tokens[:, None].to(self._last_logprobs.device))[:, 0].tolist()
        self._advanced += 1
        for row, token in enumerate(tokens.tolist()):
            if self.done[row]:
                continue  # finished rows get pad tokens from generate
            self.token_logprobs[row].append(chosen[row])
            if token == self.eos_id:
                self.done[row] = True
            if self.states is not None:
                self.states[row] = self.grammars[row].step(self.states[row], token)
                self.done[row] = self.done[row] or self.states[row] == ()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        started = time.perf_counter()
        try:
            return self._process(input_ids, scores)
        finally:
            self.seconds += time.perf_counter() - started

    def _process(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._prompt_length is None:
            self._prompt_length = input_ids.shape[1]
        else:
            self._advance(input_ids[:, -1])
        self._last_logprobs = scores.float().log_softmax(dim=-1)
        if self.states is None:
            return scores
        blocked = torch.ones_like(scores, dtype=torch.bool)
        for row, state in enumerate(self.states):
            allowed = self.grammars[row].allowed(state) if state != () else (self.eos_id,)
            blocked[row, list(allowed)] = False
        return scores.masked_fill(blocked, float("-inf"))

    def finish(self, sequences: torch.Tensor) -> None:
        """Account for the last token (generate does not call processors after it)."""
        if self._prompt_length is not None and self._advanced < sequences.shape[1] - self._prompt_length:
            self._advance(sequences[:, -1])
