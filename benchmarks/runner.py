"""Runs methods on the shared episodes: one record per (method, episode) appended to results.jsonl.

A method that cannot be loaded or prepared is recorded as skipped (with the reason) for every
episode; a method that crashes on one episode is recorded as failed for that episode (with the
traceback) and the run goes on. Nothing already done (status ok) is recomputed on resume.
"""
from __future__ import annotations

import gc
import hashlib
import json
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from ner_fewshot.data.types import Sentence, Span
from ner_fewshot.evaluation import SCORING_TAGS, SENTENCE_SCORING, score_episode
from ner_fewshot.methods import MethodContext, MethodUnavailable, create_method, get_method_class

from .measure import PeakMemory
from .progress import RunProgress
from .results import FAILED, OK, SKIPPED, LoadedResults, ResultStore, RunKey


@dataclass
class MethodRequest:
    """A method to run and its config options (from --method-option and the profile)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


def config_dict(request: MethodRequest) -> dict[str, Any]:
    """The full config (defaults filled in) when the class loads; else the raw options."""
    try:
        cls = get_method_class(request.name)
    except Exception:  # an unloadable plugin is reported by run_method, not here
        return dict(request.options)
    return cls.config_class.from_dict(request.options).to_dict()


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_key(requests: Sequence[MethodRequest], episode_hash: str) -> RunKey:
    """Which records belong to this run: its episode set, each method at its config."""
    return RunKey(episode_hash, {r.name: config_hash(config_dict(r)) for r in requests})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def check_predictions(predictions: Any, query: Sequence) -> list[list[Span]]:
    """The method's output, verified: one span list per query sentence, spans inside their sentence."""
    if not isinstance(predictions, (list, tuple)) or len(predictions) != len(query):
        got = len(predictions) if isinstance(predictions, (list, tuple)) else type(predictions).__name__
        raise ValueError(f"predict() returned {got} span lists for {len(query)} query sentences")
    checked = []
    for index, (spans, sentence) in enumerate(zip(predictions, query)):
        for span in spans:
            if not isinstance(span, Span) or span.end > len(sentence.words):
                raise ValueError(f"predict() gave {span!r} for query sentence {index} "
                                 f"({len(sentence.words)} words, {sentence.source or 'no source'})")
        checked.append(list(spans))
    return checked


class DamagedInfo(ValueError):
    """methods.json cannot be read."""


