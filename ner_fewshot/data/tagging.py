"""Tag schemes (IOB1, IOB2, BIOES, IO) converted to and from spans.

Decoding never drops a mention silently: an ill-formed sequence (an IOB2 `I-X` with nothing to
continue, a BIOES span without its `E-`) is repaired by the conventional rule and counted, so the
caller can report how many repairs a file needed; `strict=True` turns the first repair into an error.

Tags are split at the FIRST hyphen only, so labels may themselves contain hyphens, dots and
underscores (`B-person-actor` -> prefix `B`, label `person-actor`; `B-fromloc.city_name`). IO tags
(Few-NERD style) have no prefix at all: the tag is the label (`person-actor`) or `O`.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

from .types import Span

SCHEMES = ("iob1", "iob2", "bioes", "io")
OUTSIDE = "O"

# Prefixes each prefixed scheme may use.
_PREFIXES = {"iob1": ("B", "I"), "iob2": ("B", "I"), "bioes": ("B", "I", "E", "S")}


class TagError(ValueError):
    """A tag or tag sequence that is not valid for the scheme.

    `position` (0-based token index, or None) and `tag` let file readers turn it into a file line.
    """

    def __init__(self, message: str, *, position: int | None = None, tag: str | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.tag = tag


def check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; choose one of {list(SCHEMES)}")
    return scheme


def _where(source: str, position: int) -> str:
    return f"{source}: token {position}" if source else f"token {position}"


@lru_cache(maxsize=65536)
def parse_tag(tag: str, scheme: str) -> tuple[str, str]:
    """Split one tag into (prefix, label); `("O", "")` for outside. IO tags get prefix "I".

    Raises TagError (without a position) when the tag cannot belong to the scheme.
    """
    check_scheme(scheme)
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if not tag or any(char.isspace() for char in tag):
        # "B-ORG X" would otherwise become a type named "ORG X" whenever label sets are inferred
        raise TagError(f"tag {tag!r} is empty or holds whitespace; a tag is one word such as B-ORG or O", tag=tag)
    if scheme == "io":
        prefix, sep, rest = tag.partition("-")
        if sep and rest and prefix in ("B", "I", "E", "S", "L", "U"):
            raise TagError(
                f"tag {tag!r} has a {prefix}- prefix, so it is not an IO tag (IO tags are bare labels "
                f"like 'person-actor'); read the file with scheme='iob2' (or 'iob1'/'bioes')",
                tag=tag,
            )
        return "I", tag
    prefix, sep, label = tag.partition("-")
    allowed = _PREFIXES[scheme]
    if not sep:
        raise TagError(
            f"tag {tag!r} has no prefix; scheme {scheme!r} needs tags like "
            f"{', '.join(p + '-X' for p in allowed)} or 'O' (bare labels mean the file is IO: use scheme='io')",
            tag=tag,
        )
    if prefix not in allowed or not label:
        hint = " (E-/S- prefixes mean the file is BIOES: use scheme='bioes')" if prefix in ("E", "S") else ""
        raise TagError(
            f"tag {tag!r} has unknown prefix {prefix + '-'!r} or no label; scheme {scheme!r} allows "
            f"{', '.join(p + '-' for p in allowed)} followed by a type name, or 'O'{hint}",
            tag=tag,
        )
    return prefix, label


def _parse_all(tags: Sequence[str], scheme: str, source: str) -> list[tuple[str, str]]:
    parsed = []
    for position, tag in enumerate(tags):
        try:
            if not isinstance(tag, str):  # checked before the cache, which cannot hash a list or dict
                raise TagError(f"tag {tag!r} is of type {type(tag).__name__}, not a string", tag=repr(tag))
            parsed.append(parse_tag(tag, scheme))
        except TagError as error:
            raise TagError(f"{_where(source, position)}: {error}", position=position, tag=tag) from None
    return parsed


def tags_to_spans(
    tags: Sequence[str], scheme: str, *, strict: bool = False, source: str = ""
) -> tuple[list[Span], int]:
    """Decode a tag sequence into spans; returns (spans sorted by position, number of repairs)."""
    check_scheme(scheme)
    parsed = _parse_all(tags, scheme, source)
    if scheme == "io":
        return _decode_io(parsed), 0
    if scheme == "bioes":
        return _decode_bioes(parsed, tags, strict, source)
    return _decode_iob(parsed, tags, scheme, strict, source)


def _decode_io(parsed: list[tuple[str, str]]) -> list[Span]:
    spans: list[Span] = []
    start, label = None, ""
    for position, (prefix, current) in enumerate(parsed):
        if start is not None and current != label:
            spans.append(Span(start, position, label))
            start = None
        if prefix != OUTSIDE and start is None:
            start, label = position, current
    if start is not None:
        spans.append(Span(start, len(parsed), label))
    return spans


def _repair(strict: bool, source: str, position: int, tag: str, problem: str, fix: str) -> int:
    if strict:
        raise TagError(
            f"{_where(source, position)}: tag {tag!r} {problem}; fix the tag ({fix}) or read with "
            f"strict=False to repair it and count the repair",
            position=position,
            tag=tag,
        )
    return 1


def _decode_iob(
    parsed: list[tuple[str, str]], tags: Sequence[str], scheme: str, strict: bool, source: str
) -> tuple[list[Span], int]:
    spans: list[Span] = []
    repairs = 0
    start, label = None, ""  # the open span
    for position, (prefix, current) in enumerate(parsed):
        continues = start is not None and prefix == "I" and current == label
        if continues:
            continue
        if start is not None:
            spans.append(Span(start, position, label))
            start = None
        if prefix == OUTSIDE:
            continue
        if scheme == "iob2" and prefix == "I":
            repairs += _repair(
                strict, source, position, tags[position],
                f"continues no B-{current}/I-{current} (IOB2 spans must open with B-)",
                f"make it B-{current}",
            )
        elif scheme == "iob1" and prefix == "B" and not (spans and spans[-1].end == position and spans[-1].label == current):
            repairs += _repair(
                strict, source, position, tags[position],
                f"does not follow a {current} span (IOB1 uses B- only between adjacent spans of one type)",
                f"make it I-{current}, or read the file as iob2 if it is IOB2",
            )
        start, label = position, current
    if start is not None:
        spans.append(Span(start, len(parsed), label))
    return spans, repairs


def _decode_bioes(
    parsed: list[tuple[str, str]], tags: Sequence[str], strict: bool, source: str
) -> tuple[list[Span], int]:
    """Conventional BIOES repair: a span left open is closed before the next tag that cannot
    continue it; an I-/E- that continues nothing opens a span (an E- alone is a one-word span).
    At most one repair is counted per token."""
    spans: list[Span] = []
    repairs = 0
    start, label = None, ""
    for position, (prefix, current) in enumerate(parsed):
        tag = tags[position]
        if start is not None and prefix in ("I", "E") and current == label:
            if prefix == "E":
                spans.append(Span(start, position + 1, label))
                start = None
            continue
        if start is not None:  # open span not closed with E-: close it before this token
            spans.append(Span(start, position, label))
            start = None
            repairs += _repair(
                strict, source, position, tag,
                f"interrupts the open {label} span, which never got its E-{label}",
                f"end that span with E-{label} (or S-{label} for one word)",
            )
        elif prefix in ("I", "E"):
            repairs += _repair(
                strict, source, position, tag,
                f"continues no B-{current}/I-{current} (BIOES spans open with B- or are S-)",
                f"make it {'B' if prefix == 'I' else 'S'}-{current}",
            )
        if prefix == OUTSIDE:
            continue
        if prefix in ("S", "E"):
            spans.append(Span(position, position + 1, current))
        else:
            start, label = position, current
    if start is not None:
        last = len(parsed) - 1
        repairs += _repair(
            strict, source, last, tags[last],
            f"ends the sentence inside the {label} span without E-{label}",
            f"make the span's last tag E-{label} (or S-{label} for one word)",
        )
        spans.append(Span(start, len(parsed), label))
    return spans, repairs


def spans_to_tags(spans: Sequence[Span], length: int, scheme: str) -> list[str]:
    """Encode non-overlapping spans as `length` tags in `scheme`.

    Raises ValueError for overlapping spans, spans past `length`, and (IO only) two adjacent spans
    of one type, which IO cannot tell apart from a single span.
    """
    check_scheme(scheme)
    ordered = sorted(spans)
    tags = [OUTSIDE] * length
    previous: Span | None = None
    for span in ordered:
        if span.end > length:
            raise ValueError(f"span {span} runs past the sentence's {length} tokens")
        if previous is not None and span.start < previous.end:
            raise ValueError(f"spans {previous} and {span} overlap; tag schemes can only encode flat spans")
        adjacent_same = previous is not None and previous.end == span.start and previous.label == span.label
        if scheme == "io":
            if adjacent_same:
                raise ValueError(
                    f"spans {previous} and {span} are adjacent with one type; IO tags would merge them "
                    f"into one mention: use a prefixed scheme (iob2) to keep them apart"
                )
            tags[span.start : span.end] = [span.label] * (span.end - span.start)
        elif scheme == "iob2":
            tags[span.start : span.end] = [f"B-{span.label}"] + [f"I-{span.label}"] * (span.end - span.start - 1)
        elif scheme == "iob1":
            first = "B" if adjacent_same else "I"
            tags[span.start : span.end] = [f"{first}-{span.label}"] + [f"I-{span.label}"] * (span.end - span.start - 1)
        else:  # bioes
            if span.end - span.start == 1:
                tags[span.start] = f"S-{span.label}"
            else:
                inside = [f"I-{span.label}"] * (span.end - span.start - 2)
                tags[span.start : span.end] = [f"B-{span.label}", *inside, f"E-{span.label}"]
        previous = span
    return tags


def detect_scheme(sentences_tags: Sequence[Sequence[str]]) -> str:
    """The tag scheme a file's tag sequences are written in (for readers given `scheme="auto"`).

    Bare labels (no B-/I-/E-/S- prefix) mean IO; any E- or S- means BIOES; B-/I- only is IOB2, unless
    some mention opens with I- (after O or another type) while no B- ever opens one, which is IOB1.
    No entity tags at all: IOB2 (every scheme reads such a file the same way).
    """
    prefixed = bare = bioes = opens_with_i = opens_with_b = False
    for tags in sentences_tags:
        previous = ""
        for tag in tags:
            if tag == OUTSIDE:
                previous = ""
                continue
            prefix, sep, label = tag.partition("-")
            if sep and label and prefix in ("B", "I", "E", "S"):
                prefixed = True
                bioes |= prefix in ("E", "S")
                if previous != label:
                    opens_with_i |= prefix == "I"
                    opens_with_b |= prefix == "B"
                previous = label
            else:
                bare = True
                previous = tag
    if bare and not prefixed:
        return "io"
    if bioes:
        return "bioes"
    return "iob1" if opens_with_i and not opens_with_b else "iob2"
