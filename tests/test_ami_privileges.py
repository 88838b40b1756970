"""The AMI user's classes are the ones the service uses, no more (issue 14): the rendered
manager.conf is read and its write classes checked against every action the code sends, its read
classes against every event the service consumes. A new action or event without its class in the
tables below fails here, and so does a class nobody needs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hotline import config
from hotline import secrets as secrets_mod
from hotline.pbx import asterisk
from hotline.pbx import render as pbx_render
from hotline.pbx.translate import EVENT_NAMES
from hotline.queue.roster import WRAPUP_GUARD_SECONDS
from hotline.queue.skills import skill_queues

SRC = Path(__file__).resolve().parents[1] / "src/hotline"
EXAMPLE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"

# Asterisk 22: ast_manager_register_xml(name, EVENT_FLAG_..., ...) in main/manager.c and
# apps/app_queue.c, as `manager show command NAME` prints it. An action runs when the user's write
# classes share ANY class with these (manager.c: writeperm & authority, or authority 0).
ACTION_CLASSES: dict[str, set[str]] = {
    "QueueAdd": {"agent"}, "QueueRemove": {"agent"}, "QueuePause": {"agent"}, "QueuePenalty": {"agent"},
    "Originate": {"originate"},  # with Application System/Exec/..., or SHELL/EVAL in Data: also system (refused)
    "Hangup": {"system", "call"},
    "Setvar": {"call"},
    "Redirect": {"call"},
    "CoreShowChannels": {"system", "reporting"},
    "QueueStatus": set(),
    # panoramisk's own (manager.py): Login at connect, Ping every ping_interval
    "Login": set(), "Ping": set(),
}
PANORAMISK_OWN = {"Login", "Ping"}
# the classes of the events the service consumes (managerEventInstance class= in the sources)
EVENT_CLASSES: dict[str, str] = {
    **{name: "agent" for name in ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled",
                                  "AgentRingNoAnswer", "AgentConnect", "AgentComplete", "QueueMemberStatus",
                                  "QueueMemberAdded", "QueueMemberPause", "QueueMemberPenalty",
                                  "QueueMemberRemoved")},
    "Hangup": "call", "ConfbridgeJoin": "call", "ConfbridgeLeave": "call", "OriginateResponse": "call",
    "FullyBooted": "system",  # ami.py waits for it; manager.c sends it at login only to readers of system
    # main/security_events.c (EVENT_FLAG_SECURITY), for the address blocking
    **{name: "security" for name in (
        "FailedACL", "InvalidAccountID", "SessionLimit", "MemoryLimit", "LoadAverageLimit", "RequestNotAllowed",
        "AuthMethodNotAllowed", "RequestBadFormat", "RequestNotSupported", "SuccessfulAuth", "UnexpectedAddress",
        "ChallengeResponseFailed", "InvalidPassword", "ChallengeSent", "InvalidTransport")},
}
# read for the address blocking (AMI security events: InvalidPassword, ChallengeResponseFailed, ...)
EXTRA_READ = {"security": "address blocking consumes the security events"}


def actions_sent() -> set[str]:
    """Every AMI action name in src/hotline ("Action": "Name")."""
    names = set()
    for f in SRC.rglob("*.py"):
        names |= set(re.findall(r'"Action":\s*"(\w+)"', f.read_text()))
    return names


def events_consumed() -> set[str]:
    names = set(EVENT_NAMES)
    for f in (SRC / "pbx").glob("*.py"):
        names |= set(re.findall(r'get\("Event"\)\s*==\s*"(\w+)"', f.read_text()))
    return names - {"CoreShowChannel"}  # an action's reply list: comes whatever the read classes


def parse_conf(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture
def manager_conf(tmp_path: Path, monkeypatch: Any) -> dict[str, dict[str, list[str]]]:
    """manager.conf as `hotline asterisk render` writes it (the prompts skipped: no Asterisk here)."""
    text = EXAMPLE.read_text()
    assert 'state_dir = "../var"' in text
    site = tmp_path / "site.toml"
    site.write_text(text.replace('state_dir = "../var"', f'state_dir = "{tmp_path / "state"}"', 1))
    settings = config.load(site, {"HOTLINE_ASTERISK_ROOT": str(tmp_path / "root")})
    monkeypatch.setattr(pbx_render, "render_prompts", lambda *a, **k: [])
    assert settings.asterisk.instance_dir.is_relative_to(tmp_path)  # never the real installation
    etc = asterisk.render(settings, secrets_mod.load_or_create(settings), skill_queues(settings), WRAPUP_GUARD_SECONDS)
    return parse_conf((etc / "manager.conf").read_text())


def classes(conf: dict[str, dict[str, list[str]]], key: str) -> set[str]:
    (value,) = conf["hotline"][key]
    return {c.strip() for c in value.split(",") if c.strip()}


def test_every_action_the_code_sends_has_its_class_and_no_class_is_spare(manager_conf: Any) -> None:
    sent = actions_sent() | PANORAMISK_OWN
    assert {"QueuePause", "Originate", "CoreShowChannels"} <= sent  # the extraction works
    unknown = sent - set(ACTION_CLASSES)
    assert not unknown, f"add the Asterisk 22 privilege of {unknown} to ACTION_CLASSES (and manager.conf.j2)"
    write = classes(manager_conf, "write")
    refused = {a: sorted(c) for a, c in ACTION_CLASSES.items() if a in sent and c and not c & write}
    assert refused == {}, f"these actions would get 'Permission denied': {refused}"
    for spare in write:  # each class is the only way some action is allowed
        assert any(c and not c & (write - {spare}) for a, c in ACTION_CLASSES.items() if a in sent), \
            f"write class {spare!r} is not needed by any action the code sends"
    assert "command" not in write and "system" not in write, write
    assert write == {"agent", "call", "originate", "reporting"}


def test_every_event_the_service_consumes_is_readable_and_nothing_more(manager_conf: Any) -> None:
    consumed = events_consumed()
    assert {"QueueCallerJoin", "Hangup", "FullyBooted"} <= consumed
    unknown = consumed - set(EVENT_CLASSES)
    assert not unknown, f"add the AMI class of events {unknown} to EVENT_CLASSES (and manager.conf.j2)"
    read = classes(manager_conf, "read")
    needed = {EVENT_CLASSES[e] for e in consumed} | set(EXTRA_READ)
    assert read == needed, f"read {sorted(read)}; the events consumed need {sorted(needed)}"
    assert "command" not in read
    # system is read only for FullyBooted (read classes allow no action); never written
    assert [e for e in consumed if EVENT_CLASSES[e] == "system"] == ["FullyBooted"]


def test_the_ami_user_logs_in_only_from_the_service_on_loopback(manager_conf: Any) -> None:
    assert manager_conf["general"]["bindaddr"] == ["127.0.0.1"]
    user = manager_conf["hotline"]
    assert user["deny"] == ["0.0.0.0/0.0.0.0"] and user["permit"] == ["127.0.0.1/255.255.255.255"]
    assert len(user["secret"][0]) >= 20
    assert [s for s in manager_conf if s != "general"] == ["hotline"], "one AMI user only"
    runtime = (SRC / "runtime.py").read_text()
    assert 'AmiSession(self.bus, "127.0.0.1"' in runtime  # the address permitted is the one the service uses


def test_the_templates_rendered_are_the_settings_folder(tmp_path: Path, monkeypatch: Any) -> None:
    """HOTLINE_ASTERISK_TEMPLATES ([asterisk] templates) is parsed by hotline.config and is the
    folder `hotline asterisk render` reads; a folder without the templates is refused by name."""
    mine = tmp_path / "conf"
    mine.mkdir()
    stock = config.AsteriskSettings().templates
    for template in stock.glob("*.conf.j2"):
        (mine / template.name).write_text(template.read_text())
    (mine / "extensions.conf.j2").write_text((stock / "extensions.conf.j2").read_text() + "; from my folder\n")
    site = tmp_path / "site.toml"
    site.write_text(EXAMPLE.read_text().replace('state_dir = "../var"', f'state_dir = "{tmp_path / "state"}"', 1))
    env = {"HOTLINE_ASTERISK_ROOT": str(tmp_path / "root"), "HOTLINE_ASTERISK_TEMPLATES": str(mine)}
    monkeypatch.setattr(pbx_render, "render_prompts", lambda *a, **k: [])
    settings = config.load(site, env)
    etc = asterisk.render(settings, secrets_mod.load_or_create(settings), skill_queues(settings), WRAPUP_GUARD_SECONDS)
    assert (etc / "extensions.conf").read_text().endswith("; from my folder\n")
    (tmp_path / "empty").mkdir()
    settings = config.load(site, env | {"HOTLINE_ASTERISK_TEMPLATES": str(tmp_path / "empty")})
    with pytest.raises(asterisk.AsteriskError, match="templates not found in .*empty"):
        asterisk.render(settings, secrets_mod.load_or_create(settings), skill_queues(settings), WRAPUP_GUARD_SECONDS)
