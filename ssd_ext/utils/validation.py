"""Argument checks whose errors name the offending key and the allowed values."""
from typing import Any, Iterable


def check_positive(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f'{name} must be a positive number, got {value!r}')


def check_in(name: str, value: Any, allowed: Iterable[Any]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f'{name}={value!r} is not allowed; choose one of {allowed}')


def check_keys(owner: str, given: dict, allowed: Iterable[str]) -> None:
    """Raise ``KeyError`` for config keys ``owner`` does not understand."""
    allowed = sorted(allowed)
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise KeyError(f'{owner} got unknown key(s) {unknown}; allowed keys: {allowed}')
