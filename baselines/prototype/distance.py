"""Token-to-class scores for the prototype baselines, all vectorised (no loop over tokens).

Class index 0 is `O`, 1..N the episode's types. A class with no support vectors gets a score of
-inf for every query (it can never be predicted); that happens for `O` when every support word is
inside an entity, or for a type missing from a fixed support file.
"""
from __future__ import annotations

import torch

METRICS = ("euclidean", "dot")

# Bounds the (queries x support) score matrix NNShot builds at once (about 64 MB in fp32).
_MAX_PAIRWISE = 1 << 24


def similarity(queries: torch.Tensor, references: torch.Tensor, metric: str) -> torch.Tensor:
    """(Q, d) x (R, d) -> (Q, R): minus squared Euclidean distance, or the dot product."""
    if metric == "dot":
        return queries @ references.T
    if metric == "euclidean":
        # ||q - r||^2 = ||q||^2 - 2 q.r + ||r||^2: one matmul instead of a (Q, R, d) difference tensor.
        squared = (queries * queries).sum(-1, keepdim=True) - 2.0 * (queries @ references.T) + (references * references).sum(-1)
        return -squared.clamp_min(0.0)
    raise ValueError(f"unknown metric {metric!r}; choose one of {list(METRICS)}")


def class_prototypes(vectors: torch.Tensor, labels: torch.Tensor, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean support vector per class: ((C, d) prototypes, (C,) bool mask of classes with support)."""
    _check_labels(labels, n_classes, len(vectors))
    sums = torch.zeros(n_classes, vectors.shape[-1], dtype=vectors.dtype, device=vectors.device)
    sums.index_add_(0, labels, vectors)
    counts = torch.bincount(labels, minlength=n_classes).to(vectors.dtype)
    present = counts > 0
    return sums / counts.clamp_min(1.0).unsqueeze(-1), present


def prototype_logits(queries: torch.Tensor, prototypes: torch.Tensor, present: torch.Tensor, metric: str) -> torch.Tensor:
    """ProtoBERT: (Q, C) similarity to each class prototype; absent classes get -inf."""
    logits = similarity(queries, prototypes, metric)
    return logits.masked_fill(~present, float("-inf"))


def nearest_neighbour_logits(queries: torch.Tensor, support: torch.Tensor, labels: torch.Tensor, n_classes: int, metric: str) -> torch.Tensor:
    """NNShot: (Q, C) best similarity over each class's support vectors; absent classes get -inf."""
    _check_labels(labels, n_classes, len(support))
    chunk = max(1, _MAX_PAIRWISE // max(1, len(support)))
    parts = [_nearest_chunk(queries[i : i + chunk], support, labels, n_classes, metric) for i in range(0, len(queries), chunk)]
    if not parts:
        return queries.new_empty(0, n_classes)
    return torch.cat(parts)


def _nearest_chunk(queries, support, labels, n_classes, metric):
    pairwise = similarity(queries, support, metric)  # (q, S)
    logits = pairwise.new_full((len(queries), n_classes), float("-inf"))
    index = labels.unsqueeze(0).expand(len(queries), -1)
    return logits.scatter_reduce(1, index, pairwise, reduce="amax", include_self=True)


def _check_labels(labels: torch.Tensor, n_classes: int, n_vectors: int) -> None:
    if labels.dim() != 1 or len(labels) != n_vectors:
        raise ValueError(f"need one label per support vector: {tuple(labels.shape)} labels for {n_vectors} vectors")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError(f"support labels must lie in [0, {n_classes}); got [{int(labels.min())}, {int(labels.max())}]")
