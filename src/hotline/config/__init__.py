"""Site configuration: one TOML file plus HOTLINE_* environment overrides.

Everything is validated at load; a bad file is refused with a ConfigError that names the
key and the problem (``operators[2].languages.xx: unknown language 'xx'``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hotline.errors import HotlineError

DIGITS = set("123456789")
_EXT = re.compile(r"^[0-9]{2,8}$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


class ConfigError(HotlineError, ValueError):
    """The site configuration is invalid; ``key`` names where."""

    error_id = "config-invalid"
    status = 503  # the site file is wrong, not the request

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}", details={"key": key})
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    digit: str
    voice: str  # espeak-ng voice used to synthesise the prompts


@dataclass(frozen=True)
class Topic:
    code: str
    name: str
    digit: str


@dataclass(frozen=True)
class Operator:
    extension: str
    name: str
    languages: Mapping[str, int]  # language code -> proficiency 1..5
    topics: tuple[str, ...]
    password: str | None = None  # None: generated into the state folder's secrets file
    contact: str | None = None  # "host:port" of a phone with a fixed address (no registration)


@dataclass(frozen=True)
class SupervisorPhone:
    """A shift manager's phone: listen, whisper and barge calls ring here."""

    extension: str
    name: str
    password: str | None = None
    contact: str | None = None


@dataclass(frozen=True)
class Interpreter:
    """An interpreter's phone and languages (proficiency 1-5). ``dial`` reaches one outside the
    PBX (a volunteer at a language centre) through a configured trunk, e.g. PJSIP/8613800000001@centre;
    empty: the extension's own registered phone."""

    extension: str
    name: str
    languages: Mapping[str, int]
    password: str | None = None
    contact: str | None = None
    dial: str = ""


@dataclass(frozen=True)
class Interpreting:
    ring_seconds: int = 15  # one interpreter's phone rings this long, then the next is tried
    answer_target_seconds: int = 30  # a request should be answered within this
    # the automatic offer: a caller of one of these languages answered by an operator who does
    # not speak it (the router's overflow before the 15 s deadline) gets an interpreter at once
    auto_offer: tuple[str, ...] = ()


@dataclass(frozen=True)
class Department:
    """A department (or district office) that receives cases."""

    code: str
    name: str


@dataclass(frozen=True)
class DispatchRule:
    """Suggests ``department`` for cases of these topics (form category or IVR topic) in these
    districts; an empty list matches any. The most specific matching rule wins (topic and
    district over one of them over neither), then the first in the file."""

    department: str
    topics: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Deadlines:
    """How long a department has: ``days`` from dispatch, calendar or working days."""

    days: int = 7
    working_days: bool = False  # count only working days (Monday-Friday, not holidays)
    holidays: tuple[str, ...] = ()  # YYYY-MM-DD: not working days
    working_weekends: tuple[str, ...] = ()  # YYYY-MM-DD: a Saturday or Sunday worked in exchange
    warn_day: int = 5  # a warning when this many days (of ``days``) have passed
    extension_days: int = 7  # what a supervisor grants when approving an extension without a number


@dataclass(frozen=True)
class Callback:
    """The call back that asks the citizen whether the reply resolved their appeal."""

    # how Asterisk reaches a citizen; {number} is the caller's number, e.g. PJSIP/{number}@carrier
    # or PJSIP/citizens/sip:{number}@192.0.2.10:5060. Empty: no automatic call, operators call back
    dial: str = ""
    caller_id: str = ""  # what the citizen sees; empty: the hotline number
    delay_minutes: float = 0.0  # after the department's reply
    ring_seconds: int = 30
    retry_minutes: tuple[float, ...] = (30.0, 120.0)  # after each unanswered attempt; then an operator task
    hours_start: str = "08:00"  # calls are placed only between these local times
    hours_end: str = "21:00"


@dataclass(frozen=True)
class Recordings:
    """Every answered call is recorded (MixMonitor); pydub makes the archive copy."""

    enabled: bool = True
    folder: Path = Path("recordings")  # the archive, under state_dir unless absolute
    format: str = "ogg"  # ogg (Opus) or mp3
    bitrate: str = "32k"
    retention_days: int = 365  # archive copies older than this are deleted
    min_free_mb: int = 1024  # below this free space new calls are not recorded (the calls go on)
    archive_workers: int = 0  # archive copies made at once (ffmpeg, CPU-heavy); 0: half the cores, at least 1
    archive_nice: int = 10  # the archive workers' (and their ffmpeg's) nice value: calls come first
    archive_retries: int = 3  # attempts after a transient failure (backoff 5 s, 30 s, 2 min...)
    settle_timeout: float = 300.0  # seconds after the hang-up to wait for Asterisk to close the files


