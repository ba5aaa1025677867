"""Word vectors from any Hugging Face encoder, as the Few-NERD baselines use them.

A word's vector is the sum of the last `n_last_layers` hidden layers at its FIRST sub-word (or the
mean over its sub-words). Nothing is dropped or truncated:
  * a word the tokenizer turns into zero sub-words (zero-width spaces, control characters) is
    encoded as the unknown token;
  * a sentence longer than the encoder window is split into overlapping word windows, and each word
    takes its vector from the window where it is most central (sentence ends count as context).
Rows are sorted by length before batching so that padding stays small.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ner_fewshot import backbones, settings
from ner_fewshot.methods.batching import pad_batch

POOLINGS = ("first", "mean")


@dataclass
class WordVectors:
    """All words of a batch of sentences, flattened: `vectors[offsets[i]:offsets[i]+lengths[i]]`."""

    vectors: torch.Tensor  # (total words, hidden)
    lengths: list[int]

    def split(self) -> list[torch.Tensor]:
        return list(torch.split(self.vectors, self.lengths))


@dataclass
class _Row:
    """One encoder input: sub-word ids of words [first, last) of a sentence, with its specials."""

    ids: list[int]
    # For each word this row provides: flat output index, token positions, weight per token.
    targets: np.ndarray
    positions: np.ndarray
    weights: np.ndarray


class TokenEncoder(nn.Module):
    """Wraps a loaded HF encoder + fast tokenizer; `encode` works in train mode (grad, dropout) too."""

    def __init__(self, model, tokenizer, *, n_last_layers: int = 4, pooling: str = "first", window: int = 0,
                 window_overlap: float = 0.5, batch_size: int = 32, dropout: float = 0.5, device="cpu") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling {pooling!r} is not one of {list(POOLINGS)}")
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("the prototype encoder needs a fast tokenizer (word_ids); this checkpoint only has a slow one")
        n_layers = model.config.num_hidden_layers
        if not 1 <= n_last_layers <= n_layers:
            raise ValueError(f"n_last_layers={n_last_layers} must lie in [1, {n_layers}] for this encoder")
        if not 0.0 <= window_overlap < 1.0:
            raise ValueError(f"window_overlap={window_overlap} must lie in [0, 1)")
        self.model = model
        self.tokenizer = tokenizer
        self.n_last_layers = n_last_layers
        self.pooling = pooling
        self.batch_size = batch_size
        self.window_overlap = window_overlap
        self.dropout = nn.Dropout(dropout)
        self.device = torch.device(device)
        self.model.to(self.device)
        self._prefix, self._suffix = self._special_tokens()
        limit = _encoder_limit(model, tokenizer)
        self.window = min(window, limit) if window > 0 else limit
        self._content = self.window - len(self._prefix) - len(self._suffix)
        if self._content < 1:
            raise ValueError(f"window of {self.window} sub-words leaves no room beside the special tokens")
        self._autocast = settings.preferred_dtype(self.device)
        self.unk_id = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else tokenizer.pad_token_id

    @classmethod
    def from_pretrained(cls, name_or_path: str, **options) -> "TokenEncoder":
        from transformers import AutoModel, AutoTokenizer

        tokenizer = backbones.load_pretrained(AutoTokenizer.from_pretrained, name_or_path)
        if getattr(tokenizer, "add_prefix_space", None) is False:
            # Byte-level BPE (RoBERTa, BART) must mark every pre-split word as space-preceded.
            tokenizer = backbones.load_pretrained(AutoTokenizer.from_pretrained, name_or_path, add_prefix_space=True)
        model = backbones.load_pretrained(AutoModel.from_pretrained, name_or_path)
        return cls(model, tokenizer, **options)

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def save(self, directory: str | Path) -> None:
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    def _special_tokens(self) -> tuple[list[int], list[int]]:
        probe = self.tokenizer([["a"]], is_split_into_words=True, add_special_tokens=True)
        ids, word_ids = probe["input_ids"][0], probe.word_ids(0)
        first = word_ids.index(0)
        last = len(word_ids) - 1 - word_ids[::-1].index(0)
        return list(ids[:first]), list(ids[last + 1 :])

    # ---- planning: sub-words, windows, which tokens feed which word -------------------------------

    def _word_pieces(self, words: Sequence[str], ids: list[int], word_ids: list) -> tuple[np.ndarray, np.ndarray]:
        """Sub-word ids of the sentence with every word non-empty, and each word's piece count."""
        word_index = np.array([w for w in word_ids if w is not None], dtype=np.int64)
        token_ids = np.array([t for t, w in zip(ids, word_ids) if w is not None], dtype=np.int64)
        if len(word_index) and np.any(np.diff(word_index) < 0):
            raise ValueError("tokenizer returned sub-words out of word order; this encoder cannot align them")
        counts = np.bincount(word_index, minlength=len(words))
        fixed = np.maximum(counts, 1)  # an empty word becomes one unknown token
        too_long = fixed > self._content
        if too_long.any():
            bad = int(np.flatnonzero(too_long)[0])
            warnings.warn(f"word {words[bad][:40]!r} has {int(fixed[bad])} sub-words, more than the window's "
                          f"{self._content}; only its first {self._content} sub-words are encoded", stacklevel=3)
        start_old = np.concatenate([[0], np.cumsum(counts)[:-1]])
        start_new = np.concatenate([[0], np.cumsum(fixed)[:-1]])
        pieces = np.full(int(fixed.sum()), self.unk_id, dtype=np.int64)
        rank = np.arange(len(word_index)) - start_old[word_index]
        pieces[start_new[word_index] + rank] = token_ids
        keep = np.minimum(fixed, self._content)
        if too_long.any():
            mask = np.concatenate([np.arange(f) < k for f, k in zip(fixed, keep)])
            pieces = pieces[mask]
        return pieces, keep

    def _windows(self, counts: np.ndarray) -> list[tuple[int, int]]:
        """Word ranges [start, end) that each fit the window, overlapping by `window_overlap`."""
        n = len(counts)
        ends = np.cumsum(counts)  # pieces up to and including each word
        starts = ends - counts
        if ends[-1] <= self._content:
            return [(0, n)]
        windows, first = [], 0
        while True:
            last = int(np.searchsorted(ends, starts[first] + self._content, side="right"))
            windows.append((first, last))
            if last >= n:
                return windows
            advance = (1.0 - self.window_overlap) * (starts[last] - starts[first])
            following = int(np.searchsorted(starts, starts[first] + advance, side="left"))
            first = min(max(following, first + 1), last)

    def _plan(self, sentences: Sequence[Sequence[str]]) -> tuple[list[_Row], list[int]]:
        lists = [list(words) for words in sentences]
        for index, words in enumerate(lists):
            if not words:
                raise ValueError(f"sentence {index} has no words")
        encoded = self.tokenizer(lists, is_split_into_words=True, add_special_tokens=False)
        rows: list[_Row] = []
        offset = 0
        lengths = []
        for index, words in enumerate(lists):
            pieces, counts = self._word_pieces(words, encoded["input_ids"][index], encoded.word_ids(index))
            rows.extend(self._rows_for(pieces, counts, offset))
            offset += len(words)
            lengths.append(len(words))
        return rows, lengths

    def _rows_for(self, pieces: np.ndarray, counts: np.ndarray, offset: int) -> list[_Row]:
        n = len(counts)
        windows = self._windows(counts)
        best = np.full(n, -1.0)
        owner = np.zeros(n, dtype=np.int64)
        words = np.arange(n)
        for number, (first, last) in enumerate(windows):
            left = words - first if first > 0 else np.full(n, np.inf)
            right = last - 1 - words if last < n else np.full(n, np.inf)
            centrality = np.where((words >= first) & (words < last), np.minimum(left, right), -1.0)
            better = centrality > best
            best[better], owner[better] = centrality[better], number
        piece_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rows = []
        for number, (first, last) in enumerate(windows):
            owned = np.flatnonzero(owner == number)
            begin, end = piece_start[first], piece_start[last - 1] + counts[last - 1]
            ids = self._prefix + pieces[begin:end].tolist() + self._suffix
            # Token position of each owned word's first piece inside this row.
            first_pos = piece_start[owned] - begin + len(self._prefix)
            if self.pooling == "first":
                targets, positions, weights = owned + offset, first_pos, np.ones(len(owned))
            else:
                per_word = counts[owned]
                targets = np.repeat(owned + offset, per_word)
                positions = np.repeat(first_pos, per_word) + (np.arange(per_word.sum()) - np.repeat(np.cumsum(per_word) - per_word, per_word))
                weights = np.repeat(1.0 / per_word, per_word)
            rows.append(_Row(ids, targets, positions, weights))
        return rows

    # ---- encoding -----------------------------------------------------------------------------

    def encode(self, sentences: Sequence[Sequence[str]]) -> WordVectors:
        """One vector per word of every sentence; gradients flow when called in train mode."""
        rows, lengths = self._plan(sentences)
        total = sum(lengths)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i].ids))
        targets, contributions = [], []
        for begin in range(0, len(order), self.batch_size):
            batch = [rows[i] for i in order[begin : begin + self.batch_size]]
            hidden = self._forward([row.ids for row in batch])  # (B, T, d)
            row_index = np.concatenate([np.full(len(row.positions), b) for b, row in enumerate(batch)])
            positions = np.concatenate([row.positions for row in batch])
            weights = torch.from_numpy(np.concatenate([row.weights for row in batch])).to(hidden)
            picked = hidden[torch.from_numpy(row_index).to(self.device), torch.from_numpy(positions).to(self.device)]
            contributions.append(picked * weights.unsqueeze(-1))
            targets.append(np.concatenate([row.targets for row in batch]))
        index = torch.from_numpy(np.concatenate(targets)).to(self.device)
        stacked = torch.cat(contributions)
        vectors = stacked.new_zeros(total, stacked.shape[-1]).index_add(0, index, stacked)
        return WordVectors(self.dropout(vectors), lengths)

    def _forward(self, id_lists: list[list[int]]) -> torch.Tensor:
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids, mask = pad_batch(id_lists, pad, device=self.device)
        use_autocast = self._autocast != torch.float32
        with torch.autocast(self.device.type, dtype=self._autocast, enabled=use_autocast):
            output = self.model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
        layers = output.hidden_states[-self.n_last_layers :]
        return torch.stack(layers).sum(0).float()


def _encoder_limit(model, tokenizer) -> int:
    """Longest input the encoder takes, in sub-words including specials."""
    limits = [getattr(model.config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    limits = [int(x) for x in limits if isinstance(x, int) and 0 < x < 1_000_000]
    if not limits:
        raise ValueError("cannot tell the encoder's maximum input length; set the `window` option")
    return min(limits)
