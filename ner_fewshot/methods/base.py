"""The interface every few-shot NER method implements, and the base of their configs.

Life cycle, driven by the harness for each method:
    method = create_method(name, options, context)   # MethodClass(config); method.context = context
    method.prepare()                      # once: load backbones; raise MethodUnavailable if it cannot run
    method.train_source(dataset)          # optional, once: meta-training / source-domain transfer
    for episode in episodes:
        method.fit(episode.support, episode.label_set)   # must start from the same state every time
        predictions = method.predict(episode.query)      # list of spans per sentence (no gold spans given)
        method.episode_diagnostics()                     # optional: facts about that fit + predict

A new method overrides `fit`, `predict` and `parameter_counts`, and may override `prepare`,
`train_source`, `fit_selecting`, `save` / `load`, `describe_backbone`, `row_tags` and `episode_diagnostics`. It sets the class
attributes `name`, `config_class`, `citation` and `summary`. What it needs from outside comes only
from `self.config` (its options, including `seed` and `device`) and `self.context` (a MethodContext:
the data and cache folders); it reads no environment variable and leaves global state (e.g. torch's
global RNG: use `ner_fewshot.methods.seeding`) as it found it.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

from .. import settings
from ..data.types import Dataset, LabelSet, Sentence, Span
from .option_types import check_value, field_types, type_name


class MethodUnavailable(RuntimeError):
    """The method cannot run here (e.g. its backbone is not installed and no hub is reachable).

    The message must say what is missing and which setting or install fixes it; the harness shows
    it in the table instead of a score.
    """


def option(default: Any = dataclasses.MISSING, *, help: str, choices: Sequence[Any] | None = None, **kwargs: Any):
    """A config field with help text (peft style). Mutable defaults: pass `default_factory=`."""
    metadata = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    if default is dataclasses.MISSING:
        return field(metadata=metadata, **kwargs)
    return field(default=default, metadata=metadata, **kwargs)


@dataclass(frozen=True)
class MethodContext:
    """Where a method runs, given to it explicitly (by the harness, a test or a notebook)."""

    data_dir: Path | None = None  # relative data paths in options (e.g. a transitions file) resolve here
    cache_dir: Path | None = None  # derived artefacts (checkpoints, converted weights); None: settings.cache_dir()

    @classmethod
    def from_environment(cls) -> "MethodContext":
        """For code outside the harness: $NER_FEWSHOT_DATA and $NER_FEWSHOT_CACHE, read (never written)."""
        return cls(data_dir=settings.data_dir())

    def cache_folder(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else settings.cache_dir()


@dataclass
class MethodConfig:
    """Base config. Subclasses add fields made with `option(...)`, each with help text."""

    seed: int = option(0, help="Random seed for everything the method draws (initialisation, dropout, batches).")
    device: str = option("auto", help="'auto' (CUDA if available, else CPU), 'cpu', 'cuda', 'cuda:1', ...")

    def __post_init__(self) -> None:
        types = field_types(type(self))
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = check_value(getattr(self, f.name), types[f.name], f"{type(self).__name__}.{f.name}")
            object.__setattr__(self, f.name, value)
            if choices is not None and value not in choices:
                raise ValueError(f"{type(self).__name__}.{f.name}={value!r} is not one of {list(choices)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "MethodConfig":
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"{cls.__name__} has no option(s) {unknown}; valid options: {sorted(known)}"
            )
        return cls(**dict(values))

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, help) for every option: used by `--list-methods` and the docs."""
        rows = []
        types = field_types(cls)
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f.default_factory()  # type: ignore[misc]
            else:
                default = None
            rows.append((f.name, type_name(types[f.name]), default, f.metadata.get("help", "")))
        return rows


@dataclass(frozen=True)
class ParameterCounts:
    trainable: int
    total: int
    notes: str = ""  # e.g. "folded K/V prompts: 737,280"


class FewShotMethod(ABC):
    """Base class of every method. Subclasses set `name`, `config_class` and `citation`."""

    name: ClassVar[str]
    config_class: ClassVar[type[MethodConfig]] = MethodConfig
    citation: ClassVar[str] = ""  # BibTeX entry for the method's paper
    summary: ClassVar[str] = ""  # one line for listings

    def __init__(self, config: MethodConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()
        self.context = MethodContext.from_environment()  # create_method replaces it with the caller's
        if not isinstance(self.config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(self.config).__name__}")

    def prepare(self) -> None:
        """Load heavy resources once (backbones); `self.context` is set by then. Raise MethodUnavailable
        with a fix if impossible."""

    def train_source(self, source: Dataset, *, progress=None) -> None:
        """Optional source-domain training (meta-training, transfer). Default: nothing to do."""

    @abstractmethod
    def fit(self, support: Sequence[Sentence], label_set: LabelSet) -> None:
        """Adapt to one episode. Must not depend on earlier episodes: reset episode state first."""

    def fit_selecting(self, support: Sequence[Sentence], label_set: LabelSet, selection: Sequence[Sentence],
                      score: Callable[[Sequence[Sentence], list[list[Span]]], float]) -> None:
        """Fit, keeping the training checkpoint (e.g. epoch) whose predictions on `selection` score best.

        The harness calls this instead of `fit` when a protocol selects checkpoints: on a dev split, or on
        the test queries themselves under an authors' protocol, which the table then labels as such.
        Methods with nothing to select simply fit.
        """
        self.fit(support, label_set)

    @abstractmethod
    def predict(self, sentences: Sequence[Sentence]) -> list[list[Span]]:
        """Spans for each sentence, using only its words (gold spans must be ignored)."""

    @abstractmethod
    def parameter_counts(self) -> ParameterCounts:
        """Trainable parameters (what `fit` changes) and total parameters."""

    def save(self, directory: str | Path) -> None:
        """Save what `fit` trained, so that `load` reproduces identical predictions."""
        raise NotImplementedError(f"{self.name} does not support save()")

    def load(self, directory: str | Path) -> None:
        raise NotImplementedError(f"{self.name} does not support load()")

    def describe_backbone(self) -> str:
        """Short backbone name for tables (e.g. 'all-MiniLM-L6-v2', 'facebook/bart-base', 'none')."""
        return "none"

    def episode_diagnostics(self) -> dict[str, Any]:
        """What the last fit + predict did, as JSON-able facts for the results file (e.g. training steps,
        final loss, how often a generative method opened an entity). Optional key "warnings": a list of
        one-line problems the table must show beside the score (e.g. "no entity predicted")."""
        return {}

    def row_tags(self) -> dict[str, str]:
        """Settings that change what a score means and must be visible in its table row
        (e.g. {'training': 'train-free'})."""
        return {}
