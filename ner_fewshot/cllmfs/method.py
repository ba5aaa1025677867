"""CLLMFS (Zhang et al., ECAI 2024): LoRA SFT of a causal LM with a contrastive boundary loss, FGM
adversarial augmentation and constrained decoding. See docs/methods/cllmfs.md."""
from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Sequence

import torch

from .. import backbones, settings
from ..data.types import LabelSet, Sentence, Span
from ..methods.base import FewShotMethod, MethodUnavailable, ParameterCounts
from ..methods.seeding import isolated_rng
from .config import CLLMFSConfig
from .contrastive import contrastive_positions
from .generation import GenerationStats, generate_answers, make_grammar, merged_lora
from .prompts import EncodedExample, PromptEncoder, build_examples, definition_of
from .spans import candidates_for, resolve_overlaps
from .training import TrainingLog, train_lora

_ADAPTER = "default"
_STATE_FILE = "cllmfs.json"


class CLLMFS(FewShotMethod):
    name = "cllmfs"
    config_class = CLLMFSConfig
    summary = "LoRA-tuned causal LM with contrastive boundary loss, FGM and span-constrained decoding"
    citation = """@inproceedings{zhang2024cllmfs,
  title={CLLMFS: A Contrastive Learning enhanced Large Language Model Framework for Few-Shot Named Entity Recognition},
  author={Zhang, Yafeng and Yu, Zilan and Huang, Yuang and Tang, Jing},
  booktitle={ECAI 2024}, year={2024}, note={arXiv:2408.12834}
}"""

    def __init__(self, config: CLLMFSConfig | None = None) -> None:
        super().__init__(config)
        self.config: CLLMFSConfig
        self.base_model = None
        self.model = None  # the PeftModel of the current episode
        self.tokenizer = None
        self.encoder: PromptEncoder | None = None
        self.label_set: LabelSet | None = None
        self.training_log: TrainingLog | None = None
        self.generation_stats = GenerationStats()
        self.unmatched_strings = 0  # predicted strings that are not a word sequence of their input (free decoding)

    # ---- setup -------------------------------------------------------------------------------------
    def prepare(self) -> None:
        if self.base_model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = settings.resolve_device(self.config.device)
        dtype = settings.preferred_dtype(self.device)
        tokenizer = backbones.load_pretrained(AutoTokenizer.from_pretrained, self.config.backbone)
        model = backbones.load_pretrained(AutoModelForCausalLM.from_pretrained, self.config.backbone, dtype=dtype)
        self.attach(model, tokenizer)

    def attach(self, model, tokenizer) -> None:
        """Use an already loaded causal LM and tokenizer (tests, notebooks); `prepare` calls this."""
        self.device = settings.resolve_device(self.config.device)
        model.to(self.device)
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        self.base_model, self.tokenizer = model, tokenizer
        self.encoder = PromptEncoder(tokenizer, self.config.prompt_layout, self.config.system_prompt,
                                     self.config.empty_answer)
        n_layers = model.config.num_hidden_layers
        self.layer = self.config.contrastive_layer if self.config.contrastive_layer is not None else round(2 * n_layers / 3)
        if not 0 <= self.layer <= n_layers:
            raise ValueError(f"contrastive_layer={self.layer} outside 0..{n_layers} for this backbone")

    def _fresh_adapters(self) -> None:
        """Drop the previous episode's LoRA and add new ones from the seed (same seed -> same init)."""
        from peft import LoraConfig, get_peft_model

        if self.model is not None:
            self.base_model = self.model.unload()  # removes the LoRA layers without merging them
            self.model = None
        missing = [t for t in self.config.lora_targets
                   if not any(name.endswith("." + t) for name, _ in self.base_model.named_modules())]
        if missing:
            raise ValueError(f"lora_targets {missing} match no module of backbone {self.config.backbone!r}; "
                             "set the `lora_targets` option to this architecture's projection names")
        lora = LoraConfig(r=self.config.lora_rank, lora_alpha=self.config.lora_alpha,
                          lora_dropout=self.config.lora_dropout, target_modules=list(self.config.lora_targets),
                          bias="none", task_type="CAUSAL_LM")
        with isolated_rng(self.config.seed):  # same seed, same initial adapters; global RNG left as found
            self.model = get_peft_model(self.base_model, lora)

    # ---- episode ----------------------------------------------------------------------------------
    def fit(self, support: Sequence[Sentence], label_set: LabelSet) -> None:
        self.prepare()
        self._fresh_adapters()
        self.label_set = label_set
        self.generation_stats = GenerationStats()
        self.unmatched_strings = 0
        examples = build_examples(support, label_set, self.config.definition_source)
        encoded = [self.encoder.encode_example(e, self.config.loss_on, self.config.max_length) for e in examples]
        if self.config.loss_on == "decisions":
            encoded = [self._decisions_only(e) for e in encoded]
        positions = [contrastive_positions(e.prompt, e.spans, self.config.contrastive_negatives) for e in encoded]
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.encoder.eos_id
        with isolated_rng(self.config.seed):  # dropout draws
            self.training_log = train_lora(self.model, encoded, positions, self.config, layer=self.layer,
                                           pad_id=pad_id, device=self.device, progress=self.config.show_progress)

    def _decisions_only(self, example: EncodedExample) -> EncodedExample:
        """Loss only on the answer tokens where constrained decoding has a choice: a forced token (the rest of
        a marker, eos) teaches nothing, and averaging over them dilutes the open/end decision about tenfold."""
        answer = len(example.prompt.ids)
        choices = make_grammar(self.encoder, example.words).choice_points(example.ids[answer:])
        return dataclasses.replace(example, label_mask=example.label_mask[:answer] + tuple(choices))

    def predict(self, sentences: Sequence[Sentence]) -> list[list[Span]]:
        if self.model is None or self.label_set is None:
            raise RuntimeError("CLLMFS.predict called before fit() or load()")
        pairs = [(s, t) for s in range(len(sentences)) for t in self.label_set]
        prompts = [(sentences[s].words,
                    self.encoder.encode_prompt(sentences[s].words, t, definition_of(t, self.config.definition_source)))
                   for s, t in pairs]
        merge = merged_lora(self.model) if self.config.merge_for_generation else contextlib.nullcontext()
        with merge:
            answers = generate_answers(self.model, self.encoder, prompts, self.config, self.device,
                                       self.generation_stats)
        per_sentence: list[list] = [[] for _ in sentences]
        for (s, entity_type), answer in zip(pairs, answers):
            found, missing = candidates_for(sentences[s].words, entity_type.name, answer.strings)
            per_sentence[s].extend(found)
            self.unmatched_strings += missing
        return [resolve_overlaps(c) for c in per_sentence]

    # ---- reporting ---------------------------------------------------------------------------------
    def episode_diagnostics(self) -> dict:
        log, stats = self.training_log, self.generation_stats
        if log is None:
            return {}
        facts = {"train_steps": len(log.losses), "train_examples": sum(log.examples),
                 "train_positive_examples": sum(log.positives),
                 "first_loss": round(log.losses[0], 4), "last_loss": round(log.losses[-1], 4),
                 "ce_per_step": [round(value, 3) for value in log.ce],
                 "train_tokens": log.tokens, "train_padded_tokens": log.padded_tokens,
                 "train_seconds": round(log.seconds, 3), "generation": stats.as_dict(),
                 "unmatched_strings": self.unmatched_strings}
        if stats.prompts and stats.answered == 0:
            facts["warnings"] = [f"no entity predicted: all {stats.prompts} answers empty (mean P(open) at the "
                                 f"first decision {stats.mean_first_open_probability:.3f})"]
        return facts

    def parameter_counts(self) -> ParameterCounts:
        self.prepare()
        if self.model is None:
            self._fresh_adapters()
        trainable = sum(p.numel() for n, p in self.model.named_parameters() if "lora_" in n)
        total = sum(p.numel() for p in self.model.parameters())
        return ParameterCounts(trainable, total, notes=f"LoRA r={self.config.lora_rank} on "
                                                       f"{','.join(self.config.lora_targets)}")

    def describe_backbone(self) -> str:
        return backbones.describe(self.config.backbone)

    def row_tags(self) -> dict[str, str]:
        config, on = self.config, {True: "on", False: "off"}
        budget = f"{config.train_steps} steps" if config.train_steps is not None else f"{config.epochs} epochs"
        empties = "all" if config.negative_ratio is None else f"{config.negative_ratio:g}/positive"
        return {"recipe": f"{config.preset}: lr {config.learning_rate:g}, LoRA r{config.lora_rank}/a{config.lora_alpha}, "
                          f"{budget} x {config.batch_size}, empty answers {empties}, loss on {config.loss_on}",
                "contrastive": on[config.contrastive], "adversarial": on[config.adversarial],
                "decoding": "constrained" if config.constrained else "free"}

    # ---- persistence -------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        if self.model is None or self.label_set is None:
            raise RuntimeError("CLLMFS.save called before fit()")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(directory / "adapter"))  # peft's own format
        state = {"config": self.config.to_dict(), "label_set": self.label_set.to_json()}
        (directory / _STATE_FILE).write_text(json.dumps(state, indent=2, default=list))

    def load(self, directory: str | Path) -> None:
        from peft import PeftModel

        directory = Path(directory)
        state_file = directory / _STATE_FILE
        if not state_file.exists() or not (directory / "adapter").is_dir():
            raise FileNotFoundError(f"{directory} is not a saved CLLMFS episode (needs {_STATE_FILE} and adapter/)")
        state = json.loads(state_file.read_text())
        saved_backbone = state["config"].get("backbone")
        if saved_backbone != self.config.backbone:
            raise ValueError(f"{state_file}: adapters were trained on backbone {saved_backbone!r}, "
                             f"this method uses {self.config.backbone!r}; set the `backbone` option to match")
        self.prepare()
        if self.model is not None:
            self.base_model = self.model.unload()
        self.model = PeftModel.from_pretrained(self.base_model, str(directory / "adapter"))
        self.model.eval()
        self.label_set = LabelSet.from_json(state["label_set"])


__all__ = ["CLLMFS", "CLLMFSConfig", "MethodUnavailable"]
