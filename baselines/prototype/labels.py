"""Word-level IO labels of the prototype baselines: class indices for the encoder's words, IO tag
strings for transition counting, and an episode's K (fewest support mentions of a type)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ner_fewshot.data.types import Sentence

OUTSIDE = "O"


def word_labels(sentences: Sequence[Sentence], names: Sequence[str]) -> torch.Tensor:
    """Concatenated per-word class indices (0 = O) of `sentences`; nested/overlapping spans are an error."""
    index = {name: i for i, name in enumerate(names)}
    parts = []
    for sentence in sentences:
        labels = np.zeros(len(sentence.words), dtype=np.int64)
        covered = np.zeros(len(sentence.words), dtype=bool)
        where = f" ({sentence.source})" if sentence.source else ""
        for span in sentence.spans:
            if span.label not in index:
                raise ValueError(f"span {span}{where} has type {span.label!r}, not one of the episode's types {list(names[1:])}")
            if covered[span.start : span.end].any():
                raise ValueError(f"span {span}{where} overlaps another span; IO word labels need flat spans (drop nested ones first)")
            labels[span.start : span.end] = index[span.label]
            covered[span.start : span.end] = True
        parts.append(labels)
    return torch.from_numpy(np.concatenate(parts)) if parts else torch.zeros(0, dtype=torch.long)


def io_tags(sentence: Sentence) -> list[str]:
    tags = [OUTSIDE] * len(sentence.words)
    for span in sentence.spans:
        tags[span.start : span.end] = [span.label] * (span.end - span.start)
    return tags


def smallest_shot(support: Sequence[Sentence], types: Sequence[str]) -> int:
    """K of an episode: the fewest support mentions any of its types has (0 if a type has none)."""
    counts = dict.fromkeys(types, 0)
    for sentence in support:
        for span in sentence.spans:
            if span.label in counts:
                counts[span.label] += 1
    return min(counts.values(), default=0)
