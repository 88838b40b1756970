"""The gate in front of AMI and FastAGI (hotline.pbx.guard): every control character refused in
keys, values and list items, AGI values quoted, nothing written to the socket when refused, and
no other module able to reach panoramisk's senders (issue 14)."""

from __future__ import annotations

import ast
import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from hotline import events as ev
from hotline.bus import Bus
from hotline.pbx.agi import AgiServer
from hotline.pbx.ami import AmiSession
from hotline.pbx.guard import PbxError, UnsafeValue, agi_quote, agi_set_variable, check_action, check_text

SRC = Path(__file__).resolve().parents[1] / "src/hotline"
# C0 (NUL..US, incl. TAB, LF, CR), DEL, C1 (incl. NEL U+0085), LINE and PARAGRAPH SEPARATOR
CONTROL = [chr(c) for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)]
PAYLOAD = "x\r\n\r\nAction: DBPut\r\nFamily: pwned\r\nKey: k\r\nVal: 1"


@pytest.mark.parametrize("ch", CONTROL, ids=[f"U+{ord(c):04X}" for c in CONTROL])
def test_every_control_character_is_refused_in_values_keys_and_list_items(ch: str) -> None:
    base = {"Action": "QueuePause", "Interface": "PJSIP/2001", "Paused": "true"}
    with pytest.raises(UnsafeValue) as info:
        check_action({**base, "Reason": f"lunch{ch}break"})
    assert info.value.error_id == "unsafe-value" and isinstance(info.value, PbxError)
    assert "Reason" in str(info.value) and f"U+{ord(ch):04X} at position 5" in str(info.value)
    with pytest.raises(UnsafeValue, match="field name"):
        check_action({**base, f"Reason{ch}": "lunch"})
    with pytest.raises(UnsafeValue, match=r"Variable\[1\]"):
        check_action({"Action": "Originate", "Variable": ["HL_A=1", f"HL_B=2{ch}"]})
    with pytest.raises(UnsafeValue):
        check_action({"Action": f"QueuePause{ch}"})
    with pytest.raises(UnsafeValue):
        check_text("reason", f"{ch}")
    with pytest.raises(UnsafeValue):
        agi_set_variable("HL_QUEUE", f"hl-en{ch}")


def test_the_refusal_names_the_field_but_never_echoes_the_value() -> None:
    with pytest.raises(UnsafeValue) as info:
        check_action({"Action": "QueuePause", "Interface": "PJSIP/2001", "Reason": PAYLOAD})
    text = str(info.value)
    assert text.startswith("AMI QueuePause: Reason holds a control character (U+000D at position 1)")
    assert "DBPut" not in text and "pwned" not in text and "\n" not in text and "\r" not in text
    assert info.value.field == "Reason"


def test_ordinary_text_passes_unchanged() -> None:
    fields = {"Action": "QueuePause", "Interface": "PJSIP/2001", "Paused": "true",
              "Reason": '午饭 break: "back" at 1:30 \\ 🙂 — ok'}
    assert check_action(fields) == fields
    variables = {"Action": "Originate", "Channel": "PJSIP/3001", "Variable": ["HL_CB=7", "HL_CB_SUMMARY=/a/b"]}
    assert check_action(variables) == variables
    assert check_text("reason", "") == ""


def test_variable_items_must_be_name_value_without_commas() -> None:
    with pytest.raises(UnsafeValue, match="comma"):
        check_action({"Action": "Originate", "Variable": "HL_INT_LANG=en,HL_CASE=5"})
    with pytest.raises(UnsafeValue, match="NAME=value"):
        check_action({"Action": "Originate", "Variable": ["SHELL(id)"]})
    with pytest.raises(UnsafeValue, match="NAME=value"):
        check_action({"Action": "Originate", "Variable": ["DB(pwned/k)=1"]})
    check_action({"Action": "Originate", "Variable": ["HL_INT_LANG=en", "HL_CASE=5"]})
    check_action({"Action": "Setvar", "Channel": "PJSIP/1-1", "Variable": "HL_CONF_ROLE", "Value": "caller"})
    for name in ("DB(pwned/k)", "FILE(/tmp/x)", "HL=1"):
        with pytest.raises(UnsafeValue, match="plain variable name"):
            check_action({"Action": "Setvar", "Variable": name, "Value": "1"})


