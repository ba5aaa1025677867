"""Semantic-aware answer space: one vector per entity type, built from its label words.

Variants (config `answer_space`):
  * "weighted" (paper, DeepKE's `learn_weights`): label representation = softmax(w) . E[sub-words of
    the label words], init U(1.0, 2.5). As in the reference, only a label with more than one sub-word
    has weights: for one sub-word the softmax is always 1, so the representation is just E[that
    sub-word] and there is nothing to train. The decoder INPUT for a label is the embedding of its
    FIRST sub-word (the reference's `mapping += id[:1]`).
    Trained by default, as the paper describes the answer space. The reference code never trains w:
    it lives inside the reference's prompt decoder, whose parameters are all frozen with the PLM
    (under either reading of that freezing condition). `freeze_label_weights=True` does the same (w
    stays at its U(1.0, 2.5) init; the reference's own init is uninitialised memory at the revision
    the suite was checked against, so no run can reproduce its exact values).
  * "average": a new label token initialised to the mean of those sub-word embeddings; like every
    embedding of the frozen backbone it is not trained. It is both the label representation and the
    decoder input (the reference's added `<<label>>` token).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from ner_fewshot.data.types import LabelSet

ANSWER_SPACES = ("weighted", "average")
WEIGHT_INIT_RANGE = (1.0, 2.5)

# `inherited` / `state()["weights"]`: per label (sub-word ids, weights or None when it has one sub-word)
Inherited = Mapping[str, tuple[tuple[int, ...], torch.Tensor | None]]


def label_sub_words(label_set: LabelSet, word_ids) -> list[tuple[int, ...]]:
    """Sub-word ids of each type's label words, via `word_ids(word) -> tuple[int, ...]`."""
    return [tuple(i for word in entity_type.label_words for i in word_ids(word)) for entity_type in label_set]


class AnswerSpace(nn.Module):
    """Label representations over the (frozen) embedding matrix."""

    def __init__(self, names: Sequence[str], sub_words: Sequence[Sequence[int]], variant: str = "weighted",
                 frozen_weights: bool = False, generator: torch.Generator | None = None,
                 inherited: Inherited | None = None) -> None:
        """`inherited[name] = (sub_words, weights)` from a source run: a shared type with the same
        sub-words keeps its learnt weights; others start from their label words."""
        super().__init__()
        if variant not in ANSWER_SPACES:
            raise ValueError(f"answer space {variant!r} is not one of {list(ANSWER_SPACES)}")
        if len(names) != len(sub_words):
            raise ValueError("one list of sub-words per label is required")
        for name, ids in zip(names, sub_words):
            if not ids:
                raise ValueError(f"entity type {name!r}: its label words produce no sub-words")
        self.names, self.variant = tuple(names), variant
        self.sub_words = [tuple(int(i) for i in ids) for ids in sub_words]
        self.frozen_weights = frozen_weights
        inherited = inherited or {}
        weights, self.weight_index = [], []  # weight_index[label] = its position in `weights`, or None
        for name, ids in zip(self.names, self.sub_words):
            if len(ids) == 1:
                self.weight_index.append(None)
                continue
            source = inherited.get(name)
            if source is not None and tuple(source[0]) == ids and source[1] is not None:
                weight = nn.Parameter(source[1].detach().clone().float())
            else:
                low, high = WEIGHT_INIT_RANGE
                weight = nn.Parameter(torch.empty(len(ids)).uniform_(low, high, generator=generator))
            self.weight_index.append(len(weights))
            weights.append(weight)
        self.weights = nn.ParameterList(weights)
        trainable = variant == "weighted" and not frozen_weights
        for weight in self.weights:
            weight.requires_grad_(trainable)
        for index, ids in enumerate(self.sub_words):
            self.register_buffer(f"sub_words_{index}", torch.tensor(ids, dtype=torch.long), persistent=False)

    def _ids(self, index: int) -> torch.Tensor:
        return getattr(self, f"sub_words_{index}")

    def label_weight(self, index: int) -> nn.Parameter | None:
        """The softmax weights of label `index`, or None for a one-sub-word label."""
        position = self.weight_index[index]
        return None if position is None else self.weights[position]

    def trainable_count(self) -> int:
        return sum(w.numel() for w in self.weights if w.requires_grad)

    def representations(self, embedding_matrix: torch.Tensor, row_dropout: nn.Module | None = None) -> torch.Tensor:
        """(L, d) vectors used to score labels. `row_dropout` (training) drops each embedding row before the
        weighted sum, as the reference, which scores every sub-word row after its own dropout and sums."""
        drop = row_dropout if row_dropout is not None else nn.Identity()
        rows = []
        for index in range(len(self.names)):
            sub = embedding_matrix[self._ids(index)].float()
            weight = self.label_weight(index)
            if self.variant == "weighted" and weight is not None:
                rows.append(torch.softmax(weight, dim=0) @ drop(sub))
            else:  # one row: a single sub-word, or the average variant's new label token
                rows.append(drop(sub.mean(dim=0)))
        return torch.stack(rows)

    def input_vectors(self, embedding_matrix: torch.Tensor) -> torch.Tensor:
        """(L, d) decoder-input vectors (unscaled): 'weighted' = each label's first sub-word embedding,
        'average' = the mean of its sub-word embeddings (the new label token)."""
        if self.variant == "weighted":
            return embedding_matrix[[ids[0] for ids in self.sub_words]].float()
        return torch.stack([embedding_matrix[self._ids(i)].float().mean(dim=0) for i in range(len(self.names))])

    def _weights_per_label(self) -> list[torch.Tensor | None]:
        return [None if w is None else w.detach().cpu().clone() for w in map(self.label_weight, range(len(self.names)))]

    def state(self) -> dict:
        """What a later run (save/load, transfer) needs to rebuild this answer space."""
        return {"names": list(self.names), "sub_words": [list(ids) for ids in self.sub_words],
                "weights": self._weights_per_label(), "variant": self.variant, "frozen_weights": self.frozen_weights}

    @classmethod
    def from_state(cls, state: Mapping) -> "AnswerSpace":
        inherited = {name: (tuple(ids), weights)
                     for name, ids, weights in zip(state["names"], state["sub_words"], state["weights"])}
        return cls(state["names"], state["sub_words"], state["variant"], state["frozen_weights"], inherited=inherited)

    def inheritable(self) -> dict[str, tuple[tuple[int, ...], torch.Tensor | None]]:
        return {name: (ids, w) for name, ids, w in zip(self.names, self.sub_words, self._weights_per_label())}
