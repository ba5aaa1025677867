"""The samplers on real data (CoNLL-2003 from the CrossNER copy, a CrossNER domain): the K~2K bounds
over many seeds, disjoint support/query, restriction to the episode's types, determinism (also across
PYTHONHASHSEED), save/load with hash verification, and clear impossibility errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ner_fewshot.data.conll import read_conll
from ner_fewshot.data.types import EntityType, LabelSet
from ner_fewshot.episodes import EpisodeFileError, EpisodeSet, ImpossibleEpisode, sample_fewnerd, sample_kshot


def _label_set(sentences) -> LabelSet:
    names = sorted({span.label for sentence in sentences for span in sentence.spans})
    return LabelSet(tuple(EntityType(n, (n,), f"a {n}") for n in names))


@pytest.fixture(scope="module")
def conll_train(shared_data: Path):
    return read_conll(shared_data / "crossner" / "conll2003" / "train.txt").sentences


@pytest.fixture(scope="module")
def conll_test(shared_data: Path):
    return read_conll(shared_data / "crossner" / "conll2003" / "test.txt").sentences


@pytest.fixture(scope="module")
def music_test(shared_data: Path):
    return read_conll(shared_data / "crossner" / "music" / "test.txt").sentences


def assert_valid_fewnerd_episodes(episodes: EpisodeSet, k_shot: int, q_shot: int) -> None:
    for episode in episodes:
        names = set(episode.label_set.names)
        for part, sentences, shots in (("support", episode.support, k_shot), ("query", episode.query, q_shot)):
            counts = dict.fromkeys(names, 0)
            for sentence in sentences:
                assert sentence.spans, f"{episode.id} {part}: entity-free sentence {sentence.source}"
                assert sentence.labels <= names, f"{episode.id} {part}: {sentence.source} has foreign types"
                for span in sentence.spans:
                    counts[span.label] += 1
            assert all(shots <= n <= 2 * shots for n in counts.values()), f"{episode.id} {part}: {counts}"
        assert not {id(s) for s in episode.support} & {id(s) for s in episode.query}
        assert not {s.words for s in episode.support} & {s.words for s in episode.query}
        assert not {s.source for s in episode.support} & {s.source for s in episode.query}


@pytest.mark.parametrize("n_way, k_shot, q_shot, n_episodes", [(4, 5, 5, 100), (2, 1, 1, 150), (3, 1, 2, 150)])
def test_fewnerd_bounds_on_conll2003_over_many_seeds(conll_train, n_way, k_shot, q_shot, n_episodes):
    # Every episode has its own seed ([seed, 0, index]), so this covers n_episodes seeds per setting.
    labels = _label_set(conll_train)
    assert labels.names == ("location", "misc", "organisation", "person")
    episodes = sample_fewnerd(conll_train, labels, n_way=n_way, k_shot=k_shot, q_shot=q_shot,
                              n_episodes=n_episodes, seed=2024, dataset="conll2003")
    assert len(episodes) == n_episodes
    assert_valid_fewnerd_episodes(episodes, k_shot, q_shot)
    if n_way < len(labels):
        assert len({e.label_set.names for e in episodes}) > 1  # the N types really are drawn


def test_fewnerd_bounds_on_a_crossner_domain(music_test):
    labels = _label_set(music_test)
    assert len(labels) == 13
    # CrossNER sentences are dense (several types each), so some 5-type draws have no valid mix:
    # the sampler draws other types for those episodes (max_type_redraws, recorded in the protocol).
    episodes = sample_fewnerd(music_test, labels, n_way=5, k_shot=5, q_shot=5, n_episodes=20, seed=0,
                              dataset="crossner-music", max_type_redraws=20)
    assert episodes.protocol["max_type_redraws"] == 20
    assert_valid_fewnerd_episodes(episodes, 5, 5)


def test_seeds_determine_the_hash_and_files_verify(conll_train, tmp_path):
    labels = _label_set(conll_train)
    arguments = dict(n_way=3, k_shot=5, q_shot=5, n_episodes=10, dataset="conll2003")
    first = sample_fewnerd(conll_train, labels, seed=1, **arguments)
    again = sample_fewnerd(conll_train, labels, seed=1, **arguments)
    other = sample_fewnerd(conll_train, labels, seed=2, **arguments)
    assert first.content_hash == again.content_hash
    assert first.content_hash != other.content_hash
    path = first.save(tmp_path / "conll.jsonl")
    loaded = EpisodeSet.load(path)
    assert loaded.content_hash == first.content_hash
    assert [(e.label_set, e.support, e.query) for e in loaded] == [(e.label_set, e.support, e.query) for e in first]
    assert again.save(tmp_path / "again.jsonl").read_bytes() == path.read_bytes()

    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[3])
    record["query"][0]["spans"] = record["query"][0]["spans"][1:]  # drop one gold span
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("".join(lines[:3]) + json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n" + "".join(lines[4:]), encoding="utf-8")
    with pytest.raises(EpisodeFileError, match="hash mismatch"):
        EpisodeSet.load(tampered)
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("".join(lines[:-2]), encoding="utf-8")
    with pytest.raises(EpisodeFileError, match=r"truncated.jsonl.*announces 10 episodes but the file has 8.*re-generate"):
        EpisodeSet.load(truncated)


_SUBPROCESS = """
import sys
from ner_fewshot.data.conll import read_conll
from ner_fewshot.data.types import EntityType, LabelSet
from ner_fewshot.episodes import sample_fewnerd, sample_kshot
sentences = read_conll(sys.argv[1]).sentences
names = sorted({s.label for x in sentences for s in x.spans})
labels = LabelSet(tuple(EntityType(n, (n,), f"a {n}") for n in names))
print(sample_fewnerd(sentences, labels, n_way=5, k_shot=2, q_shot=2, n_episodes=5, seed=3, max_type_redraws=20).content_hash)
print(sample_kshot(sentences, sentences[:50], labels.subset(names[:4]), k_shot=2, n_episodes=2, seed=3).content_hash)
"""


def test_sampling_does_not_depend_on_pythonhashseed(shared_data):
    path = shared_data / "crossner" / "politics" / "test.txt"
    outputs = []
    for hash_seed in ("0", "12345"):
        environment = dict(os.environ, PYTHONHASHSEED=hash_seed)
        result = subprocess.run([sys.executable, "-c", _SUBPROCESS, str(path)], capture_output=True, text=True,
                                env=environment, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout.split())
    sentences = read_conll(path).sentences
    labels = _label_set(sentences)
    here = [
        sample_fewnerd(sentences, labels, n_way=5, k_shot=2, q_shot=2, n_episodes=5, seed=3, max_type_redraws=20).content_hash,
        sample_kshot(sentences, sentences[:50], labels.subset(labels.names[:4]), k_shot=2, n_episodes=2, seed=3).content_hash,
    ]
    assert outputs[0] == outputs[1] == here


def test_kshot_on_conll2003(conll_train, conll_test):
    labels = _label_set(conll_train)
    episodes = sample_kshot(conll_train, conll_test, labels, k_shot=5, n_episodes=5, seed=0, dataset="conll2003")
    assert episodes.protocol["removed_spans"] == {"pool": {}, "test": {}}
    supports = set()
    for episode in episodes:
        counts = dict.fromkeys(labels.names, 0)
        for sentence in episode.support:
            for span in sentence.spans:
                counts[span.label] += 1
        assert all(5 <= n <= 10 for n in counts.values()), counts
        assert episode.query == tuple(conll_test)  # whole test set, entity-free sentences included
        supports.add(tuple(s.source for s in episode.support))
    assert len(supports) == 5
    # a subset label set: other types become O in support and query, and the protocol says so
    subset = labels.subset(["misc", "location"])
    narrowed = sample_kshot(conll_train, conll_test, subset, k_shot=5, n_episodes=2, seed=0, query_size=500)
    assert set(narrowed.protocol["removed_spans"]["test"]) == {"organisation", "person"}
    assert len(narrowed[0].query) == 500
    assert all(s.labels <= {"misc", "location"} for e in narrowed for s in e.support + e.query)


def test_impossible_request_names_type_and_count(music_test):
    labels = _label_set(music_test)
    available = sum(1 for s in music_test for span in s.spans if span.label == "musicalinstrument")
    rare = labels.subset(["musicalinstrument"])
    with pytest.raises(ImpossibleEpisode, match=rf"type 'musicalinstrument' has only {available} mentions.*k_shot=30 needs at least 30"):
        sample_kshot(music_test, music_test, rare, k_shot=30, n_episodes=1, seed=0)
    # enough mentions in total, but no sentence mix keeps every type within K..2K
    with pytest.raises(ImpossibleEpisode, match=r"ran out of candidate sentences for the support: type '[a-z]+' has \d+ of the 1 mentions needed"):
        sample_kshot(music_test, music_test, labels, k_shot=1, n_episodes=1, seed=0)
