"""Site configuration: one TOML file plus HOTLINE_* environment overrides.

Everything is validated at load; a bad file is refused with a ConfigError that names the
key and the problem (``operators[2].languages.xx: unknown language 'xx'``).

One module per section holds its settings and their parser (``http.py``: ``HttpSettings`` and
``parse_http``); ``checks.py`` holds what one section may name of another, ``environment.py``
every read of the process environment, ``base.py`` the shared type checks. Every public name is
importable from ``hotline.config``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hotline.config.assist import parse_assist
from hotline.config.base import DIGITS, ConfigError, path
from hotline.config.cases import (
    Callback,
    Deadlines,
    Department,
    DispatchRule,
    parse_callback,
    parse_deadlines,
    parse_departments,
    parse_dispatch_rules,
)
from hotline.config.checks import languages_problem
from hotline.config.crisis import Crisis, parse_crisis
from hotline.config.environment import apply_overrides, command_user, environ, site_file, vosk_models
from hotline.config.floor import Alerts, Interpreting, Trends, parse_alerts, parse_interpreting, parse_trends
from hotline.config.http import HttpSettings, parse_http
from hotline.config.ivr import Ivr, parse_ivr
from hotline.config.media import Recordings, Transcription, parse_recordings, parse_transcription, place_recordings
from hotline.config.pbx import AsteriskSettings, SipSecurity, parse_asterisk, parse_sip_security, place_asterisk
from hotline.config.phones import (
    Interpreter,
    Operator,
    SupervisorPhone,
    parse_interpreters,
    parse_operators,
    parse_supervisors,
)
from hotline.config.routing import (
    WEEKDAYS,
    HotspotDay,
    RotaEntry,
    Routing,
    parse_hotspot_days,
    parse_rota,
    parse_routing,
)
from hotline.config.settings import Settings
from hotline.config.site import (
    Language,
    Topic,
    parse_districts,
    parse_languages,
    parse_number,
    parse_phone_region,
    parse_topics,
)
from hotline.config.users import ROLES, User, parse_users

__all__ = [
    "DIGITS", "ROLES", "WEEKDAYS", "Alerts", "AsteriskSettings", "Callback", "ConfigError", "Crisis", "Deadlines",
    "Department", "DispatchRule", "HotspotDay", "HttpSettings", "Interpreter", "Interpreting", "Ivr", "Language",
    "Operator", "Recordings", "RotaEntry", "Routing", "Settings", "SipSecurity", "SupervisorPhone", "Topic",
    "Transcription", "Trends", "User", "command_user", "languages_problem", "load", "parse", "site_file",
]


def parse(data: dict[str, Any], base: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Validate a parsed site file; relative paths are taken from ``base``. ``env``: the
    environment the HOTLINE_* overrides come from (default: this process's)."""
    env = environ(env)
    apply_overrides(data, env)
    number = parse_number(data)
    languages, topics = parse_languages(data), parse_topics(data)
    lang_codes, topic_codes = {lang.code for lang in languages}, {t.code for t in topics}
    operators = parse_operators(data, number, lang_codes, topic_codes)
    supervisors = parse_supervisors(data, number, operators)
    taken = {op.extension for op in operators} | {p.extension for p in supervisors}
    interpreters = parse_interpreters(data, number, lang_codes, taken)
    routing, asterisk, http = parse_routing(data), parse_asterisk(data), parse_http(data)
    hotspot_days = parse_hotspot_days(data)
    departments = parse_departments(data)
    phones = {"operator": {p.extension for p in operators}, "supervisor": {p.extension for p in supervisors},
              "interpreter": {p.extension for p in interpreters}}
    users = parse_users(data, phones, {d.code for d in departments})
    rota = parse_rota(data, phones["operator"])
    districts = parse_districts(data)
    assist = parse_assist(data, districts, topic_codes | {"other"})
    transcription = parse_transcription(data, base, lang_codes, vosk_models(env))
    interpreting, alerts = parse_interpreting(data, lang_codes), parse_alerts(data)
    dispatch_rules = parse_dispatch_rules(data, departments, topic_codes, districts)
    deadlines, callback = parse_deadlines(data), parse_callback(data)
    recordings, trends, sip_security = parse_recordings(data), parse_trends(data), parse_sip_security(data)
    crisis = parse_crisis(data, lang_codes)
    ivr = parse_ivr(data)
    state_dir = path(base, data.get("state_dir", "var"))
    return Settings(
        number=number, state_dir=state_dir, assist=assist,
        database=path(base, data.get("database", str(state_dir / "hotline.db"))),
        phone_region=parse_phone_region(data),
        languages=languages, topics=topics, operators=operators, routing=routing,
        asterisk=place_asterisk(asterisk, data, base, state_dir), http=http, hotspot_days=hotspot_days,
        users=users, rota=rota, districts=tuple(d.strip() for d in districts), transcription=transcription,
        supervisors=supervisors, alerts=alerts, interpreters=interpreters, interpreting=interpreting,
        departments=departments, dispatch_rules=dispatch_rules, deadlines=deadlines, callback=callback,
        recordings=place_recordings(recordings, state_dir), trends=trends, sip_security=sip_security,
        crisis=crisis,
        ivr=ivr,
    )


def load(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the site file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the site file: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    return parse(data, path.parent.resolve(), env)
