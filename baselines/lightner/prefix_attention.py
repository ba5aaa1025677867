"""How LightNER's prompts enter the frozen BART: through transformers' own attention extension point.

We register one attention function (and its mask function) under `ATTENTION_NAME` with
`AttentionInterface` / `AttentionMaskInterface` and switch the model to it with
`set_attn_implementation`. The function prepends the key/value prefixes attached to the attention
module being run (if any) to that module's projected keys and values, extends the mask with
always-visible columns, and then runs torch SDPA. Because the prefixes live outside the KV cache,
the decoder's positions stay untouched and the prefixes are applied at every decoding step;
queries are never changed. No copy of modeling_bart is needed.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from torch import nn

ATTENTION_NAME = "lightner_prefix"
_PREFIX_ATTRIBUTE = "_lightner_prefix"  # (key, value) of shape (heads, prompt_len, head_dim) or None

# The three places a LightNER prompt set can enter, named as in the paper.
ENCODER_SELF = "encoder_self"
DECODER_SELF = "decoder_self"
DECODER_CROSS = "decoder_cross"
PROMPT_KINDS = (ENCODER_SELF, DECODER_SELF, DECODER_CROSS)


def _prefix_attention_forward(module: nn.Module, query, key, value, attention_mask, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    prefix = getattr(module, _PREFIX_ATTRIBUTE, None)
    if prefix is not None and prefix[0].shape[-2] > 0:
        prefix_key, prefix_value = prefix
        batch = key.shape[0]
        prefix_key = prefix_key.to(key.dtype).unsqueeze(0).expand(batch, -1, -1, -1)
        prefix_value = prefix_value.to(value.dtype).unsqueeze(0).expand(batch, -1, -1, -1)
        key = torch.cat([prefix_key, key], dim=2)
        value = torch.cat([prefix_value, value], dim=2)
        if attention_mask is None:  # our mask function always materialises; be safe anyway
            raise RuntimeError("LightNER prefix attention needs a materialised attention mask")
        visible = torch.ones(
            (*attention_mask.shape[:-1], prefix_key.shape[2]), dtype=attention_mask.dtype, device=attention_mask.device
        )
        if attention_mask.dtype != torch.bool:  # additive float mask: 0 means visible
            visible = torch.zeros_like(visible)
        attention_mask = torch.cat([visible, attention_mask], dim=-1)
    # The mask is explicit (causal pattern included), so SDPA must not add its own causal mask.
    kwargs.pop("is_causal", None)
    return sdpa_attention_forward(module, query, key, value, attention_mask, is_causal=False, **kwargs)


def _materialised_sdpa_mask(*args, **kwargs):
    """SDPA's boolean mask, but never skipped (None): prompt columns must be concatenated to it."""
    from transformers.masking_utils import sdpa_mask

    kwargs["allow_is_causal_skip"] = False
    kwargs["allow_is_bidirectional_skip"] = False
    return sdpa_mask(*args, **kwargs)


def register() -> None:
    """Make `ATTENTION_NAME` known to transformers (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(ATTENTION_NAME, _prefix_attention_forward)
    AttentionMaskInterface.register(ATTENTION_NAME, _materialised_sdpa_mask)


def enable_prefix_attention(model) -> None:
    """Switch a BART model (any BartPreTrainedModel) to the prefix-aware attention function."""
    register()
    model.set_attn_implementation(ATTENTION_NAME)


def attention_modules(bart) -> dict[str, list[nn.Module]]:
    """The attention modules of each prompt kind, one per layer, for a BartForConditionalGeneration."""
    encoder_layers, decoder_layers = bart.get_encoder().layers, bart.get_decoder().layers
    return {
        ENCODER_SELF: [layer.self_attn for layer in encoder_layers],
        DECODER_SELF: [layer.self_attn for layer in decoder_layers],
        DECODER_CROSS: [layer.encoder_attn for layer in decoder_layers],
    }


@contextmanager
def prefixes_applied(bart, prefixes: Mapping[str, list[tuple[torch.Tensor, torch.Tensor]]]) -> Iterator[None]:
    """Within the block, each attention module sees its (key, value) prefix.

    `prefixes[kind][layer] = (key, value)`, each (heads, prompt_len, head_dim). Kinds left out get none.
    """
    modules = attention_modules(bart)
    unknown = sorted(set(prefixes) - set(modules))
    if unknown:
        raise KeyError(f"unknown prompt kinds {unknown}; expected some of {list(PROMPT_KINDS)}")
    for kind, per_layer in prefixes.items():
        if len(per_layer) != len(modules[kind]):
            raise ValueError(f"{kind}: {len(per_layer)} prefixes for {len(modules[kind])} layers")
    try:
        for kind, per_layer in prefixes.items():
            for module, prefix in zip(modules[kind], per_layer):
                object.__setattr__(module, _PREFIX_ATTRIBUTE, prefix)
        yield
    finally:
        for kind_modules in modules.values():
            for module in kind_modules:
                object.__setattr__(module, _PREFIX_ATTRIBUTE, None)
