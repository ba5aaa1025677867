"""The three episode samplers: Few-NERD N-way K~2K shot, low-resource K~2K shot over the full label
set, and fixed support files (LightNER's released k-shot files). Algorithms: docs/protocols.md.

Determinism: every random choice comes from numpy's PCG64 seeded with `[seed, 0, episode_index]`
(query subsets: `[seed, 1]`), and every collection is walked in sentence or label-set order, never
in set/dict-hash order, so results do not depend on PYTHONHASHSEED. Episode i is the same whatever
n_episodes is.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..data.types import LabelSet, Sentence
from .model import Episode, EpisodeSet, ImpossibleEpisode, restrict_all

SAMPLER_VERSION = 1  # bump when an algorithm changes: it enters the protocol, hence the hash


def _episode_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, 0, index])


def _check_counts(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _removed_span_counts(sentences: Sequence[Sentence], keep: Sequence[str]) -> dict[str, int]:
    kept = set(keep)
    removed = Counter(span.label for s in sentences for span in s.spans if span.label not in kept)
    return dict(sorted(removed.items()))


class _Pool:
    """Sentences with their per-sentence mention counts precomputed, grouped by their set of types,
    so that the candidates for any choice of types are found without rescanning every sentence."""

    def __init__(self, sentences: Sequence[Sentence]) -> None:
        self.sentences = tuple(sentences)
        self.counts: list[dict[str, int]] = []
        self.text_ids = np.empty(len(self.sentences), dtype=np.int64)
        texts: dict[tuple[str, ...], int] = {}
        groups: dict[tuple[str, ...], list[int]] = {}
        for index, sentence in enumerate(self.sentences):
            counts = dict(sorted(Counter(span.label for span in sentence.spans).items()))
            self.counts.append(counts)
            self.text_ids[index] = texts.setdefault(sentence.words, len(texts))
            if counts:
                groups.setdefault(tuple(counts), []).append(index)
        self.groups = {types: np.asarray(indices, dtype=np.int64) for types, indices in groups.items()}
        self.group_totals = {types: Counter() for types in groups}
        for types, indices in groups.items():
            for index in indices:
                self.group_totals[types].update(self.counts[index])

    def candidates(self, types: Sequence[str]) -> tuple[np.ndarray, Counter]:
        """Indices (ascending) of sentences with >= 1 entity, all of whose types are in `types`,
        and the mention count per type over them."""
        allowed = set(types)
        chosen = [key for key in self.groups if allowed.issuperset(key)]
        totals: Counter = Counter()
        for key in chosen:
            totals.update(self.group_totals[key])
        if not chosen:
            return np.empty(0, dtype=np.int64), totals
        return np.sort(np.concatenate([self.groups[key] for key in chosen])), totals


@dataclass
class _GreedyRequest:
    types: tuple[str, ...]
    shots: int  # K (support) or Q (query): every type needs >= shots and <= 2 * shots mentions
    part: str  # "support" / "query", for messages
    shot_name: str  # "k_shot" / "q_shot", for messages


def _greedy_fill(
    pool: _Pool,
    candidates: np.ndarray,
    available: Mapping[str, int],
    request: _GreedyRequest,
    rng: np.random.Generator,
    used_texts: set[int] | None,
) -> list[int]:
    """The Few-NERD greedy rule: draw unused candidates at random; accept one if no type would exceed
    2 * shots and one of its types is still below `shots`; stop when every type has >= shots.

    A rejection is final (counts only grow), so drawing without replacement from the candidates
    (a lazy Fisher-Yates shuffle) samples exactly like the reference's redraw loop, but ends: when
    the candidates run out, the request is impossible. `used_texts` (None = no check): text ids
    already in the episode; a candidate with one of those texts is skipped, accepted texts are added.
    """
    shots, cap = request.shots, 2 * request.shots
    for name in request.types:
        if available.get(name, 0) < shots:
            raise ImpossibleEpisode(
                f"type {name!r} has only {available.get(name, 0)} mentions in the {len(candidates)} candidate "
                f"sentences for the {request.part} (sentences whose entities are all of types "
                f"{list(request.types)}); {request.shot_name}={shots} needs at least {shots}"
            )
    have = {name: 0 for name in request.types}
    below = len(have)
    remaining = candidates.copy()
    left = len(remaining)
    chosen: list[int] = []
    while below:
        if left == 0:
            short = [f"type {n!r} has {c} of the {shots} mentions needed" for n, c in have.items() if c < shots]
            raise ImpossibleEpisode(
                f"ran out of candidate sentences for the {request.part}: {', '.join(short)} "
                f"({request.shot_name}={shots}, at most {cap} per type) after trying all {len(candidates)} "
                f"candidates; available mentions per type: {dict(available)}"
            )
        draw = int(rng.integers(left))
        index = int(remaining[draw])
        left -= 1
        remaining[draw] = remaining[left]
        if used_texts is not None and int(pool.text_ids[index]) in used_texts:
            continue
        counts = pool.counts[index]
        if any(have[name] + n > cap for name, n in counts.items()):
            continue
        if not any(have[name] < shots for name in counts):
            continue
        for name, n in counts.items():
            if have[name] < shots <= have[name] + n:
                below -= 1
            have[name] += n
        chosen.append(index)
        if used_texts is not None:
            used_texts.add(int(pool.text_ids[index]))
    return chosen


def sample_fewnerd(
    sentences: Sequence[Sentence],
    label_set: LabelSet,
    *,
    n_way: int,
    k_shot: int,
    q_shot: int,
    n_episodes: int,
    seed: int,
    dataset: str = "",
    max_type_redraws: int = 0,
    distinct_texts: bool = True,
) -> EpisodeSet:
    """Few-NERD N-way K~2K-shot episodes (support K..2K and query Q..2Q mentions per type).

    `max_type_redraws`: how many times to draw another N types when the drawn ones cannot be filled
    (0 = raise ImpossibleEpisode at once). `distinct_texts`: never put two sentences with the same
    words into one episode (CoNLL repeats datelines such as "LONDON 1996-08-30"; without this a query
    sentence can be a verbatim copy of a support sentence).
    """
    _check_counts(n_way=n_way, k_shot=k_shot, q_shot=q_shot, n_episodes=n_episodes)
    _check_seed(seed)
    n_way, k_shot, q_shot, n_episodes, seed = int(n_way), int(k_shot), int(q_shot), int(n_episodes), int(seed)
    if max_type_redraws < 0:
        raise ValueError(f"max_type_redraws must be >= 0, got {max_type_redraws}")
    max_type_redraws = int(max_type_redraws)
    if n_way > len(label_set):
        raise ImpossibleEpisode(
            f"n_way={n_way} but the label set has only {len(label_set)} types {list(label_set.names)}"
        )
    pool = _Pool(sentences)
    episodes = []
    for index in range(n_episodes):
        rng = _episode_rng(seed, index)
        for attempt in range(max_type_redraws + 1):
            picked = set(rng.choice(len(label_set), size=n_way, replace=False).tolist())
            types = tuple(name for position, name in enumerate(label_set.names) if position in picked)
            try:
                support, query = _fewnerd_episode(pool, types, k_shot, q_shot, rng, distinct_texts)
                break
            except ImpossibleEpisode as error:
                if attempt == max_type_redraws:
                    tried = f" (after {attempt + 1} draws of types)" if attempt else ""
                    raise ImpossibleEpisode(f"episode {index} (seed {seed}){tried}: {error}") from None
        episodes.append(Episode(f"ep-{index:04d}", label_set.subset(types), support, query))
    protocol = {
        "sampler": "fewnerd",
        "sampler_version": SAMPLER_VERSION,
        "dataset": dataset,
        "n_way": n_way,
        "k_shot": k_shot,
        "q_shot": q_shot,
        "n_episodes": n_episodes,
        "seed": seed,
        "max_type_redraws": max_type_redraws,
        "distinct_texts": distinct_texts,
        "label_set": list(label_set.names),
        # sentences with any of these types are never candidates (their spans would be unlabelled)
        "types_not_in_label_set": sorted({t for key in pool.groups for t in key} - set(label_set.names)),
        "pool_sentences": len(pool.sentences),
        "rng": "numpy default_rng([seed, 0, episode_index])",
    }
    return EpisodeSet(tuple(episodes), protocol)


def _fewnerd_episode(
    pool: _Pool, types: tuple[str, ...], k_shot: int, q_shot: int, rng: np.random.Generator, distinct_texts: bool
) -> tuple[tuple[Sentence, ...], tuple[Sentence, ...]]:
    candidates, available = pool.candidates(types)
    used: set[int] | None = set() if distinct_texts else None
    support = _greedy_fill(pool, candidates, available, _GreedyRequest(types, k_shot, "support", "k_shot"), rng, used)
    taken = set(support)
    rest = np.asarray([i for i in candidates.tolist() if i not in taken], dtype=np.int64)
    left = Counter(available)
    for index in support:
        left.subtract(pool.counts[index])
    query = _greedy_fill(pool, rest, left, _GreedyRequest(types, q_shot, "query", "q_shot"), rng, used)
    # Candidates only hold the episode's types, so restriction is a no-op kept as a safeguard.
    return restrict_all([pool.sentences[i] for i in support], types), restrict_all([pool.sentences[i] for i in query], types)


def sample_kshot(
    pool: Sequence[Sentence],
    test: Sequence[Sentence],
    label_set: LabelSet,
    *,
    k_shot: int,
    n_episodes: int,
    seed: int,
    query_size: int | None = None,
    dataset: str = "",
    distinct_texts: bool = True,
    first_episode: int = 0,
) -> EpisodeSet:
    """Low-resource episodes over all types of `label_set`: support drawn from `pool` by the greedy
    K~2K rule (every type K..2K mentions), query = the whole `test` (entity-free sentences kept), or a
    seeded sample of `query_size` test sentences shared by all episodes.

    Spans of types outside `label_set` are removed from pool and test first (their counts are
    recorded in the protocol under "removed_spans"), so a subset label set turns other types into O.
    Episode i depends only on (seed, i): `first_episode=i, n_episodes=1` draws exactly episode i.
    """
    _check_counts(k_shot=k_shot, n_episodes=n_episodes)
    if first_episode < 0:
        raise ValueError(f"first_episode must be >= 0, got {first_episode}")
    _check_seed(seed)
    k_shot, n_episodes, seed = int(k_shot), int(n_episodes), int(seed)  # numpy ints are not JSON-able
    names = label_set.names
    if not names:
        raise ValueError("sample_kshot needs a non-empty label set")
    if not test:
        raise ValueError("sample_kshot needs a non-empty test set for the query")
    restricted_pool = _Pool(restrict_all(pool, names))
    candidates, available = restricted_pool.candidates(names)
    query = restrict_all(test, names)
    if query_size is not None:
        _check_counts(query_size=query_size)
        query_size = int(query_size)
        if query_size > len(query):
            raise ValueError(f"query_size={query_size} but the test set has only {len(query)} sentences")
        chosen = np.sort(np.random.default_rng([seed, 1]).choice(len(query), size=query_size, replace=False))
        query = tuple(query[i] for i in chosen.tolist())
    episodes = []
    request = _GreedyRequest(names, k_shot, "support", "k_shot")
    for index in range(int(first_episode), int(first_episode) + n_episodes):
        try:
            used = set() if distinct_texts else None
            support = _greedy_fill(restricted_pool, candidates, available, request, _episode_rng(seed, index), used)
        except ImpossibleEpisode as error:
            raise ImpossibleEpisode(f"episode {index} (seed {seed}): {error}") from None
        episodes.append(Episode(f"ep-{index:04d}", label_set, tuple(restricted_pool.sentences[i] for i in support), query))
    protocol = {
        "sampler": "kshot",
        "sampler_version": SAMPLER_VERSION,
        "dataset": dataset,
        "k_shot": k_shot,
        "n_episodes": n_episodes,
        **({"first_episode": int(first_episode)} if first_episode else {}),
        "seed": seed,
        "query_size": query_size,
        "query": "whole test set" if query_size is None else "seeded sample shared by all episodes: default_rng([seed, 1])",
        "distinct_texts": distinct_texts,
        "label_set": list(names),
        "removed_spans": {"pool": _removed_span_counts(pool, names), "test": _removed_span_counts(test, names)},
        "pool_sentences": len(pool),
        "test_sentences": len(test),
        "rng": "numpy default_rng([seed, 0, episode_index])",
    }
    return EpisodeSet(tuple(episodes), protocol)


def fixed_support(
    support_sets: Mapping[str, Sequence[Sentence]],
    test: Sequence[Sentence],
    label_set: LabelSet,
    *,
    dataset: str = "",
) -> EpisodeSet:
    """One episode per named support set (in the mapping's order), query = the whole test set; no
    resampling. Spans outside `label_set` are removed and counted in the protocol."""
    if not support_sets:
        raise ValueError("fixed_support needs at least one named support set")
    names = label_set.names
    query = restrict_all(test, names)
    episodes = []
    removed = {}
    for name, support in support_sets.items():
        if not support:
            raise ValueError(f"support set {name!r} is empty")
        episodes.append(Episode(str(name), label_set, restrict_all(support, names), query))
        removed[f"support:{name}"] = _removed_span_counts(support, names)
    removed["test"] = _removed_span_counts(test, names)
    protocol = {
        "sampler": "fixed_support",
        "sampler_version": SAMPLER_VERSION,
        "dataset": dataset,
        "support_sets": {str(name): len(support) for name, support in support_sets.items()},
        "n_episodes": len(episodes),
        "label_set": list(names),
        "removed_spans": removed,
        "test_sentences": len(test),
    }
    return EpisodeSet(tuple(episodes), protocol)
