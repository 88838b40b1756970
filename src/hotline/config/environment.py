"""Everything the hotline reads from the process environment, in one place (no module outside
hotline.config reads os.environ; tests/test_architecture.py checks it). Each function takes the
environment as a mapping, so callers and tests can hand one in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from hotline.config.base import ConfigError
from hotline.config.cases import Callback, Deadlines
from hotline.config.floor import Alerts, Interpreting, Trends
from hotline.config.http import HttpSettings
from hotline.config.media import Recordings, Transcription
from hotline.config.pbx import AsteriskSettings, SipSecurity
from hotline.config.routing import Routing

PREFIX = "HOTLINE_"
VOSK_PREFIX = "HOTLINE_VOSK_MODEL_"
SECTIONS: dict[str, type] = {
    "routing": Routing, "asterisk": AsteriskSettings, "http": HttpSettings, "transcription": Transcription,
    "alerts": Alerts, "interpreting": Interpreting, "deadlines": Deadlines, "callback": Callback,
    "recordings": Recordings, "trends": Trends, "sip_security": SipSecurity,
}
TOP_LEVEL = ("database", "state_dir", "number")
ALIASES = {"ami_trace": ("asterisk", "ami_trace")}  # HOTLINE_AMI_TRACE, the name documented before the setting


def environ(env: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return os.environ if env is None else env


def site_file(default: str, env: Mapping[str, str] | None = None) -> str:
    """The site file when no --site is given: $HOTLINE_SITE, else ``default``."""
    return environ(env).get("HOTLINE_SITE", default)


def command_user(env: Mapping[str, str] | None = None) -> str:
    """Who ran a command, for the audit log: the user behind sudo, else the login user."""
    e = environ(env)
    return e.get("SUDO_USER") or e.get("USER") or "cli"


def vosk_models(env: Mapping[str, str]) -> dict[str, Path]:
    """HOTLINE_VOSK_MODEL_<LANG>=folder: language -> Vosk model folder."""
    return {name[len(VOSK_PREFIX):].lower(): Path(value) for name, value in env.items()
            if name.startswith(VOSK_PREFIX) and value}


def _scalar(name: str, kind: type, value: str) -> Any:
    try:
        if kind is bool:
            if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("1", "true", "yes")
        return kind(value) if kind is not Path else value
    except ValueError:
        raise ConfigError(name, f"expected {kind.__name__}, got {value!r}") from None


def apply_overrides(data: dict[str, Any], env: Mapping[str, str]) -> None:
    """HOTLINE_<SECTION>_<KEY>=value overrides a scalar setting (HOTLINE_HTTP_PORT=9000)."""
    for name, value in env.items():
        if not name.startswith(PREFIX):
            continue
        rest = name[len(PREFIX):].lower()
        if rest in TOP_LEVEL:
            data[rest] = value
            continue
        if rest in ALIASES:
            sec, key = ALIASES[rest]
            data.setdefault(sec, {})[key] = value
            continue
        for sec, cls in SECTIONS.items():
            if rest.startswith(sec + "_"):
                key = rest[len(sec) + 1:]
                kinds = {f.name: type(getattr(cls(), f.name)) for f in fields(cls)
                         if not isinstance(getattr(cls(), f.name), (tuple, dict))}
                if key not in kinds:
                    raise ConfigError(name, f"unknown setting {sec}.{key}")
                data.setdefault(sec, {})[key] = _scalar(name, kinds[key], value)
