"""InfoNCE boundary loss on the hidden states of one layer (CLLMFS's contrastive objective).

For an example (sentence, type) with gold entities of that type:
  anchor    = L2-normalised mean of the type-word tokens in the instruction
  positives = first and last token of each gold entity in the input (L2-normalised)
  negatives = input tokens outside every gold entity of the type ('non_entity'), or only the tokens
              just outside each entity boundary ('boundary')
  loss      = mean over positives p of  -log( e^{a.p/tau} / (e^{a.p/tau} + sum_n e^{a.n/tau}) )
Examples with no entity of their type have no positive and contribute nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from ..data.types import Span
from .prompts import EncodedPrompt


@dataclass(frozen=True)
class ContrastivePositions:
    anchor: tuple[int, ...]
    positives: tuple[int, ...]
    negatives: tuple[int, ...]


def contrastive_positions(prompt: EncodedPrompt, spans: Sequence[Span], negatives: str = "non_entity",
                          ) -> ContrastivePositions | None:
    """Token positions for one example, or None when it has no positive or no negative."""
    offsets = prompt.word_offsets
    inside: set[int] = set()
    positives: list[int] = []
    boundary: list[int] = []
    for span in spans:
        first, last = offsets[span.start][0], offsets[span.end - 1][1] - 1
        inside.update(range(first, last + 1))
        positives.extend(p for p in (first, last) if p not in positives)
        if span.start > 0:
            boundary.append(offsets[span.start - 1][1] - 1)  # last sub-word of the word before
        if span.end < len(offsets):
            boundary.append(offsets[span.end][0])  # first sub-word of the word after
    if negatives == "boundary":
        candidates = boundary
    elif negatives == "non_entity":
        candidates = range(offsets[0][0], offsets[-1][1])
    else:
        raise ValueError(f"unknown contrastive negatives mode {negatives!r}; use 'non_entity' or 'boundary'")
    negative_positions = tuple(sorted({p for p in candidates if p not in inside}))
    if not positives or not negative_positions:
        return None
    return ContrastivePositions(prompt.type_positions, tuple(positives), negative_positions)


def info_nce(anchor_states: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, tau: float,
             ) -> torch.Tensor:
    """Per-positive InfoNCE losses. anchor_states (a, d) are averaged; positives (p, d); negatives (n, d)."""
    anchor = F.normalize(anchor_states.mean(dim=0), dim=-1)
    pos_logits = F.normalize(positives, dim=-1) @ anchor / tau  # (p,)
    neg_logits = F.normalize(negatives, dim=-1) @ anchor / tau  # (n,)
    all_logits = torch.cat([pos_logits[:, None], neg_logits[None, :].expand(len(pos_logits), -1)], dim=1)
    return torch.logsumexp(all_logits, dim=1) - pos_logits


def batch_info_nce(hidden: torch.Tensor, positions: Sequence[ContrastivePositions | None], tau: float,
                   ) -> torch.Tensor | None:
    """Mean InfoNCE over every positive of a right-padded batch of hidden states (B, T, d); None if none."""
    losses = []
    for row, pos in enumerate(positions):
        if pos is None:
            continue
        states = hidden[row].float()
        losses.append(info_nce(states[list(pos.anchor)], states[list(pos.positives)], states[list(pos.negatives)], tau))
    if not losses:
        return None
    return torch.cat(losses).mean()