def test_keys_are_plain_names_and_lines_fit_asterisks_buffer() -> None:
    for key in ("Reason: x", "Re ason", "", "Reason\u00a0"):
        with pytest.raises(UnsafeValue, match="field name"):
            check_action({"Action": "QueuePause", key: "x"})
    check_action({"Action": "QueuePause", "Reason": "x" * 900})
    with pytest.raises(UnsafeValue, match="longer than 1000 bytes"):
        check_action({"Action": "QueuePause", "Reason": "x" * 1200})  # its tail would be read as a header
    with pytest.raises(UnsafeValue, match="missing"):
        check_action({"Queue": "q"})
    with pytest.raises(UnsafeValue, match="not text"):
        check_action({"Action": "QueuePenalty", "Penalty": 5})  # type: ignore[dict-item]


def test_agi_values_are_quoted_and_escaped() -> None:
    assert agi_set_variable("HL_QUEUE", "hl-en-housing") == 'SET VARIABLE HL_QUEUE "hl-en-housing"'
    assert agi_quote('say "hi"') == '"say \\"hi\\""'
    assert agi_quote("C:\\dir\\") == '"C:\\\\dir\\\\"'
    assert agi_quote('\\"') == '"\\\\\\""'  # backslash first: the quote stays escaped
    assert agi_quote("") == '""'
    for name in ("HL QUEUE", "HL_QUEUE\n", "", "CDR(x)", '"x"'):
        with pytest.raises(UnsafeValue, match="variable name"):
            agi_set_variable(name, "1")


def _agi_parse(line: str) -> list[str]:
    """res_agi.c parse_args, as far as quotes and backslashes go."""
    args, cur, quoted, escaped, started = [], "", False, False, False
    for ch in line:
        if escaped:
            cur, escaped, started = cur + ch, False, True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted, started = not quoted, True
        elif ch == " " and not quoted:
            if started:
                args.append(cur)
            cur, started = "", False
        else:
            cur, started = cur + ch, True
    if started:
        args.append(cur)
    return args


@pytest.mark.parametrize("value", ['a "quoted" word', "back\\slash", '\\"', "spaces  inside", 'end\\', ""])
def test_an_agi_value_reaches_asterisk_as_one_argument_unchanged(value: str) -> None:
    assert _agi_parse(agi_set_variable("HL_X", value)) == ["SET", "VARIABLE", "HL_X", value]


class RecordingAmi:
    """A scripted AMI server that keeps every byte the client sends."""

    def __init__(self) -> None:
        self.received = b""

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"Asterisk Call Manager/11.0.0\r\n")
        while True:
            try:
                raw = await r.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            self.received += raw
            msg = dict(line.split(": ", 1) for line in raw.decode().strip().split("\r\n") if ": " in line)
            aid = msg.get("ActionID", "")
            w.write(f"Response: Success\r\nActionID: {aid}\r\nMessage: ok\r\n\r\n".encode())
            if msg.get("Action", "").lower() == "login":
                w.write(b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
            await w.drain()


async def test_the_session_refuses_before_writing_a_byte(caplog: Any) -> None:
    server = RecordingAmi()
    port = await server.start()
    bus: Bus[ev.Event] = Bus()
    session = AmiSession(bus, "127.0.0.1", port, "u", "s", action_timeout=1.0, backoff_min=0.1)
    session.start()
    try:
        await session.wait_connected(5)
        await session.action({"Action": "QueuePause", "Interface": "PJSIP/2001", "Paused": "false"})
        before = server.received
        with caplog.at_level(logging.WARNING), pytest.raises(UnsafeValue):
            await session.action({"Action": "QueuePause", "Interface": "PJSIP/2001", "Reason": PAYLOAD})
        with pytest.raises(UnsafeValue):
            await session.action({"Action": "Originate", "Channel": "PJSIP/1",
                                  "Variable": ["HL_A=1", "HL_B=x\nAction: DBPut"]})
        await session.action({"Action": "Ping"})  # the connection is fine and in step
        await asyncio.sleep(0.1)
        sent = server.received[len(before):]
        assert b"DBPut" not in server.received and b"Reason" not in sent
        assert sent.count(b"Action: ") == 1 and b"Action: Ping" in sent
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "refused: AMI QueuePause: Reason holds a control character" in logged
        assert "DBPut" not in logged and "pwned" not in logged
    finally:
        await session.close()
        server.server.close()


async def test_the_agi_server_sends_nothing_when_a_variable_is_unsafe(caplog: Any) -> None:
    async def route(uid: str, args: list[str]) -> dict[str, str]:
        return {"HL_QUEUE": "hl-en", "HL_RULE": "x\nEXEC System touch /tmp/pwned"}
    agi = AgiServer({"route": route}, "127.0.0.1", 0)
    await agi.start()
    assert agi.server is not None
    port = agi.server.sockets[0].getsockname()[1]
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"agi_network_script: route\nagi_uniqueid: 1.1\n\n")
        await w.drain()
        with caplog.at_level(logging.ERROR):
            sent = await asyncio.wait_for(r.read(), 5)  # the server closes without a command
        assert sent == b""
        logged = "\n".join(rec.getMessage() for rec in caplog.records)
        assert "FastAGI route refused (uniqueid=1.1): AGI SET VARIABLE: HL_RULE holds a control character" in logged
        assert "touch" not in logged
        w.close()
    finally:
        await agi.close()


