"""What every section's parser shares: the error, the type checks and the path rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from hotline.errors import HotlineError

DIGITS = set("123456789")
EXT = re.compile(r"^[0-9]{2,8}$")
CODE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


class ConfigError(HotlineError, ValueError):
    """The site configuration is invalid; ``key`` names where."""

    error_id = "config-invalid"
    status = 503  # the site file is wrong, not the request

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}", details={"key": key})
        self.key = key
        self.problem = problem


def require(table: Mapping[str, Any], key: str, where: str, kind: type) -> Any:
    if key not in table:
        raise ConfigError(f"{where}{key}", "missing")
    value = table[key]
    if kind is str and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}{key}", f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def section(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """``cls()`` with the scalar settings of ``data`` checked against the defaults' types."""
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    default = cls()
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{where}.{key}", f"unknown setting (known: {', '.join(sorted(known))})")
        expected = Path if isinstance(getattr(default, key), Path) else type(getattr(default, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is Path and isinstance(value, str):
            value = Path(value)
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise ConfigError(f"{where}.{key}", f"expected {expected.__name__}, got {value!r}")
        values[key] = value
    return replace(default, **values)


def str_list(item: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(where + key, "must be a list of strings")
    return tuple(value)


def dates(values: tuple[str, ...], key: str) -> tuple[str, ...]:
    for v in values:
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", v):
            raise ConfigError(key, f"dates must be YYYY-MM-DD, got {v!r}")
    return values


def path(base: Path, value: Any) -> Path:
    p = Path(value)
    return p if p.is_absolute() else (base / p).resolve()


def unique(values: list[str], section: str, key: str) -> None:
    seen: set[str] = set()
    for i, v in enumerate(values):
        if v in seen:
            raise ConfigError(f"{section}[{i}].{key}", f"duplicate {key} {v!r}")
        seen.add(v)


def unknown_keys(item: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(item) - allowed
    if unknown:
        raise ConfigError(where + sorted(unknown)[0], "unknown setting")
