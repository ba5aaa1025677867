"""Episodes and episode sets (JSONL + content hash), the samplers on synthetic corpora (including a
hypothesis property test of the K~2K rule), and Few-NERD's released episode format."""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ner_fewshot.data.catalog import load_label_set
from ner_fewshot.data.types import EntityType, LabelSet, Sentence, Span
from ner_fewshot.episodes import (
    Episode,
    EpisodeFileError,
    EpisodeSet,
    ImpossibleEpisode,
    fixed_support,
    read_fewnerd_episodes,
    sample_fewnerd,
    sample_kshot,
    write_fewnerd_episodes,
)

TYPES = ("person", "location", "organisation", "misc", "event")


def label_set_of(names) -> LabelSet:
    return LabelSet(tuple(EntityType(n, (n,), f"a {n}") for n in names))


def synthetic_corpus(n_sentences: int, seed: int, types=TYPES, max_mentions: int = 3) -> list[Sentence]:
    """Sentences of 'w0 w1 ...' with up to `max_mentions` one-word mentions at even positions (never
    adjacent, so IO tags can hold them); some sentences are entity-free."""
    rng = random.Random(seed)
    corpus = []
    for index in range(n_sentences):
        n_words = rng.randint(4, 12)
        slots = range(0, n_words, 2)
        positions = sorted(rng.sample(slots, rng.randint(0, min(max_mentions, len(slots)))))
        spans = tuple(Span(p, p + 1, rng.choice(types)) for p in positions)
        words = tuple(f"s{index}w{i}" for i in range(n_words))
        corpus.append(Sentence(words, spans, f"synthetic.txt:{index + 1}"))
    return corpus


def mention_counts(sentences, names) -> dict[str, int]:
    counts = dict.fromkeys(names, 0)
    for sentence in sentences:
        for span in sentence.spans:
            counts[span.label] += 1
    return counts


def assert_greedy_rule(sentences, names, shots):
    """Replay acceptance in order: each sentence, when added, had a type below `shots` and kept every
    type <= 2 * shots; at the end every type has >= shots."""
    have = dict.fromkeys(names, 0)
    for sentence in sentences:
        assert sentence.spans and sentence.labels <= set(names)
        assert any(have[label] < shots for label in sentence.labels)
        for span in sentence.spans:
            have[span.label] += 1
        assert all(count <= 2 * shots for count in have.values())
    assert all(shots <= count <= 2 * shots for count in have.values()), have


# ---------------------------------------------------------------- Episode / EpisodeSet


def small_set(source_prefix: str = "a.txt") -> EpisodeSet:
    labels = label_set_of(["person", "location"])
    support = (Sentence(("Ann", "visits", "Oslo"), (Span(0, 1, "person"), Span(2, 3, "location")), f"{source_prefix}:1"),)
    query = (Sentence(("Bo", "left", "Bergen", "é"), (Span(0, 1, "person"), Span(2, 3, "location")), f"{source_prefix}:5"),
             Sentence(("nothing", "here"), (), f"{source_prefix}:9"))
    return EpisodeSet((Episode("ep-0000", labels, support, query),), {"sampler": "hand", "seed": 1})


def test_episode_rejects_spans_outside_its_types():
    sentence = Sentence(("Ann", "in", "Oslo"), (Span(0, 1, "person"), Span(2, 3, "location")), "x.txt:3")
    with pytest.raises(ValueError, match=r"x.txt:3.*\['location'\].*restricted_to"):
        Episode("ep-0000", label_set_of(["person"]), (sentence,), ())


def test_episode_set_container_and_protocol_checks():
    episodes = small_set()
    assert len(episodes) == 1 and episodes[0].id == "ep-0000" and [e.id for e in episodes] == ["ep-0000"]
    assert len(episodes.content_hash) == 64 and episodes.short_hash == episodes.content_hash[:12]
    with pytest.raises(ValueError, match="JSON-serialisable"):
        EpisodeSet(episodes.episodes, {"seed": object()})
    with pytest.raises(ValueError, match="unique"):
        EpisodeSet(episodes.episodes * 2, {})


