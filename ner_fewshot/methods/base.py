"""The interface every few-shot NER method implements, and the base of their configs.

Life cycle, driven by the harness for each method:
    method = MethodClass(config)
    method.prepare()                      # once: load backbones; raise MethodUnavailable if it cannot run
    method.train_source(dataset)          # optional, once: meta-training / source-domain transfer
    for episode in episodes:
        method.fit(episode.support, episode.label_set)   # must start from the same state every time
        predictions = method.predict(episode.query)      # list of spans per sentence
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

from ..data.types import Dataset, LabelSet, Sentence, Span


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


@dataclass
class MethodConfig:
    """Base config. Subclasses add fields made with `option(...)`, each with help text."""

    seed: int = option(0, help="Random seed for everything the method draws (initialisation, dropout, batches).")
    device: str = option("auto", help="'auto' (CUDA if available, else CPU), 'cpu', 'cuda', 'cuda:1', ...")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if str(f.type) == "bool" and not isinstance(value, bool):
                raise ValueError(f"{type(self).__name__}.{f.name} must be true or false, got {value!r}")
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
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f.default_factory()  # type: ignore[misc]
            else:
                default = None
            rows.append((f.name, str(f.type), default, f.metadata.get("help", "")))
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
        if not isinstance(self.config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(self.config).__name__}")

    def prepare(self) -> None:
        """Load heavy resources once (backbones). Raise MethodUnavailable with a fix if impossible."""

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

    def row_tags(self) -> dict[str, str]:
        """Settings that change what a score means and must be visible in its table row
        (e.g. {'training': 'train-free'})."""
        return {}