@dataclass(frozen=True)
class Trends:
    baseline_days: int = 28  # a topic's or address's own baseline: its mean count over these days
    hotspot_factor: float = 3.0  # today's count at least this many times the baseline
    hotspot_min_cases: int = 5  # and at least this many cases today
    bundle_days: int = 3  # cases with the same address and topic within this many days form a bundle
    keywords: tuple[str, ...] = ()  # words counted per day on the trends page (any word can be asked for)


@dataclass(frozen=True)
class Alerts:
    """When the wallboard warns a shift manager (seconds, percent)."""

    waiting_seconds: float = 10.0  # a caller waiting this long with no free skilled operator
    service_level_minutes: int = 15  # the window of the service-level alert (goal: routing.goal_percent)
    pause_seconds: float = 900.0  # a pause (not wrap-up) longer than this
    wrapup_seconds: float = 120.0  # a wrap-up longer than this


@dataclass(frozen=True)
class SipSecurity:
    """The SIP guard (docs/security.md, "SIP"): a source address with ``max_failures`` failed
    logins within ``window_seconds`` is refused by Asterisk (403 to every request) for
    ``block_minutes``; addresses in ``trusted_networks`` (the operators' own subnets) are never
    blocked. The citizens' trunk: at most ``calls_per_source`` calls per source address in any
    ``calls_window_seconds`` and ``concurrent_per_source`` at once (0: no limit). Calls from a
    ``carrier_sources`` address (a carrier or SBC relaying many citizens' calls) are limited per
    caller number instead of per address."""

    enabled: bool = True
    max_failures: int = 5
    window_seconds: float = 60.0
    block_minutes: float = 15.0
    trusted_networks: tuple[str, ...] = ()
    calls_per_source: int = 10
    calls_window_seconds: float = 10.0
    concurrent_per_source: int = 20
    carrier_sources: tuple[str, ...] = ()
    alert_minutes: float = 10.0  # a refused flood stays on the wallboard this long


@dataclass(frozen=True)
class HotspotDay:
    """A day expected busier than its weekday (an event, the weather): the forecast x factor."""

    date: str  # YYYY-MM-DD
    factor: float
    reason: str = ""


@dataclass(frozen=True)
class Routing:
    target_seconds: int = 15
    goal_percent: float = 96.0
    # exact skill and best proficiency first: member penalty = 5 - proficiency
    initial_max_penalty: int = 1
    widen_penalty_after: int = 3  # seconds; queuerule raises the ceiling to 4 (any proficiency)
    overflow_same_language_after: float = 5.0  # router adds same-language operators
    overflow_any_after: float = 9.0  # router adds any free operator
    ring_seconds: int = 12
    wrapup_seconds: int = 5
    menu_timeout: int = 5  # seconds the IVR waits for a digit after each menu prompt


