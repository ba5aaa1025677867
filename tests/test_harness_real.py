"""The harness on real data from ../shared/data with the string-match baseline, end to end through main()."""
from __future__ import annotations

import json

import pytest

from benchmarks import compare
from ner_fewshot.data.types import Span
from ner_fewshot.episodes import EpisodeSet
from ner_fewshot.evaluation import score_episode, summarize


pytestmark = pytest.mark.usefixtures("restore_data_env")


def _recomputed_f1(out) -> dict[str, float]:
    """Micro F1 per setting, recomputed from the stored predictions against the saved episodes' gold."""
    episodes = {e.id: e for e in EpisodeSet.load(out / "episodes.jsonl")}
    scores: dict[str, list] = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        episode = episodes[record["episode_id"]]
        predicted = [[Span.from_json(s) for s in spans] for spans in record["predictions"]]
        gold = [list(s.spans) for s in episode.query]
        scores.setdefault(record["setting"], []).append(score_episode(gold, predicted))
    return {setting: 100 * summarize(s).micro.f1 for setting, s in scores.items()}


def test_string_match_on_crossner_kshot_episodes(shared_data, tmp_path):
    out = tmp_path / "run"
    code = compare.main(["--profile", "crossner-kshot", "--datasets", "crossner-politics", "--methods", "string-match", "--shots", "1,5", "--episodes", "2",
                         "--query-size", "150", "--data-dir", str(shared_data), "--output-dir", str(out), "--no-progress"])
    assert code == 0
    tables = json.loads((out / "table.json").read_text())["tables"]
    assert [t["setting"] for t in tables] == ["crossner-politics/5-way/1~2-shot",
                                                "crossner-politics/5-way/5~10-shot"]
    recomputed = _recomputed_f1(out)
    for table in tables:
        row = table["rows"][0]
        assert row["n_ok"] == 2 and row["n_failed"] == 0
        assert row["f1"] == round(recomputed[table["setting"]], 2)
        assert 0 < row["f1"] < 100  # a gazetteer of the support finds some, never all, mentions
    saved = EpisodeSet.load(out / "episodes.jsonl")
    assert all(len(e.query) == 150 for e in saved)
    assert "liu2021crossner" in (out / "references.bib").read_text()


def test_lightner_crossdomain_fixed_support_files(shared_data, tmp_path):
    out = tmp_path / "run"
    code = compare.main(["--profile", "lightner-crossdomain", "--datasets", "mit-restaurant", "--methods", "string-match",
                         "--shots", "10,20", "--query-size", "200", "--data-dir", str(shared_data),
                         "--output-dir", str(out), "--no-progress"])
    assert code == 0
    saved = EpisodeSet.load(out / "episodes.jsonl")
    assert [e.id for e in saved] == ["mit-restaurant/10-shot/10-shot", "mit-restaurant/20-shot/20-shot"]
    assert len(saved[0].support) == 40  # the authors' 10-shot file, read as is (not resampled)
    tables = json.loads((out / "table.json").read_text())["tables"]
    assert [t["shots"] for t in tables] == [10, 20]
    assert all(t["rows"][0]["n_ok"] == 1 for t in tables)
