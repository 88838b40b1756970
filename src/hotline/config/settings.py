"""The whole validated site configuration, one frozen object the service is built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hotline.config.assist import Assist
from hotline.config.cases import Callback, Deadlines, Department, DispatchRule
from hotline.config.crisis import Crisis
from hotline.config.floor import Alerts, Interpreting, Trends
from hotline.config.http import HttpSettings
from hotline.config.ivr import Ivr
from hotline.config.media import Recordings, Transcription
from hotline.config.pbx import AsteriskSettings, SipSecurity
from hotline.config.phones import Interpreter, Operator, SupervisorPhone
from hotline.config.routing import HotspotDay, RotaEntry, Routing
from hotline.config.site import Language, Topic
from hotline.config.users import User


@dataclass(frozen=True)
class Settings:
    number: str
    state_dir: Path
    database: Path
    languages: tuple[Language, ...]
    topics: tuple[Topic, ...]
    operators: tuple[Operator, ...]
    phone_region: str = "CN"  # callers' numbers without a country code are read in this country (caller_key)
    routing: Routing = field(default_factory=Routing)
    asterisk: AsteriskSettings = field(default_factory=AsteriskSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    hotspot_days: tuple[HotspotDay, ...] = ()
    users: tuple[User, ...] = ()
    rota: tuple[RotaEntry, ...] = ()
    districts: tuple[str, ...] = ()  # empty: the case form takes any district name
    transcription: Transcription = field(default_factory=Transcription)
    assist: Assist = field(default_factory=Assist)  # the desk's suggestions from the caller's words
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
    crisis: Crisis = field(default_factory=Crisis)  # the crisis words (floor/crisis.py)
    ivr: Ivr = field(default_factory=Ivr)

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
