"""`ner-fewshot tag` end to end, in-process: fit, tag, write, save, load, and its errors."""
import io
import json
import sys

import pytest

from benchmarks.cli import main as cli
from ner_fewshot.data.types import Span
from ner_fewshot.tagger import Tagger, read_manifest

SUPPORT = "Bill\tB-person\nGates\tI-person\nflew\tO\nto\tO\nParis\tB-loc\n\nParis\tB-loc\nis\tO\nnice\tO\n"
TEXT = "Bill Gates loves Paris!\n\nnothing here\n"


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "support.conll").write_text(SUPPORT, encoding="utf-8")
    (tmp_path / "text.txt").write_text(TEXT, encoding="utf-8")
    return tmp_path


def tag(*args):
    return cli(["tag", "--method", "string-match", "--no-progress", *args])


def test_tags_raw_text_into_jsonl_with_tokens_offsets_and_spans(files, capsys):
    assert tag("--support", "support.conll", "--input", "text.txt", "--output", "out.jsonl") == 0
    first, second = [json.loads(line) for line in (files / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert first == {
        "source": "text.txt:1", "text": "Bill Gates loves Paris!", "tokens": ["Bill", "Gates", "loves", "Paris", "!"],
        "offsets": [[0, 4], [5, 10], [11, 16], [17, 22], [22, 23]],
        "spans": [{"start": 0, "end": 2, "char_start": 0, "char_end": 10, "type": "person", "text": "Bill Gates"},
                  {"start": 3, "end": 4, "char_start": 17, "char_end": 22, "type": "loc", "text": "Paris"}]}
    assert (second["source"], second["spans"]) == ("text.txt:3", [])
    assert "tagged 2 sentences" in capsys.readouterr().err


def test_conll_output_to_stdout_and_stdin_input(files, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Paris loves Bill Gates\n"), encoding="utf-8"))
    assert tag("--support", "support.conll", "--input", "-", "--format", "conll") == 0
    assert capsys.readouterr().out == "Paris\tB-loc\nloves\tO\nBill\tB-person\nGates\tI-person\n\n"


def test_saved_folder_records_method_config_and_label_set_and_reloads_identically(files, capsys):
    assert tag("--support", "support.conll", "--option", "case_sensitive=false", "--save", "fitted") == 0
    manifest = read_manifest(files / "fitted")
    assert (manifest["method"], manifest["config"]["case_sensitive"]) == ("string-match", False)
    assert [t["name"] for t in manifest["label_set"]] == ["loc", "person"]
    assert cli(["tag", "--load", "fitted", "--input", "text.txt", "--output", "out.conll"]) == 0
    assert (files / "out.conll").read_text(encoding="utf-8").startswith("Bill\tB-person\nGates\tI-person\nloves\tO\nParis\tB-loc\n")
    reloaded = Tagger.load(files / "fitted")
    assert reloaded.predict([__import__("ner_fewshot").data.Sentence(("paris",))]) == [[Span(0, 1, "loc")]]


def test_loading_with_another_method_or_config_is_a_clear_error(files, capsys):
    assert tag("--support", "support.conll", "--save", "fitted") == 0
    capsys.readouterr()
    assert cli(["tag", "--load", "fitted", "--method", "protobert", "--input", "text.txt"]) == 2
    assert "holds a fitted 'string-match', not 'protobert'" in capsys.readouterr().err
    assert cli(["tag", "--load", "fitted", "--option", "case_sensitive=false", "--input", "text.txt"]) == 2
    assert "was fitted with case_sensitive=True, not case_sensitive=False" in capsys.readouterr().err
    assert cli(["tag", "--load", "support.conll", "--input", "text.txt"]) == 2
    assert "is not a saved tagger" in capsys.readouterr().err


def test_bad_input_names_file_and_line_and_writes_nothing(files, capsys):
    (files / "bad.jsonl").write_text('{"text": "fine"}\n{"text": 3}\n', encoding="utf-8")
    (files / "out.jsonl").write_text("earlier results\n", encoding="utf-8")
    assert tag("--support", "support.conll", "--input", "bad.jsonl", "--output", "out.jsonl", "--save", "fitted") == 2
    assert "bad.jsonl:2:" in capsys.readouterr().err
    assert (files / "out.jsonl").read_text(encoding="utf-8") == "earlier results\n"  # untouched
    assert sorted(p.name for p in files.iterdir()) == ["bad.jsonl", "out.jsonl", "support.conll", "text.txt"]


def test_bad_support_and_bad_options_are_errors_before_any_work(files, capsys):
    (files / "bad.conll").write_text("Bill B-person\nGates\n", encoding="utf-8")
    assert tag("--support", "bad.conll", "--input", "text.txt") == 2
    assert "bad.conll:2:" in capsys.readouterr().err
    assert tag("--support", "support.conll", "--option", "no_such=1", "--input", "text.txt") == 2
    assert "valid options" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["tag", "--input", "text.txt"])  # neither --support nor --load
    assert "exactly one of --support" in capsys.readouterr().err


def test_conll_output_refuses_tokens_with_spaces(files, capsys):
    (files / "in.jsonl").write_text('{"tokens": ["New York", "rocks"]}\n', encoding="utf-8")
    assert tag("--support", "support.conll", "--input", "in.jsonl", "--output", "out.conll", "--save", "fitted") == 2
    assert "holds whitespace" in capsys.readouterr().err  # before fitting: nothing saved, nothing written
    assert not (files / "out.conll").exists() and not (files / "fitted").exists()


def test_saving_a_method_without_save_is_an_error_and_leaves_nothing(files, capsys, monkeypatch):
    from ner_fewshot.methods.base import FewShotMethod
    from ner_fewshot.methods.string_match import StringMatch

    monkeypatch.setattr(StringMatch, "save", FewShotMethod.save)
    assert tag("--support", "support.conll", "--save", "fitted") == 2
    assert "cannot be saved" in capsys.readouterr().err and not (files / "fitted").exists()


def test_protobert_save_load_round_trip_and_backbone_mismatch(files, capsys, minilm_path):
    assert cli(["tag", "--support", "support.conll", "--input", "text.txt", "--output", "fit.jsonl", "--save", "fitted",
                "--option", "device=cpu"]) == 0
    assert read_manifest(files / "fitted")["backbone"] == "all-MiniLM-L6-v2"
    assert cli(["tag", "--load", "fitted", "--input", "text.txt", "--output", "load.jsonl"]) == 0
    assert (files / "fit.jsonl").read_text() == (files / "load.jsonl").read_text()
    capsys.readouterr()
    assert cli(["tag", "--load", "fitted", "--option", "backbone=bert-base-uncased", "--input", "text.txt"]) == 2
    assert "was fitted with backbone='packaged:all-MiniLM-L6-v2', not backbone='bert-base-uncased'" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_long_inputs_show_a_progress_bar_on_a_terminal_and_batches_keep_input_order(files, monkeypatch):
    lines = [("Bill Gates " * (i % 7 + 1)).strip() + f" {i}" for i in range(150)]
    (files / "long.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli(["tag", "--method", "string-match", "--support", "support.conll", "--input", "long.txt",
                "--output", "out.jsonl", "--batch-size", "16"]) == 0
    bar = terminal.getvalue()
    assert "tagging" in bar and "150/150" in bar
    records = [json.loads(line) for line in (files / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in records] == lines  # length-sorted batches, results back in input order
    assert all(len(r["spans"]) == i % 7 + 1 for i, r in enumerate(records)), [len(r["spans"]) for r in records[:8]]
    terminal.truncate(0)
    assert tag("--support", "support.conll", "--input", "long.txt", "--output", "out.jsonl", "--no-progress") == 0
    assert "150/150" not in terminal.getvalue()