def test_save_load_round_trip_is_byte_stable(tmp_path):
    episodes = small_set()
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    episodes.save(first)
    small_set().save(second)
    assert first.read_bytes() == second.read_bytes()
    header = json.loads(first.read_text(encoding="utf-8").splitlines()[0])
    assert header["format"] == "ner-fewshot-episodes" and header["version"] == 1
    assert header["sha256"] == episodes.content_hash and header["n_episodes"] == 1
    loaded = EpisodeSet.load(first)
    assert loaded == episodes and loaded.content_hash == episodes.content_hash
    assert loaded[0].query == episodes[0].query  # words, spans and sources all survive
    assert loaded[0].label_set == episodes[0].label_set
    loaded.save(second)
    assert second.read_bytes() == first.read_bytes()


def test_hash_ignores_sentence_sources_but_not_content():
    assert small_set("a.txt").content_hash == small_set("/elsewhere/b.txt").content_hash
    changed = small_set()
    other = EpisodeSet(changed.episodes, {"sampler": "hand", "seed": 2})
    assert other.content_hash != changed.content_hash


def test_tampered_truncated_and_foreign_files_fail_clearly(tmp_path):
    path = small_set().save(tmp_path / "e.jsonl")
    text = path.read_text(encoding="utf-8")

    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(text.replace('"Oslo"', '"Paris"'), encoding="utf-8")
    with pytest.raises(EpisodeFileError, match="hash mismatch") as error:
        EpisodeSet.load(tampered)
    assert error.value.path == str(tampered) and error.value.line == 1 and "re-generate" in str(error.value)

    missing_episode = tmp_path / "missing.jsonl"
    missing_episode.write_text(text.splitlines(keepends=True)[0], encoding="utf-8")
    with pytest.raises(EpisodeFileError, match=r"missing.jsonl:1: header announces 1 episodes but the file has 0.*re-generate"):
        EpisodeSet.load(missing_episode)

    cut = tmp_path / "cut.jsonl"
    cut.write_text(text[: len(text) - 40], encoding="utf-8")
    with pytest.raises(EpisodeFileError, match=r"cut.jsonl:2: the last line has no newline: the file is truncated"):
        EpisodeSet.load(cut)

    broken = tmp_path / "broken.jsonl"
    lines = text.splitlines(keepends=True)
    broken.write_text(lines[0] + lines[1][:30] + "\n", encoding="utf-8")
    with pytest.raises(EpisodeFileError, match=r"broken.jsonl:2: invalid JSON"):
        EpisodeSet.load(broken)

    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"support": {}, "query": {}, "types": []}\n', encoding="utf-8")
    with pytest.raises(EpisodeFileError, match="read_fewnerd_episodes"):
        EpisodeSet.load(foreign)
    with pytest.raises(EpisodeFileError, match="not found"):
        EpisodeSet.load(tmp_path / "absent.jsonl")


# ---------------------------------------------------------------- samplers on synthetic corpora


def test_fewnerd_sampler_on_a_synthetic_corpus():
    corpus = synthetic_corpus(600, seed=1)
    labels = label_set_of(TYPES)
    episodes = sample_fewnerd(corpus, labels, n_way=3, k_shot=2, q_shot=3, n_episodes=20, seed=7, dataset="synthetic")
    assert len(episodes) == 20 and episodes.protocol["sampler"] == "fewnerd" and episodes.protocol["n_way"] == 3
    for episode in episodes:
        names = episode.label_set.names
        assert len(names) == 3 and list(names) == [n for n in TYPES if n in names]  # label-set order
        assert_greedy_rule(episode.support, names, 2)
        assert_greedy_rule(episode.query, names, 3)
        assert not {s.words for s in episode.support} & {s.words for s in episode.query}
    # episode i does not depend on how many episodes are drawn
    fewer = sample_fewnerd(corpus, labels, n_way=3, k_shot=2, q_shot=3, n_episodes=5, seed=7, dataset="synthetic")
    assert [e.to_json() for e in fewer] == [e.to_json() for e in episodes.episodes[:5]]


