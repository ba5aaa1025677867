"""CLLMFS recipe options: empty-answer sampling, the step budget, length-bucketed batches, presets."""
from __future__ import annotations

import math

import pytest
import torch

from cllmfs_tiny import LABEL_SET, SUPPORT, one_torch_thread, tiny_config, tiny_method
from ner_fewshot.cllmfs.config import PAPER_RECIPE, CLLMFSConfig
from ner_fewshot.cllmfs.prompts import EncodedExample, EncodedPrompt
from ner_fewshot.cllmfs.training import epoch_examples, length_bucketed_batches, planned_steps, training_batches
from ner_fewshot.data.types import Span


def example(length: int, positive: bool) -> EncodedExample:
    prompt = EncodedPrompt(tuple(range(length)), (), ((0, 1),), length)
    spans = (Span(0, 1, "PER"),) if positive else ()
    return EncodedExample(prompt, tuple(range(length + 2)), (False,) * length + (True, True), spans)


EXAMPLES = [example(10 + i, positive=i % 5 == 0) for i in range(40)]  # 8 positives, 32 empty answers


def test_each_pass_keeps_every_positive_and_draws_ratio_times_as_many_empty_answers_afresh():
    generator = torch.Generator().manual_seed(0)
    passes = [epoch_examples(EXAMPLES, 0.5, generator) for _ in range(3)]
    positives = {i for i, e in enumerate(EXAMPLES) if e.spans}
    for chosen in passes:
        assert positives <= set(chosen) and len(chosen) == len(set(chosen)) == 8 + 4
    assert len({tuple(p) for p in passes}) > 1  # resampled each pass
    assert len(epoch_examples(EXAMPLES, None, generator)) == 40  # None: all of them (the paper's data)
    assert len(epoch_examples(EXAMPLES, 100.0, generator)) == 40  # never more than there are
    assert sorted(epoch_examples(EXAMPLES, 0.0, generator)) == sorted(positives)
    only_empty = [example(10, False) for _ in range(5)]
    assert len(epoch_examples(only_empty, 0.5, generator)) == 5  # nothing to balance against: keep them


def test_batches_cover_the_pass_once_and_group_similar_lengths():
    lengths = [len(e.ids) for e in EXAMPLES]
    batches = length_bucketed_batches(list(range(40)), lengths, 4, torch.Generator().manual_seed(1))
    assert sorted(i for b in batches for i in b) == list(range(40))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    random_batches = [list(range(40))[i::10] for i in range(10)]  # spread-out lengths: worst case
    assert padded < sum(len(b) * max(lengths[i] for i in b) for b in random_batches)


def test_the_step_budget_is_exact_and_cycles_passes():
    config = CLLMFSConfig(train_steps=7, batch_size=4, negative_ratio=0.5)
    batches = list(training_batches(EXAMPLES, config, torch.Generator().manual_seed(0)))
    assert len(batches) == 7 == planned_steps(EXAMPLES, config)  # 3 batches per pass of 12: passes repeat
    by_epochs = CLLMFSConfig(train_steps=None, epochs=2, batch_size=4, negative_ratio=0.5)
    assert len(list(training_batches(EXAMPLES, by_epochs, torch.Generator().manual_seed(0)))) == 6
    assert planned_steps(EXAMPLES, by_epochs) == 6


def test_same_seed_same_training_and_fit_runs_the_budget():
    def losses():
        method = tiny_method(train_steps=5, negative_ratio=0.5, epochs=1)
        with one_torch_thread():
            method.fit(SUPPORT, LABEL_SET)
        return method.training_log
    first, second = losses(), losses()
    assert len(first.losses) == 5 and first.losses == second.losses
    assert sum(first.positives) == sum(second.positives) > 0


def test_paper_preset_takes_the_paper_values_unless_an_option_says_otherwise():
    paper = CLLMFSConfig(preset="paper")
    for name, value in PAPER_RECIPE.items():
        assert getattr(paper, name) == value, name
    assert CLLMFSConfig(preset="paper", learning_rate=1e-4).learning_rate == 1e-4
    assert CLLMFSConfig.from_dict(paper.to_dict()) == paper  # stable round trip (results store full configs)
    small = CLLMFSConfig()
    assert small.preset == "small" and small.negative_ratio is not None and small.train_steps is not None
    with pytest.raises(ValueError, match="preset"):
        CLLMFSConfig(preset="huge")
    with pytest.raises(ValueError, match="negative_ratio"):
        CLLMFSConfig(negative_ratio=-1.0)
    with pytest.raises(ValueError, match="train_steps"):
        CLLMFSConfig(train_steps=0)


def test_diagnostics_report_the_first_decision_and_warn_when_nothing_opens():
    method = tiny_method(train_steps=1)
    with one_torch_thread():
        method.fit(SUPPORT, LABEL_SET)
        method.predict(SUPPORT)
    facts = method.episode_diagnostics()
    generation = facts["generation"]
    assert facts["train_steps"] == 1 and generation["prompts"] == len(SUPPORT) * len(LABEL_SET)
    assert 0.0 <= generation["first_open_rate"] <= 1.0 and 0.0 < generation["mean_first_open_probability"] < 1.0
    assert ("warnings" in facts) == (generation["answer_rate"] == 0.0)
    method.generation_stats.answered = 0  # as an all-empty model would report
    assert "no entity predicted" in method.episode_diagnostics()["warnings"][0]
