"""Methods by string name: built-ins and installed plugins both come through the entry-point group
`ner_fewshot.methods`; `register_method` adds one in-process (tests, notebooks)."""
from __future__ import annotations

import sys
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Mapping

from .base import FewShotMethod, MethodConfig, MethodContext

ENTRY_POINT_GROUP = "ner_fewshot.methods"

_registered: dict[str, type[FewShotMethod]] = {}


class UnknownMethod(KeyError):
    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class DuplicateMethod(ValueError):
    """A method name that is already taken (by a built-in, an installed plugin or an earlier registration)."""


def register_method(cls: type[FewShotMethod]) -> type[FewShotMethod]:
    """Class decorator: make `cls` available under `cls.name` in this process. A name that is already
    taken is refused: a registration never replaces (shadows) another method."""
    name = getattr(cls, "name", None)
    if not name:
        raise ValueError(f"{cls.__name__} needs a class attribute `name` to be registered")
    if not (isinstance(cls, type) and issubclass(cls, FewShotMethod)):
        raise TypeError(f"{cls!r} is not a FewShotMethod subclass")
    if name in _registered or name in _entry_points():
        where = (f"registered in this process by {_registered[name].__module__}.{_registered[name].__qualname__}"
                 if name in _registered else f"installed as {_entry_points()[name].value}")
        raise DuplicateMethod(f"cannot register {cls.__module__}.{cls.__qualname__} as {name!r}: that name is "
                              f"already {where}. Give the method another `name` (or unregister_method({name!r}) first "
                              "if you mean to replace your own registration)")
    _registered[name] = cls
    return cls


def unregister_method(name: str) -> None:
    _registered.pop(name, None)


def _entry_points() -> dict[str, Any]:
    return _scan(tuple(sys.path))


@lru_cache(maxsize=8)
def _scan(search_path: tuple[str, ...]) -> dict[str, Any]:
    """Scanning every installed distribution is slow; redo it only when sys.path changes. Two installed
    distributions offering one name is an error: neither may silently win."""
    found: dict[str, Any] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            raise DuplicateMethod(f"method name {ep.name!r} is offered by two installed packages: {_origin(found[ep.name])} "
                                  f"and {_origin(ep)}; uninstall one of them or rename its entry point")
        found[ep.name] = ep
    return found


def _origin(ep) -> str:
    dist = getattr(ep, "dist", None)
    return f"{ep.value} (package {dist.name})" if dist is not None else ep.value


def available_methods() -> list[str]:
    """Every method name: installed entry points and in-process registrations."""
    return sorted(set(_entry_points()) | set(_registered))


def get_method_class(name: str) -> type[FewShotMethod]:
    if name in _registered:
        return _registered[name]
    eps = _entry_points()
    if name not in eps:
        hint = ""
        if not eps:
            hint = (" No methods are installed at all: install this project (`pip install -e .`, or"
                    " `make setup`) so that its entry points are registered.")
        raise UnknownMethod(f"unknown method {name!r}; known methods: {available_methods()}.{hint}")
    cls = eps[name].load()
    if not (isinstance(cls, type) and issubclass(cls, FewShotMethod)):
        raise TypeError(f"entry point {name!r} ({eps[name].value}) is not a FewShotMethod subclass")
    return cls


def create_method(name: str, options: Mapping[str, Any] | None = None,
                  context: MethodContext | None = None) -> FewShotMethod:
    """Build a method from its name and config options (unknown options are an error), in `context`
    (default: MethodContext.from_environment())."""
    cls = get_method_class(name)
    config: MethodConfig = cls.config_class.from_dict(dict(options or {}))
    method = cls(config)
    if context is not None:
        method.context = context
    return method
