"""Options of the prototype baselines: one config family (StructShot adds its decoder's options)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ner_fewshot import backbones
from ner_fewshot.methods.base import MethodConfig, option

from . import distance
from .encoder import POOLINGS

AUTO_TAU = "auto"


@dataclass
class PrototypeConfig(MethodConfig):
    backbone: str = option(backbones.MINILM, help="Token encoder: hub id, local folder, or 'packaged:all-MiniLM-L6-v2' (paper: bert-base-uncased).")
    n_last_layers: int = option(4, help="A word vector is the sum of this many last hidden layers (paper: 4).")
    subword_pooling: str = option("first", choices=POOLINGS, help="Word vector from its first sub-word (paper) or the mean of its sub-words.")
    window: int = option(0, help="Encoder window in sub-words incl. special tokens; 0 = the encoder's maximum. Longer sentences are split into overlapping windows.")
    window_overlap: float = option(0.5, help="Fraction of a window shared with the next one when a sentence is split.")
    batch_size: int = option(32, help="Encoder rows (sentences or windows) per forward pass; rows are sorted by length first.")
    metric: str = option("euclidean", choices=distance.METRICS, help="Similarity: minus squared Euclidean distance (paper) or dot product.")
    dropout: float = option(0.5, help="Dropout on word vectors during meta-training (paper: 0.5); off at fit/predict.")
    meta_train_iterations: int = option(0, help="Episodic meta-training iterations in train_source(); 0 = train-free (paper: 10000).")
    meta_n_way: int = option(5, help="Types per meta-training episode (capped at the source's type count, shown in row_tags).")
    meta_k_shot: int = option(1, help="Support mentions per type (K~2K) in meta-training episodes.")
    meta_q_shot: int = option(1, help="Query mentions per type in meta-training episodes.")
    meta_episodes_per_step: int = option(1, help="Episodes whose losses are averaged in one optimiser step.")
    meta_lr: float = option(1e-4, help="AdamW learning rate for meta-training.")
    meta_weight_decay: float = option(0.01, help="AdamW weight decay (not on biases / LayerNorm).")
    meta_warmup_fraction: float = option(0.1, help="Fraction of iterations with linear learning-rate warm-up.")
    meta_linear_decay: bool = option(True, help="After the warm-up, decay the learning rate linearly to 0 (reference: get_linear_schedule_with_warmup); False keeps it constant.")
    meta_dev_every: int = option(1000, help="Score dev episodes every this many iterations; the best checkpoint is kept.")
    meta_dev_episodes: int = option(500, help="Dev episodes (from the source's dev split; 0 or no dev split = keep the last weights).")
    checkpoint_dir: str = option("", help="Folder for the best meta-trained checkpoint; '' = a folder in the cache dir.")

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self, "n_last_layers", self.n_last_layers >= 1, ">= 1")
        _require(self, "window", self.window == 0 or self.window >= 3, "0 (encoder maximum) or >= 3")
        _require(self, "window_overlap", 0.0 <= self.window_overlap < 1.0, "in [0, 1)")
        _require(self, "batch_size", self.batch_size >= 1, ">= 1")
        _require(self, "dropout", 0.0 <= self.dropout < 1.0, "in [0, 1)")
        _require(self, "meta_train_iterations", self.meta_train_iterations >= 0, ">= 0")
        for name in ("meta_n_way", "meta_k_shot", "meta_q_shot", "meta_episodes_per_step", "meta_dev_every"):
            _require(self, name, getattr(self, name) >= 1, ">= 1")
        _require(self, "meta_warmup_fraction", 0.0 <= self.meta_warmup_fraction <= 1.0, "in [0, 1]")


@dataclass
class StructShotConfig(PrototypeConfig):
    tau: str | float = option(AUTO_TAU, help="Transition temperature: 'auto' (per episode from N and K, the Few-NERD README table: 1~2 shot 0.32; 5~10 shot 0.318 for N < 10, 0.434 for N >= 10) or a number > 0 (e.g. 0.32); stored as text.")
    emission_temperature: float = option(1.0, help="NNShot logits are divided by this before the log-softmax (reference: 1). Train-free encoders give distance gaps of 100s, which leave the transitions no say; a larger value lets them matter.")
    transition_source: str = option("auto", help="Where transitions come from: 'auto' (train_source() dataset's train split, else each episode's support set), 'support', a catalog dataset name (its train split), or a Few-NERD episode file '*.jsonl' (absolute, or relative to the data dir, e.g. few-nerd/episode-data/inter/train_5_1.jsonl: all support + query sentences of all its episodes, as the Few-NERD reference).")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.tau = normalise_tau(self.tau, type(self).__name__)
        _require(self, "emission_temperature", self.emission_temperature > 0, "> 0")


def normalise_tau(value: object, owner: str = "StructShotConfig") -> str:
    """'auto', or a positive number kept as its shortest string ('0.318'); anything else is an error."""
    if isinstance(value, str) and value.strip().lower() == AUTO_TAU:
        return AUTO_TAU
    try:
        number = float(value)  # a float from Python code or a numeric string from the command line
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{owner}.tau={value!r} must be 'auto' or a number > 0 (e.g. 0.32)")
    return str(number)


def _require(config: MethodConfig, name: str, ok: bool, rule: str) -> None:
    if not ok:
        raise ValueError(f"{type(config).__name__}.{name}={getattr(config, name)!r} must be {rule}")
