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


# The fields app_queue's queue_multi_channel_to_ami writes from the JSON blob of send_agent_complete;
# every other field comes from the caller's snapshot (no prefix) or the operator's (Dest prefix).
_AGENT_COMPLETE_BLOB = {"Event", "Privilege", "Queue", "Interface", "MemberName", "HoldTime", "TalkTime", "Reason"}


def test_agent_complete_without_the_callers_snapshot_completes_the_callers_call() -> None:
    # The caller hung up first: by the time app_queue's hangup handler looks up the caller's latest
    # snapshot it is gone, and the AgentComplete carries no caller fields. Built from the recorded
    # AgentComplete by dropping the caller's fields, as Asterisk 22 does.
    msgs = messages()
    recorded = next(m for m in msgs if m.get("Event") == "AgentComplete")
    connect = next(m for m in msgs if m.get("Event") == "AgentConnect" and m.get("Uniqueid") == recorded["Uniqueid"])
    headless = {k: v for k, v in dict(recorded).items() if k in _AGENT_COMPLETE_BLOB or k.startswith("Dest")}
    assert "Uniqueid" not in headless and "Linkedid" not in headless and "Channel" not in headless
    done = translate(headless, 5.0)
    assert isinstance(done, ev.AgentCompleted)
    assert done.uniqueid == connect["Uniqueid"] == recorded["Uniqueid"]  # the call the operator answered
    assert done.uniqueid != headless["DestUniqueid"]  # not the operator's own channel
    assert (done.queue, done.interface, done.reason) == ("hl-en-housing", "PJSIP/2001", "caller")
    # with neither side's snapshot there is nothing to name the call by: still an error
    bare = {k: v for k, v in headless.items() if k in _AGENT_COMPLETE_BLOB}
    with pytest.raises(MalformedAmi) as err:
        translate(bare, 5.0)
    assert err.value.field == "Uniqueid"


def test_a_call_without_caller_id_has_no_number() -> None:
    """AMI writes "<unknown>" for a call with no caller id: the case and the wallboard showed it
    as a number ("<un**own>")."""
    m = {"Event": "QueueCallerJoin", "Uniqueid": "u1", "Queue": "hl-zh-general", "CallerIDNum": "<unknown>",
         "Position": "1"}
    e = translate(m, 1.0)
    assert isinstance(e, ev.CallerJoined) and e.caller_number == ""
    e = translate(dict(m, CallerIDNum="13912341234"), 1.0)
    assert isinstance(e, ev.CallerJoined) and e.caller_number == "13912341234"
