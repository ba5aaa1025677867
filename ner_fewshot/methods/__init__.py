"""The method plugin interface and the registry."""
from .base import FewShotMethod, MethodConfig, MethodContext, MethodUnavailable, ParameterCounts, option
from .registry import (
    ENTRY_POINT_GROUP,
    DuplicateMethod,
    UnknownMethod,
    available_methods,
    create_method,
    get_method_class,
    register_method,
    unregister_method,
)

__all__ = [
    "DuplicateMethod", "ENTRY_POINT_GROUP", "FewShotMethod", "MethodConfig", "MethodContext", "MethodUnavailable", "ParameterCounts",
    "UnknownMethod", "available_methods", "create_method", "get_method_class", "option",
    "register_method", "unregister_method",
]
