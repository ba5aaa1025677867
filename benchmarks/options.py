"""Command-line values that need parsing beyond argparse: int lists and METHOD.KEY=VALUE options."""
from __future__ import annotations

import argparse
from typing import Any, Iterable, Mapping, Sequence

from ner_fewshot.methods.option_types import field_types, parse_text


def int_list(text: str) -> list[int]:
    """'1,5' or '1' -> [1, 5] / [1] (argparse type; combine with nargs='+')."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers such as 1 or 1,5; got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one integer, got {text!r}")
    return values


def flatten(groups: Sequence[Sequence[int]] | None, flag: str = "values") -> tuple[int, ...] | None:
    """[[1, 5], [10]] -> (1, 5, 10); a value given twice is an error (it would repeat identical work)."""
    return None if groups is None else _unique(tuple(v for group in groups for v in group), flag)


def name_list(groups: Sequence[str] | None, flag: str = "names") -> tuple[str, ...] | None:
    """['a,b', 'c'] -> ('a', 'b', 'c'); no name at all, or a name given twice, is an error."""
    if groups is None:
        return None
    names = tuple(part.strip() for group in groups for part in group.split(",") if part.strip())
    if not names:
        raise ValueError(f"{flag} {' '.join(groups)!r} names nothing; give at least one name, e.g. {flag} a,b")
    return _unique(names, flag)


def _unique(values: tuple, flag: str) -> tuple:
    repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
    if repeated:
        raise ValueError(f"{flag} lists {', '.join(map(str, repeated))} more than once; give each value once")
    return values


def parse_value(text: str, annotation: Any, where: str = "option") -> Any:
    """Command-line text as the option's type (see ner_fewshot.methods.option_types); a value that is
    not of that type is a MethodOptionError before any work."""
    try:
        return parse_text(text, annotation, where)
    except ValueError as error:
        raise MethodOptionError(str(error)) from None


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
        types = field_types(config_class) if config_class is not None else {}
        if config_class is not None and key not in types:
            raise MethodOptionError(f"--method-option {item!r}: {method} has no option {key!r}; valid options: "
                                    f"{sorted(types)} (see --list-methods)")
        options.setdefault(method, {})[key] = parse_value(value, types.get(key, Any), f"--method-option {item!r}")
    return options


def merge_options(*layers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for method, values in layer.items():
            merged.setdefault(method, {}).update(values)
    return merged
