"""Harness building blocks: the results file, option parsing, exports helpers, memory measurement."""
from __future__ import annotations

import argparse
import json

import pytest

from benchmarks.exports import latex_escape
from benchmarks.measure import PeakMemory
from benchmarks.options import MethodOptionError, int_list, parse_method_options
from benchmarks.profiles import DEFAULT, PROFILES, ordered_methods
from benchmarks.references import all_references, references_for
from benchmarks.results import ResultStore, validate_record
from ner_fewshot.evaluation import score_episode
from ner_fewshot.methods import MethodConfig, option
from dataclasses import dataclass


def _record(eid: str, status: str = "ok") -> dict:
    base = {"method": "m", "episode_id": eid, "setting": "s", "status": status, "config_hash": "c", "episode_hash": "e"}
    if status == "ok":
        base.update(predictions=[[]], score=score_episode([[]], [[]]).to_dict(), fit_seconds=0.1, predict_seconds=0.1)
    return base


def test_append_then_load_keeps_the_last_record_per_episode(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.append(_record("a", "failed"))
    store.append(_record("b"))
    store.append(_record("a"))
    loaded = store.load()
    assert loaded.done("m", "a") and loaded.done("m", "b") and not loaded.done("m", "c")
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 3


def test_truncated_line_is_reported_and_the_next_append_starts_a_new_line(tmp_path):
    path = tmp_path / "results.jsonl"
    store = ResultStore(path)
    store.append(_record("a"))
    with path.open("a") as handle:
        handle.write(json.dumps(_record("b"))[:30])  # a crash mid-write: no newline
    loaded = store.load()
    assert list(loaded.records) == [("m", "a")] and loaded.damaged[0].line_number == 2
    store.append(_record("b"))
    loaded = store.load()
    assert loaded.done("m", "b") and len(loaded.damaged) == 1


def test_incomplete_records_are_refused_on_write(tmp_path):
    record = _record("a")
    del record["predictions"]
    assert "predictions" in validate_record(record)
    with pytest.raises(ValueError, match="incomplete"):
        ResultStore(tmp_path / "r.jsonl").append(record)
    assert validate_record(_record("a", "skipped")) is None
    assert "status" in validate_record({**_record("a"), "status": "weird"})


def test_reset_keeps_every_previous_file(tmp_path):
    """Three fresh starts keep all three earlier files (the third once overwrote the first's)."""
    store = ResultStore(tmp_path / "results.jsonl")
    kept = []
    for episode in ("a", "b", "c"):
        store.append(_record(episode))
        kept.append(store.reset())
        assert not store.load().records
    assert [p.name for p in kept] == [f"results.previous-{n}.jsonl" for n in (1, 2, 3)]
    assert [list(ResultStore(p).load().records) for p in kept] == [[("m", e)] for e in "abc"]


@dataclass
class _Config(MethodConfig):
    backbone: str = option("x", help="h")
    epochs: int = option(1, help="h")
    ratio: float = option(0.5, help="h")


def test_method_options_are_typed_and_validated():
    lookup = {"a": _Config, "b": None}.get
    parsed = parse_method_options(["a.backbone=123", "a.epochs=3", "a.ratio=0.25", "b.anything=x"], ["a", "b"], lookup)
    assert parsed == {"a": {"backbone": "123", "epochs": 3, "ratio": 0.25}, "b": {"anything": "x"}}
    with pytest.raises(MethodOptionError, match="valid options"):
        parse_method_options(["a.nope=1"], ["a"], lookup)
    with pytest.raises(MethodOptionError, match="METHOD.KEY=VALUE"):
        parse_method_options(["a-epochs"], ["a"], lookup)
    with pytest.raises(MethodOptionError, match="not in this run"):
        parse_method_options(["c.epochs=1"], ["a"], lookup)


def test_int_lists():
    assert int_list("1,5") == [1, 5]
    with pytest.raises(argparse.ArgumentTypeError):
        int_list("one")


def test_latex_escape_handles_table_characters():
    assert latex_escape("a_b & 5~10 ±1 50%") == r"a\_b \& 5\textasciitilde{}10 $\pm$1 50\%"


def test_peak_memory_sees_an_allocation():
    import mmap

    # A fresh anonymous mapping: a heap allocation could reuse pages an earlier test left resident,
    # which would (correctly) not raise the RSS at all.
    with PeakMemory(interval_seconds=0.005) as peak:
        block = mmap.mmap(-1, 60 * 1024 * 1024)
        for offset in range(0, len(block), 4096):  # touch every page so it becomes resident
            block[offset] = 1
    measured = peak.as_dict()  # the closing sample sees the block: it is still alive here
    block.close()
    assert measured["rss_delta_mb"] >= 50 and measured["peak_rss_mb"] > measured["rss_delta_mb"]


def test_reference_files_parse_and_match_only_their_protocol():
    assert len(all_references()) == 30
    (v6,) = references_for("structshot", "few-nerd-inter/5-way/1~2-shot")
    assert v6.f1 == 51.88 and v6.std == 0.69
    (v5,) = references_for("structshot", "few-nerd-inter/5-way/1~2-shot", "v5")
    assert v5.f1 == 57.33
    assert references_for("structshot", None) == []
    assert references_for("cllmfs", "few-nerd-inter/5-way/1~2-shot") == []


def test_default_profile_is_offline_and_runs_every_method():
    assert DEFAULT.datasets == ("wnut16",) and PROFILES["default"] is DEFAULT
    assert DEFAULT.methods is None  # every registered method, plugins included (see test_harness.py)
    assert ordered_methods(["zz-plugin", "cllmfs", "string-match", "a-plugin"]) == (
        "string-match", "cllmfs", "a-plugin", "zz-plugin")


def test_authors_protocol_profiles_select_on_the_query_and_drop_entity_free_sentences():
    """The LightNER authors' protocol is offered only as labelled twin profiles."""
    from benchmarks.plan import build_plan
    from benchmarks.profiles import PROFILES
    from benchmarks.runner import _run_episode
    from ner_fewshot.data.types import Dataset, EntityType, LabelSet, Sentence, Span
    from ner_fewshot.methods.base import FewShotMethod, ParameterCounts

    labels = LabelSet((EntityType("LOC", ("location",), "places"),))
    with_entity = Sentence(("Paris", "is", "big"), (Span(0, 1, "LOC"),))
    without = Sentence(("nothing", "here"))
    dataset = Dataset("toy", {"10-shot": (with_entity, without), "test": (with_entity, without)}, labels)
    profile = PROFILES["lightner-crossdomain-authors"].with_overrides(datasets=("toy",), shots=(10,))
    plan = build_plan(profile, lambda name, data_dir=None: dataset, None)
    [episode] = plan.episode_set.episodes
    assert episode.support == (with_entity,) and episode.query == (with_entity,)
    assert "authors' protocol" in plan.settings[0].protocol["description"]
    assert "entity-free sentences dropped" in plan.settings[0].protocol["description"]
    assert PROFILES["lightner-crossdomain"].selection == "none"  # ours stays the default

    calls = []

    class Selecting(FewShotMethod):
        name = "selecting"

        def fit(self, support, label_set):
            calls.append("fit")

        def fit_selecting(self, support, label_set, selection, score):
            calls.append(("fit_selecting", len(selection), score(selection, [[Span(0, 1, "LOC")]])))

        def predict(self, sentences):
            return [[] for _ in sentences]

        def parameter_counts(self):
            return ParameterCounts(0, 0)

    _run_episode(Selecting(), episode, "query")
    _run_episode(Selecting(), episode, "none")
    assert calls == [("fit_selecting", 1, 1.0), "fit"]


def test_boolean_method_options_parse_any_spelling_and_reject_others():
    from benchmarks.options import MethodOptionError, parse_value

    assert parse_value("False", bool) is False and parse_value("true", bool) is True
    assert parse_value("0", bool) is False
    with pytest.raises(MethodOptionError):
        parse_value("maybe", bool)


def test_each_cited_work_has_one_bibtex_key():
    """Methods, datasets and published-number sources cite a paper under one key (references.bib once
    listed Few-NERD twice, under two keys)."""
    import re

    from ner_fewshot.data import catalog
    from ner_fewshot.methods import available_methods, get_method_class

    citations = [get_method_class(name).citation for name in available_methods()]
    citations += [catalog.dataset_info(name).citation for name in catalog.available_datasets()]
    citations += [ref.citation for ref in all_references()]
    key_of: dict[str, set[str]] = {}
    for text in filter(None, citations):
        key = re.match(r"\s*@\w+\s*\{\s*([^,\s]+)", text).group(1)
        title = re.search(r"title\s*=\s*[{\"](.+?)[}\"]\s*,?\s*\n", text).group(1)
        key_of.setdefault(re.sub(r"\W", "", title.lower()), set()).add(key)
    assert {title: keys for title, keys in key_of.items() if len(keys) > 1} == {}


def test_a_methods_own_warnings_reach_the_results_and_the_table_notes():
    from benchmarks.plan import Setting
    from benchmarks.results import LoadedResults
    from benchmarks.runner import _run_episode
    from benchmarks.table import build_row
    from ner_fewshot.data.types import EntityType, LabelSet, Sentence, Span
    from ner_fewshot.episodes import Episode

    class Silent:  # predicts nothing and says so, as an all-empty CLLMFS does
        def fit(self, support, label_set):
            pass

        def predict(self, sentences):
            return [[] for _ in sentences]

        def episode_diagnostics(self):
            return {"answer_rate": 0.0, "warnings": ["no entity predicted: all 2 answers empty"]}

    labels = LabelSet((EntityType("PER", ("person",), "people"),))
    sentence = Sentence(("Ann", "sings"), (Span(0, 1, "PER"),))
    record = _run_episode(Silent(), Episode("e1", labels, (sentence,), (sentence,)))
    assert record["diagnostics"]["warnings"] == ["no entity predicted: all 2 answers empty"]
    record.update(method="m", episode_id="e1", setting="s", status="ok")
    row = build_row("m", Setting("s", "d", 5, None, {}, episode_ids=["e1"]), LoadedResults({("m", "e1"): record}), {})
    assert row.f1 == 0.0 and row.warnings == ["episode e1: no entity predicted: all 2 answers empty"]
