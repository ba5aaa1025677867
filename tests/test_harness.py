"""The benchmark harness end to end through `main([...])`, with fake methods registered in-process and
a small fake dataset catalog (real-data runs: tests/test_harness_real.py)."""
from __future__ import annotations

import csv
import dataclasses
import json
import random
import types
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import compare
from benchmarks.results import ResultStore
from ner_fewshot.data.types import Dataset, EntityType, LabelSet, Sentence, Span
from ner_fewshot.episodes import EpisodeSet
from ner_fewshot.evaluation import EpisodeScore, summarize
from ner_fewshot.methods import MethodUnavailable, register_method, unregister_method
from ner_fewshot.methods import registry
from fake_gazetteer import EchoConfig, FakeGazetteer, synthetic_sentences

# ---- a fake dataset: sentences with person / city / company mentions ------------------------------

NAMES = {"person": ["Alice", "Bob", "Carol", "Dmitri", "Emeka", "Fatima", "Grace", "Hiro"],
         "city": ["Paris", "Lagos", "Osaka", "Lima", "Oslo", "Quito", "Perth", "Cairo"],
         "company": ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne"]}
FILLER = ["met", "visited", "left", "joined", "praised", "near", "with", "today", "yesterday", "and"]


def _sentences(count: int, seed: int, tag: str) -> tuple[Sentence, ...]:
    return synthetic_sentences(count, seed, tag, NAMES, FILLER)


LABELS = LabelSet(tuple(EntityType(n, (n,), f"a {n}") for n in sorted(NAMES)))
FAKE = Dataset("fake-ds", {"pool": _sentences(120, 1, "pool"), "test": _sentences(60, 2, "test")}, LABELS,
               citation="@misc{fakeds2026,\n  title = {A fake dataset},\n  year = {2026}\n}")


@pytest.fixture
def fake_catalog(monkeypatch):
    catalog = types.SimpleNamespace(
        available_datasets=lambda: ["fake-ds"],
        dataset_info=lambda name: "fake dataset for tests",
        load_dataset=lambda name, data_dir=None: FAKE,
    )
    monkeypatch.setattr(compare, "_catalog", lambda: catalog)
    return catalog


pytestmark = pytest.mark.usefixtures("restore_data_env")


# ---- fake methods ------------------------------------------------------------------------------------

SEEN: dict[str, list] = {}  # method name -> (episode support words, query words) per fit/predict call


class Echo(FakeGazetteer):
    """Remembers support mentions, labels their exact occurrences in the query, and records what it saw."""

    name = "fake-echo"
    citation = "@misc{echo2026,\n  title = {Echo},\n  year = {2026}\n}"

    def fit(self, support, label_set):
        self._support = support
        super().fit(support, label_set)
        SEEN.setdefault(self.name, []).append(("fit", [s.words for s in support]))

    def predict(self, sentences):
        SEEN.setdefault(self.name, []).append(("predict", [s.words for s in sentences]))
        return super().predict(sentences)


class CrashOnSecond(Echo):
    """Crashes on the second episode it is given (per instance)."""

    name = "fake-crash"
    config_class = EchoConfig
    citation = ""

    def fit(self, support, label_set):
        self._fits = getattr(self, "_fits", 0) + 1
        if self._fits == 2:
            raise RuntimeError("deliberate crash on the second episode")
        super().fit(support, label_set)


class Unavailable(Echo):
    name = "fake-unavailable"
    config_class = EchoConfig

    def prepare(self):
        raise MethodUnavailable("backbone fake/bart unavailable: no network; set fake-unavailable.backbone")


FAKES = (Echo, CrashOnSecond, Unavailable)


@pytest.fixture(autouse=True)
def fakes():
    SEEN.clear()
    for cls in FAKES:
        register_method(cls)
    yield
    for cls in FAKES:
        unregister_method(cls.name)


def run(out: Path, *extra: str, methods: str = "fake-echo,fake-crash,fake-unavailable") -> int:
    return compare.main(["--datasets", "fake-ds", "--methods", methods, "--ways", "2", "--shots", "1",
                         "--episodes", "3", "--query-size", "12", "--output-dir", str(out), "--no-progress", *extra])


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]


def fits(method: str) -> int:
    return sum(1 for kind, _ in SEEN.get(method, []) if kind == "fit")


# ---- tests ---------------------------------------------------------------------------------------------

