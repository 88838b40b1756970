"""AMI message -> domain event: one pure function, a table keyed by event name.

Input is any mapping of AMI headers (a panoramisk Message, or a dict from a recorded trace).
Unknown events give None. A malformed known event (missing or non-numeric field) raises
MalformedAmi, which names the event and the field; the AMI session logs it and goes on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from hotline import events as ev
from hotline.errors import HotlineError
from hotline.security.guard import parse_address

Headers = Mapping[str, Any]

# Channel variables the dialplan sets and manager.conf's channelvars puts on every event.
VAR_LANGUAGE = "HL_LANG"
VAR_TOPIC = "HL_TOPIC"
VAR_PATH = "HL_PATH"
VAR_ARRIVED = "HL_ARRIVED"  # the first ring, epoch seconds (set at the top of [from-citizens])


class MalformedAmi(HotlineError, ValueError):
    error_id = "ami-malformed"
    status = 502  # Asterisk sent what we cannot read

    def __init__(self, event: str, field: str, problem: str) -> None:
        super().__init__(f"AMI {event}: field {field!r} {problem}")
        self.event = event
        self.field = field


def _str(m: Headers, event: str, key: str) -> str:
    value = m.get(key)
    if value is None:
        raise MalformedAmi(event, key, "is missing")
    if isinstance(value, list):
        value = value[-1]
    return str(value)


def _int(m: Headers, event: str, key: str, default: int | None = None) -> int:
    value = m.get(key)
    if value is None or value == "":
        if default is not None:
            return default
        raise MalformedAmi(event, key, "is missing")
    try:
        return int(str(value))
    except ValueError:
        raise MalformedAmi(event, key, f"is not a number: {value!r}") from None


def chan_vars(m: Headers, prefix: str = "") -> dict[str, str]:
    """Channel variables from ``ChanVariable: NAME=value`` lines (one string or a list)."""
    raw = m.get(prefix + "ChanVariable")
    if raw is None:
        return {}
    items = raw if isinstance(raw, list) else [raw]
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        if sep:
            out[name] = value
    return out


def epoch(text: str) -> float:
    """Epoch seconds from the dialplan (``${EPOCH}`` or ``%s.%3q``); 0.0 when empty or not a time."""
    try:
        value = float(text or 0.0)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


def caller_number(m: Headers) -> str:
    """The caller's number as AMI gives it; "" for none (AMI writes "<unknown>" for a call without
    a caller id)."""
    number = str(m.get("CallerIDNum", ""))
    return "" if number in ("<unknown>", "unknown") else number


def arrived(v: Mapping[str, str]) -> float:
    """HL_ARRIVED (the first ring) of an event's channel variables; 0.0 when not known."""
    return epoch(v.get(VAR_ARRIVED, ""))


def _caller_joined(m: Headers, at: float) -> ev.CallerJoined:
    e = "QueueCallerJoin"
    v = chan_vars(m)
    return ev.CallerJoined(
        uniqueid=_str(m, e, "Uniqueid"), linkedid=str(m.get("Linkedid", "")), queue=_str(m, e, "Queue"),
        caller_number=caller_number(m), language=v.get(VAR_LANGUAGE, ""),
        topic=v.get(VAR_TOPIC, ""), ivr_path=v.get(VAR_PATH, ""), position=_int(m, e, "Position", 0), at=at,
        arrived_at=arrived(v))


def _caller_left(m: Headers, at: float) -> ev.CallerLeft:
    e = "QueueCallerLeave"
    return ev.CallerLeft(_str(m, e, "Uniqueid"), _str(m, e, "Queue"), at)


def _caller_abandoned(m: Headers, at: float) -> ev.CallerAbandoned:
    e = "QueueCallerAbandon"
    return ev.CallerAbandoned(_str(m, e, "Uniqueid"), _str(m, e, "Queue"), _int(m, e, "HoldTime", 0), at,
                              arrived_at=arrived(chan_vars(m)))


def _agent_called(m: Headers, at: float) -> ev.AgentRinging:
    e = "AgentCalled"
    v = chan_vars(m)
    return ev.AgentRinging(
        uniqueid=_str(m, e, "Uniqueid"), queue=_str(m, e, "Queue"), interface=_str(m, e, "Interface"),
        member_name=str(m.get("MemberName", "")), caller_number=caller_number(m),
        language=v.get(VAR_LANGUAGE, ""), topic=v.get(VAR_TOPIC, ""), at=at)


def _agent_noanswer(m: Headers, at: float) -> ev.AgentNoAnswer:
    e = "AgentRingNoAnswer"
    return ev.AgentNoAnswer(_str(m, e, "Uniqueid"), _str(m, e, "Queue"), _str(m, e, "Interface"),
                            _int(m, e, "RingTime", 0), at)


def _agent_connect(m: Headers, at: float) -> ev.AgentConnected:
    e = "AgentConnect"
    v = chan_vars(m)
    return ev.AgentConnected(_str(m, e, "Uniqueid"), _str(m, e, "Queue"), _str(m, e, "Interface"),
                             str(m.get("MemberName", "")), _int(m, e, "HoldTime", 0), at,
                             channel=str(m.get("Channel", "")), agent_channel=str(m.get("DestChannel", "")),
                             language=v.get(VAR_LANGUAGE, ""),
                             caller_number=caller_number(m), arrived_at=arrived(v))


