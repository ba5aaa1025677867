"""StructShot's decoder: transition estimation, expansion to N types, Viterbi = brute force."""
from __future__ import annotations

import itertools

import pytest
import torch

from baselines.prototype.viterbi import (
    MIN_PROBABILITY,
    AbstractTransitions,
    expand_transitions,
    resolve_tau,
    sequence_score,
    viterbi_decode,
)

# Hand-counted: 3 starts (2 O, 1 I); O->O 3, O->I 3; I->O 2, I->same 4, I->other 1.
CORPUS = [
    ["O", "person", "person", "O", "location"],             # s:O | O->I, I=I, I->O, O->I
    ["person", "person", "location", "O", "O"],              # s:I | I=I, I->other, I->O, O->O
    ["O", "O", "O", "misc", "misc", "misc"],                 # s:O | O->O, O->O, O->I, I=I, I=I
]


def test_estimate_matches_hand_counts():
    t = AbstractTransitions.estimate(CORPUS)
    assert t.start_o == pytest.approx(2 / 3) and t.start_i == pytest.approx(1 / 3)
    assert t.o_o == pytest.approx(3 / 6) and t.o_i == pytest.approx(3 / 6)
    assert (t.i_o, t.i_same, t.i_other) == pytest.approx((2 / 7, 4 / 7, 1 / 7))


def test_estimate_splits_an_unobserved_group_evenly_and_rejects_no_data():
    t = AbstractTransitions.estimate([["O", "O"]])  # no entity word at all
    assert (t.i_o, t.i_same, t.i_other) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    with pytest.raises(ValueError, match="no tagged sentences"):
        AbstractTransitions.estimate([])


def test_expansion_spreads_mass_over_types_then_tempers_rows():
    abstract = AbstractTransitions(0.6, 0.4, 0.7, 0.3, 0.5, 0.3, 0.2)
    start, matrix = expand_transitions(abstract, 3, tau=1.0)
    p_start, p = start.exp(), matrix.exp()
    # tau = 1: plain spreading (start -> I-X and O -> I-X over N, I-X -> I-Y over N-1).
    assert p_start.tolist() == pytest.approx([0.6, 0.4 / 3, 0.4 / 3, 0.4 / 3], rel=1e-5)
    assert p[0].tolist() == pytest.approx([0.7, 0.1, 0.1, 0.1], rel=1e-5)
    assert p[2].tolist() == pytest.approx([0.5, 0.1, 0.3, 0.1], rel=1e-5)
    # tau = 0.32: each row is powered and renormalised.
    _, tempered = expand_transitions(abstract, 3, tau=0.32)
    row = torch.tensor([0.5, 0.1, 0.3, 0.1], dtype=torch.float64) ** 0.32
    assert tempered.exp()[2].tolist() == pytest.approx((row / row.sum()).tolist(), rel=1e-5)
    assert torch.allclose(tempered.exp().sum(-1), torch.ones(4), atol=1e-5)


def test_expansion_with_one_type_and_unseen_transitions():
    start, matrix = expand_transitions(AbstractTransitions(1.0, 0.0, 1.0, 0.0, 0.5, 0.4, 0.1), 1, tau=0.32)
    assert matrix.shape == (2, 2) and torch.isfinite(matrix).all() and torch.isfinite(start).all()
    # An unseen transition is floored, never impossible.
    assert start.exp()[1].item() == pytest.approx(MIN_PROBABILITY, rel=1e-3)
    with pytest.raises(ValueError, match="tau"):
        expand_transitions(AbstractTransitions(0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.4), 2, tau=0.0)


def _brute_force_best(emissions, start, transitions):
    steps, n_tags = emissions.shape
    return max(sequence_score(emissions, tags, start, transitions) for tags in itertools.product(range(n_tags), repeat=steps))


@pytest.mark.parametrize("seed", range(12))
def test_viterbi_equals_brute_force_on_a_padded_batch(seed):
    generator = torch.Generator().manual_seed(seed)
    n_tags = 2 + seed % 3
    lengths = [1 + (seed + i) % 5 for i in range(4)]
    emissions = torch.randn(4, max(lengths), n_tags, generator=generator) * 2
    start = torch.log_softmax(torch.randn(n_tags, generator=generator), -1)
    transitions = torch.log_softmax(torch.randn(n_tags, n_tags, generator=generator), -1)
    tags = viterbi_decode(emissions, torch.tensor(lengths), start, transitions)
    for i, n in enumerate(lengths):
        path = tags[i, :n].tolist()
        found = sequence_score(emissions[i, :n], path, start, transitions)
        assert found == pytest.approx(_brute_force_best(emissions[i, :n], start, transitions), abs=1e-4)


def test_viterbi_survives_an_impossible_class():
    # O absent from a tiny support set: its emission is -inf everywhere.
    emissions = torch.log_softmax(torch.tensor([[[float("-inf"), 1.0, 0.0], [float("-inf"), 0.0, 2.0]]]), -1)
    start, transitions = expand_transitions(AbstractTransitions(0.5, 0.5, 0.5, 0.5, 0.3, 0.4, 0.3), 2, 0.32)
    assert viterbi_decode(emissions, torch.tensor([2]), start, transitions)[0].tolist() == [1, 2]


@pytest.mark.parametrize("n_types, k_shot, expected", [
    (5, 1, 0.32), (10, 2, 0.32), (5, 4, 0.32), (5, 0, 0.32),  # 1~2-shot row (K < 5), any N
    (5, 5, 0.318), (5, 10, 0.318), (3, 7, 0.318),  # 5~10 shot, N <= 5
    (6, 5, 0.318), (9, 8, 0.318),  # 5~10 shot, N 6..9: the 5-way value (documented choice)
    (10, 5, 0.434), (12, 6, 0.434),  # 5~10 shot, N >= 10
])
def test_auto_tau_follows_the_fewnerd_readme_table(n_types, k_shot, expected):
    assert resolve_tau("auto", n_types, k_shot) == expected


def test_a_numeric_tau_overrides_the_table():
    assert resolve_tau("0.5", 10, 5) == 0.5 and resolve_tau("0.32", 5, 5) == 0.32