@settings(max_examples=60, deadline=None)
@given(
    corpus_seed=st.integers(0, 10_000),
    n_sentences=st.integers(0, 120),
    n_way=st.integers(1, 4),
    k_shot=st.integers(1, 4),
    q_shot=st.integers(1, 4),
    seed=st.integers(0, 2**32),
    max_mentions=st.integers(1, 6),
)
def test_fewnerd_sampler_never_exceeds_2k(corpus_seed, n_sentences, n_way, k_shot, q_shot, seed, max_mentions):
    """On any corpus, the sampler either raises ImpossibleEpisode or obeys K <= count <= 2K (support)
    and Q <= count <= 2Q (query) with the Few-NERD acceptance rule; it never loops forever."""
    corpus = synthetic_corpus(n_sentences, corpus_seed, TYPES[:4], max_mentions)
    labels = label_set_of(TYPES[:4])
    try:
        episodes = sample_fewnerd(corpus, labels, n_way=n_way, k_shot=k_shot, q_shot=q_shot, n_episodes=3, seed=seed)
    except ImpossibleEpisode as error:
        assert "type '" in str(error) or "candidate" in str(error)
        return
    for episode in episodes:
        assert_greedy_rule(episode.support, episode.label_set.names, k_shot)
        assert_greedy_rule(episode.query, episode.label_set.names, q_shot)
        assert not {id(s) for s in episode.support} & {id(s) for s in episode.query}


def test_impossible_requests_name_the_type_and_counts():
    corpus = [
        Sentence(("Ann", "met", "Bo"), (Span(0, 1, "person"), Span(2, 3, "person")), "t.txt:1"),
        Sentence(("Oslo",), (Span(0, 1, "location"),), "t.txt:3"),
        Sentence(("Ann", "and", "Cy", "and", "Di"), (Span(0, 1, "person"), Span(2, 3, "person"), Span(4, 5, "person")), "t.txt:5"),
    ]
    labels = label_set_of(["person", "location"])
    with pytest.raises(ImpossibleEpisode, match=r"type 'location' has only 1 mentions.*k_shot=2 needs at least 2"):
        sample_fewnerd(corpus, labels, n_way=2, k_shot=2, q_shot=1, n_episodes=1, seed=0)
    # 5 person mentions exist, but with K=1 (cap 2) only the 2-mention sentence fits: the query runs dry.
    with pytest.raises(ImpossibleEpisode, match=r"ran out of candidate sentences for the query: type 'person' has 0 of the 1 mentions needed"):
        sample_fewnerd(corpus, labels.subset(["person"]), n_way=1, k_shot=1, q_shot=1, n_episodes=1, seed=0)
    with pytest.raises(ImpossibleEpisode, match="n_way=3 but the label set has only 2 types"):
        sample_fewnerd(corpus, labels, n_way=3, k_shot=1, q_shot=1, n_episodes=1, seed=0)
    with pytest.raises(ValueError, match="k_shot must be a positive integer"):
        sample_fewnerd(corpus, labels, n_way=1, k_shot=0, q_shot=1, n_episodes=1, seed=0)


def test_type_redraws_rescue_an_unlucky_type_draw():
    corpus = synthetic_corpus(300, seed=4, types=TYPES[:3]) + [
        Sentence(("rare",), (Span(0, 1, "event"),), "t.txt:1")
    ]
    labels = label_set_of(TYPES[:3] + ("event",))
    arguments = dict(n_way=2, k_shot=2, q_shot=2, n_episodes=10, seed=0)
    with pytest.raises(ImpossibleEpisode, match="'event' has only 1 mentions"):
        sample_fewnerd(corpus, labels, **arguments)
    episodes = sample_fewnerd(corpus, labels, max_type_redraws=10, **arguments)
    assert all("event" not in e.label_set.names for e in episodes)


def test_kshot_sampler_restricts_to_a_subset_label_set():
    corpus = synthetic_corpus(400, seed=2)
    test = synthetic_corpus(50, seed=3)
    labels = label_set_of(["person", "location"])
    episodes = sample_kshot(corpus, test, labels, k_shot=3, n_episodes=4, seed=5, dataset="synthetic")
    removed = episodes.protocol["removed_spans"]
    assert set(removed["pool"]) == {"organisation", "misc", "event"} and set(removed["test"]) <= set(removed["pool"])
    supports = set()
    for episode in episodes:
        assert episode.label_set == labels
        assert_greedy_rule(episode.support, labels.names, 3)
        assert len(episode.query) == 50  # the whole test set, entity-free sentences included
        assert all(s.labels <= {"person", "location"} for s in episode.query)
        supports.add(tuple(s.words for s in episode.support))
    assert len(supports) == 4  # different seeds per episode give different supports
    sampled = sample_kshot(corpus, test, labels, k_shot=3, n_episodes=2, seed=5, query_size=20)
    assert len(sampled[0].query) == 20 and sampled[0].query == sampled[1].query
    assert sampled.content_hash == sample_kshot(corpus, test, labels, k_shot=3, n_episodes=2, seed=5, query_size=20).content_hash
    with pytest.raises(ImpossibleEpisode, match="'person' has only"):
        sample_kshot(corpus[:5], test, labels, k_shot=50, n_episodes=1, seed=0)


