"""What the harness must never do: mix two runs' results, lose earlier results, show a method the
query's gold spans, crash with a traceback on a damaged folder, or start work on a bad request."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import compare
from benchmarks.output_dir import OutputLock
from benchmarks.profiles import PROFILES, profile_for_datasets
from ner_fewshot import settings
from ner_fewshot.data.types import Span
from ner_fewshot.evaluation import score_episode
from ner_fewshot.methods import register_method, unregister_method

from test_harness import SEEN, Echo, fake_catalog, fakes, fits, records, run  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("restore_data_env")


def _table_f1(out: Path) -> float:
    return json.loads((out / "table.json").read_text())["tables"][0]["rows"][0]["f1"]


# ---- one folder, one run ---------------------------------------------------------------------------

def test_a_second_run_on_a_locked_folder_stops_with_a_message(tmp_path, fake_catalog, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with OutputLock(out):  # another run holds the folder
        assert run(out, methods="fake-echo") == 2
    err = capsys.readouterr().err
    assert "in use by another run" in err and f"pid {os.getpid()}" in err and len(err.strip().splitlines()) == 1
    assert not (out / "results.jsonl").exists() and fits("fake-echo") == 0
    assert run(out, methods="fake-echo") == 0  # released: the folder is usable again


def test_the_lock_dies_with_a_killed_process(tmp_path):
    code = ("import os, sys; from pathlib import Path; from benchmarks.output_dir import OutputLock; "
            "OutputLock(Path(sys.argv[1])).acquire(); os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=Path(__file__).resolve().parents[1], check=False)
    with OutputLock(tmp_path):
        pass


def test_table_and_resume_use_only_this_runs_records(tmp_path, fake_catalog, capsys):
    """Records of another config (as a concurrent or earlier run would append) change nothing."""
    assert run(tmp_path, methods="fake-echo") == 0
    own_f1 = _table_f1(tmp_path)
    mine = records(tmp_path)
    perfect = score_episode([[Span(0, 1, "city")]], [[Span(0, 1, "city")]]).to_dict()
    foreign = [{**r, "config_hash": "someone-else", "score": perfect} for r in mine]
    with (tmp_path / "results.jsonl").open("a") as handle:
        for record in foreign:
            handle.write(json.dumps(record) + "\n")
    SEEN.clear()
    assert run(tmp_path, "--resume", methods="fake-echo") == 0
    assert fits("fake-echo") == 0 and _table_f1(tmp_path) == own_f1
    assert "3 record(s) of other episodes or method configs" in capsys.readouterr().out
    assert len(records(tmp_path)) == 6  # the other run's lines are kept, not deleted


# ---- damaged folders: a clear line, never a traceback ------------------------------------------------

def test_a_damaged_run_json_refuses_resume_in_one_line(tmp_path, fake_catalog, capsys):
    assert run(tmp_path, methods="fake-echo") == 0
    for content in ("{not json", "[]", '{"episode_hash": 3}', '{"episode_hash": "x", "methods": []}'):
        (tmp_path / "run.json").write_text(content)
        capsys.readouterr()
        assert run(tmp_path, "--resume", methods="fake-echo") == 2
        err = capsys.readouterr().err
        assert "run.json" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, content


def test_result_lines_with_a_broken_score_are_redone(tmp_path, fake_catalog, capsys):
    """Well-formed lines whose score is not an episode score once crashed the table (KeyError: 'counts')."""
    assert run(tmp_path, methods="fake-echo") == 0
    good = records(tmp_path)
    broken_scores = [{}, {"counts": {}}, {"counts": {"predicted": "x", "gold": 1, "correct": 0}, "per_type": {},
                                          "errors": {}}, None]
    broken = [{**good[0], "score": score} for score in broken_scores]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*broken, *good[1:]]))
    SEEN.clear()
    assert run(tmp_path, "--resume", methods="fake-echo") == 0
    out = capsys.readouterr().out
    assert fits("fake-echo") == 1 and all(f"line {n} is damaged (score" in out for n in range(1, 5))
    assert json.loads((tmp_path / "table.json").read_text())["tables"][0]["rows"][0]["n_ok"] == 3


def test_a_damaged_methods_json_is_set_aside_not_a_crash(tmp_path, fake_catalog, capsys):
    assert run(tmp_path, methods="fake-echo") == 0
    (tmp_path / "methods.json").write_text("{truncated")
    assert run(tmp_path, "--resume", "--method-option", "fake-crash.lowercase=true", methods="fake-echo,fake-crash") == 0
    assert "set aside as methods.damaged.json" in " ".join(capsys.readouterr().out.split())
    assert (tmp_path / "methods.damaged.json").read_text() == "{truncated"
    assert set(json.loads((tmp_path / "methods.json").read_text())) == {"fake-crash"}


def _unwritable(tmp_path: Path) -> Path:
    if os.geteuid() == 0:  # root writes through any mode bits; sysfs refuses even root
        return Path("/sys/ner-fewshot-test-output")
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    return folder / "out"


@pytest.mark.parametrize("where", ["file", "under-file", "read-only"])
def test_an_unusable_output_folder_exits_2_in_one_line(where, tmp_path, fake_catalog, capsys):
    (tmp_path / "a-file").write_text("x")
    out = {"file": tmp_path / "a-file", "under-file": tmp_path / "a-file" / "out",
           "read-only": _unwritable(tmp_path)}[where]
    assert run(out, methods="fake-echo") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(out) in err and len(err.strip().splitlines()) == 1
    assert fits("fake-echo") == 0


# ---- bad requests exit 2 before any work ---------------------------------------------------------------

@pytest.mark.parametrize("extra, expected", [
    (["--method-option", "string-match.min_words=abc"], "'abc' is not an integer"),
    (["--method-option", "string-match.min_words=1.5"], "'1.5' is not an integer"),
    (["--method-option", "string-match.seed=abc"], "'abc' is not an integer"),
    (["--method-option", "string-match.case_sensitive=maybe"], "not a boolean"),
    (["--device", "banana"], "'banana' is not a device name"),
    (["--device", "cuda:99"], "cuda:99"),
    (["--method-option", "string-match.device=banana"], "'banana' is not a device name"),
    (["--methods", ","], "names nothing"),
    (["--datasets", ","], "names nothing"),
    (["--methods", "string-match,string-match"], "string-match more than once"),
    (["--seeds", "1,1"], "--seeds lists 1 more than once"),
    (["--shots", "1", "1"], "--shots lists 1 more than once"),
    (["--profile", "fewnerd-inter", "--datasets", "fake-ds"], "cannot sample episodes"),
])
def test_bad_values_exit_2_before_any_work(extra, expected, tmp_path, fake_catalog, capsys):
    argv = ["--datasets", "fake-ds", "--methods", "string-match", "--ways", "2", "--shots", "1", "--episodes", "1",
            "--query-size", "4", *extra, "--output-dir", str(tmp_path / "out"), "--no-progress"]
    with pytest.raises(SystemExit) as exit_info:
        compare.main(argv)
    assert exit_info.value.code == 2
    assert expected in capsys.readouterr().err.replace("\n", " ")
    assert not (tmp_path / "out").exists()


def test_fewnerd_datasets_take_their_own_modes_protocol():
    intra = profile_for_datasets(("few-nerd-intra",), PROFILES["default"])
    assert intra.sampler == "fewnerd-files"
    assert intra.method_options["structshot"]["transition_source"].startswith("few-nerd/episode-data/intra/")
    with pytest.raises(ValueError, match="run them separately"):
        profile_for_datasets(("few-nerd-inter", "few-nerd-intra"), PROFILES["default"])


def test_a_bug_while_building_episodes_is_a_traceback_not_exit_2(tmp_path, fake_catalog, monkeypatch):
    def broken(name, data_dir=None):
        raise AttributeError("'NoneType' object has no attribute 'split' (a bug, not a user error)")

    monkeypatch.setattr(fake_catalog, "load_dataset", broken)
    with pytest.raises(AttributeError, match="a bug"):
        run(tmp_path, methods="fake-echo")


# ---- what a method is given ------------------------------------------------------------------------------

class Spy(Echo):
    """Records every span it is shown at predict and fit_selecting time, and its context."""

    name = "fake-spy"
    shown: list = []
    contexts: list = []

    def prepare(self):
        Spy.contexts.append(getattr(self, "context", None))

    def fit_selecting(self, support, label_set, selection, score):
        Spy.shown += [s.spans for s in selection]
        self.fit(support, label_set)
        Spy.selection_f1 = score(selection, self.predict(selection))

    def predict(self, sentences):
        Spy.shown += [s.spans for s in sentences]
        return super().predict(sentences)


@pytest.fixture
def spy():
    Spy.shown, Spy.contexts = [], []
    register_method(Spy)
    yield Spy
    unregister_method(Spy.name)


def test_predict_never_sees_gold_spans_but_scores_use_them(tmp_path, fake_catalog, spy):
    assert run(tmp_path, methods="fake-spy,fake-echo") == 0
    assert spy.shown and not any(spy.shown)
    rows = {r["method"]: r for r in json.loads((tmp_path / "table.json").read_text())["tables"][0]["rows"]}
    assert rows["fake-spy"]["f1"] == rows["fake-echo"]["f1"] > 0


def test_selection_on_the_query_scores_against_gold_it_never_shows(spy):
    from benchmarks.runner import _run_episode
    from test_harness import FAKE, LABELS
    from ner_fewshot.episodes import Episode

    episode = Episode("e", LABELS, FAKE.split("pool")[:20], FAKE.split("test")[:10])
    method = Spy()
    record = _run_episode(method, episode, "query")
    assert spy.shown and not any(spy.shown)
    assert spy.selection_f1 == pytest.approx(record["score"]["counts"]["f1"]) and spy.selection_f1 > 0


def test_data_dir_reaches_methods_in_their_context_not_the_environment(tmp_path, fake_catalog, spy, monkeypatch):
    monkeypatch.delenv(settings.DATA_ENV, raising=False)
    data = tmp_path / "data"
    data.mkdir()
    assert run(tmp_path / "out", "--data-dir", str(data), methods="fake-spy") == 0
    assert settings.DATA_ENV not in os.environ
    assert [c.data_dir for c in spy.contexts] == [data.resolve()]


def test_the_default_run_includes_installed_plugins(fake_catalog):
    parser = compare.build_parser()
    args = parser.parse_args(["--datasets", "fake-ds"])
    profile, requests, _ = compare._validated_request(args, parser)
    assert {"string-match", "cllmfs", "fake-echo", "fake-crash"} <= set(profile.methods)
    assert profile.methods[0] == "string-match" and [r.name for r in requests] == list(profile.methods)
    authors = parser.parse_args(["--profile", "lightner-lowresource-authors"])
    assert compare._validated_request(authors, parser)[0].methods == ("string-match", "lightner")  # named on purpose
