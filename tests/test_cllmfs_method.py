"""CLLMFS as a FewShotMethod on a tiny Llama: training, episode isolation, persistence, reporting."""
from __future__ import annotations

import pytest
import torch

from cllmfs_tiny import LABEL_SET, SUPPORT, one_torch_thread, tiny_config, tiny_llama, tiny_method, tiny_tokenizer
from ner_fewshot.cllmfs.config import CLLMFSConfig
from ner_fewshot.cllmfs.method import CLLMFS
from ner_fewshot.data.types import Sentence
from ner_fewshot.methods.registry import create_method

QUERIES = [Sentence(("Mary", "met", "John", "Smith", "in", "New", "York", ".")),
           Sentence(("The", "United", "Nations", "met", "in", "Geneva", "."))]


@pytest.fixture(autouse=True)
def _single_thread():
    with one_torch_thread():
        yield


def lora_state(method) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in method.model.named_parameters() if "lora_" in n}


def test_short_fit_lowers_the_loss_with_all_three_additions_on():
    method = tiny_method(epochs=10, batch_size=3, contrastive=True, adversarial=True)
    method.fit(SUPPORT, LABEL_SET)
    log = method.training_log
    assert len(log.losses) == 10 * 3  # 9 (sentence, type) examples in batches of 3
    assert any(c > 0 for c in log.contrastive)  # batches with only empty-type examples have no positive
    assert all(a > 0 for a in log.adversarial)
    first, last = sum(log.ce[:3]) / 3, sum(log.ce[-3:]) / 3
    assert last < 0.7 * first, (first, last)
    assert log.tokens > 0 and log.tokens_per_second > 0


def test_every_fit_starts_from_the_same_fresh_adapters_and_the_base_stays_untouched():
    method = tiny_method(epochs=2)
    base_before = {n: p.detach().clone() for n, p in method.base_model.named_parameters()}
    method.fit(SUPPORT, LABEL_SET)
    first = lora_state(method)
    method.predict(QUERIES)  # merges LoRA for decoding, then restores the base
    method.fit(SUPPORT[:1], LABEL_SET)  # a different episode in between
    method.fit(SUPPORT, LABEL_SET)
    again = lora_state(method)
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)
    base_after = {n.replace("base_model.model.", "").replace(".base_layer", ""): p
                  for n, p in method.model.named_parameters() if "lora_" not in n}
    assert all(torch.equal(base_before[n], base_after[n]) for n in base_before)


def test_saved_adapters_reload_to_identical_output(tmp_path):
    method = tiny_method(epochs=3)
    method.fit(SUPPORT, LABEL_SET)
    expected = method.predict(QUERIES)
    probe = torch.tensor([method.encoder.encode_prompt(QUERIES[0].words, LABEL_SET.types[0], "x").ids])
    expected_logits = method.model(input_ids=probe).logits
    method.save(tmp_path)
    assert (tmp_path / "adapter" / "adapter_config.json").exists()  # peft's own format

    tokenizer = tiny_tokenizer()
    reloaded = CLLMFS(tiny_config(epochs=3))
    reloaded.attach(tiny_llama(tokenizer), tokenizer)  # same seed -> same base weights
    reloaded.load(tmp_path)
    assert reloaded.label_set == LABEL_SET
    assert torch.equal(reloaded.model(input_ids=probe).logits, expected_logits)
    assert reloaded.predict(QUERIES) == expected

    other = CLLMFS(tiny_config(backbone="another-model"))
    with pytest.raises(ValueError, match="backbone"):
        other.load(tmp_path)


def test_parameter_counts_are_the_lora_weights():
    method = tiny_method(lora_rank=4)
    counts = method.parameter_counts()
    # per layer: r * (in + out) for q(32->32) k(32->16) v(32->16) o(32->32) gate(32->64) up(32->64) down(64->32)
    per_layer = 4 * ((32 + 32) + (32 + 16) * 2 + (32 + 32) + (32 + 64) * 3)
    assert counts.trainable == 3 * per_layer
    assert counts.total == sum(p.numel() for p in method.base_model.parameters())  # base + LoRA, LoRA included
    assert counts.total > counts.trainable


def test_registry_config_and_row_tags():
    method = create_method("cllmfs", {"contrastive": False, "constrained": False})
    assert isinstance(method, CLLMFS) and method.describe_backbone() == "SmolLM2-135M-Instruct"
    tags = method.row_tags()
    assert {k: tags[k] for k in ("contrastive", "adversarial", "decoding")} == {
        "contrastive": "off", "adversarial": "off", "decoding": "free"}
    assert tags["recipe"].startswith("small: lr 0.002, LoRA r32/a16, 40 steps x 4, empty answers 0.25/positive")
    assert create_method("cllmfs", {"preset": "paper"}).row_tags()["recipe"].startswith("paper: lr 0.0003")
    defaults = CLLMFSConfig()
    assert (defaults.lora_rank, defaults.lora_alpha, defaults.lora_dropout, defaults.learning_rate) == (32, 16, 0.05, 2e-3)
    assert all(help_text for _, _, _, help_text in CLLMFSConfig.describe())
    with pytest.raises(ValueError, match="no option"):
        create_method("cllmfs", {"lora_rnak": 8})
    with pytest.raises(ValueError, match="loss_on"):
        CLLMFSConfig(loss_on="prompt")


def test_predict_before_fit_and_bad_lora_targets_are_clear_errors():
    method = tiny_method()
    with pytest.raises(RuntimeError, match="before fit"):
        method.predict(QUERIES)
    bad = tiny_method(lora_targets=("query", "value"))
    with pytest.raises(ValueError, match="lora_targets"):
        bad.fit(SUPPORT, LABEL_SET)


def test_a_backbone_that_cannot_load_is_method_unavailable_with_a_fix(tmp_path):
    from ner_fewshot.methods.base import MethodUnavailable

    method = CLLMFS(CLLMFSConfig(backbone=str(tmp_path), device="cpu"))  # a folder with no model in it
    with pytest.raises(MethodUnavailable, match="backbone"):
        method.prepare()
    with pytest.raises(FileNotFoundError, match="cllmfs.json"):
        tiny_method().load(tmp_path)
