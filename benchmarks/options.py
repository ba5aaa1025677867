"""Command-line values that need parsing beyond argparse: int lists and METHOD.KEY=VALUE options."""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any, Iterable, Mapping, Sequence


def int_list(text: str) -> list[int]:
    """'1,5' or '1' -> [1, 5] / [1] (argparse type; combine with nargs='+')."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers such as 1 or 1,5; got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one integer, got {text!r}")
    return values


def flatten(groups: Sequence[Sequence[int]] | None) -> tuple[int, ...] | None:
    return None if groups is None else tuple(v for group in groups for v in group)


def name_list(groups: Sequence[str] | None) -> tuple[str, ...] | None:
    """['a,b', 'c'] -> ('a', 'b', 'c')."""
    if groups is None:
        return None
    return tuple(part.strip() for group in groups for part in group.split(",") if part.strip())


def _field_types(config_class) -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(config_class)}


_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def parse_value(text: str, field_type: str | None) -> Any:
    """JSON when it parses (numbers, true/false, null, lists), else the raw string; a field declared
    `str` always keeps the raw text (so a backbone named '123' stays a string)."""
    if field_type is not None and field_type.replace(" ", "") in ("str", "'str'"):
        return text
    if field_type is not None and field_type.replace(" ", "").strip("'") == "bool":
        # 'False' must never reach a bool option as a (truthy) string.
        lowered = text.strip().lower()
        if lowered in _BOOLEANS:
            return _BOOLEANS[lowered]
        raise MethodOptionError(f"{text!r} is not a boolean: use true or false")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class MethodOptionError(ValueError):
    pass


def parse_method_options(items: Iterable[str], methods: Sequence[str],
                         config_class_of) -> dict[str, dict[str, Any]]:
    """['protobert.backbone=bert-base-uncased', ...] -> {'protobert': {'backbone': 'bert-base-uncased'}}.

    `config_class_of(name)` returns the method's config class, or None when the class cannot be
    loaded (its options are then passed through and the method is reported as unavailable).
    """
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        head, sep, value = item.partition("=")
        method, dot, key = head.rpartition(".")
        if not sep or not dot or not method or not key:
            raise MethodOptionError(f"--method-option {item!r}: expected METHOD.KEY=VALUE, e.g. protobert.backbone=bert-base-uncased")
        if method not in methods:
            raise MethodOptionError(f"--method-option {item!r}: method {method!r} is not in this run; methods: {list(methods)}")
        config_class = config_class_of(method)
        field_types = _field_types(config_class) if config_class is not None else {}
        if config_class is not None and key not in field_types:
            raise MethodOptionError(f"--method-option {item!r}: {method} has no option {key!r}; valid options: "
                                    f"{sorted(field_types)} (see --list-methods)")
        options.setdefault(method, {})[key] = parse_value(value, field_types.get(key))
    return options


def merge_options(*layers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for method, values in layer.items():
            merged.setdefault(method, {}).update(values)
    return merged