def _calls(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            names.add(node.func.attr)
    return names


def test_nothing_but_the_gate_reaches_panoramisks_senders() -> None:
    """send_action (AMI) only in pbx/ami.py, right after check_action; send_command (FastAGI)
    only in pbx/agi.py, with commands made by agi_set_variable; nobody else touches the Manager."""
    senders = {"send_action", "send_command", "send_agi_command"}
    users = {str(f.relative_to(SRC)): sorted(_calls(f) & senders) for f in SRC.rglob("*.py") if _calls(f) & senders}
    assert users == {"pbx/ami.py": ["send_action"], "pbx/agi.py": ["send_command"]}, users
    # panoramisk's protocol.send (raw) is not called in pbx/, the only place that imports panoramisk
    # (among the modules holding panoramisk's objects: pbx/asterisk.py writes files, not AMI)
    holders = [f for f in (SRC / "pbx").glob("*.py") if "panoramisk" in f.read_text()]
    assert {str(f.relative_to(SRC)) for f in holders} >= {"pbx/ami.py", "pbx/agi.py"}
    raw = [str(f.relative_to(SRC)) for f in holders if "send" in _calls(f) or "write" in _calls(f)]
    assert raw == ["pbx/ami.py"] and "protocol.send" not in (SRC / "pbx/ami.py").read_text(), raw
    ami_src = (SRC / "pbx/ami.py").read_text()
    assert ami_src.count("send_action(") == 1 and ami_src.count("check_action(") == 1
    assert ami_src.index("check_action(fields)") < ami_src.index("send_action(")
    agi_src = (SRC / "pbx/agi.py").read_text()
    assert agi_src.count("send_command(") == 1 and "agi_set_variable(" in agi_src
    outside = [str(f.relative_to(SRC)) for f in SRC.rglob("*.py")
               if "_manager" in f.read_text() and f.name != "ami.py"]
    assert outside == [], f"only AmiSession may hold panoramisk's Manager: {outside}"


async def test_every_typed_action_passes_the_gate_with_ordinary_values() -> None:
    """Each AmiQueueControl method's fields, as the service sends them, pass check_action."""
    from hotline.pbx.actions import AmiQueueControl

    sent: list[dict[str, Any]] = []

    class Gate:
        async def action(self, fields: dict[str, Any], **_: Any) -> list[Any]:
            sent.append(check_action(fields))
            return []
    pbx = AmiQueueControl(Gate())  # type: ignore[arg-type]
    await pbx.queue_add("hl-en-housing", "PJSIP/2001", 1, "2001", paused="lunch")
    await pbx.queue_remove("hl-en-housing", "PJSIP/2001")
    await pbx.queue_pause("PJSIP/2001", True, "午饭")
    await pbx.queue_penalty("hl-en-housing", "PJSIP/2001", 2)
    await pbx.supervise("PJSIP/3001", "PJSIP/2001-00000001", "whisper", '"whisper 2001" <2001>', "hl-spy-3001-ab")
    await pbx.hangup("hl-spy-3001-ab")
    await pbx.move_to_conference("PJSIP/caller-1", "PJSIP/2001-1", "7000001")
    await pbx.originate_to_conference("PJSIP/3101", "7000001", '"Interpreter" <12345>', "hl-int-1", 20, "en", "42")
    await pbx.spy_to_audiosocket("PJSIP/2001-1", "leg-1", "127.0.0.1", 9092)
    await pbx.originate_callback("PJSIP/citizens/sip:139@127.0.0.1:5092", "12345", "hl-cb-1-ab", 30,
                                 {"HL_CB": "1", "HL_CB_LANG": "en", "HL_CASE": "42",
                                  "HL_CB_SUMMARY": "/hotline/t1/sounds/callback/summary/1"})
    await pbx.originate_operator_callback("PJSIP/2001", "PJSIP/citizens/sip:139@127.0.0.1:5092", "12345", "hl-cbo-1")
    assert [f["Action"] for f in sent] == ["QueueAdd", "QueueRemove", "QueuePause", "QueuePenalty", "Originate",
                                           "Hangup", "Setvar", "Redirect", "Originate", "Originate", "Originate",
                                           "Originate"]
    with pytest.raises(UnsafeValue):
        await pbx.queue_pause("PJSIP/2001", True, PAYLOAD)
