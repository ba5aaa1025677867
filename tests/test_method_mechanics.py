"""Mechanics every method shares, written once in the core: padding, optimiser groups, the hub check
of the backbone loader, and seeded randomness that leaves torch's global RNG alone."""
from __future__ import annotations

import pytest
import torch

from ner_fewshot import backbones
from ner_fewshot.methods.batching import pad_batch
from ner_fewshot.methods.optim import bias_or_norm, decay_everything, parameter_groups
from ner_fewshot.methods.seeding import generator, isolated_rng


def test_pad_batch_right_and_left():
    values, mask = pad_batch([[5, 6, 7], [8]], 0)
    assert values.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    values, mask = pad_batch([[5, 6, 7], [8]], -1, side="left")
    assert values.tolist() == [[5, 6, 7], [-1, -1, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    labels, _ = pad_batch([[1], [2, 3]], -100)
    assert labels.dtype == torch.long and labels.tolist() == [[1, -100], [2, 3]]
    with pytest.raises(ValueError, match="side"):
        pad_batch([[1]], 0, side="middle")


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dense = torch.nn.Linear(2, 2)
        self.LayerNorm = torch.nn.LayerNorm(2)
        self.frozen = torch.nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def test_parameter_groups_follow_the_callers_no_decay_rule():
    model = _Tiny()
    groups = parameter_groups(model.named_parameters(), 0.01, no_decay=bias_or_norm)
    assert [(g["weight_decay"], len(g["params"])) for g in groups] == [(0.01, 1), (0.0, 3)]
    assert groups[0]["params"][0] is model.dense.weight
    everything = parameter_groups(model.named_parameters(), 0.01, no_decay=decay_everything)
    assert [(g["weight_decay"], len(g["params"])) for g in everything] == [(0.01, 4)]  # frozen left out


def test_isolated_rng_is_seeded_inside_and_restores_the_global_state():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    with isolated_rng(7):
        first = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), before)
    with pytest.raises(RuntimeError):
        with isolated_rng(7):
            assert torch.equal(torch.rand(3), first)
            raise RuntimeError("restored even on error")
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(torch.rand(3, generator=generator(7)), first)
    assert torch.equal(torch.get_rng_state(), before)


def test_the_core_loader_uses_the_cache_only_when_the_hub_does_not_answer(tmp_path, monkeypatch):
    """Every method's backbone goes through load_pretrained: offline, a hub id fails fast from the cache."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # a local port nobody listens on
    assert backbones.hub_reachable(2.0) is False
    calls = []

    def loader(name, **kwargs):
        calls.append((name, kwargs))
        return "model"

    assert backbones.load_pretrained(loader, "org/not-a-local-folder") == "model"
    assert calls[-1] == ("org/not-a-local-folder", {"local_files_only": True})
    assert backbones.load_pretrained(loader, str(tmp_path)) == "model"  # a local folder: no probe, no flag
    assert calls[-1] == (str(tmp_path), {})
    monkeypatch.setattr(backbones, "hub_reachable", lambda timeout: True)
    backbones.load_pretrained(loader, "org/not-a-local-folder")
    assert calls[-1] == ("org/not-a-local-folder", {})


def test_hub_offline_setting_skips_the_probe(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert backbones.hub_reachable(5.0) is False
