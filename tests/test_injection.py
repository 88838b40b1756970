"""AMI injection, attacked end to end (issue 14): real Asterisk 22, the service as its own process,
a real SIP phone for the operator.

A value with a line break in it would end the hotline's AMI action and start the attacker's, with
the hotline's AMI rights. Each route and CLI command whose input reaches AMI gets such a value,
with CR LF and with a bare LF (Asterisk takes both as line ends), carrying two injected actions:
``Setvar PWNED_<tag>`` (a global variable: allowed by the hotline's own write class ``call``) and
``DBPut pwned/<tag>`` (needs ``system``, which the hotline no longer has). Each must get 422
``unsafe-value`` (the CLI: a non-zero exit naming the error), no ``PWNED_`` global and no astdb
key under ``pwned`` may appear, and the operator must not be left paused.

The positive control first: the same bytes sent over a raw AMI socket with the hotline's own
credentials do set the globals (Asterisk parses the injection with either line end, the hotline's
rights allow it, and `dialplan show globals` sees it), and an astdb key put by the CLI shows in
`database show pwned`, so the checks cannot pass by seeing nothing. The raw socket also shows the
least privilege: DBPut, Command and an Originate of System() are refused to the hotline user.

Run: unshare --net sh -c 'ip link set lo up && exec "$0" "$@"' env HOTLINE_IN_NETNS=1 \
     .venv/bin/python -m pytest -q tests/test_injection.py
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from support.calls import wait_until

pytestmark = pytest.mark.asterisk

PASSWORD = "injection-test-password-1"
NEWLINES = {"crlf": "\r\n", "lf": "\n"}
SITE_EXTRA = """
[callback]
dial = "PJSIP/citizens/sip:{number}@127.0.0.1:5092"
ring_seconds = 6
retry_minutes = [30]
hours_start = "00:00"
hours_end = "00:00"

[[operators]]
extension = "2001"
name = "English Housing"
languages = { en = 5, zh = 5 }
topics = ["housing"]

[[supervisors]]
extension = "3001"
name = "Shift desk"

[[departments]]
code = "housing_bureau"
name = "Housing Bureau"

[[dispatch_rules]]
topics = ["housing"]
department = "housing_bureau"

[[users]]
username = "wang"
role = "operator"
extension = "2001"

[[users]]
username = "boss"
role = "supervisor"
extension = "3001"