class MethodInfoStore:
    """methods.json: what the table shows about each method (backbone, tags, params, citation, config)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DamagedInfo(f"{self.path} is not valid JSON ({error})") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise DamagedInfo(f"{self.path} is not an object of per-method objects")
        return data

    def set_aside_if_damaged(self) -> str | None:
        """A damaged file is renamed methods.damaged.json (kept for inspection) and rebuilt by the run;
        returns what was wrong, or None."""
        try:
            self.load()
        except DamagedInfo as error:
            self.path.replace(self.path.with_name(self.path.stem + ".damaged" + self.path.suffix))
            return str(error)
        return None

    def update(self, name: str, info: dict[str, Any]) -> None:
        data = self.load()
        data[name] = {**data.get(name, {}), **info}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
        tmp.replace(self.path)


def describe_method(method) -> dict[str, Any]:
    counts = method.parameter_counts()
    return {
        "backbone": method.describe_backbone(),
        "tags": dict(method.row_tags()),
        "trainable_parameters": counts.trainable,
        "total_parameters": counts.total,
        "parameter_notes": counts.notes,
        "citation": type(method).citation,
        "summary": type(method).summary,
        "config": method.config.to_dict(),
    }


@dataclass
class EpisodeContext:
    setting_of: Mapping[str, str]  # episode id -> setting key
    episode_hash: str
    selection: str = "none"  # "query": fit_selecting() on the episode's query (authors' protocol)
    method_context: MethodContext = field(default_factory=MethodContext)  # data and cache folders for methods
    span_scoring: str = SENTENCE_SCORING  # or "fewnerd-episode" (Few-NERD's code), tagged in every row


def run_method(request: MethodRequest, episodes: Sequence, context: EpisodeContext, store: ResultStore,
               previous: LoadedResults, infos: MethodInfoStore, progress: RunProgress, source=None) -> None:
    """Run one method on every episode not already done."""
    cfg = config_dict(request)
    base = {"method": request.name, "config_hash": config_hash(cfg), "episode_hash": context.episode_hash}
    todo = [e for e in episodes if not previous.done(request.name, e.id)]
    task = progress.add_method(request.name, len(episodes), already_done=len(episodes) - len(todo))
    if not todo:
        progress.finish(task, "done (resumed)")
        return

    def write_all(status: str, error: str, trace: str | None) -> None:
        for episode in todo:
            store.append({**base, "episode_id": episode.id, "setting": context.setting_of[episode.id],
                          "status": status, "error": error, "traceback": trace, "finished_at": _now()})

    progress.status(task, "preparing")
    try:
        method = create_method(request.name, request.options, context.method_context)
        method.prepare()
        if source is not None:
            progress.status(task, f"train_source({source.name})")
            method.train_source(source)
    except MethodUnavailable as error:
        write_all(SKIPPED, str(error), None)
        infos.update(request.name, {"config": cfg, "unavailable": str(error)})
        progress.finish(task, "skipped")
        progress.log(f"{request.name}: skipped: {error}")
        return
    except Exception as error:  # ImportError of a plugin not written yet, a broken backbone, ...
        status = SKIPPED if isinstance(error, ImportError) else FAILED
        write_all(status, _error_text(error), traceback.format_exc())
        infos.update(request.name, {"config": cfg, "unavailable": _error_text(error)})
        progress.finish(task, status)
        progress.log(f"{request.name}: {status} before the first episode: {_error_text(error)}")
        return

    # Parameter counts come after the episodes (they can cost a model wrap, e.g. CLLMFS's LoRA).
    infos.update(request.name, {"config": method.config.to_dict(), "unavailable": None})
    failures = 0
    for position, episode in enumerate(todo, start=1):
        progress.status(task, f"episode {episode.id}")
        record = {**base, "episode_id": episode.id, "setting": context.setting_of[episode.id],
                  "n_support": len(episode.support), "n_query": len(episode.query)}
        try:
            record.update(_run_episode(method, episode, context.selection, context.span_scoring))
            record["status"] = OK
        except Exception as error:
            failures += 1
            record.update(status=FAILED, error=_error_text(error), traceback=traceback.format_exc())
            progress.log(f"{request.name}: failed on episode {episode.id}: {_error_text(error)}")
        record["finished_at"] = _now()
        store.append(record)
        progress.advance(task, f"{failures} failed" if failures else "")
    info = _safe_describe(method)  # parameter counts can depend on the last fit
    if context.span_scoring in SCORING_TAGS:
        info["tags"] = {**info.get("tags", {}), "scoring": SCORING_TAGS[context.span_scoring]}
    infos.update(request.name, info)
    progress.finish(task, f"done, {failures} failed" if failures else "done")
    del method
    gc.collect()


def _safe_describe(method) -> dict[str, Any]:
    try:
        return describe_method(method)
    except Exception as error:  # a describe bug must not lose the scores
        return {"config": method.config.to_dict(), "describe_error": _error_text(error)}


def without_gold(sentences: Sequence[Sentence]) -> list[Sentence]:
    """The query as a method may see it: words and source, no gold spans."""
    return [Sentence(s.words, (), s.source) for s in sentences]


def _scorer(shown: Sequence[Sentence], gold: Sequence[Sequence[Span]]):
    """fit_selecting's score(sentences, predictions): F1 against the gold the harness kept back."""
    gold_of = {id(sentence): spans for sentence, spans in zip(shown, gold)}

    def score(sentences: Sequence[Sentence], predictions: list[list[Span]]) -> float:
        missing = [i for i, s in enumerate(sentences) if id(s) not in gold_of]
        if missing:
            raise ValueError(f"score() got {len(missing)} sentence(s) that are not the selection sentences it was given")
        return score_episode([gold_of[id(s)] for s in sentences], predictions).f1

    return score


def _run_episode(method, episode, selection: str = "none", span_scoring: str = SENTENCE_SCORING) -> dict[str, Any]:
    gold = [list(sentence.spans) for sentence in episode.query]
    query = without_gold(episode.query)  # no method, built-in or plugin, ever sees the query's labels
    with PeakMemory() as memory:
        start = time.perf_counter()
        if selection == "query":
            method.fit_selecting(episode.support, episode.label_set, query, _scorer(query, gold))
        else:
            method.fit(episode.support, episode.label_set)
        fitted = time.perf_counter()
        predictions = check_predictions(method.predict(query), query)
        predicted = time.perf_counter()
    score = score_episode(gold, predictions, span_scoring=span_scoring, lengths=[len(s.words) for s in episode.query])
    diagnostics = method.episode_diagnostics()
    predict_seconds = predicted - fitted
    return {
        "predictions": [[span.to_json() for span in spans] for spans in predictions],
        "score": score.to_dict(),
        "span_scoring": span_scoring,
        "fit_seconds": round(fitted - start, 6),
        "predict_seconds": round(predict_seconds, 6),
        "sentences_per_second": round(len(query) / predict_seconds, 3) if predict_seconds > 0 else None,
        **memory.as_dict(),
        **({"diagnostics": diagnostics} if diagnostics else {}),
        "error": None,
        "traceback": None,
    }


def run_all(requests: Sequence[MethodRequest], episodes: Sequence, context: EpisodeContext,
            output_dir: Path, progress: RunProgress, source=None) -> None:
    """`source`: a Dataset for every method's train_source(), or None. Only results of this run's
    episode set and configs count as done."""
    store = ResultStore(output_dir / "results.jsonl")
    previous = store.load(run_key(requests, context.episode_hash))
    infos = MethodInfoStore(output_dir / "methods.json")
    for request in requests:
        run_method(request, episodes, context, store, previous, infos, progress, source)
