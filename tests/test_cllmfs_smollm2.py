"""CLLMFS end to end with the packaged SmolLM2-135M on real CoNLL-2003 sentences."""
from __future__ import annotations

import dataclasses

import pytest

from cllmfs_tiny import one_torch_thread
from ner_fewshot.cllmfs.config import CLLMFSConfig
from ner_fewshot.cllmfs.method import CLLMFS
from ner_fewshot.data.conll import read_conll
from ner_fewshot.data.types import EntityType, LabelSet
from ner_fewshot.episodes import sample_kshot
from ner_fewshot.evaluation import score_episode

LABELS = LabelSet((EntityType("person", ("person",), "names of people"),
                   EntityType("location", ("location",), "names of places")))


@pytest.fixture(scope="module")
def conll(shared_data):
    folder = shared_data / "crossner" / "conll2003"
    return read_conll(folder / "train.txt").sentences[:400], read_conll(folder / "test.txt").sentences[:200]


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    """The packaged model and tokenizer, loaded once for this module (each test attaches fresh adapters)."""
    with one_torch_thread():
        method = CLLMFS(CLLMFSConfig(device="cpu"))
        method.prepare()
    return method.base_model, method.tokenizer


def attached(smollm2, **options) -> CLLMFS:
    method = CLLMFS(CLLMFSConfig(device="cpu", **options))
    method.attach(*smollm2)
    return method


def test_fit_and_predict_end_to_end_with_smollm2(smollm2, conll):
    pool, test = conll
    episode = sample_kshot(pool, test, LABELS, k_shot=5, n_episodes=1, seed=0, query_size=3).episodes[0]
    method = attached(smollm2, train_steps=2, batch_size=2, generation_batch_size=6, max_new_tokens=16)
    with one_torch_thread():
        method.fit(episode.support, episode.label_set)
        predictions = method.predict(episode.query)
    assert len(method.training_log.losses) == 2 and all(loss > 0 for loss in method.training_log.losses)
    assert len(predictions) == len(episode.query)
    for sentence, spans in zip(episode.query, predictions):
        for span in spans:
            assert 0 <= span.start < span.end <= len(sentence) and span.label in LABELS
        assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))
    assert method.unmatched_strings == 0  # constrained decoding only produces input word sequences
    assert method.generation_stats.prompts == 2 * len(episode.query)
    counts = method.parameter_counts()
    assert counts.trainable == 30 * 32 * (2 * 1152 + 2 * 768 + 3 * 2112)  # SmolLM2: 30 layers, LoRA r=32


def test_smollm2_memorises_its_own_support_entities_constrained_and_free(smollm2, conll):
    """The defaults' recipe must be able to learn at all: after fit, the support's own entities come back."""
    pool, _ = conll
    support = [s for s in pool if 6 <= len(s) <= 14 and s.labels and s.labels <= {"person", "location"}][:3]
    assert len(support) == 3 and sum(len(s.spans) for s in support) >= 3
    method = attached(smollm2, negative_ratio=None)  # the default budget, every example
    method.fit(support, LABELS)  # the session's threads (2): the suite's costliest test
    constrained = method.predict(support)
    method.config = dataclasses.replace(method.config, constrained=False)
    free = method.predict(support)
    gold = [list(s.spans) for s in support]
    for predictions in (constrained, free):
        assert any(predictions), "every answer was empty"
        assert score_episode(gold, predictions).f1 > 0.8, (gold, predictions)
    assert method.training_log.losses[-1] < method.training_log.losses[0]