[[users]]
username = "housing"
role = "department"
department = "housing_bureau"
"""


def payloads(tag: str) -> dict[str, str]:
    """Per line ending, a value that ends the action and injects Setvar DB() and DBPut."""
    out = {}
    for name, nl in NEWLINES.items():
        out[name] = (f"back soon{nl}{nl}Action: Setvar{nl}Variable: PWNED_{tag}_{name}{nl}Value: 1{nl}{nl}"
                     f"Action: DBPut{nl}Family: pwned{nl}Key: {tag}_{name}{nl}Val: 1")
    return out


class RawAmi:
    """A plain AMI client on a socket, logged in as the hotline's AMI user."""

    def __init__(self, port: int, username: str, secret: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.sock.recv(100)  # the banner
        self.send(f"Action: Login\r\nActionID: login\r\nUsername: {username}\r\nSecret: {secret}\r\n"
                  "Events: off\r\n\r\n")
        assert "Authentication accepted" in self.reply("login"), "the test's raw AMI login failed"

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def reply(self, action_id: str, timeout: float = 10) -> str:
        """The message carrying ``ActionID: action_id``."""
        deadline = time.time() + timeout
        while True:
            while b"\r\n\r\n" in self.buf:
                msg, self.buf = self.buf.split(b"\r\n\r\n", 1)
                text = msg.decode(errors="replace")
                if f"ActionID: {action_id}" in text:
                    return text
            assert time.time() < deadline, f"no AMI reply for {action_id}"
            self.buf += self.sock.recv(65536)

    def close(self) -> None:
        self.sock.close()


def pwned(h: Any) -> list[str]:
    """What an injected action left: astdb keys under family pwned (`database show pwned` prints
    '/pwned/key : value') and PWNED_ globals (`dialplan show globals` prints '   PWNED_x=1')."""
    db = h.asterisk_cli("database show pwned")
    keys = [line.split(":")[0].strip() for line in db.splitlines() if line.strip().startswith("/pwned/")]
    globs = h.asterisk_cli("dialplan show globals")
    names = [line.strip().split("=")[0] for line in globs.splitlines() if line.strip().startswith("PWNED_")]
    return sorted(keys + names)


def token_api(h: Any, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """The API with the service token (what the CLI uses), the status kept on errors."""
    req = urllib.request.Request(f"{h.base_url}{path}", data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers={"Authorization": f"Bearer {h.secrets.api_token}",
                                                         "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def member_line(h: Any, ext: str) -> list[str]:
    """``queue: member line`` for each queue ``ext`` is in (`queue show`, colours and times cut)."""
    out, queue = [], ""
    for raw in h.asterisk_cli("queue show").splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", raw).strip()
        if " has " in line and "calls" in line and not line.startswith(ext):
            queue = line.split(" ", 1)[0]
        elif f"PJSIP/{ext}" in line:
            out.append(f"{queue}: " + re.sub(r"\((login|last) was .*?\)", "", line).strip())
    return out


def test_positive_control_the_raw_injection_works_and_the_hotline_user_is_least_privileged(
        make_hotline: Any, phones: Any, tones: Any) -> None:
    h = make_hotline(SITE_EXTRA)
    h.start_service()
    phones.operator("2001", h.secrets.sip_passwords["2001"], tones[1000])
    h.login("2001")
    ami = RawAmi(h.settings.asterisk.ami_port, "hotline", h.secrets.ami_secret)
    try:
        assert pwned(h) == []
        for name, nl in NEWLINES.items():
            # exactly what the service would have sent for a pause with that reason, before the gate
            reason = f"back soon{nl}{nl}Action: Setvar{nl}ActionID: inj-{name}{nl}Variable: PWNED_control_{name}" \
                     f"{nl}Value: 1"
            ami.send(f"Action: QueuePause\r\nActionID: pause-{name}\r\nInterface: PJSIP/2001\r\nPaused: false\r\n"
                     f"Reason: {reason}\r\n\r\n")
            assert "Success" in ami.reply(f"inj-{name}"), "the injected Setvar did not run"
        wait_until(lambda: pwned(h) == ["PWNED_control_crlf", "PWNED_control_lf"], 5,
                   "the injected Setvar's globals show")
        h.asterisk_cli("database put pwned control 1")
        assert pwned(h) == ["/pwned/control", "PWNED_control_crlf", "PWNED_control_lf"]  # astdb writes show too
        h.asterisk_cli("database deltree pwned")
        # least privilege: without system and command these are refused to the hotline's AMI user
        ami.send("Action: DBPut\r\nActionID: dbput\r\nFamily: pwned\r\nKey: dbput\r\nVal: 1\r\n\r\n")
        assert "Permission denied" in ami.reply("dbput")
        ami.send("Action: Command\r\nActionID: cmd\r\nCommand: core show version\r\n\r\n")
        assert "Permission denied" in ami.reply("cmd")
        ami.send("Action: Originate\r\nActionID: sys\r\nChannel: Local/s@hl-none\r\nApplication: System\r\n"
                 "Data: touch /tmp/hotline-pwned\r\nAsync: true\r\n\r\n")
        assert "Originate Access Forbidden" in ami.reply("sys")  # System() needs the system class
        assert "/pwned/dbput" not in pwned(h) and not Path("/tmp/hotline-pwned").exists()
    finally:
        ami.close()


def test_every_route_and_cli_command_into_ami_refuses_an_injection(make_hotline: Any, phones: Any,
                                                                   tones: Any) -> None:
    h = make_hotline(SITE_EXTRA)
    for user in ("wang", "boss"):
        h.set_password(user, PASSWORD)
    h.start_service()
    phones.operator("2001", h.secrets.sip_passwords["2001"], tones[1000])
    h.login("2001")
    wang = h.web_session("wang", PASSWORD)
    boss = h.web_session("boss", PASSWORD)
    members_before = member_line(h, "2001")
    assert members_before and not any("paused" in m for m in members_before)

    refused: list[str] = []

    def expect_422(what: str, status: int, body: Any) -> None:
        assert status == 422 and body["error"] == "unsafe-value", f"{what}: {status} {body}"
        assert "DBPut" not in body["message"] and "pwned" not in body["message"], body  # never echoed
        refused.append(what)

    for variant, value in payloads("desktop").items():
        expect_422(f"desktop state {variant}", *wang.api("POST", "/api/desktop/state",
                                                         {"action": "pause", "reason": value}))
    for variant, value in payloads("agentpause").items():
        expect_422(f"supervisor pause {variant}", *boss.api("POST", "/api/agents/2001/pause", {"reason": value}))
        expect_422(f"operator own pause {variant}", *wang.api("POST", "/api/agents/2001/pause", {"reason": value}))
    for variant, value in payloads("token").items():
        expect_422(f"service token pause {variant}", *token_api(h, "POST", "/api/agents/2001/pause",
                                                                {"reason": value}))
    for variant, value in payloads("cli").items():
        proc = subprocess.run([sys.executable, "-m", "hotline.cli", "--site", str(h.site), "agent", "pause", "2001",
                               "--reason", value], check=False, capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and "unsafe-value" in proc.stderr, (proc.returncode, proc.stdout, proc.stderr)
        assert "DBPut" not in proc.stderr and "ok" not in proc.stdout
        refused.append(f"cli agent pause {variant}")
    for variant, value in payloads("skills").items():
        expect_422(f"skills language {variant}", *boss.api("POST", "/api/agents/2001/skills",
                                                           {"languages": {"en": 5, value: 3}, "topics": ["housing"]}))
        expect_422(f"skills topic {variant}", *boss.api("POST", "/api/agents/2001/skills",
                                                        {"languages": {"en": 5}, "topics": ["housing", value]}))
    for variant, value in payloads("interp").items():
        expect_422(f"interpreter by operator {variant}", *wang.api("POST", "/api/interpreters/request",
                                                                   {"language": value}))
        expect_422(f"interpreter by supervisor {variant}", *boss.api("POST", "/api/interpreters/request",
                                                                     {"operator": "2001", "language": value}))
    # listen/whisper/barge take only the extension, a path segment of digits: the route does not match
    for variant, nl in NEWLINES.items():
        quoted = urllib.parse.quote(f"2001{nl}{nl}Action: DBPut{nl}Family: pwned{nl}Key: spy_{variant}{nl}Val: 1")
        status, _ = boss.api("POST", f"/api/supervision/{quoted}/listen")
        assert 400 <= status < 500, status  # no route takes it (the middleware answers before the 404)
    assert len(refused) == 18  # 9 routes and ways in, 2 line ends each

    # nothing ran: no astdb write, the operator neither paused nor moved, the skills unchanged
    time.sleep(1)
    assert pwned(h) == []
    assert h.agent("2001")["state"] == "ready"
    assert member_line(h, "2001") == members_before
    con = sqlite3.connect(h.settings.database)
    try:
        assert con.execute("select count(*) from operator_skills").fetchone()[0] == 0
    finally:
        con.close()
    # each attempt through the web is in the audit log as a refusal, naming the field, never the value
    con = sqlite3.connect(h.settings.database)
    try:
        rows = con.execute("select actor, detail from audit where action = 'refused'").fetchall()
    finally:
        con.close()
    unsafe = [(actor, detail) for actor, detail in rows if '"unsafe-value"' in detail]
    assert len(unsafe) == 18, rows  # the CLI too: it calls the service's API with the service token
    assert {actor for actor, _ in unsafe} == {"wang", "boss", "hotline-service"}
    assert not any("pwned" in detail or "DBPut" in detail for _, detail in unsafe)
    log = h.service_log.read_text()
    assert "refused: pause: reason holds a control character (U+000A" in log \
        or "refused: pause: reason holds a control character (U+000D" in log
    assert "Action: Setvar" not in log and "DB(pwned" not in log, "a raw payload reached the service log"

    # the routes still work: a plain reason pauses (and the checks above would have seen it), ready again
    status, body = wang.api("POST", "/api/desktop/state", {"action": "pause", "reason": "午饭 \"lunch\" \\ 1:30"})
    assert status == 200, body
    wait_until(lambda: h.agent("2001")["state"] == "paused", 10, "2001 paused for lunch")
    assert h.agent("2001")["pause_reason"] == "午饭 \"lunch\" \\ 1:30"
    assert any("paused" in m for m in member_line(h, "2001"))
    assert wang.api("POST", "/api/desktop/state", {"action": "ready"})[0] == 200
    wait_until(lambda: h.agent("2001")["state"] == "ready", 10, "2001 ready again")
    assert pwned(h) == []


def test_a_multi_line_reply_reaches_the_call_back_as_a_sound_file_not_an_ami_header(
        make_hotline: Any, phones: Any) -> None:
    """The department's reply is multi-line by nature: the call back speaks it from a file whose
    path is the only thing in the Originate's variables."""
    h = make_hotline(SITE_EXTRA)
    for user in ("boss", "housing"):
        h.set_password(user, PASSWORD)
    h.start_service()
    number = "13900000711"
    citizen = phones.caller(number, None, False)  # rings; nobody needs to answer
    boss = h.web_session("boss", PASSWORD)
    status, made = boss.api("POST", "/api/cases", {
        "category": "housing", "district": "Chaoyang", "address": "5 Elm Street",
        "description": "Water leaking through the roof", "urgency": "high", "citizen_name": "Li Lei",
        "confidential": False, "notes": "", "department": "auto",
        "caller_number": number, "language": "en"})
    assert status == 200, made
    uid = made["uniqueid"]
    housing = h.web_session("housing", PASSWORD)
    assert housing.api("POST", f"/api/cases/{uid}/accept")[0] == 200
    text = "\n".join(payloads("reply").values()) + "\r\nThe roof was repaired."
    status, body = housing.api("POST", f"/api/cases/{uid}/reply", {"text": text, "summary": text})
    assert status == 200, body
    wait_until(lambda: citizen.calls, 30, "the call back rang the citizen")

    def callback() -> dict[str, Any]:
        con = sqlite3.connect(h.settings.database)
        con.row_factory = sqlite3.Row
        try:
            return dict(con.execute("select * from callbacks where case_uniqueid = ? order by id", (uid,)).fetchone())
        finally:
            con.close()
    cb = callback()
    assert cb["status"] in ("calling", "answered", "unanswered") and "not placed" not in (cb["detail"] or ""), cb
    summary = h.settings.asterisk.instance_dir / "sounds" / "callback" / "summary" / f"{cb['id']}.wav"
    assert summary.is_file() and summary.stat().st_size > 1000
    assert pwned(h) == []
