"""The `ner-fewshot` dispatcher: each subcommand is the harness or the tagger, with its own options."""
import pytest

from benchmarks import compare
from benchmarks.cli import main


def test_usage_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("compare", "tag", "methods", "datasets", "profiles"))
    assert main([]) == 2 and "usage: ner-fewshot" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2 and "unknown command 'frobnicate'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, forwarded", [
    (["compare", "--methods", "string-match", "--episodes", "1"], ["--methods", "string-match", "--episodes", "1"]),
    (["methods"], ["--list-methods"]),
    (["datasets", "--data-dir", "x"], ["--list-datasets", "--data-dir", "x"]),
    (["profiles"], ["--list-profiles"]),
])
def test_compare_and_listings_delegate_to_the_harness(monkeypatch, argv, forwarded):
    seen = []
    monkeypatch.setattr(compare, "main", lambda args: seen.append(args) or 0)
    assert main(argv) == 0 and seen == [forwarded]


def test_listings_really_list(capsys):
    assert main(["methods"]) == 0
    assert "string-match" in capsys.readouterr().out
    assert main(["profiles"]) == 0
    assert "default" in capsys.readouterr().out


def test_tag_has_its_own_help(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["tag", "--help"])
    assert stop.value.code == 0 and "--support" in capsys.readouterr().out
