"""ProtoBERT, NNShot and StructShot (Few-NERD, Ding et al. ACL 2021) as registered methods.

Labels are word-level IO over the episode's types: class 0 = `O`, classes 1..N = the label set's
types in order. `fit` encodes the support words (no gradient, eval mode) and keeps their vectors;
`predict` encodes the queries, scores every query word against the support and decodes maximal runs
of one type into spans. The methods differ only in scoring (prototypes vs nearest neighbours) and
decoding (argmax vs Viterbi). Meta-training on a source dataset is optional (`train_source`).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ner_fewshot import backbones, settings
from ner_fewshot.data.tagging import tags_to_spans
from ner_fewshot.data.types import Dataset, LabelSet, Sentence, Span
from ner_fewshot.methods.base import FewShotMethod, MethodUnavailable, ParameterCounts
from ner_fewshot.methods.seeding import isolated_rng

from . import distance
from .config import PrototypeConfig, StructShotConfig
from .encoder import TokenEncoder
from .labels import OUTSIDE, io_tags, smallest_shot, word_labels
from .metatrain import MetaTrainResult, MetaTrainSettings, episode_stream, meta_train
from .viterbi import AbstractTransitions, expand_transitions, resolve_tau, viterbi_decode

EPISODE_FILE_SUFFIX = ".jsonl"  # a transition_source ending so is a Few-NERD episode file
CITATION = """@inproceedings{ding-etal-2021-nerd,
  title = {Few-{NERD}: A Few-shot Named Entity Recognition Dataset},
  author = {Ding, Ning and Xu, Guangwei and Chen, Yulin and Wang, Xiaobin and Han, Xu and Xie, Pengjun and Zheng, Haitao and Liu, Zhiyuan},
  booktitle = {Proceedings of ACL-IJCNLP 2021},
  pages = {3198--3213},
  year = {2021}
}"""


@dataclass
class _EpisodeState:
    names: tuple[str, ...]  # class names, index 0 = O
    vectors: torch.Tensor  # (support words, d)
    labels: torch.Tensor  # (support words,)


class PrototypeMethod(FewShotMethod):
    """Shared life cycle of the three methods; subclasses set the scoring and the decoding."""

    config_class = PrototypeConfig
    citation = CITATION

    def __init__(self, config: PrototypeConfig | None = None) -> None:
        super().__init__(config)
        self.encoder = None  # a TokenEncoder (tests may inject any object with encode / eval / train)
        self._episode: _EpisodeState | None = None
        self._meta: MetaTrainResult | None = None
        self._meta_source = ""  # dataset name once meta-training has started

    # ---- scoring and decoding (what differs between the methods) -------------------------------

    def class_scores(self, support: torch.Tensor, labels: torch.Tensor, queries: torch.Tensor, n_classes: int) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, logits: torch.Tensor, lengths: list[int]) -> list[torch.Tensor]:
        return list(logits.argmax(-1).split(lengths))

    # ---- life cycle ---------------------------------------------------------------------------

    def prepare(self) -> None:
        if self.encoder is None:
            self.encoder = self._load_encoder(self.config.backbone)

    def _load_encoder(self, name_or_path: str) -> TokenEncoder:
        c = self.config
        return TokenEncoder.from_pretrained(
            name_or_path, n_last_layers=c.n_last_layers, pooling=c.subword_pooling, window=c.window,
            window_overlap=c.window_overlap, batch_size=c.batch_size, dropout=c.dropout,
            device=settings.resolve_device(c.device))

    def _encode(self, sentences: Sequence[Sentence]):
        self.encoder.eval()
        with torch.inference_mode():
            return self.encoder.encode([s.words for s in sentences])

    def fit(self, support: Sequence[Sentence], label_set: LabelSet) -> None:
        self._episode = None
        self.prepare()
        if not support:
            raise ValueError("fit() needs at least one support sentence")
        if OUTSIDE in label_set:
            raise ValueError(f"an entity type may not be named {OUTSIDE!r}: IO tagging reserves it for non-entity words")
        names = (OUTSIDE, *label_set.names)
        labels = word_labels(support, names)
        counts = torch.bincount(labels, minlength=len(names))
        missing = [names[i] for i in range(1, len(names)) if counts[i] == 0]
        if missing:
            warnings.warn(f"{self.name}: no support word for types {missing}; they cannot be predicted in this episode", stacklevel=2)
        vectors = self._encode(support).vectors
        self._episode = _EpisodeState(names, vectors, labels.to(vectors.device))
        self._after_fit(support)

    def _after_fit(self, support: Sequence[Sentence]) -> None:
        """Hook for episode-level state beyond the support vectors (StructShot's transitions)."""

    def predict(self, sentences: Sequence[Sentence]) -> list[list[Span]]:
        if self._episode is None:
            raise RuntimeError(f"{self.name}: call fit(support, label_set) before predict()")
        if not sentences:
            return []
        episode = self._episode
        encoded = self._encode(sentences)
        with torch.inference_mode():
            logits = self.class_scores(episode.vectors, episode.labels, encoded.vectors, len(episode.names))
            tags = self.decode(logits, encoded.lengths)
        names = np.array(episode.names, dtype=object)
        return [tags_to_spans(names[t.cpu().numpy()].tolist(), "io")[0] for t in tags]

    # ---- source-domain training ---------------------------------------------------------------

    def train_source(self, source: Dataset, *, progress=None) -> None:
        self.prepare()
        self._learn_from_source(source)
        if self.config.meta_train_iterations > 0:
            self._meta_train(source, show_progress=progress is not False)

    def _learn_from_source(self, source: Dataset) -> None:
        """Hook: what a method takes from the source besides meta-training (StructShot: transitions)."""

    def episode_loss(self, episode) -> torch.Tensor:
        """Cross-entropy of the query words of one episode, in train mode (gradients, dropout)."""
        names = (OUTSIDE, *episode.label_set.names)
        support_labels = word_labels(episode.support, names)
        query_labels = word_labels(episode.query, names)
        encoded = self.encoder.encode([s.words for s in (*episode.support, *episode.query)])
        device = encoded.vectors.device
        n_support = len(support_labels)
        logits = self.class_scores(encoded.vectors[:n_support], support_labels.to(device), encoded.vectors[n_support:], len(names))
        query_labels = query_labels.to(device)
        # A query class absent from the support (O in a tiny episode) has -inf score: leave those words out.
        valid = torch.isfinite(logits.gather(1, query_labels.unsqueeze(1))).squeeze(1)
        return F.cross_entropy(logits[valid], query_labels[valid])

    def _meta_train(self, source: Dataset, *, show_progress: bool) -> None:
        from ner_fewshot.episodes import sample_fewnerd
        from ner_fewshot.evaluation import score_episode, summarize

        c = self.config
        n_way = min(c.meta_n_way, len(source.label_set))

        def sample(sentences, n, seed):
            return sample_fewnerd(sentences, source.label_set, n_way=n_way, k_shot=c.meta_k_shot, q_shot=c.meta_q_shot,
                                  n_episodes=n, seed=seed, dataset=source.name, max_type_redraws=20).episodes

        train = source.split("train")
        total = c.meta_train_iterations * c.meta_episodes_per_step
        stream = episode_stream(lambda n, seed: sample(train, n, seed), block=min(500, total), seed=c.seed)
        dev_score = None
        if c.meta_dev_episodes > 0 and "dev" in source.splits:
            dev_episodes = sample(source.split("dev"), c.meta_dev_episodes, c.seed + 1_000_003)

            def dev_score() -> float:
                scores = []
                for episode in dev_episodes:
                    self.fit(episode.support, episode.label_set)
                    scores.append(score_episode([q.spans for q in episode.query], self.predict(episode.query)))
                self._episode = None
                return summarize(scores).micro.f1

        folder = Path(c.checkpoint_dir) if c.checkpoint_dir else (
            self.context.cache_folder() / "prototype" / f"{self.name}-{source.name}-{c.meta_train_iterations}it-seed{c.seed}")
        self._meta_source = f"{source.name} ({n_way}-way {c.meta_k_shot}~{2 * c.meta_k_shot}-shot episodes)"
        run = MetaTrainSettings(c.meta_train_iterations, c.meta_lr, c.meta_weight_decay, c.meta_warmup_fraction,
                                linear_decay=c.meta_linear_decay, episodes_per_step=c.meta_episodes_per_step,
                                dev_every=c.meta_dev_every)
        with isolated_rng(c.seed):  # dropout masks
            self._meta = meta_train(self.encoder, self.episode_loss, stream, run, dev_score=dev_score,
                                    save_checkpoint=self.save, checkpoint_dir=folder, show_progress=show_progress)

    # ---- reporting ----------------------------------------------------------------------------

    def parameter_counts(self) -> ParameterCounts:
        self.prepare()
        total = self.encoder.parameter_count()
        if self._meta_source:
            return ParameterCounts(total, total, "meta-training updates the whole encoder; fit() itself trains nothing")
        return ParameterCounts(0, total, "train-free: fit() only encodes the support set")

    def describe_backbone(self) -> str:
        return backbones.describe(self.config.backbone)

    def training_tag(self) -> str:
        if self._meta is not None:
            best = f", best dev at {self._meta.best_iteration}" if self._meta.best_dev_f1 is not None else ", last weights (no dev)"
            return f"meta-trained on {self._meta_source} ({self._meta.iterations} iters{best})"
        if self._meta_source:
            return f"meta-trained on {self._meta_source} (checkpoint)"
        if self.config.meta_train_iterations > 0:
            return "train-free (meta_train_iterations set, but train_source() was not called)"
        return "train-free"

    def row_tags(self) -> dict[str, str]:
        return {"training": self.training_tag()}

    # ---- persistence --------------------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        with_encoder = bool(self._meta_source)
        if with_encoder:
            if not isinstance(self.encoder, TokenEncoder):
                raise TypeError("only a TokenEncoder can be saved")
            self.encoder.save(folder / "encoder")
        state = {"method": self.name, "config": self.config.to_dict(), "encoder_saved": with_encoder,
                 "meta_source": self._meta_source, "meta": None if self._meta is None else self._meta.__dict__,
                 "episode_names": None if self._episode is None else list(self._episode.names), **self._extra_state()}
        if self._episode is not None:
            from safetensors.torch import save_file

            save_file({"vectors": self._episode.vectors.contiguous().cpu(), "labels": self._episode.labels.cpu()}, str(folder / "episode.safetensors"))
        (folder / "prototype.json").write_text(json.dumps(state, indent=1))

    def load(self, directory: str | Path) -> None:
        folder = Path(directory)
        path = folder / "prototype.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: not a folder written by {type(self).__name__}.save()")
        state = json.loads(path.read_text())
        if state["method"] != self.name:
            raise ValueError(f"{path} was saved by {state['method']!r}, not {self.name!r}")
        self.config = self.config_class.from_dict(state["config"])
        self.encoder = self._load_encoder(str(folder / "encoder")) if state["encoder_saved"] else self._load_encoder(self.config.backbone)
        self._meta_source = state["meta_source"]
        self._meta = MetaTrainResult(**state["meta"]) if state["meta"] else None
        self._episode = None
        if state["episode_names"] is not None:
            from safetensors.torch import load_file

            tensors = load_file(str(folder / "episode.safetensors"))
            device = settings.resolve_device(self.config.device)
            self._episode = _EpisodeState(tuple(state["episode_names"]), tensors["vectors"].to(device), tensors["labels"].to(device))
        self._restore_extra_state(state)

    def _extra_state(self) -> dict:
        return {}

    def _restore_extra_state(self, state: dict) -> None:
        pass


