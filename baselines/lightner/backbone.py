"""Loading the frozen BART (failing fast offline) and counting parameters from a config alone."""
from __future__ import annotations

import torch

from ner_fewshot import backbones
from ner_fewshot.methods.base import MethodUnavailable, ParameterCounts

from .prompts import PromptShape, trainable_prompt_count


def load_bart(name_or_path: str, *, device, dtype, hub_timeout: float = backbones.HUB_TIMEOUT):
    """(BartForConditionalGeneration, tokenizer), all weights frozen (offline: from the local cache only,
    failing fast; see backbones.load_pretrained)."""
    from transformers import AutoTokenizer, BartForConditionalGeneration

    tokenizer = backbones.load_pretrained(AutoTokenizer.from_pretrained, name_or_path, hub_timeout=hub_timeout)
    bart = backbones.load_pretrained(BartForConditionalGeneration.from_pretrained, name_or_path, dtype=dtype,
                                     hub_timeout=hub_timeout)
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