@dataclass(frozen=True)
class AsteriskSettings:
    root: Path = Path("var/asterisk/root")
    instance: str = "main"
    suite: str = "sid"
    mirror: str = "http://deb.debian.org/debian"
    bind: str = "127.0.0.1"
    sip_port: int = 5060
    rtp_start: int = 20000
    rtp_end: int = 20999
    ami_port: int = 5038
    agi_port: int = 4573
    prompts_override: Path = Path("prompts")
    # the system user Asterisk and the service run as when started as root (root only installs,
    # renders and starts); "" keeps the user they were started as
    user: str = "hotline"
    bind_guard: bool = True  # Asterisk binds no UDP socket to 0.0.0.0 or [::] (pbx/bindguard.c)

    @property
    def instance_dir_in_chroot(self) -> str:
        return f"/hotline/{self.instance}"

    @property
    def instance_dir(self) -> Path:
        return self.root / "hotline" / self.instance


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8480
    # the origin browsers use (https://hotline.example.gov); more in `origins`. Neither set: only
    # http://<host>:<port> (and http://localhost:<port> on a loopback host), never the Host header
    origin: str = ""
    origins: tuple[str, ...] = ()
    session_hours: float = 12.0  # a desktop session ends after this long without use
    secure_cookies: bool = False  # always Secure cookies; they are Secure anyway on a request over TLS
    # reverse proxies (addresses or networks) whose X-Forwarded-For / X-Forwarded-Proto are believed
    trusted_proxies: tuple[str, ...] = ()
    single_session: bool = False  # a new login ends the user's other sessions

    def allowed_origins(self) -> frozenset[str]:
        """The origins a browser page of this service may have: the configured ones only."""
        configured = [o.rstrip("/") for o in (self.origin, *self.origins) if o]
        if configured:
            return frozenset(configured)
        found = {f"http://{self.host}:{self.port}"}
        if self.host in ("127.0.0.1", "localhost", "::1"):
            found |= {f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"}
        return frozenset(found)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class RotaEntry:
    """An operator scheduled on some weekdays from start to end (HH:MM; an end before the start
    runs past midnight)."""

    extension: str
    start: str
    end: str
    days: tuple[str, ...] = WEEKDAYS

    def minutes(self) -> tuple[int, int]:
        h1, m1 = (int(x) for x in self.start.split(":"))
        h2, m2 = (int(x) for x in self.end.split(":"))
        return h1 * 60 + m1, h2 * 60 + m2


ROLES = ("operator", "interpreter", "supervisor", "department", "admin")


@dataclass(frozen=True)
class User:
    """A web user from the site file (more are added with `hotline users add`)."""

    username: str
    role: str
    name: str = ""
    extension: str = ""  # operators and interpreters: their SIP extension
    password_hash: str = ""  # an argon2 hash (`hotline users hash`); empty: set it with `users passwd`
    department: str = ""  # department users: the code of their department


@dataclass(frozen=True)
class Transcription:
    enabled: bool = True
    audiosocket_port: int = 4575  # Asterisk sends each call leg's audio here (AudioSocket, loopback)
    workers: int = 2  # threads running the recognizers (never the event loop)
    # language code -> Vosk model folder; HOTLINE_VOSK_MODEL_<LANG> overrides
    models: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    number: str
    state_dir: Path
    database: Path
    languages: tuple[Language, ...]
    topics: tuple[Topic, ...]
    operators: tuple[Operator, ...]
    routing: Routing = field(default_factory=Routing)
    asterisk: AsteriskSettings = field(default_factory=AsteriskSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    hotspot_days: tuple[HotspotDay, ...] = ()
    users: tuple[User, ...] = ()
    rota: tuple[RotaEntry, ...] = ()
    districts: tuple[str, ...] = ()  # empty: the case form takes any district name
    transcription: Transcription = field(default_factory=Transcription)
    supervisors: tuple[SupervisorPhone, ...] = ()
    alerts: Alerts = field(default_factory=Alerts)
    interpreters: tuple[Interpreter, ...] = ()
    interpreting: Interpreting = field(default_factory=Interpreting)
    departments: tuple[Department, ...] = ()
    dispatch_rules: tuple[DispatchRule, ...] = ()
    deadlines: Deadlines = field(default_factory=Deadlines)
    callback: Callback = field(default_factory=Callback)
    recordings: Recordings = field(default_factory=Recordings)
    trends: Trends = field(default_factory=Trends)
    sip_security: SipSecurity = field(default_factory=SipSecurity)

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def hotspot_factor(self, day: object) -> float:
        return next((h.factor for h in self.hotspot_days if h.date == str(day)), 1.0)

    @property
    def default_language(self) -> Language:
        return self.languages[0]

    def language(self, code: str) -> Language | None:
        return next((lang for lang in self.languages if lang.code == code), None)

    def operator(self, extension: str) -> Operator | None:
        return next((op for op in self.operators if op.extension == extension), None)

    def supervisor_phone(self, extension: str) -> SupervisorPhone | None:
        return next((p for p in self.supervisors if p.extension == extension), None)

    @property
    def phones(self) -> tuple[Operator | SupervisorPhone | Interpreter, ...]:
        """Every SIP phone the PBX knows: operators', supervisors' and interpreters'."""
        return (*self.operators, *self.supervisors, *(i for i in self.interpreters if not i.dial))

    def interpreter(self, extension: str) -> Interpreter | None:
        return next((i for i in self.interpreters if i.extension == extension), None)


def _require(table: Mapping[str, Any], key: str, where: str, kind: type) -> Any:
    if key not in table:
        raise ConfigError(f"{where}{key}", "missing")
    value = table[key]
    if kind is str and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}{key}", f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _section(cls: type, data: Mapping[str, Any], where: str) -> Any:
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


def _env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> None:
    """HOTLINE_<SECTION>_<KEY>=value overrides a scalar setting (HOTLINE_HTTP_PORT=9000)."""
    sections = {"routing": Routing, "asterisk": AsteriskSettings, "http": HttpSettings,
                "transcription": Transcription, "alerts": Alerts, "interpreting": Interpreting,
                "deadlines": Deadlines, "callback": Callback, "recordings": Recordings, "trends": Trends,
                "sip_security": SipSecurity}
    for name, value in env.items():
        if not name.startswith("HOTLINE_"):
            continue
        rest = name[len("HOTLINE_"):].lower()
        if rest in ("database", "state_dir", "number"):
            data[rest] = value
            continue
        for section, cls in sections.items():
            if rest.startswith(section + "_"):
                key = rest[len(section) + 1:]
                kinds = {f.name: type(getattr(cls(), f.name)) for f in fields(cls)
                         if not isinstance(getattr(cls(), f.name), (tuple, dict))}
                if key not in kinds:
                    raise ConfigError(name, f"unknown setting {section}.{key}")
                kind = kinds[key]
                try:
                    if kind is bool:
                        if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                            raise ValueError(value)
                        parsed: Any = value.lower() in ("1", "true", "yes")
                    else:
                        parsed = kind(value) if kind is not Path else value
                except ValueError:
                    raise ConfigError(name, f"expected {kind.__name__}, got {value!r}") from None
                data.setdefault(section, {})[key] = parsed


def parse(data: dict[str, Any], base: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Validate a parsed site file; relative paths are taken from ``base``."""
    _env_overrides(data, os.environ if env is None else env)
    number = str(data.get("number", "12345"))
    if not number.isdigit():
        raise ConfigError("number", f"must be digits, got {number!r}")

    languages: list[Language] = []
    raw_langs = data.get("languages")
    if not isinstance(raw_langs, list) or not raw_langs:
        raise ConfigError("languages", "at least one [[languages]] entry is required (the first is the default)")
    for i, item in enumerate(raw_langs):
        where = f"languages[{i}]."
        code = _require(item, "code", where, str)
        if not _CODE.match(code):
            raise ConfigError(where + "code", f"must be a short lowercase code, got {code!r}")
        digit = _require(item, "digit", where, str)
        if digit not in DIGITS:
            raise ConfigError(where + "digit", f"must be one DTMF digit 1-9, got {digit!r}")
        languages.append(Language(code, _require(item, "name", where, str), digit,
                                  _require(item, "voice", where, str)))
    _unique([lang.code for lang in languages], "languages", "code")
    _unique([lang.digit for lang in languages], "languages", "digit")

    topics: list[Topic] = []
    for i, item in enumerate(data.get("topics", [])):
        where = f"topics[{i}]."
        code = _require(item, "code", where, str)
        if not _CODE.match(code) or code == "general":
            raise ConfigError(where + "code", f"must be a short lowercase code other than 'general', got {code!r}")
        digit = _require(item, "digit", where, str)
        if digit not in DIGITS:
            raise ConfigError(where + "digit", f"must be one DTMF digit 1-9 (0 is 'any operator'), got {digit!r}")
        topics.append(Topic(code, _require(item, "name", where, str), digit))
    _unique([t.code for t in topics], "topics", "code")
    _unique([t.digit for t in topics], "topics", "digit")

    lang_codes = {lang.code for lang in languages}
    topic_codes = {t.code for t in topics}
    operators: list[Operator] = []
    for i, item in enumerate(data.get("operators", [])):
        where = f"operators[{i}]."
        ext = _require(item, "extension", where, str)
        if not _EXT.match(ext) or ext == number:
            raise ConfigError(where + "extension", f"must be 2-8 digits and not the hotline number, got {ext!r}")
        langs = _languages(item, where, lang_codes, "an operator")
        tops = item.get("topics", [])
        if not isinstance(tops, list):
            raise ConfigError(where + "topics", "expected a list of topic codes")
        for t in tops:
            if t not in topic_codes:
                raise ConfigError(where + "topics", f"unknown topic {t!r}")
        password, contact = _phone_access(item, where)
        operators.append(Operator(ext, str(item.get("name", ext)), dict(langs), tuple(tops), password, contact))
    _unique([op.extension for op in operators], "operators", "extension")

    supervisors: list[SupervisorPhone] = []
    for i, item in enumerate(data.get("supervisors", [])):
        where = f"supervisors[{i}]."
        ext = _require(item, "extension", where, str)
        if not _EXT.match(ext) or ext == number:
            raise ConfigError(where + "extension", f"must be 2-8 digits and not the hotline number, got {ext!r}")
        if any(op.extension == ext for op in operators):
            raise ConfigError(where + "extension", f"extension {ext!r} is an operator's")
        password, contact = _phone_access(item, where)
        supervisors.append(SupervisorPhone(ext, str(item.get("name", ext)), password, contact))
    _unique([p.extension for p in supervisors], "supervisors", "extension")

    interpreters: list[Interpreter] = []
    taken = {op.extension for op in operators} | {p.extension for p in supervisors}
    for i, item in enumerate(data.get("interpreters", [])):
        where = f"interpreters[{i}]."
        ext = _require(item, "extension", where, str)
        if not _EXT.match(ext) or ext == number or ext in taken:
            raise ConfigError(where + "extension", f"must be 2-8 digits, not the hotline number and not another "
                              f"phone's, got {ext!r}")
        langs = _languages(item, where, lang_codes, "an interpreter")
        dial = item.get("dial", "")
        if not isinstance(dial, str) or (dial and not re.match(r"^PJSIP/[\w+.@\-]+$", dial)):
            raise ConfigError(where + "dial", f"must look like PJSIP/number@trunk, got {dial!r}")
        password, contact = _phone_access(item, where)
        interpreters.append(Interpreter(ext, str(item.get("name", ext)), dict(langs), password, contact, dial))
    _unique([p.extension for p in interpreters], "interpreters", "extension")

    routing = _section(Routing, data.get("routing", {}), "routing")
    if not 0 <= routing.initial_max_penalty <= 4:
        raise ConfigError("routing.initial_max_penalty", "must be 0-4 (penalty = 5 - proficiency)")
    if not (routing.widen_penalty_after < routing.overflow_same_language_after
            <= routing.overflow_any_after < routing.target_seconds):
        raise ConfigError("routing", "need widen_penalty_after < overflow_same_language_after <= "
                          "overflow_any_after < target_seconds")
    asterisk = _section(AsteriskSettings, data.get("asterisk", {}), "asterisk")
    if not _CODE.match(asterisk.instance):
        raise ConfigError("asterisk.instance", f"must be a short lowercase name, got {asterisk.instance!r}")
    if asterisk.user and (asterisk.user == "root" or not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", asterisk.user)):
        raise ConfigError("asterisk.user", f"must be a system user name other than root, got {asterisk.user!r}")
    raw_http = dict(data.get("http", {}))
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("origins", "trusted_proxies"):
        items = raw_http.pop(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ConfigError(f"http.{key}", "must be a list of strings")
        lists[key] = tuple(items)
    http = replace(_section(HttpSettings, raw_http, "http"), **lists)
    for o in (http.origin, *http.origins):
        if o and not re.match(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?/?$|^https?://\[[0-9a-fA-F:]+\](:\d{1,5})?/?$", o):
            raise ConfigError("http.origins", f"an origin is scheme://host[:port], got {o!r}")
    for proxy in http.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError("http.trusted_proxies", f"not an address or network: {proxy!r}") from None
    for key in ("sip_port", "ami_port", "agi_port"):
        port = getattr(asterisk, key)
        if not 1 <= port <= 65535:
            raise ConfigError(f"asterisk.{key}", f"not a port: {port}")

    hotspots = []
    for i, item in enumerate(data.get("hotspot_days", [])):
        where = f"hotspot_days[{i}]."
        day = _require(item, "date", where, str)
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", day):
            raise ConfigError(where + "date", f"must be YYYY-MM-DD, got {day!r}")
        factor = item.get("factor")
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not 0 < factor <= 10:
            raise ConfigError(where + "factor", f"must be a number in (0, 10], got {factor!r}")
        hotspots.append(HotspotDay(day, float(factor), str(item.get("reason", ""))))

    departments = _departments(data)
    users: list[User] = []
    for i, item in enumerate(data.get("users", [])):
        where = f"users[{i}]."
        username = _require(item, "username", where, str)
        if not re.match(r"^[a-z][a-z0-9_.\-]{1,31}$", username):
            raise ConfigError(where + "username", f"must be 2-32 lowercase letters, digits, . _ -, got {username!r}")
        role = _require(item, "role", where, str)
        if role not in ROLES:
            raise ConfigError(where + "role", f"must be one of {', '.join(ROLES)}, got {role!r}")
        ext = str(item.get("extension", ""))
        if role == "operator" and not any(op.extension == ext for op in operators):
            raise ConfigError(where + "extension", f"an operator user needs the extension of one of the "
                              f"[[operators]], got {ext!r}")
        if role == "interpreter" and ext and not any(p.extension == ext for p in interpreters):
            raise ConfigError(where + "extension", f"an interpreter's extension must be one of the "
                              f"[[interpreters]], got {ext!r}")
        if role == "supervisor" and ext and not any(p.extension == ext for p in supervisors):
            raise ConfigError(where + "extension", f"a supervisor's extension must be one of the "
                              f"[[supervisors]] phones, got {ext!r}")
        pw_hash = str(item.get("password_hash", ""))
        if pw_hash and not pw_hash.startswith("$argon2"):
            raise ConfigError(where + "password_hash", "must be an argon2 hash (make one with `hotline users "
                              "hash`); never put a plain password in the site file")
        unknown = set(item) - {"username", "role", "extension", "name", "password_hash", "department"}
        if unknown:
            raise ConfigError(where + sorted(unknown)[0], "unknown setting")
        dept = str(item.get("department", ""))
        if (role == "department") != bool(dept) or (dept and not any(d.code == dept for d in departments)):
            raise ConfigError(where + "department", "a department user needs the code of one of the "
                              f"[[departments]] (and only they have one), got {dept!r}")
        users.append(User(username, role, str(item.get("name", "")), ext, pw_hash, dept))
    _unique([u.username for u in users], "users", "username")

    rota: list[RotaEntry] = []
    for i, item in enumerate(data.get("rota", [])):
        where = f"rota[{i}]."
        ext = _require(item, "extension", where, str)
        if not any(op.extension == ext for op in operators):
            raise ConfigError(where + "extension", f"no operator with extension {ext!r}")
        times = []
        for key in ("start", "end"):
            value = _require(item, key, where, str)
            if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", value):
                raise ConfigError(where + key, f"must be HH:MM, got {value!r}")
            times.append(value)
        days = item.get("days", list(WEEKDAYS))
        if not isinstance(days, list) or not days or any(d not in WEEKDAYS for d in days):
            raise ConfigError(where + "days", f"must be a list of {', '.join(WEEKDAYS)}")
        if times[0] == times[1]:
            raise ConfigError(where + "end", "a shift needs an end different from its start")
        rota.append(RotaEntry(ext, times[0], times[1], tuple(days)))

    districts = data.get("districts", [])
    if not isinstance(districts, list) or not all(isinstance(d, str) and d.strip() for d in districts):
        raise ConfigError("districts", "must be a list of district names")

    raw_tr = dict(data.get("transcription", {}))
    raw_models = raw_tr.pop("models", {})
    transcription = _section(Transcription, raw_tr, "transcription")
    if not isinstance(raw_models, dict):
        raise ConfigError("transcription.models", "must be a table: language code = model folder")
    for code, folder in raw_models.items():
        if code not in lang_codes:
            raise ConfigError(f"transcription.models.{code}", f"unknown language {code!r}")
        if not isinstance(folder, str):
            raise ConfigError(f"transcription.models.{code}", "must be a folder path")
    transcription = replace(transcription, models={c: _path(base, f) for c, f in raw_models.items()})
    if not 1 <= transcription.workers <= 64:
        raise ConfigError("transcription.workers", "must be 1-64")

    raw_interpreting = dict(data.get("interpreting", {}))
    auto_offer = raw_interpreting.pop("auto_offer", [])
    if not isinstance(auto_offer, list) or not all(isinstance(c, str) for c in auto_offer):
        raise ConfigError("interpreting.auto_offer", "must be a list of language codes")
    for code in auto_offer:
        if code not in lang_codes:
            raise ConfigError("interpreting.auto_offer", f"unknown language {code!r}")
    interpreting = replace(_section(Interpreting, raw_interpreting, "interpreting"), auto_offer=tuple(auto_offer))
    if not 5 <= interpreting.ring_seconds <= 120 or not 5 <= interpreting.answer_target_seconds <= 600:
        raise ConfigError("interpreting", "ring_seconds must be 5-120 and answer_target_seconds 5-600")
    alerts = _section(Alerts, data.get("alerts", {}), "alerts")
    if alerts.waiting_seconds <= 0 or alerts.pause_seconds <= 0 or alerts.wrapup_seconds <= 0:
        raise ConfigError("alerts", "thresholds must be positive")
    if not 1 <= alerts.service_level_minutes <= 240:
        raise ConfigError("alerts.service_level_minutes", "must be 1-240")

    dispatch_rules = _dispatch_rules(data, departments, topic_codes, districts)
    deadlines = _deadlines(data)
    callback = _callback(data)
    recordings = _section(Recordings, data.get("recordings", {}), "recordings")
    if recordings.format not in ("ogg", "mp3"):
        raise ConfigError("recordings.format", f"must be ogg or mp3, got {recordings.format!r}")
    if not re.match(r"^\d{1,3}k$", recordings.bitrate):
        raise ConfigError("recordings.bitrate", f"must look like 32k, got {recordings.bitrate!r}")
    if recordings.retention_days < 1 or recordings.min_free_mb < 0:
        raise ConfigError("recordings", "retention_days must be >= 1 and min_free_mb >= 0")
    if (recordings.archive_workers < 0 or not 0 <= recordings.archive_nice <= 19 or recordings.archive_retries < 1
            or recordings.settle_timeout < 5):
        raise ConfigError("recordings", "archive_workers must be >= 0, archive_nice 0-19, archive_retries >= 1 "
                                        "and settle_timeout >= 5")
    raw_trends = dict(data.get("trends", {}))
    keywords = raw_trends.pop("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise ConfigError("trends.keywords", "must be a list of words")
    trends = replace(_section(Trends, raw_trends, "trends"), keywords=tuple(k.strip() for k in keywords))
    if trends.baseline_days < 1 or trends.hotspot_factor <= 1 or trends.hotspot_min_cases < 1 \
            or trends.bundle_days < 1:
        raise ConfigError("trends", "baseline_days, hotspot_min_cases and bundle_days must be >= 1, "
                          "hotspot_factor > 1")

    sip_security = _sip_security(data)
    state_dir = _path(base, data.get("state_dir", "var"))
    recordings = replace(recordings, folder=_path(state_dir, recordings.folder))
    raw_ast = data.get("asterisk", {})
    asterisk = replace(
        asterisk,
        root=_path(base, raw_ast["root"]) if "root" in raw_ast else state_dir / "asterisk" / "root",
        prompts_override=(_path(base, raw_ast["prompts_override"]) if "prompts_override" in raw_ast
                          else state_dir / "prompts"),
    )
    return Settings(
        number=number,
        state_dir=state_dir,
        database=_path(base, data.get("database", str(state_dir / "hotline.db"))),
        languages=tuple(languages),
        topics=tuple(topics),
        operators=tuple(operators),
        routing=routing,
        asterisk=asterisk,
        http=http,
        hotspot_days=tuple(hotspots),
        users=tuple(users),
        rota=tuple(rota),
        districts=tuple(d.strip() for d in districts),
        transcription=transcription,
        supervisors=tuple(supervisors),
        alerts=alerts,
        interpreters=tuple(interpreters),
        interpreting=interpreting,
        departments=departments,
        dispatch_rules=dispatch_rules,
        deadlines=deadlines,
        callback=callback,
        recordings=recordings,
        trends=trends,
        sip_security=sip_security,
    )


def _departments(data: Mapping[str, Any]) -> tuple[Department, ...]:
    out = []
    for i, item in enumerate(data.get("departments", [])):
        where = f"departments[{i}]."
        code = _require(item, "code", where, str)
        if not _CODE.match(code):
            raise ConfigError(where + "code", f"must be a short lowercase code, got {code!r}")
        unknown = set(item) - {"code", "name"}
        if unknown:
            raise ConfigError(where + sorted(unknown)[0], "unknown setting")
        out.append(Department(code, _require(item, "name", where, str)))
    _unique([d.code for d in out], "departments", "code")
    return tuple(out)


def _str_list(item: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(where + key, "must be a list of strings")
    return tuple(value)


def _dispatch_rules(data: Mapping[str, Any], departments: tuple[Department, ...], topic_codes: set[str],
                    districts: list[str]) -> tuple[DispatchRule, ...]:
    out = []
    codes = {d.code for d in departments}
    for i, item in enumerate(data.get("dispatch_rules", [])):
        where = f"dispatch_rules[{i}]."
        dept = _require(item, "department", where, str)
        if dept not in codes:
            raise ConfigError(where + "department", f"no [[departments]] with code {dept!r}")
        unknown = set(item) - {"department", "topics", "districts"}
        if unknown:
            raise ConfigError(where + sorted(unknown)[0], "unknown setting")
        topics = _str_list(item, "topics", where)
        for t in topics:
            if t not in topic_codes | {"other", "general"}:
                raise ConfigError(where + "topics", f"unknown topic {t!r}")
        dists = _str_list(item, "districts", where)
        for d in dists:
            if districts and d not in districts:
                raise ConfigError(where + "districts", f"not one of the districts: {d!r}")
        out.append(DispatchRule(dept, topics, dists))
    return tuple(out)


def _sip_security(data: Mapping[str, Any]) -> SipSecurity:
    raw = dict(data.get("sip_security", {}))
    nets: dict[str, tuple[str, ...]] = {}
    for key in ("trusted_networks", "carrier_sources"):
        items = _str_list(raw, key, "sip_security.")
        raw.pop(key, None)
        for item in items:
            try:  # carriers are single addresses: the dialplan compares them as text
                ipaddress.ip_network(item, strict=False) if key == "trusted_networks" else ipaddress.ip_address(item)
            except ValueError:
                kind = "an address or network" if key == "trusted_networks" else "an IP address"
                raise ConfigError(f"sip_security.{key}", f"not {kind}: {item!r}") from None
        nets[key] = items if key == "trusted_networks" else tuple(str(ipaddress.ip_address(i)) for i in items)
    s: SipSecurity = replace(_section(SipSecurity, raw, "sip_security"), **nets)
    if not 1 <= s.max_failures <= 1000 or s.window_seconds <= 0 or s.block_minutes <= 0:
        raise ConfigError("sip_security", "max_failures must be 1-1000, window_seconds and block_minutes > 0")
    if s.calls_per_source < 0 or s.calls_window_seconds <= 0 or s.concurrent_per_source < 0 or s.alert_minutes <= 0:
        raise ConfigError("sip_security", "calls_per_source and concurrent_per_source must be >= 0 (0: no limit), "
                          "calls_window_seconds and alert_minutes > 0")
    return s


def _dates(values: tuple[str, ...], key: str) -> tuple[str, ...]:
    for v in values:
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", v):
            raise ConfigError(key, f"dates must be YYYY-MM-DD, got {v!r}")
    return values


def _deadlines(data: Mapping[str, Any]) -> Deadlines:
    raw = dict(data.get("deadlines", {}))
    holidays = _dates(_str_list(raw, "holidays", "deadlines."), "deadlines.holidays")
    weekends = _dates(_str_list(raw, "working_weekends", "deadlines."), "deadlines.working_weekends")
    raw.pop("holidays", None)
    raw.pop("working_weekends", None)
    d: Deadlines = replace(_section(Deadlines, raw, "deadlines"), holidays=holidays, working_weekends=weekends)
    if not 1 <= d.days <= 365 or not 0 <= d.warn_day < d.days + 1 or not 1 <= d.extension_days <= 365:
        raise ConfigError("deadlines", "days and extension_days must be 1-365, warn_day at most days")
    return d


def _callback(data: Mapping[str, Any]) -> Callback:
    raw = dict(data.get("callback", {}))
    retries = raw.pop("retry_minutes", [30.0, 120.0])
    if not isinstance(retries, list) or not all(
            isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0 for r in retries) or len(retries) > 10:
        raise ConfigError("callback.retry_minutes", "must be a list of at most 10 positive numbers of minutes")
    cb: Callback = replace(_section(Callback, raw, "callback"), retry_minutes=tuple(float(r) for r in retries))
    if cb.dial and ("{number}" not in cb.dial or not re.match(r"^PJSIP/[\w+.@:/{}\-]+$", cb.dial)):
        raise ConfigError("callback.dial", f"must be a PJSIP dial string with {{number}}, got {cb.dial!r}")
    for key in ("hours_start", "hours_end"):
        if not re.match(r"^([01]\d|2[0-4]):[0-5]\d$", getattr(cb, key)):
            raise ConfigError(f"callback.{key}", f"must be HH:MM, got {getattr(cb, key)!r}")
    if not 5 <= cb.ring_seconds <= 120 or cb.delay_minutes < 0:
        raise ConfigError("callback", "ring_seconds must be 5-120 and delay_minutes >= 0")
    return cb


def languages_problem(langs: Mapping[str, Any], codes: set[str]) -> tuple[str, str] | None:
    """(the language code at fault or "", what is wrong) for a table of language -> proficiency
    1-5; None when it is fine. Shared by the site file and skill changes made while running."""
    if not langs:
        return "", "at least one language is needed"
    for code, prof in langs.items():
        if code not in codes:
            return code, f"unknown language {code!r}"
        if not isinstance(prof, int) or isinstance(prof, bool) or not 1 <= prof <= 5:
            return code, f"proficiency must be 1-5, got {prof!r}"
    return None


def _languages(item: Mapping[str, Any], where: str, codes: set[str], who: str) -> dict[str, int]:
    langs = _require(item, "languages", where, dict)
    problem = languages_problem(langs, codes)
    if problem is not None:
        code, text = problem
        raise ConfigError(f"{where}languages" + (f".{code}" if code else ""),
                          text if code else f"{who} needs at least one language")
    return dict(langs)


def _phone_access(item: Mapping[str, Any], where: str) -> tuple[str | None, str | None]:
    password = item.get("password")
    if password is not None and (not isinstance(password, str) or len(password) < 8):
        raise ConfigError(where + "password", "must be a string of at least 8 characters")
    contact = item.get("contact")
    if contact is not None and (not isinstance(contact, str) or not re.match(r"^[\w.\-]+:\d{1,5}$", contact)):
        raise ConfigError(where + "contact", f"must be host:port, got {contact!r}")
    return password, contact


def _path(base: Path, value: Any) -> Path:
    p = Path(value)
    return p if p.is_absolute() else (base / p).resolve()


def _unique(values: list[str], section: str, key: str) -> None:
    seen: set[str] = set()
    for i, v in enumerate(values):
        if v in seen:
            raise ConfigError(f"{section}[{i}].{key}", f"duplicate {key} {v!r}")
        seen.add(v)


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