class ProtoBERT(PrototypeMethod):
    name = "protobert"
    summary = "Few-NERD ProtoBERT: nearest class prototype (mean support word vector, O included)."

    def class_scores(self, support, labels, queries, n_classes):
        prototypes, present = distance.class_prototypes(support, labels, n_classes)
        return distance.prototype_logits(queries, prototypes, present, self.config.metric)


class NNShot(PrototypeMethod):
    name = "nnshot"
    summary = "Few-NERD NNShot: label of the nearest support word."

    def class_scores(self, support, labels, queries, n_classes):
        return distance.nearest_neighbour_logits(queries, support, labels, n_classes, self.config.metric)


class StructShot(NNShot):
    name = "structshot"
    config_class = StructShotConfig
    summary = "Few-NERD StructShot: NNShot emissions + Viterbi with abstract IO transitions."

    def __init__(self, config: StructShotConfig | None = None) -> None:
        super().__init__(config)
        self._source_transitions: AbstractTransitions | None = None
        self._source_note = ""
        self._transitions: AbstractTransitions | None = None  # the current episode's
        self._tau: float | None = None  # the current episode's resolved temperature
        self._taus_used: set[float] = set()  # every resolved tau so far, for the row tags

    def prepare(self) -> None:
        super().prepare()
        source = self.config.transition_source
        if source in ("auto", "support") or self._source_transitions is not None:
            return
        if source.endswith(EPISODE_FILE_SUFFIX):
            self._learn_from_episode_file(source)
            return
        try:
            from ner_fewshot.data.catalog import load_dataset

            dataset = load_dataset(source, data_dir=self.context.data_dir)
        except (ImportError, KeyError, FileNotFoundError) as error:
            raise MethodUnavailable(f"structshot: transition_source={source!r} cannot be loaded ({error}); "
                                    "set transition_source to 'auto' or 'support', or point the data dir at it") from error
        self._learn_from_source(dataset)

    def _learn_from_episode_file(self, value: str) -> None:
        """Transitions over every support and query sentence of every episode of a Few-NERD episode file,
        as the Few-NERD code does with its train episodes (`get_abstract_transitions`)."""
        from ner_fewshot.episodes import read_fewnerd_episodes

        path = Path(value).expanduser()
        if not path.is_absolute():
            base = self.context.data_dir
            if base is None:
                raise MethodUnavailable(
                    f"structshot: transition_source={value!r} is relative to the data dir, but no data dir is set; "
                    f"pass --data-dir (or set {settings.DATA_ENV}) to the folder holding it, or give an absolute path")
            path = base / path
        if not path.is_file():
            raise MethodUnavailable(
                f"structshot: Few-NERD episode file {path} (transition_source={value!r}) not found; "
                f"put Few-NERD's episode-data under the data dir, fix the path, or set transition_source to 'auto' or 'support'")
        episodes = read_fewnerd_episodes(path)
        sentences = (s for episode in episodes for s in (*episode.support, *episode.query))
        self._source_transitions = AbstractTransitions.estimate(io_tags(s) for s in sentences)
        self._source_note = value

    def train_source(self, source: Dataset, *, progress=None) -> None:
        super().train_source(source, progress=progress)
        self._taus_used.clear()  # dev episodes of meta-training are not the episodes a row reports

    def _learn_from_source(self, source: Dataset) -> None:
        choice = self.config.transition_source
        if choice == "support" or (choice != "auto" and self._source_transitions is not None):
            return  # the support set, or an explicitly named dataset or episode file already loaded, wins
        self._source_transitions = AbstractTransitions.estimate(io_tags(s) for s in source.split("train"))
        self._source_note = f"{source.name} train"

    def _after_fit(self, support: Sequence[Sentence]) -> None:
        if self._source_transitions is not None and self.config.transition_source != "support":
            self._transitions = self._source_transitions
        else:
            self._transitions = AbstractTransitions.estimate(io_tags(s) for s in support)
        types = self._episode.names[1:]
        self._tau = resolve_tau(self.config.tau, len(types), smallest_shot(support, types))
        self._taus_used.add(self._tau)

    def decode(self, logits, lengths):
        n_types = logits.shape[-1] - 1
        # A checkpoint saved before tau was resolved per episode has none: take the 1~2-shot row.
        tau = self._tau if self._tau is not None else resolve_tau(self.config.tau, n_types, 0)
        start, transitions = expand_transitions(self._transitions, n_types, tau)
        emissions = torch.nn.utils.rnn.pad_sequence(list(F.log_softmax(logits / self.config.emission_temperature, -1).split(lengths)), batch_first=True)
        device = emissions.device
        tags = viterbi_decode(emissions, torch.tensor(lengths, device=device), start.to(device), transitions.to(device))
        return [tags[i, :n] for i, n in enumerate(lengths)]

    def transition_tag(self) -> str:
        if self._source_transitions is not None and self.config.transition_source != "support":
            return self._source_note
        return "per-episode support set"

    def tau_tag(self) -> str:
        """'0.32' for a fixed tau; 'auto (0.32)' once episodes resolved it (every value used, if several)."""
        if self.config.tau != "auto":
            return f"{float(self.config.tau):g}"
        if not self._taus_used:
            return "auto"
        return f"auto ({', '.join(f'{t:g}' for t in sorted(self._taus_used))})"

    def row_tags(self) -> dict[str, str]:
        tags = {**super().row_tags(), "transitions": self.transition_tag(), "tau": self.tau_tag()}
        if self.config.emission_temperature != 1.0:
            tags["emission_temperature"] = f"{self.config.emission_temperature:g}"
        return tags

    def _extra_state(self) -> dict:
        return {"source_transitions": None if self._source_transitions is None else self._source_transitions.as_list(),
                "source_note": self._source_note,
                "episode_transitions": None if self._transitions is None else self._transitions.as_list(),
                "episode_tau": self._tau, "taus_used": sorted(self._taus_used)}

    def _restore_extra_state(self, state: dict) -> None:
        values = state.get("source_transitions")
        self._source_transitions = AbstractTransitions.from_list(values) if values else None
        self._source_note = state.get("source_note", "")
        values = state.get("episode_transitions")
        self._transitions = AbstractTransitions.from_list(values) if values else None
        self._tau = state.get("episode_tau")
        self._taus_used = set(state.get("taus_used", ()))
