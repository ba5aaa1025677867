"""Config option types: read from the annotations (typing.get_type_hints, so a plugin module works with
or without `from __future__ import annotations`), checked on every value, parsed from command-line text.

Supported: bool, int, float, str, tuple / list (of any element), `X | None` / Optional[X]; any other
annotation is accepted as is.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Union

BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
_NONE_WORDS = ("none", "null")


_BUILTIN_NAMES = {"bool": bool, "int": int, "float": float, "str": str, "tuple": tuple, "list": list}


def field_types(config_class: type) -> dict[str, Any]:
    """Option name -> resolved annotation (a type object, never a string)."""
    try:
        hints = typing.get_type_hints(config_class)
    except NameError:  # an annotation naming something imported only for type checkers: resolve what we can
        hints = {f.name: _BUILTIN_NAMES.get(f.type, Any) if isinstance(f.type, str) else f.type
                 for f in dataclasses.fields(config_class)}
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(config_class)}


def type_name(annotation: Any) -> str:
    """'int', 'float | None', ... for listings and messages."""
    inner = _optional_inner(annotation)
    if inner is not None:
        return f"{type_name(inner)} | None"
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _optional_inner(annotation: Any) -> Any | None:
    """X for `X | None` / Optional[X], else None."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0]
    return None


def check_value(value: Any, annotation: Any, where: str) -> Any:
    """`value` as the option's type (an int for a float option becomes a float, a list for a tuple option
    a tuple); a value of another type raises ValueError naming the option (`where`)."""
    inner = _optional_inner(annotation)
    if inner is not None:
        return None if value is None else check_value(value, inner, where)
    origin = typing.get_origin(annotation) or annotation
    if annotation is bool:
        ok = isinstance(value, bool)
    elif annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif annotation is str:
        ok = isinstance(value, str)
    elif origin in (tuple, list):
        ok = isinstance(value, (tuple, list))
        value = origin(value) if ok else value
    else:
        return value  # an annotation this module does not know: the method checks it
    if not ok:
        raise ValueError(f"{where} must be {_expected(annotation)}, got {value!r} ({type(value).__name__})")
    return value


def _expected(annotation: Any) -> str:
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "an integer"
    if annotation is float:
        return "a number"
    if annotation is str:
        return "a string"
    return f"a {type_name(annotation)}"


def parse_text(text: str, annotation: Any, where: str) -> Any:
    """Command-line text -> a checked value of the option's type."""
    inner = _optional_inner(annotation)
    if inner is not None:
        return None if text.strip().lower() in _NONE_WORDS else parse_text(text, inner, where)
    if annotation is str:
        return text  # a backbone named '123' stays a string
    if annotation is bool:
        word = text.strip().lower()
        if word not in BOOLEAN_WORDS:
            raise ValueError(f"{where}: {text!r} is not a boolean; use true or false")
        return BOOLEAN_WORDS[word]
    if annotation in (int, float):
        try:
            return annotation(text.strip()) if annotation is float else int(text.strip(), 10)
        except ValueError:
            raise ValueError(f"{where}: {text!r} is not {_expected(annotation)}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    return check_value(value, annotation, where)