def test_full_run_records_every_episode_and_the_table_matches_summarize(tmp_path, fake_catalog):
    assert run(tmp_path) == 0
    lines = records(tmp_path)
    by_status = Counter((r["method"], r["status"]) for r in lines)
    assert by_status == {("fake-echo", "ok"): 3, ("fake-crash", "ok"): 2, ("fake-crash", "failed"): 1,
                         ("fake-unavailable", "skipped"): 3}
    failed = next(r for r in lines if r["status"] == "failed")
    assert "deliberate crash" in failed["error"] and "Traceback" in failed["traceback"]
    skipped = next(r for r in lines if r["status"] == "skipped")
    assert "backbone fake/bart unavailable" in skipped["error"]
    ok = next(r for r in lines if r["status"] == "ok")
    for key in ("predictions", "score", "fit_seconds", "predict_seconds", "sentences_per_second", "peak_rss_mb"):
        assert key in ok
    assert ok["peak_rss_mb"] > 0

    table = json.loads((tmp_path / "table.json").read_text())["tables"][0]
    rows = {r["method"]: r for r in table["rows"]}
    for method in ("fake-echo", "fake-crash"):
        stored = [EpisodeScore.from_dict(r["score"]) for r in lines if r["method"] == method and r["status"] == "ok"]
        expected = summarize(stored)
        assert rows[method]["f1"] == pytest.approx(100 * expected.micro.f1, abs=0.01)
        assert rows[method]["precision"] == pytest.approx(100 * expected.micro.precision, abs=0.01)
        assert rows[method]["mean_f1"] == pytest.approx(100 * expected.mean_f1, abs=0.01)
        assert rows[method]["std_f1"] == pytest.approx(100 * expected.std_f1, abs=0.01)
    assert (rows["fake-crash"]["n_ok"], rows["fake-crash"]["n_failed"]) == (2, 1)
    assert rows["fake-unavailable"]["status"].startswith("skipped: backbone fake/bart unavailable")
    assert rows["fake-unavailable"]["f1"] is None  # never a 0 F1 for a method that did not run
    assert rows["fake-echo"]["tags"] == {"training": "train-free"}
    # exactly one best row; the other scored row has a paired bootstrap interval containing its delta
    best = [r for r in table["rows"] if r["is_best"]]
    assert len(best) == 1
    other = rows["fake-crash"] if best[0]["method"] == "fake-echo" else rows["fake-echo"]
    comparison = other["comparison"]
    assert comparison["n_episodes"] == 2 and comparison["low"] <= comparison["delta"] <= comparison["high"]
    assert "micro" in table["caption"] and EpisodeSet.load(tmp_path / "episodes.jsonl").short_hash in table["caption"]


