"""Every choice CLLMFS makes, as documented config options (see docs/methods/cllmfs.md)."""
from __future__ import annotations

from dataclasses import dataclass, fields

from ..backbones import SMOLLM2
from ..methods.base import MethodConfig, option

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# The paper-scale recipe (7B backbone on a GPU): LoRA values of closely related public work using the same
# SFT format, every empty-answer example kept, loss on the whole answer, all three additions on. The
# suite's defaults (the "small" preset) were chosen on dev episodes for small backbones on CPU budgets;
# docs/methods/cllmfs.md has the dev table.
PAPER_RECIPE = {"lora_rank": 32, "lora_alpha": 16, "learning_rate": 3e-4, "train_steps": None, "epochs": 2,
                "negative_ratio": None, "loss_on": "answer", "contrastive": True, "adversarial": True}


@dataclass
class CLLMFSConfig(MethodConfig):
    backbone: str = option(SMOLLM2, help="Causal LM: hub id, local folder, or 'packaged:SmolLM2-135M-Instruct' "
                                         "(the offline default). The paper uses LLaMA-2; any Llama/Qwen/Mistral works.")
    preset: str = option("small", choices=("small", "paper"),
                         help="Recipe: 'small' = the defaults below, chosen on dev episodes for small LMs on CPU "
                              "budgets; 'paper' = the paper-scale recipe for 7B models on GPUs (lr 3e-4, alpha 16, "
                              "2 epochs, every empty-answer example, loss on the whole answer, contrastive + FGM). "
                              "Under 'paper', options left at their 'small' default take the paper value; any "
                              "other value you give wins.")
    # --- LoRA (choice: values of closely related public work using the same SFT format) ---
    lora_rank: int = option(32, help="LoRA rank r.")
    lora_alpha: int = option(16, help="LoRA alpha (scaling = alpha / r).")
    lora_dropout: float = option(0.05, help="Dropout on the LoRA branch input.")
    lora_targets: tuple = option(LORA_TARGETS, help="Module names that get LoRA adapters (attention + MLP projections).")
    # --- SFT ---
    learning_rate: float = option(2e-3, help="AdamW learning rate for the LoRA weights (paper preset: 3e-4).")
    weight_decay: float = option(0.0, help="AdamW weight decay.")
    train_steps: int | None = option(40, help="Training budget in optimiser steps: exactly this many, cycling over "
                                               "the examples (reshuffled and negatives resampled each pass). None: "
                                               "`epochs` full passes. Steps, never seconds: same seed, same model on "
                                               "any machine.")
    epochs: int = option(2, help="Passes over the episode's SFT examples when `train_steps` is None.")
    negative_ratio: float | None = option(0.25, help="Empty-answer examples ((sentence, type) pairs with no entity of "
                                                    "that type) kept per positive example, drawn afresh each pass; "
                                                    "None keeps them all (the paper's data). Without a cap 60-70% of "
                                                    "few-shot SFT examples are empty and a small LM learns to answer "
                                                    "'no entity' everywhere.")
    batch_size: int = option(4, help="SFT examples per optimiser step (few-shot sets are small: more, smaller steps).")
    max_length: int = option(256, help="Longest SFT example in tokens; a longer one is an error naming the sentence "
                                       "(never silently truncated).")
    loss_on: str = option("response", choices=("decisions", "response", "answer", "all"),
                          help="Cross-entropy on: 'decisions' = the answer tokens where constrained decoding has a "
                               "choice (open or end, which word, close or continue); 'response' = the answer after "
                               "its fixed prefix (the prefix is part of the prompt at decoding time, so learning it "
                               "is wasted loss); 'answer' = the whole answer, prefix included (the paper's SFT "
                               "target); 'all' = the whole sequence.")
    prompt_layout: str = option("auto", choices=("auto", "chat", "plain"),
                                help="'chat': the tokenizer's chat template (user turn = instruction + sentence); "
                                     "'plain': '### Instruction/### Input/### Response' text; 'auto': chat when the "
                                     "tokenizer has a template.")
    system_prompt: str | None = option("", help="System message for the chat layout: '' (default) an empty one, as "
                                                "the paper's SFT data has no system text and it saves ~13 tokens per "
                                                "prompt; None keeps the template's own default (SmolLM2 adds one).")
    empty_answer: str = option("end", choices=("end", "none"),
                               help="The answer for a type absent from the sentence (the paper does not show one): "
                                    "'end' = the prefix then <im_end> at once; 'none' = '<<< none >>> <im_end>', so "
                                    "that the entity/no-entity decision is made after '<<<', between copying an "
                                    "input word and the word 'none', rather than between two marker tokens.")
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
    adversarial: bool = option(False, help="Add the FGM-perturbed SFT loss (ablation switch; off in the small preset: "
                                           "on dev episodes it did not help a 135M model, see the doc's ablation).")
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
        if self.preset == "paper":
            defaults = {f.name: f.default for f in fields(self)}
            for name, value in PAPER_RECIPE.items():
                if getattr(self, name) == defaults[name]:
                    setattr(self, name, value)
        self.lora_targets = tuple(self.lora_targets)
        for name in ("lora_rank", "lora_alpha", "epochs", "batch_size", "max_length", "generation_batch_size",
                     "max_new_tokens"):
            if getattr(self, name) <= 0:
                raise ValueError(f"CLLMFSConfig.{name} must be positive, got {getattr(self, name)!r}")
        if self.train_steps is not None and self.train_steps <= 0:
            raise ValueError(f"CLLMFSConfig.train_steps must be positive or None, got {self.train_steps!r}")
        if self.negative_ratio is not None and self.negative_ratio < 0:
            raise ValueError(f"CLLMFSConfig.negative_ratio must be >= 0 or None, got {self.negative_ratio!r}")
        if self.contrastive_tau <= 0:
            raise ValueError(f"CLLMFSConfig.contrastive_tau must be > 0, got {self.contrastive_tau!r}")
