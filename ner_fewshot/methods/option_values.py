"""Method options written as text (`KEY=VALUE` on a command line) turned into typed config values."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable

_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def parse_option_value(text: str, field_type: str | None) -> Any:
    """JSON when it parses (numbers, true/false, null, lists), else the raw string; a field declared
    `str` always keeps the raw text (so a backbone named '123' stays a string)."""
    kind = None if field_type is None else field_type.replace(" ", "").strip("'")
    if kind == "str":
        return text
    if kind == "bool":
        # 'False' must never reach a bool option as a (truthy) string.
        lowered = text.strip().lower()
        if lowered in _BOOLEANS:
            return _BOOLEANS[lowered]
        raise ValueError(f"{text!r} is not a boolean: use true or false")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_options(items: Iterable[str], config_class, *, flag: str = "--option") -> dict[str, Any]:
    """['backbone=bert-base-uncased', 'batch_size=64'] -> typed values for `config_class`'s fields."""
    types = {f.name: str(f.type) for f in dataclasses.fields(config_class)}
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{flag} {item!r}: expected KEY=VALUE, e.g. backbone=bert-base-uncased")
        if key not in types:
            raise ValueError(f"{flag} {item!r}: {config_class.__name__} has no option {key!r}; valid options: {sorted(types)}")
        try:
            options[key] = parse_option_value(value, types[key])
        except ValueError as error:
            raise ValueError(f"{flag} {item!r}: {error}") from None
    return options
