"""Loading the frozen BART (failing fast offline) and counting parameters from a config alone."""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import torch

from ner_fewshot import backbones
from ner_fewshot.methods.base import MethodUnavailable, ParameterCounts

from .prompts import PromptShape, trainable_prompt_count


def hub_reachable(timeout: float) -> bool:
    """True when the model hub answers a TCP connection within `timeout` seconds (and is not disabled)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or os.environ.get(
            "TRANSFORMERS_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    result = {"ok": False}

    def probe() -> None:  # in a thread: name resolution ignores socket timeouts
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result["ok"] = True
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return result["ok"]


def load_bart(name_or_path: str, *, device, dtype, hub_timeout: float = 3.0):
    """(BartForConditionalGeneration, tokenizer), all weights frozen. A hub id with no reachable hub is
    looked up in the local cache only, so that an offline run fails in seconds, not minutes."""
    from transformers import AutoTokenizer, BartForConditionalGeneration

    kwargs = {}
    if not Path(name_or_path).expanduser().exists() and not name_or_path.startswith("packaged:"):
        if not hub_reachable(hub_timeout):
            kwargs["local_files_only"] = True
    tokenizer = backbones.load_pretrained(AutoTokenizer.from_pretrained, name_or_path, **kwargs)
    bart = backbones.load_pretrained(BartForConditionalGeneration.from_pretrained, name_or_path, dtype=dtype, **kwargs)
    if not isinstance(bart, BartForConditionalGeneration):
        raise MethodUnavailable(f"backbone {name_or_path!r} is not a BART checkpoint; set the `backbone` option to one")
    bart.requires_grad_(False)
    return bart.to(device).eval(), tokenizer


def backbone_parameter_count(bart_config) -> int:
    """BartForConditionalGeneration's parameter count from its config (built on the meta device: no memory)."""
    from transformers import BartForConditionalGeneration

    with torch.device("meta"):
        model = BartForConditionalGeneration(bart_config)
    return sum(p.numel() for p in model.parameters())


def parameter_counts_for(bart_config, prompt_len: int, mid_dim: int, answer_weights: int = 0) -> ParameterCounts:
    """Trainable = three prompt sets with their MLPs + answer-space weights (one per sub-word of each label
    with more than one sub-word; a one-sub-word label has none); total adds the frozen BART."""
    shape = PromptShape.from_bart_config(bart_config)
    trainable = trainable_prompt_count(shape, prompt_len, mid_dim) + answer_weights
    frozen = backbone_parameter_count(bart_config)
    folded = shape.folded_count(prompt_len)
    return ParameterCounts(
        trainable=trainable,
        total=frozen + trainable,
        notes=(f"folded K/V prompts: {folded:,} ({100 * folded / frozen:.3f}% of the {frozen:,} frozen BART "
               f"parameters); trainable = prompt sets with their MLPs + {answer_weights:,} answer-space weights "
               f"(labels with several sub-words only)"),
    )
