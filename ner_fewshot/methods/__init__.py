"""The method plugin interface and the registry."""
from .base import FewShotMethod, MethodConfig, MethodUnavailable, ParameterCounts, option
from .registry import (
    ENTRY_POINT_GROUP,
    UnknownMethod,
    available_methods,
    create_method,
    get_method_class,
    register_method,
    unregister_method,
)

__all__ = [
    "ENTRY_POINT_GROUP", "FewShotMethod", "MethodConfig", "MethodUnavailable", "ParameterCounts",
    "UnknownMethod", "available_methods", "create_method", "get_method_class", "option",
    "register_method", "unregister_method",
]
