"""CLLMFS end to end with the packaged SmolLM2-135M on real CoNLL-2003 sentences (a few steps only)."""
from __future__ import annotations

import pytest

from cllmfs_tiny import one_torch_thread
from ner_fewshot.cllmfs.config import CLLMFSConfig
from ner_fewshot.cllmfs.method import CLLMFS
from ner_fewshot.data.conll import read_conll
from ner_fewshot.data.types import EntityType, LabelSet
from ner_fewshot.episodes import sample_kshot

LABELS = LabelSet((EntityType("person", ("person",), "names of people"),
                   EntityType("location", ("location",), "names of places")))


def test_fit_and_predict_end_to_end_with_smollm2(smollm2_path, shared_data):
    folder = shared_data / "crossner" / "conll2003"
    pool = read_conll(folder / "train.txt").sentences[:400]
    test = read_conll(folder / "test.txt").sentences[:200]
    episode = sample_kshot(pool, test, LABELS, k_shot=5, n_episodes=1, seed=0, query_size=3).episodes[0]
    config = CLLMFSConfig(device="cpu", max_steps=2, batch_size=2, generation_batch_size=6, max_new_tokens=16,
                          adversarial=False)  # FGM is covered on the tiny model; keep this run short
    method = CLLMFS(config)
    with one_torch_thread():
        method.prepare()
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