def test_fixed_support_keeps_the_given_files():
    ten, twenty = synthetic_corpus(10, seed=8), synthetic_corpus(20, seed=9)
    test = synthetic_corpus(30, seed=10)
    labels = label_set_of(TYPES)
    episodes = fixed_support({"10-shot": ten, "20-shot": twenty}, test, labels, dataset="synthetic")
    assert [e.id for e in episodes] == ["10-shot", "20-shot"]
    assert episodes[0].support == tuple(ten) and episodes[1].support == tuple(twenty)
    assert episodes[0].query == tuple(test)
    assert episodes.protocol["support_sets"] == {"10-shot": 10, "20-shot": 20}
    narrowed = fixed_support({"10-shot": ten}, test, labels.subset(["person"]))
    assert all(s.labels <= {"person"} for s in narrowed[0].support + narrowed[0].query)
    assert narrowed.protocol["removed_spans"]["support:10-shot"] == {
        k: v for k, v in sorted(mention_counts(ten, TYPES).items()) if k != "person" and v
    }


# ---------------------------------------------------------------- Few-NERD released format

FEWNERD_LINES = [
    {
        "support": {
            "word": [
                ["Kevin", "Costner", "starred", "in", "Dances", "with", "Wolves", "."],
                ["The", "match", "was", "held", "in", "Wembley", "Stadium", ",", "London", "."],
            ],
            "label": [
                ["person-actor", "person-actor", "O", "O", "art-film", "art-film", "art-film", "O"],
                ["O", "O", "O", "O", "O", "building-sportsfacility", "building-sportsfacility", "O", "location-GPE", "O"],
            ],
        },
        "query": {
            "word": [["Zoë", "Saldaña", "visited", "Paris", "Berlin", "."]],
            "label": [["person-actor", "person-actor", "O", "location-GPE", "location-GPE", "O"]],
        },
        "types": ["person-actor", "art-film", "building-sportsfacility", "location-GPE"],
    },
    {
        "support": {"word": [["Toyota", "Corolla", "sales", "rose"]], "label": [["product-car", "product-car", "O", "O"]]},
        "query": {"word": [["He", "drives", "a", "Ford"]], "label": [["O", "O", "O", "product-car"]]},
        "types": ["product-car"],
    },
]


def write_released(path, records) -> None:
    # The released files are Python's default json.dumps layout, one episode per line.
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_read_fewnerd_file_spans_and_exact_round_trip(tmp_path):
    released = tmp_path / "test_4_1.jsonl"
    write_released(released, FEWNERD_LINES)
    episodes = read_fewnerd_episodes(released)
    assert len(episodes) == 2 and [e.id for e in episodes] == ["ep-0000", "ep-0001"]
    first = episodes[0]
    assert first.label_set.names == ("person-actor", "art-film", "building-sportsfacility", "location-GPE")
    assert first.support[0].spans == (Span(0, 2, "person-actor"), Span(4, 7, "art-film"))
    assert first.support[1].spans == (Span(5, 7, "building-sportsfacility"), Span(8, 9, "location-GPE"))
    # IO cannot separate adjacent mentions of one type: "Paris Berlin" is one maximal run
    assert first.query[0].spans == (Span(0, 2, "person-actor"), Span(3, 5, "location-GPE"))
    assert first.query[0].source == f"{released}:1:query[0]"
    assert episodes.protocol["n_way"] == [1, 4] and episodes.protocol["file"] == "test_4_1.jsonl"
    # every type is a Few-NERD type: the packaged label set supplies label words and definitions
    assert episodes.protocol["label_source"] == "catalog:few-nerd"
    assert first.label_set["building-sportsfacility"] == load_label_set("few-nerd")["building-sportsfacility"]

    written = write_fewnerd_episodes(tmp_path / "again.jsonl", episodes)
    assert written.read_bytes() == released.read_bytes()

    given = label_set_of(["product-car", "person-actor", "art-film", "building-sportsfacility", "location-GPE"])
    with_labels = read_fewnerd_episodes(released, label_set=given)
    assert with_labels[1].label_set == given.subset(["product-car"])
    assert with_labels.protocol["label_source"] == "given"


