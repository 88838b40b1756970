"""translate() over a recorded AMI trace (tests/data/ami_trace.txt, captured with
HOTLINE_AMI_TRACE from a real Asterisk 22 during the overflow and abandon scenarios)."""

from pathlib import Path

import pytest
from panoramisk.message import Message

from hotline import events as ev
from hotline.pbx.translate import MalformedAmi, translate

TRACE = Path(__file__).parent / "data" / "ami_trace.txt"


def messages() -> list[Message]:
    out = []
    for block in TRACE.read_bytes().decode().split("\r\n\r\n"):
        if block.strip():
            out.append(Message.from_line(block.strip()))
    return out


def test_trace_translates_to_domain_events() -> None:
    events = [translate(m, 1.0) for m in messages()]
    kinds = [type(e).__name__ for e in events if e is not None]
    assert kinds.count("CallerJoined") == 5
    assert kinds.count("AgentConnected") == 4
    assert kinds.count("CallerAbandoned") == 1
    joined = [e for e in events if isinstance(e, ev.CallerJoined)]
    assert all(j.language == "en" and j.topic == "housing" and j.queue == "hl-en-housing" for j in joined)
    assert joined[0].ivr_path == "lang:en/topic:housing/"
    connects = [e for e in events if isinstance(e, ev.AgentConnected)]
    assert {c.interface for c in connects} >= {"PJSIP/2001", "PJSIP/2003", "PJSIP/2002"}
    assert all(c.hold_seconds >= 0 for c in connects)
    abandoned = next(e for e in events if isinstance(e, ev.CallerAbandoned))
    assert abandoned.hold_seconds >= 3
    # unknown events are ignored, not errors
    assert translate({"Event": "FullyBooted"}, 1.0) is None


def test_malformed_event_names_the_field() -> None:
    with pytest.raises(MalformedAmi) as err:
        translate({"Event": "AgentConnect", "Uniqueid": "1.1", "Queue": "q", "Interface": "PJSIP/1",
                   "HoldTime": "soon"}, 1.0)
    assert err.value.field == "HoldTime" and "not a number" in str(err.value)
    with pytest.raises(MalformedAmi, match="'Uniqueid' is missing"):
        translate({"Event": "QueueCallerJoin", "Queue": "q"}, 1.0)
