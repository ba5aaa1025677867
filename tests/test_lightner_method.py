"""LightNER as a FewShotMethod: frozen backbone, trainable parameters, learning, save/load, offline failure."""
from __future__ import annotations

import time

import pytest
import torch

from baselines.lightner.backbone import parameter_counts_for
from baselines.lightner.method import LightNER, LightNERConfig
from baselines.lightner.prompts import PromptShape, trainable_prompt_count
from ner_fewshot.data.types import Dataset, EntityType, LabelSet
from ner_fewshot.methods import registry
from ner_fewshot.methods.base import MethodUnavailable
from test_lightner_support import one_thread, LABEL_SET, SUPPORT, sentence, tiny_checkpoint  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


def make(folder, **options) -> LightNER:
    values = dict(backbone=str(folder), device="cpu", prompt_len=4, prompt_mid_dim=24, epochs=2, batch_size=4,
                  learning_rate=1e-3, dropout=0.0)
    values.update(options)
    method = LightNER(LightNERConfig(**values))
    method.prepare()
    return method


@pytest.fixture(scope="module")
def learnt(tiny_checkpoint):
    """A method trained long enough on the support set to reproduce it (shared by several tests)."""
    method = make(tiny_checkpoint, epochs=400, learning_rate=1e-2, prompt_len=16, prompt_mid_dim=128)
    frozen = {name: tensor.clone() for name, tensor in method.model.bart.state_dict().items()}
    method.fit(SUPPORT, LABEL_SET)
    return method, frozen


def test_entry_point_finds_the_method():
    assert registry.get_method_class("lightner") is LightNER


def test_training_drives_loss_down_and_recovers_the_support_spans(learnt):
    method, _ = learnt
    losses = method.last_losses
    assert losses[-1] < 0.05 * losses[0]
    predictions = method.predict(SUPPORT)
    assert predictions == [sorted(s.spans) for s in SUPPORT]


def test_backbone_is_bit_identical_after_training(learnt):
    method, frozen = learnt
    after = method.model.bart.state_dict()
    assert set(after) == set(frozen)
    assert all(torch.equal(after[name], frozen[name]) for name in frozen)
    assert not any(p.requires_grad for p in method.model.bart.parameters())


