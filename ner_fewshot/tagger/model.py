"""A fitted method with what it was fitted for: the method's name, config and label set.

`Tagger.fit` builds a registered method and fits it on annotated sentences; `predict` tags new
sentences in batches; `save` writes the method's own state plus a manifest, `ner-fewshot-tagger.json`,
and `load` refuses a folder whose manifest names another method or config (e.g. another backbone).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..data.types import LabelSet, Sentence, Span
from ..methods.base import FewShotMethod
from ..methods.registry import create_method, get_method_class

MANIFEST = "ner-fewshot-tagger.json"
FORMAT = "ner-fewshot-tagger/1"
METHOD_FOLDER = "method"


class SavedTaggerError(ValueError):
    """A --load folder that cannot be used as asked; the message says why and what to do."""


def read_manifest(directory: str | os.PathLike) -> dict:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise SavedTaggerError(f"{directory} is not a saved tagger: {MANIFEST} not found "
                               "(save one with `ner-fewshot tag --support FILE --save DIR`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SavedTaggerError(f"{path}: damaged ({error}); fit afresh with --support") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SavedTaggerError(f"{path}: not a {FORMAT} manifest; fit afresh with --support")
    return manifest


@dataclass
class Timings:
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0  # inside method.predict only: what the speed goal measures
    predicted_sentences: int = 0


@dataclass
class Tagger:
    method: FewShotMethod
    label_set: LabelSet
    support: dict = field(default_factory=dict)  # where the support came from (recorded in the manifest)
    timings: Timings = field(default_factory=Timings)

    @classmethod
    def fit(cls, method_name: str, support: Sequence[Sentence], label_set: LabelSet,
            options: Mapping[str, Any] | None = None, *, support_info: Mapping[str, Any] | None = None) -> "Tagger":
        method = create_method(method_name, options)
        method.prepare()
        clock = time.perf_counter()
        method.fit(list(support), label_set)
        tagger = cls(method, label_set, {"sentences": len(support), **(support_info or {})})
        tagger.timings.fit_seconds = time.perf_counter() - clock
        return tagger

    def predict(self, sentences: Sequence[Sentence], *, batch_size: int = 256,
                on_batch: Callable[[int], None] | None = None) -> list[list[Span]]:
        """Spans per sentence, predicted `batch_size` sentences at a time (`on_batch(n)` after each).

        Batches are cut from the sentences sorted by length, so that a method padding its own
        mini-batches pads as little as in one call on everything; results come back in input order."""
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        spans: list[list[Span] | None] = [None] * len(sentences)
        for begin in range(0, len(order), batch_size):
            indices = order[begin : begin + batch_size]
            batch = [sentences[i] for i in indices]
            clock = time.perf_counter()
            predicted = self.method.predict(batch)
            self.timings.predict_seconds += time.perf_counter() - clock
            self.timings.predicted_sentences += len(batch)
            if len(predicted) != len(batch):
                raise RuntimeError(f"{self.method.name}.predict returned {len(predicted)} results for {len(batch)} sentences")
            for i, result in zip(indices, predicted):
                spans[i] = list(result)
            if on_batch is not None:
                on_batch(len(batch))
        return spans  # type: ignore[return-value]

    # ---- persistence --------------------------------------------------------------------------

    def manifest(self) -> dict:
        return {"format": FORMAT, "method": self.method.name, "config": self.method.config.to_dict(),
                "backbone": self.method.describe_backbone(), "label_set": self.label_set.to_json(),
                "support": self.support, "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the folder next to its final place, then rename: a failed save leaves nothing behind.

        An existing folder is replaced only when it is itself a saved tagger."""
        target = Path(directory)
        if target.exists() and not (target / MANIFEST).is_file() and (not target.is_dir() or any(target.iterdir())):
            raise FileExistsError(f"{target} exists and is not a saved tagger (no {MANIFEST}); choose a new folder")
        if type(self.method).save is FewShotMethod.save:
            raise NotImplementedError(f"method {self.method.name!r} cannot be saved (it has no save()); drop --save")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            self.method.save(staging / METHOD_FOLDER)
            (staging / MANIFEST).write_text(json.dumps(self.manifest(), indent=1, default=str), encoding="utf-8")
            previous = target.parent / f".{target.name}.previous-{os.getpid()}"
            if target.exists():
                target.rename(previous)
            staging.rename(target)
            shutil.rmtree(previous, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike, *, method_name: str | None = None,
             options: Mapping[str, Any] | None = None) -> "Tagger":
        """The tagger saved in `directory`. `method_name` / `options`, when given, must match what was saved."""
        folder = Path(directory)
        manifest = read_manifest(folder)
        saved = manifest["method"]
        if method_name is not None and method_name != saved:
            raise SavedTaggerError(f"{folder} holds a fitted {saved!r}, not {method_name!r}: drop --method to use it, "
                                   f"or fit {method_name!r} afresh with --support")
        for key, value in (options or {}).items():
            # compared as the manifest stores them (JSON: a tuple option reads back as a list)
            if key in manifest["config"] and manifest["config"][key] != json.loads(json.dumps(value, default=str)):
                raise SavedTaggerError(f"{folder} was fitted with {key}={manifest['config'][key]!r}, not {key}={value!r} "
                                       f"(backbone {manifest['backbone']!r}): drop that option, or fit afresh with --support")
        method_class = get_method_class(saved)
        method = method_class(method_class.config_class.from_dict(manifest["config"]))
        method.load(folder / METHOD_FOLDER)
        if method.describe_backbone() != manifest["backbone"]:
            raise SavedTaggerError(f"{folder}: saved with backbone {manifest['backbone']!r} but its method state "
                                   f"loads {method.describe_backbone()!r}; the folder is inconsistent, fit afresh")
        return cls(method, LabelSet.from_json(manifest["label_set"]), manifest.get("support", {}))