def _agent_complete(m: Headers, at: float) -> ev.AgentCompleted:
    # app_queue (Asterisk 22, handle_hangup) publishes AgentComplete from its stasis subscription
    # with the caller's latest snapshot; when the caller hung up first that snapshot is often gone
    # by then and the event has no caller fields at all (no Channel, Uniqueid, Linkedid), only the
    # operator's Dest* fields. The operator's channel was dialled by the queue from the caller, so
    # its DestLinkedid is the caller's Linkedid, which is the caller's Uniqueid (the caller's
    # channel starts the call).
    e = "AgentComplete"
    uid = m.get("Uniqueid") or m.get("DestLinkedid")
    if uid is None or uid == "":
        raise MalformedAmi(e, "Uniqueid", "is missing (and no DestLinkedid)")
    uniqueid = str(uid[-1] if isinstance(uid, list) else uid)
    return ev.AgentCompleted(uniqueid, _str(m, e, "Queue"), _str(m, e, "Interface"),
                             _int(m, e, "HoldTime", 0), _int(m, e, "TalkTime", 0),
                             str(m.get("Reason", "")), at)


def member_status(m: Headers, at: float, event: str = "QueueMemberStatus") -> ev.MemberStatus:
    """QueueMemberStatus/Added/Pause and the QueueMember rows of QueueStatus share these fields."""
    return ev.MemberStatus(
        queue=_str(m, event, "Queue"),
        interface=str(m.get("Interface") or m.get("Location") or _str(m, event, "StateInterface")),
        member_name=str(m.get("MemberName") or m.get("Name") or ""),
        device_status=_int(m, event, "Status", 0), paused=str(m.get("Paused", "0")) == "1",
        pause_reason=str(m.get("PausedReason", "") or ""), in_call=str(m.get("InCall", "0")) == "1", at=at)


def _member_removed(m: Headers, at: float) -> ev.MemberRemoved:
    e = "QueueMemberRemoved"
    return ev.MemberRemoved(_str(m, e, "Queue"), _str(m, e, "Interface"), at)


def _hangup(m: Headers, at: float) -> ev.ChannelHangup:
    e = "Hangup"
    return ev.ChannelHangup(_str(m, e, "Uniqueid"), str(m.get("Linkedid", "")), _str(m, e, "Channel"),
                            _int(m, e, "Cause", 0), at)


def _conference(m: Headers, at: float, event: str) -> ev.ConferenceJoined | ev.ConferenceLeft:
    cls = ev.ConferenceJoined if event == "ConfbridgeJoin" else ev.ConferenceLeft
    return cls(_str(m, event, "Conference"), _str(m, event, "Uniqueid"), str(m.get("Channel", "")), at)


def _originate(m: Headers, at: float) -> ev.OriginateResult:
    # the ChannelId we gave; on some failures Uniqueid is "<null>", the ActionID (also ours) is kept
    uid = str(m.get("Uniqueid", ""))
    channel_id = uid if uid.startswith("hl-") else str(m.get("ActionID", ""))
    return ev.OriginateResult(channel_id, str(m.get("Response", "")) == "Success", str(m.get("Reason", "")), at)


def _security(m: Headers, at: float) -> ev.SipAuthFailed:
    """A security event (the ``security`` read class): RemoteAddress is IPV4/UDP/127.0.0.5/5060."""
    e = str(m.get("Event"))
    address = parse_address(_str(m, e, "RemoteAddress"))
    if address is None:
        raise MalformedAmi(e, "RemoteAddress", f"is not an address: {m.get('RemoteAddress')!r}")
    return ev.SipAuthFailed(e, str(m.get("Service", "")), str(m.get("AccountID", "")), address, at)


# the security events that count as a failure against the source address
SECURITY_FAILURES = ("ChallengeResponseFailed", "InvalidPassword", "InvalidAccountID", "FailedACL")

TABLE: dict[str, Callable[[Headers, float], ev.Event]] = {
    "QueueCallerJoin": _caller_joined,
    "QueueCallerLeave": _caller_left,
    "QueueCallerAbandon": _caller_abandoned,
    "AgentCalled": _agent_called,
    "AgentRingNoAnswer": _agent_noanswer,
    "AgentConnect": _agent_connect,
    "AgentComplete": _agent_complete,
    "QueueMemberStatus": lambda m, at: member_status(m, at, "QueueMemberStatus"),
    "QueueMemberAdded": lambda m, at: member_status(m, at, "QueueMemberAdded"),
    "QueueMemberPause": lambda m, at: member_status(m, at, "QueueMemberPause"),
    "QueueMemberPenalty": lambda m, at: member_status(m, at, "QueueMemberPenalty"),
    "QueueMemberRemoved": _member_removed,
    "Hangup": _hangup,
    "ConfbridgeJoin": lambda m, at: _conference(m, at, "ConfbridgeJoin"),
    "ConfbridgeLeave": lambda m, at: _conference(m, at, "ConfbridgeLeave"),
    "OriginateResponse": _originate,
    **{name: _security for name in SECURITY_FAILURES},
}

# The events the session asks Asterisk for; everything else is not translated.
EVENT_NAMES = tuple(TABLE)


def translate(message: Headers, at: float) -> ev.Event | None:
    """The domain event for one AMI event, or None when the hotline does not use it."""
    name = message.get("Event")
    if not isinstance(name, str):
        return None
    fn = TABLE.get(name)
    return fn(message, at) if fn else None