def test_only_prompts_and_label_weights_get_gradients(tiny_checkpoint):
    method = make(tiny_checkpoint, epochs=0)
    method.fit(SUPPORT, LABEL_SET)  # zero epochs: just builds the episode's answer space
    model = method.model
    model.train()
    from baselines.lightner.training import pad_sources, pad_targets
    from baselines.lightner.targets import encode_target

    index = {n: i for i, n in enumerate(LABEL_SET.names)}
    sources = [method.encoder.encode(s) for s in SUPPORT]
    ids, mask = pad_sources(sources, method.pad_id, "cpu")
    targets = pad_targets([encode_target(src, s.spans, index) for src, s in zip(sources, SUPPORT)], "cpu")
    model.loss(ids, mask, targets).backward()
    with_grad = {name for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    expected = {name for name, p in model.named_parameters() if name.startswith(("prompts.", "answer_space."))}
    assert with_grad == expected
    assert all(p.grad is None for p in model.bart.parameters())


def test_trainable_count_equals_the_formula(tiny_checkpoint):
    method = make(tiny_checkpoint, epochs=0)
    with_city = LabelSet((*LABEL_SET.types, EntityType("CITY", ("city",), "a city")))  # "city": one sub-word
    method.fit(SUPPORT, with_city)
    assert [len(ids) for ids in method.model.answer_space.sub_words] == [3, 2, 3, 1]
    config = method.model.bart.config
    d, mid, P = config.d_model, 24, 4
    layers = {"encoder_self": config.encoder_layers, "decoder_self": config.decoder_layers,
              "decoder_cross": config.decoder_layers}
    prompts = sum(P * d + (d + 1) * mid + (mid + 1) * n * 2 * d for n in layers.values())
    # One softmax weight per sub-word of each label word list, only for labels with more than one sub-word
    # (the reference's rule: a one-element softmax is constant).
    sub_words = method.model.answer_space.sub_words
    label_weights = sum(len(ids) for ids in sub_words if len(ids) > 1)
    counts = method.parameter_counts()
    measured = sum(p.numel() for p in method.model.parameters() if p.requires_grad)
    assert label_weights == 8 and counts.trainable == measured == prompts + label_weights
    assert counts.total == sum(p.numel() for p in method.model.bart.parameters()) + counts.trainable
    assert f"{3 * config.encoder_layers * 2 * P * d:,}" in counts.notes


def test_freezing_label_weights_as_the_reference_code_keeps_their_init_and_is_labelled(tiny_checkpoint):
    method = make(tiny_checkpoint, epochs=1, freeze_label_weights=True)
    method.fit(SUPPORT, LABEL_SET)
    assert method.model.answer_space.trainable_count() == 0
    assert method.row_tags()["label weights"] == "frozen at init (reference code)"
    trained = make(tiny_checkpoint, epochs=0)
    trained.fit(SUPPORT, LABEL_SET)
    assert trained.model.answer_space.trainable_count() > 0
    assert trained.row_tags()["label weights"].startswith("trained (paper")
    average = make(tiny_checkpoint, epochs=1, answer_space="average")
    average.fit(SUPPORT, LABEL_SET)
    assert average.model.answer_space.trainable_count() == 0
    assert average.predict(SUPPORT[:1])  # runs end to end


def test_bart_large_folded_count_from_config_alone():
    from transformers import BartConfig

    large = BartConfig(d_model=1024, encoder_layers=12, decoder_layers=12, encoder_attention_heads=16,
                       decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096, vocab_size=50265)
    assert PromptShape.from_bart_config(large).folded_count(10) == 737_280
    counts = parameter_counts_for(large, 10, 800)
    assert counts.trainable == trainable_prompt_count(PromptShape.from_bart_config(large), 10, 800)
    assert counts.total - counts.trainable == 406_291_456  # facebook/bart-large's published size
    # CoNLL's label words (person, location, organization, others) are one BART sub-word each: no
    # answer-space weight, so these are the whole trainable counts (docs/methods/lightner.md).
    assert counts.trainable == 61_546_848
    base = BartConfig(d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
                      decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072, vocab_size=50265)
    base_counts = parameter_counts_for(base, 10, 800)
    assert (base_counts.trainable, base_counts.total - base_counts.trainable) == (24_014_688, 139_420_416)


def test_fit_resets_every_episode(tiny_checkpoint):
    method = make(tiny_checkpoint, epochs=3)
    method.fit(SUPPORT[:2], LABEL_SET)
    first = [p.detach().clone() for p in method.model.prompts.parameters()]
    first_predictions = method.predict(SUPPORT)
    other = LabelSet((LABEL_SET["LOC"],))
    method.fit([s.restricted_to(["LOC"]) for s in SUPPORT[2:]], other)  # a different episode in between
    method.fit(SUPPORT[:2], LABEL_SET)
    assert all(torch.equal(a, b) for a, b in zip(first, method.model.prompts.parameters()))
    assert method.predict(SUPPORT) == first_predictions


def test_saved_prompts_reload_to_identical_predictions(learnt, tiny_checkpoint, tmp_path):
    method, _ = learnt
    method.save(tmp_path / "run")
    expected = method.predict(SUPPORT)
    fresh = make(tiny_checkpoint, prompt_len=16, prompt_mid_dim=128)
    fresh.load(tmp_path / "run")
    assert fresh.predict(SUPPORT) == expected
    fresh_scores = fresh.model.greedy_decode(*_batch(fresh, SUPPORT), [20] * len(SUPPORT))
    assert fresh_scores == method.model.greedy_decode(*_batch(method, SUPPORT), [20] * len(SUPPORT))
    mismatched = make(tiny_checkpoint, prompt_len=3, prompt_mid_dim=128)
    with pytest.raises(ValueError, match="prompt_len"):
        mismatched.load(tmp_path / "run")


def _batch(method, sentences):
    from baselines.lightner.training import pad_sources

    return pad_sources([method.encoder.encode(s) for s in sentences], method.pad_id, "cpu")


def test_transfer_keeps_shared_label_weights_and_starts_from_source_prompts(tiny_checkpoint, tmp_path):
    source = Dataset("toy-source", {"train": tuple(SUPPORT)}, LABEL_SET)
    method = make(tiny_checkpoint, epochs=2)
    method.train_source(source)
    source_prompts = [p.detach().clone() for p in method.model.prompts.parameters()]
    source_weights = method.model.answer_space.inheritable()
    method.save(tmp_path / "source")

    target_types = LabelSet((LABEL_SET["PER"], EntityType("CITY", ("city", "name"), "a city")))
    target = make(tiny_checkpoint, epochs=0, transfer_from=str(tmp_path / "source"))
    target.fit([sentence("Paris Lionel", (0, 1, "CITY"), (1, 2, "PER"))], target_types)
    assert all(torch.equal(a, b) for a, b in zip(source_prompts, target.model.prompts.parameters()))
    space = target.model.answer_space
    weights = {name: space.label_weight(i) for i, name in enumerate(space.names)}
    assert torch.equal(weights["PER"].detach(), source_weights["PER"][1])  # "person": 3 sub-words here
    assert weights["CITY"].numel() == len(target.encoder.word_ids("city") + target.encoder.word_ids("name"))
    assert "transfer" in target.row_tags()


def test_authors_protocol_drops_entity_free_support_and_is_labelled(tiny_checkpoint):
    method = make(tiny_checkpoint, epochs=1, protocol="authors")
    assert len(method._examples([*SUPPORT, sentence("nothing here")], LABEL_SET)) == len(SUPPORT)
    assert "authors" in method.row_tags()["protocol"]
    ours = make(tiny_checkpoint, epochs=1)
    assert len(ours._examples([*SUPPORT, sentence("nothing here")], LABEL_SET)) == len(SUPPORT) + 1
    assert "protocol" not in ours.row_tags()


def test_epoch_selection_keeps_the_best_epoch(tiny_checkpoint):
    method = make(tiny_checkpoint, epochs=3, protocol="authors")
    assert "fixed epochs" in method.row_tags()["protocol"]
    seen, states = [], []

    def score(sentences, predictions):
        seen.append(len(seen))
        states.append([p.detach().clone() for p in method.model.prompts.parameters()])
        return [0.2, 0.9, 0.1][len(seen) - 1]

    best = method.fit_selecting(SUPPORT[:2], LABEL_SET, SUPPORT[2:], score)
    assert best == 1 and len(seen) == 3
    assert all(torch.equal(a, b) for a, b in zip(states[1], method.model.prompts.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(states[2], method.model.prompts.parameters()))
    assert "best epoch on test" in method.row_tags()["protocol"]


def test_offline_prepare_fails_fast_naming_the_option(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home-for-test")
    method = LightNER(LightNERConfig(backbone="facebook/bart-base-not-cached", device="cpu"))
    started = time.monotonic()
    with pytest.raises(MethodUnavailable) as error:
        method.prepare()
    assert "`backbone`" in str(error.value) and "facebook/bart-base-not-cached" in str(error.value)
    assert time.monotonic() - started < 60  # generous: the point is "no network hang"


def test_unreachable_hub_falls_back_to_the_local_cache_quickly(monkeypatch):
    """Without HF_HUB_OFFLINE: the core loader's short probe decides (tests/test_method_mechanics.py)."""
    from ner_fewshot import backbones

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    probes = []
    monkeypatch.setattr(backbones, "hub_reachable", lambda timeout: probes.append(timeout) or False)
    with pytest.raises(MethodUnavailable, match="backbone"):
        LightNER(LightNERConfig(backbone="facebook/bart-base-not-cached", device="cpu", hub_timeout=1.5)).prepare()
    assert probes and set(probes) == {1.5}
