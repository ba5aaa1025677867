"""Every choice CLLMFS makes, as documented config options (see docs/methods/cllmfs.md)."""
from __future__ import annotations

from dataclasses import dataclass

from ..backbones import SMOLLM2
from ..methods.base import MethodConfig, option

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class CLLMFSConfig(MethodConfig):
    backbone: str = option(SMOLLM2, help="Causal LM: hub id, local folder, or 'packaged:SmolLM2-135M-Instruct' "
                                         "(the offline default). The paper uses LLaMA-2; any Llama/Qwen/Mistral works.")
    # --- LoRA (choice: values of closely related public work using the same SFT format) ---
    lora_rank: int = option(32, help="LoRA rank r.")
    lora_alpha: int = option(16, help="LoRA alpha (scaling = alpha / r).")
    lora_dropout: float = option(0.05, help="Dropout on the LoRA branch input.")
    lora_targets: tuple = option(LORA_TARGETS, help="Module names that get LoRA adapters (attention + MLP projections).")
    # --- SFT ---
    learning_rate: float = option(3e-4, help="AdamW learning rate for the LoRA weights.")
    weight_decay: float = option(0.0, help="AdamW weight decay.")
    epochs: int = option(2, help="Passes over the episode's SFT examples (one per (support sentence, type)).")
    max_steps: int | None = option(None, help="Stop after this many optimiser steps (None: run all epochs); for "
                                              "smoke tests and tight time budgets.")
    batch_size: int = option(4, help="SFT examples per optimiser step (few-shot sets are small: more, smaller steps).")
    max_length: int = option(256, help="Longest SFT example in tokens; a longer one is an error naming the sentence "
                                       "(never silently truncated).")
    loss_on: str = option("answer", choices=("answer", "all"),
                          help="Cross-entropy on the answer tokens only, or on the whole sequence (prompt too).")
    prompt_layout: str = option("auto", choices=("auto", "chat", "plain"),
                                help="'chat': the tokenizer's chat template (user turn = instruction + sentence); "
                                     "'plain': '### Instruction/### Input/### Response' text; 'auto': chat when the "
                                     "tokenizer has a template.")
    system_prompt: str | None = option("", help="System message for the chat layout: '' (default) an empty one, as "
                                                "the paper's SFT data has no system text and it saves ~13 tokens per "
                                                "prompt; None keeps the template's own default (SmolLM2 adds one).")
    definition_source: str = option("label_set", choices=("label_set", "type_name"),
                                     help="Where {definition} comes from: the label set's definitions, or just the "
                                          "type's natural name (when definitions are unavailable).")
    # --- contrastive boundary loss (paper: InfoNCE on a mid-to-deep layer) ---
    contrastive: bool = option(True, help="Add the InfoNCE boundary loss (ablation switch).")
    contrastive_layer: int | None = option(None, help="Hidden layer for InfoNCE (0 = embeddings); None = "
                                                      "round(2/3 * n_layers).")
    contrastive_tau: float = option(0.1, help="InfoNCE temperature (paper range swept: 0.05..0.5).")
    contrastive_weight: float = option(0.01, help="lambda: weight of InfoNCE in the loss (swept: 0.001..0.1).")
    contrastive_negatives: str = option("non_entity", choices=("non_entity", "boundary"),
                                        help="Negatives: every input token outside the type's gold entities "
                                             "(includes the tokens just outside each boundary), or only those "
                                             "boundary-adjacent tokens.")
    # --- adversarial augmentation (FGM) ---
    adversarial: bool = option(True, help="Add the FGM-perturbed SFT loss (ablation switch).")
    adversarial_epsilon: float = option(1.0, help="FGM radius: perturbation = epsilon * g / ||g|| (per sequence).")
    adversarial_target: str = option("inputs", choices=("inputs", "weights"),
                                     help="'inputs': perturb the looked-up input embeddings (the embedding matrix is "
                                          "never written; right for tied input/output embeddings); 'weights': "
                                          "classic FGM, add the perturbation to the embedding matrix rows and "
                                          "restore them bit-exactly afterwards.")
    # --- decoding ---
    constrained: bool = option(True, help="Constrained decoding: answers can only be spans of the input (ablation).")
    generation_batch_size: int = option(32, help="(sentence, type) prompts decoded together (left padded, KV cache).")
    max_new_tokens: int = option(64, help="Hard cap on generated tokens per prompt (besides the input-based bound).")
    new_tokens_per_input_token: float = option(1.5, help="Per-batch bound: new tokens <= 8 + this * longest input "
                                                         "sentence in tokens (an answer repeats input words).")
    merge_for_generation: bool = option(True, help="Fold LoRA into the base weights while generating (faster decoding); "
                                                   "the base weights are restored bit-exactly afterwards.")
    show_progress: bool = option(False, help="tqdm bars for training and generation.")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.lora_targets = tuple(self.lora_targets)
        for name in ("lora_rank", "lora_alpha", "epochs", "batch_size", "max_length", "generation_batch_size",
                     "max_new_tokens"):
            if getattr(self, name) <= 0:
                raise ValueError(f"CLLMFSConfig.{name} must be positive, got {getattr(self, name)!r}")
        if self.contrastive_tau <= 0:
            raise ValueError(f"CLLMFSConfig.contrastive_tau must be > 0, got {self.contrastive_tau!r}")
