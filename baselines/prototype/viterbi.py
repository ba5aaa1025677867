"""StructShot's decoder: abstract IO transitions from source tags, expanded to an episode's N types,
and a batched Viterbi search in log space.

Tag indices: 0 = `O`, 1..N = the episode's types (IO tagging as in Few-NERD: a mention is a maximal
run of one type). The seven abstract probabilities are those of the Few-NERD code
(`get_abstract_transitions`, `ViterbiDecoder`): p(O|start), p(I|start), p(O|O), p(I|O), p(O|I),
p(same I|I), p(other I|I). There is no end transition, as in the reference.
"""
from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Iterable, Sequence

import torch

# The reference floors every expanded probability at 1e-6 before the log, so that a transition
# never seen in the source stays possible (just very unlikely).
MIN_PROBABILITY = 1e-6


# Few-NERD README's tau per setting. Its table has only 5-way and 10-way rows; a 5~10-shot episode
# with 6..9 types uses the 5-way value [choice: no interpolation, the README gives none].
TAU_1_2_SHOT = 0.32
TAU_5_10_SHOT_FEW_WAYS = 0.318  # N < 10
TAU_5_10_SHOT_10_WAYS = 0.434  # N >= 10
FIVE_TO_TEN_SHOT_FROM_K = 5


def resolve_tau(setting: str, n_types: int, k_shot: int) -> float:
    """The temperature for one episode: a number given as a string is used as is; 'auto' follows
    the README from N (types in the episode) and K (smallest support mention count of a type;
    K >= 5 means the 5~10-shot row)."""
    if setting != "auto":
        return float(setting)
    if k_shot < FIVE_TO_TEN_SHOT_FROM_K:
        return TAU_1_2_SHOT
    return TAU_5_10_SHOT_10_WAYS if n_types >= 10 else TAU_5_10_SHOT_FEW_WAYS


@dataclass(frozen=True)
class AbstractTransitions:
    """Type-agnostic IO transition probabilities; each group (start / from O / from I) sums to 1."""

    start_o: float
    start_i: float
    o_o: float
    o_i: float
    i_o: float
    i_same: float
    i_other: float

    def as_list(self) -> list[float]:
        return list(astuple(self))

    @classmethod
    def from_list(cls, values: Sequence[float]) -> "AbstractTransitions":
        if len(values) != 7:
            raise ValueError(f"abstract transitions need 7 values (s_o, s_i, o_o, o_i, i_o, i_i, x_y), got {len(values)}")
        return cls(*(float(v) for v in values))

    @classmethod
    def estimate(cls, tag_sequences: Iterable[Sequence[str]]) -> "AbstractTransitions":
        """Count transitions in IO tag sequences ('O' or a type name per word).

        A group with no observation at all (e.g. no word ever follows an entity word) is split
        evenly among its outcomes [choice: the reference would divide by zero].
        """
        s_o = s_i = o_o = o_i = i_o = i_same = i_other = 0
        n_sequences = 0
        for tags in tag_sequences:
            if not tags:
                continue
            n_sequences += 1
            if tags[0] == "O":
                s_o += 1
            else:
                s_i += 1
            for previous, current in zip(tags[:-1], tags[1:]):
                if previous == "O":
                    if current == "O":
                        o_o += 1
                    else:
                        o_i += 1
                elif current == "O":
                    i_o += 1
                elif current == previous:
                    i_same += 1
                else:
                    i_other += 1
        if n_sequences == 0:
            raise ValueError("cannot estimate transitions from no tagged sentences")
        start = _normalise(s_o, s_i)
        from_o = _normalise(o_o, o_i)
        from_i = _normalise(i_o, i_same, i_other)
        return cls(*start, *from_o, *from_i)


def _normalise(*counts: int) -> list[float]:
    total = sum(counts)
    if total == 0:
        return [1.0 / len(counts)] * len(counts)
    return [c / total for c in counts]