def test_exports_exist_and_parse(tmp_path, fake_catalog):
    assert run(tmp_path) == 0
    with (tmp_path / "table.csv").open() as handle:
        csv_rows = list(csv.DictReader(handle))
    assert {r["method"] for r in csv_rows} == {"fake-echo", "fake-crash", "fake-unavailable"}
    assert all(r["setting"] == "fake-ds/2-way/1~2-shot" for r in csv_rows)
    tex = (tmp_path / "table.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex and "fake-echo" in tex
    assert "| method |" in (tmp_path / "table.md").read_text()
    bib = (tmp_path / "references.bib").read_text()
    assert "@misc{echo2026" in bib and "@misc{fakeds2026" in bib and bib.count("@misc{echo2026") == 1
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for key in ("packages", "git", "python", "platform", "hardware", "seeds", "episode_hash", "methods", "command"):
        assert key in manifest
    assert manifest["methods"]["fake-echo"] == {"seed": 0, "device": "auto", "lowercase": False}
    assert manifest["episode_hash"] == EpisodeSet.load(tmp_path / "episodes.jsonl").content_hash
    assert not (tmp_path / "f1_vs_shots.png").exists()  # one shot count: no plot


def test_every_method_gets_the_identical_episodes(tmp_path, fake_catalog):
    assert run(tmp_path, methods="fake-echo,fake-crash") == 0
    saved = EpisodeSet.load(tmp_path / "episodes.jsonl")
    expected = [("fit", [s.words for s in e.support]) for e in saved]
    assert [c for c in SEEN["fake-echo"] if c[0] == "fit"] == expected
    crash_fits = [c for c in SEEN["fake-crash"] if c[0] == "fit"]
    assert crash_fits == [expected[0], expected[2]]  # the second episode crashed before recording
    assert [c[1] for c in SEEN["fake-echo"] if c[0] == "predict"] == [[s.words for s in e.query] for e in saved]


def test_resume_recomputes_nothing_done_and_retries_the_failed_episode(tmp_path, fake_catalog):
    assert run(tmp_path) == 0
    SEEN.clear()
    assert run(tmp_path, "--resume") == 0
    assert fits("fake-echo") == 0
    assert fits("fake-crash") == 1  # only the failed episode, by a fresh instance: it succeeds now
    final = ResultStore(tmp_path / "results.jsonl").load()
    assert not final.damaged
    assert all(final.records[("fake-crash", eid)]["status"] == "ok"
               for (m, eid) in final.records if m == "fake-crash")
    rows = {r["method"]: r for r in json.loads((tmp_path / "table.json").read_text())["tables"][0]["rows"]}
    assert (rows["fake-crash"]["n_ok"], rows["fake-crash"]["n_failed"]) == (3, 0)


def test_truncated_last_line_is_redone_not_half_read(tmp_path, fake_catalog):
    assert run(tmp_path, methods="fake-echo") == 0
    path = tmp_path / "results.jsonl"
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    path.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # a crash mid-write
    SEEN.clear()
    assert run(tmp_path, "--resume", methods="fake-echo") == 0
    assert fits("fake-echo") == 1
    loaded = ResultStore(path).load()
    assert len(loaded.damaged) == 1 and "not valid JSON" in loaded.damaged[0].reason
    assert sum(1 for (m, _), r in loaded.records.items() if r["status"] == "ok") == 3


def test_missing_fields_count_as_damaged(tmp_path, fake_catalog):
    assert run(tmp_path, methods="fake-echo") == 0
    path = tmp_path / "results.jsonl"
    lines = path.read_text().splitlines()
    last = json.loads(lines[-1])
    del last["score"]
    path.write_text("\n".join(lines[:-1] + [json.dumps(last)]) + "\n")
    SEEN.clear()
    assert run(tmp_path, "--resume", methods="fake-echo") == 0
    assert fits("fake-echo") == 1


def test_resume_with_other_episodes_or_config_refuses(tmp_path, fake_catalog, capsys):
    assert run(tmp_path, methods="fake-echo") == 0
    SEEN.clear()
    assert compare.main(["--datasets", "fake-ds", "--methods", "fake-echo", "--ways", "2", "--shots", "1",
                         "--episodes", "4", "--query-size", "12", "--output-dir", str(tmp_path), "--no-progress",
                         "--resume"]) == 2
    assert "different" in capsys.readouterr().err.replace("\n", " ")
    assert run(tmp_path, "--resume", "--method-option", "fake-echo.lowercase=true", methods="fake-echo") == 2
    assert "lowercase" in capsys.readouterr().err
    assert fits("fake-echo") == 0


@pytest.mark.parametrize("argv, expected", [
    (["--methods", "no-such-method"], ["unknown method", "fake-echo", "string-match"]),
    (["--datasets", "no-such-data"], ["unknown dataset", "fake-ds"]),
    (["--profile", "nope"], ["unknown profile", "default", "lightner-crossdomain"]),
    (["--datasets", "fake-ds", "--methods", "fake-echo", "--shots", "0"], ["impossible"]),
    (["--datasets", "fake-ds", "--methods", "fake-echo", "--ways", "7"], ["7-way", "only 3 types"]),
    (["--datasets", "fake-ds", "--methods", "fake-echo", "--ways", "2", "--shots", "200"], ["k_shot=200"]),
    (["--datasets", "fake-ds", "--methods", "fake-echo", "--method-option", "fake-echo.nope=1"],
     ["no option 'nope'", "lowercase"]),
])
def test_bad_arguments_exit_2_with_the_valid_choices(argv, expected, tmp_path, fake_catalog, capsys):
    with pytest.raises(SystemExit) as exit_info:
        compare.main([*argv, "--output-dir", str(tmp_path / "out"), "--no-progress"])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.replace("\n", " ")
    for text in expected:
        assert text in message
    assert not (tmp_path / "out").exists()  # failed before any work
    assert not SEEN


def test_same_seed_same_episodes_and_same_f1(tmp_path, fake_catalog):
    assert run(tmp_path / "a", methods="fake-echo") == 0
    assert run(tmp_path / "b", methods="fake-echo") == 0
    assert EpisodeSet.load(tmp_path / "a/episodes.jsonl") == EpisodeSet.load(tmp_path / "b/episodes.jsonl")
    f1 = [json.loads((tmp_path / d / "table.json").read_text())["tables"][0]["rows"][0]["f1"] for d in "ab"]
    assert f1[0] == f1[1]
    assert run(tmp_path / "c", "--seeds", "1", methods="fake-echo") == 0
    assert EpisodeSet.load(tmp_path / "c/episodes.jsonl") != EpisodeSet.load(tmp_path / "a/episodes.jsonl")


def test_several_shot_counts_give_one_table_each_and_a_plot(tmp_path, fake_catalog):
    pytest.importorskip("matplotlib")
    assert compare.main(["--datasets", "fake-ds", "--methods", "fake-echo", "--ways", "2", "--shots", "1,2",
                         "--episodes", "2", "--query-size", "10", "--output-dir", str(tmp_path), "--no-progress"]) == 0
    tables = json.loads((tmp_path / "table.json").read_text())["tables"]
    assert [t["setting"] for t in tables] == ["fake-ds/2-way/1~2-shot", "fake-ds/2-way/2~4-shot"]
    assert (tmp_path / "f1_vs_shots.png").stat().st_size > 1000


def test_list_options_print_methods_with_help_and_profiles(capsys, fake_catalog):
    assert compare.main(["--list-methods", "--list-profiles", "--list-datasets"]) == 0
    out = capsys.readouterr().out
    assert "fake-echo" in out and "Lower-case before matching." in out
    assert "lightner-lowresource" in out and "fewnerd-inter" in out and "fake-ds" in out


def test_fewnerd_reference_numbers_appear_only_under_the_matching_protocol(tmp_path, fake_catalog, monkeypatch):
    """A fake registered as 'protobert' on a Few-NERD INTER 5-way 1~2 file: the v6 number is shown
    when the whole file ran, and not when only part of it did."""
    from ner_fewshot.episodes import write_fewnerd_episodes, sample_fewnerd

    big = LabelSet(tuple(EntityType(f"t{i}", (f"t{i}",), f"type {i}") for i in range(5)))
    words = [f"w{i}" for i in range(40)]
    rng = random.Random(3)
    sentences = []
    for i in range(200):
        label = f"t{rng.randrange(5)}"
        position = rng.randrange(4)
        tokens = rng.sample(words, 4)
        sentences.append(Sentence(tuple(tokens), (Span(position, position + 1, label),)))
    episodes = sample_fewnerd(sentences, big, n_way=5, k_shot=1, q_shot=1, n_episodes=3, seed=0)
    data = tmp_path / "data"
    write_fewnerd_episodes(data / "few-nerd/episode-data/inter/test_5_1.jsonl", episodes)

    class FakeProto(Echo):
        name = "protobert"

    # register_method refuses to shadow the built-in protobert; the test swaps it in directly.
    monkeypatch.setitem(registry._registered, "protobert", FakeProto)
    common = ["--profile", "fewnerd-inter", "--methods", "protobert", "--ways", "5", "--shots", "1",
              "--data-dir", str(data), "--no-progress"]
    assert compare.main([*common, "--output-dir", str(tmp_path / "full")]) == 0
    row = json.loads((tmp_path / "full/table.json").read_text())["tables"][0]["rows"][0]
    assert [r["f1"] for r in row["references"]] == [38.83]
    bib = (tmp_path / "full/references.bib").read_text()
    assert "ding-etal-2021-nerd" in bib and bib.count("title = {Few-{NERD}") == 1  # method, dataset, numbers: one entry
    assert compare.main([*common, "--episodes", "2", "--output-dir", str(tmp_path / "part")]) == 0
    row = json.loads((tmp_path / "part/table.json").read_text())["tables"][0]["rows"][0]
    assert row["references"] == []


def test_method_options_and_device_reach_the_method_config(tmp_path, fake_catalog):
    assert run(tmp_path, "--method-option", "fake-echo.lowercase=true", "--device", "cpu", methods="fake-echo") == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["methods"]["fake-echo"] == {"seed": 0, "device": "cpu", "lowercase": True}
    info = json.loads((tmp_path / "methods.json").read_text())["fake-echo"]
    assert info["config"]["lowercase"] is True and info["backbone"] == "none"


def test_resume_of_results_without_run_state_refuses(tmp_path, fake_catalog):
    assert run(tmp_path, methods="fake-echo") == 0
    (tmp_path / "run.json").unlink()
    SEEN.clear()
    assert run(tmp_path, "--resume", methods="fake-echo") == 2
    assert fits("fake-echo") == 0


def test_default_output_folder_is_named_after_profile_and_hash(tmp_path, fake_catalog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["--datasets", "fake-ds", "--methods", "fake-echo", "--ways", "2", "--shots", "1", "--episodes", "2",
            "--query-size", "8", "--no-progress"]
    assert compare.main(argv) == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("default-custom-") and (folder / "results.jsonl").exists()
    SEEN.clear()
    assert compare.main([*argv, "--resume"]) == 0  # same options: same folder, nothing recomputed
    assert fits("fake-echo") == 0 and len(list((tmp_path / "runs").iterdir())) == 1


def test_a_method_whose_module_cannot_be_imported_is_skipped_not_fatal(tmp_path, fake_catalog):
    class NotWrittenYet(Echo):
        name = "fake-missing-module"

        def __init__(self, config=None):
            raise ModuleNotFoundError("No module named 'baselines.not_written_yet'")

    register_method(NotWrittenYet)
    try:
        assert run(tmp_path, methods="fake-missing-module,fake-echo") == 0
    finally:
        unregister_method(NotWrittenYet.name)
    rows = {r["method"]: r for r in json.loads((tmp_path / "table.json").read_text())["tables"][0]["rows"]}
    assert rows["fake-missing-module"]["n_skipped"] == 3
    assert "No module named 'baselines.not_written_yet'" in rows["fake-missing-module"]["status"]
    assert rows["fake-echo"]["n_ok"] == 3


def test_tag_repairs_are_reported_per_file_in_console_and_manifest(tmp_path, fake_catalog, monkeypatch, capsys):
    data_dir = tmp_path / "data"
    repaired = dataclasses.replace(FAKE, repairs={str(data_dir / "fake" / "pool.txt"): 1959, str(data_dir / "fake" / "test.txt"): 0})
    monkeypatch.setattr(fake_catalog, "load_dataset", lambda name, data_dir=None: repaired)
    assert run(tmp_path / "out", "--data-dir", str(data_dir), methods="fake-echo") == 0
    console = capsys.readouterr().out
    assert "fake-ds" in console and "fake/pool.txt 1959" in console and "fake/test.txt 0" in console
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["data_repairs"] == {"fake-ds": {"fake/pool.txt": 1959, "fake/test.txt": 0}}


def test_fewnerd_episode_scoring_is_selected_recorded_tagged_and_not_mixed_on_resume(tmp_path, fake_catalog, capsys):
    from ner_fewshot.evaluation import FEWNERD_EPISODE_SCORING, SCORING_TAGS, score_episode

    assert run(tmp_path, "--span-scoring", FEWNERD_EPISODE_SCORING, methods="fake-echo") == 0
    episodes = {e.id: e for e in EpisodeSet.load(tmp_path / "episodes.jsonl").episodes}
    for record in records(tmp_path):
        episode = episodes[record["episode_id"]]
        predicted = [[Span.from_json(s) for s in spans] for spans in record["predictions"]]
        expected = score_episode([list(s.spans) for s in episode.query], predicted, span_scoring=FEWNERD_EPISODE_SCORING,
                                 lengths=[len(s.words) for s in episode.query])
        assert record["span_scoring"] == FEWNERD_EPISODE_SCORING and record["score"] == expected.to_dict()
    row = json.loads((tmp_path / "table.json").read_text())["tables"][0]["rows"][0]
    assert row["tags"]["scoring"] == SCORING_TAGS[FEWNERD_EPISODE_SCORING]
    assert run(tmp_path, "--resume", methods="fake-echo") == 2  # default scoring: refuses to mix
    assert "span_scoring" in capsys.readouterr().err
    assert run(tmp_path / "default", methods="fake-echo") == 0
    assert "scoring" not in json.loads((tmp_path / "default" / "table.json").read_text())["tables"][0]["rows"][0]["tags"]
