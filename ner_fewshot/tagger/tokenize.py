"""Raw text to tokens, keeping each token's character offsets.

The rule (documented in docs/tagging.md, tested in tests/test_tagger_inputs.py), applied left to right:
  1. a URL: `http://`, `https://` or `www.` up to the next whitespace, minus trailing `.,;:!?)]"'`;
  2. an @mention or #hashtag: `@` or `#` followed by word characters;
  3. a word: word characters (letters, digits, `_`, combining accents), joined by single inner
     apostrophes, hyphens or periods (`don't`, `e-mail`, `3.5`, `U.S`);
  4. any other character that is not whitespace, on its own (`.`, `!`, `(`, an emoji), together with
     the variation selectors, skin tones and zero-width-joined characters that belong to it.
Whitespace only separates. Offsets are code-point indices into the line, end exclusive, so
`text[start:end] == token` for every token.
"""
from __future__ import annotations

import re

_MARKS = "\u0300-\u036F\u1AB0-\u1AFF\u20D0-\u20FF"  # combining accents (decomposed text)
_TOKEN = re.compile(
    r"""
    (?:https?://|www\.)\S+?(?=[.,;:!?)\]"']*(?:\s|$))   # URL, trailing punctuation left out
    | [@\#]\w+                                            # @mention, #hashtag
    | \w[\w{m}]*(?:['’\-.]\w[\w{m}]*)*                  # word with inner ' - .
    | \S(?:[\uFE00-\uFE0F{m}\U0001F3FB-\U0001F3FF]|\u200D\S)*  # any other character, with its modifiers
    """.replace("{m}", _MARKS),
    re.VERBOSE,
)


def tokenize(text: str) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """(tokens, (start, end) offsets) of one line of text; both empty for a blank line."""
    matches = list(_TOKEN.finditer(text))
    return tuple(m.group() for m in matches), tuple(m.span() for m in matches)


def join_tokens(tokens: tuple[str, ...]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Text for pre-tokenised input (tokens joined by one space) and each token's offsets in it."""
    offsets, position = [], 0
    for token in tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    return " ".join(tokens), tuple(offsets)