def test_fewnerd_format_with_custom_types_generates_the_label_set(tmp_path):
    path = tmp_path / "custom.jsonl"
    record = {"support": {"word": [["Aspirin", "helps"]], "label": [["drug-nsaid", "O"]]},
              "query": {"word": [["Take", "ibuprofen"]], "label": [["O", "drug-nsaid"]]}, "types": ["drug-nsaid"]}
    write_released(path, [record])
    episodes = read_fewnerd_episodes(path)
    assert episodes.protocol["label_source"] == "generated from type names"
    assert episodes[0].label_set["drug-nsaid"].label_words == ("drug", "nsaid")
    assert episodes[0].query[0].spans == (Span(1, 2, "drug-nsaid"),)


def test_fewnerd_file_errors_name_the_line(tmp_path):
    bad_tag = json.loads(json.dumps(FEWNERD_LINES[1]))
    bad_tag["query"]["label"][0][3] = "person-actor"
    path = tmp_path / "bad.jsonl"
    write_released(path, [FEWNERD_LINES[0], bad_tag])
    with pytest.raises(EpisodeFileError, match=r"bad.jsonl:2: query sentence 0 is tagged with \['person-actor'\]"):
        read_fewnerd_episodes(path)
    ragged = json.loads(json.dumps(FEWNERD_LINES[1]))
    ragged["support"]["label"][0] = ["O"]
    write_released(path, [ragged])
    with pytest.raises(EpisodeFileError, match=r"bad.jsonl:1: support sentence 0: words and labels must be lists of equal length"):
        read_fewnerd_episodes(path)
    write_released(path, [FEWNERD_LINES[0]])
    with pytest.raises(EpisodeFileError, match=r"bad.jsonl:1: types \['person-actor'"):
        read_fewnerd_episodes(path, label_set=label_set_of(["product-car"]))


def test_write_fewnerd_refuses_what_io_cannot_encode(tmp_path):
    labels = label_set_of(["person"])
    adjacent = Sentence(("Ann", "Bo"), (Span(0, 1, "person"), Span(1, 2, "person")), "x.txt:1")
    episodes = EpisodeSet((Episode("ep-0000", labels, (adjacent,), ()),), {})
    with pytest.raises(ValueError, match=r"ep-0000.*support sentence 0 \(x.txt:1\).*adjacent"):
        write_fewnerd_episodes(tmp_path / "x.jsonl", episodes)


def test_sampled_episodes_survive_a_fewnerd_round_trip(tmp_path):
    corpus = synthetic_corpus(300, seed=11)
    episodes = sample_fewnerd(corpus, label_set_of(TYPES), n_way=2, k_shot=1, q_shot=2, n_episodes=5, seed=1)
    path = write_fewnerd_episodes(tmp_path / "sampled.jsonl", episodes)
    back = read_fewnerd_episodes(path, label_set=label_set_of(TYPES))
    for original, restored in zip(episodes, back):
        assert original.label_set == restored.label_set
        assert [(s.words, s.spans) for s in original.support] == [(s.words, s.spans) for s in restored.support]
        assert [(s.words, s.spans) for s in original.query] == [(s.words, s.spans) for s in restored.query]


def test_kshot_episode_i_can_be_drawn_alone():
    """first_episode=i, n_episodes=1 gives exactly episode i of a longer run (the harness relies on it)."""
    from ner_fewshot.data.types import EntityType, LabelSet, Sentence, Span
    from ner_fewshot.episodes import sample_kshot

    labels = LabelSet((EntityType("A", ("a",), "a"), EntityType("B", ("b",), "b")))
    pool = [Sentence((f"w{i}", "x", f"v{i}"), (Span(0, 1, "A"), Span(2, 3, "B"))) for i in range(30)]
    test = [Sentence(("t", "u"), (Span(0, 1, "A"),))]
    whole = sample_kshot(pool, test, labels, k_shot=2, n_episodes=4, seed=3)
    alone = sample_kshot(pool, test, labels, k_shot=2, n_episodes=1, first_episode=3, seed=3)
    assert alone.episodes[0] == whole.episodes[3]