def expand_transitions(abstract: AbstractTransitions, n_types: int, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Log start scores (N+1,) and log transition matrix (N+1, N+1) [from, to] for N types.

    Mass going to "some type" is spread evenly: start -> I-X and O -> I-X get /N, I-X -> I-Y
    (Y != X) gets /(N-1). Each row is then raised to the power tau and renormalised, and floored
    at MIN_PROBABILITY, as in the reference.
    """
    if n_types < 1:
        raise ValueError("need at least one entity type")
    if tau <= 0:
        raise ValueError(f"temperature tau must be > 0, got {tau}")
    n = n_types
    a = abstract
    start = torch.empty(n + 1, dtype=torch.float64)
    start[0] = a.start_o
    start[1:] = a.start_i / n
    matrix = torch.empty(n + 1, n + 1, dtype=torch.float64)
    matrix[0, 0] = a.o_o
    matrix[0, 1:] = a.o_i / n
    matrix[1:, 0] = a.i_o
    # With a single type there is no "other" type: that mass vanishes in the renormalisation.
    other = a.i_other / (n - 1) if n > 1 else 0.0
    matrix[1:, 1:] = other
    matrix[1:, 1:].fill_diagonal_(a.i_same)
    start = _temper(start.unsqueeze(0), tau).squeeze(0)
    matrix = _temper(matrix, tau)
    return start.log().float(), matrix.log().float()


def _temper(rows: torch.Tensor, tau: float) -> torch.Tensor:
    powered = rows.pow(tau)
    sums = powered.sum(-1, keepdim=True)
    if bool((sums <= 0).any()):
        raise ValueError("a transition row has no probability mass; check the abstract transitions")
    return (powered / sums).clamp_min(MIN_PROBABILITY)


def viterbi_decode(emissions: torch.Tensor, lengths: torch.Tensor, start: torch.Tensor, transitions: torch.Tensor) -> torch.Tensor:
    """Best tag sequence per sentence.

    emissions: (B, T, C) log scores, padded after each sentence's length; lengths: (B,);
    start: (C,) log scores; transitions: (C, C) log scores [from, to].
    Returns (B, T) tag indices (positions past a sentence's length repeat its last tag).
    The loop runs over positions, each step vectorised over sentences and tag pairs.
    """
    batch, steps, n_tags = emissions.shape
    if steps == 0:
        return torch.zeros(batch, 0, dtype=torch.long, device=emissions.device)
    lengths = lengths.to(emissions.device)
    if bool((lengths < 1).any()) or bool((lengths > steps).any()):
        raise ValueError(f"lengths must lie in [1, {steps}]")
    score = start.unsqueeze(0) + emissions[:, 0]  # (B, C)
    identity = torch.arange(n_tags, device=emissions.device).expand(batch, n_tags)
    backpointers = []
    for t in range(1, steps):
        candidates = score.unsqueeze(2) + transitions.unsqueeze(0)  # (B, from, to)
        best, previous = candidates.max(dim=1)
        active = (lengths > t).unsqueeze(1)
        score = torch.where(active, best + emissions[:, t], score)
        # Past a sentence's end the path stays put, so backtracking passes through unchanged.
        backpointers.append(torch.where(active, previous, identity))
    tags = torch.empty(batch, steps, dtype=torch.long, device=emissions.device)
    tags[:, -1] = score.argmax(dim=1)
    for t in range(steps - 1, 0, -1):
        tags[:, t - 1] = backpointers[t - 1].gather(1, tags[:, t : t + 1]).squeeze(1)
    return tags


def sequence_score(emissions: torch.Tensor, tags: Sequence[int], start: torch.Tensor, transitions: torch.Tensor) -> float:
    """Log score of one tag sequence for one sentence's (T, C) emissions (tests, diagnostics)."""
    total = start[tags[0]] + emissions[0, tags[0]]
    for t in range(1, len(tags)):
        total = total + transitions[tags[t - 1], tags[t]] + emissions[t, tags[t]]
    return float(total)
