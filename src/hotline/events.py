"""Domain events: what happened, in the hotline's words, never AMI dicts.

``hotline.pbx.translate`` makes them from AMI messages; services consume them from the bus.
Every event is a frozen dataclass; ``at`` is the wall-clock time (epoch seconds) it was seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CallerJoined:
    """A caller entered a queue (QueueCallerJoin)."""

    uniqueid: str
    linkedid: str
    queue: str
    caller_number: str
    language: str
    topic: str
    ivr_path: str
    position: int
    at: float
    arrived_at: float = 0.0  # the first ring (HL_ARRIVED; 0: not known, e.g. an old queue_log line)


@dataclass(frozen=True)
class CallerLeft:
    """A caller left a queue, answered or not (QueueCallerLeave)."""

    uniqueid: str
    queue: str
    at: float


@dataclass(frozen=True)
class CallerAbandoned:
    """The caller hung up while waiting (QueueCallerAbandon); hold_seconds from Asterisk."""

    uniqueid: str
    queue: str
    hold_seconds: int
    at: float
    arrived_at: float = 0.0  # the first ring (HL_ARRIVED; 0: not known)


@dataclass(frozen=True)
class AgentRinging:
    """An operator's phone rings for a queue call (AgentCalled)."""

    uniqueid: str
    queue: str
    interface: str
    member_name: str
    caller_number: str
    language: str
    topic: str
    at: float


@dataclass(frozen=True)
class AgentNoAnswer:
    """The operator's phone rang out (AgentRingNoAnswer)."""

    uniqueid: str
    queue: str
    interface: str
    ring_ms: int
    at: float


@dataclass(frozen=True)
class AgentConnected:
    """The operator answered (AgentConnect); hold_seconds from Asterisk."""

    uniqueid: str
    queue: str
    interface: str
    member_name: str
    hold_seconds: int
    at: float
    channel: str = ""  # the caller's channel (PJSIP/citizens-00000004)
    agent_channel: str = ""  # the operator's channel (PJSIP/2001-00000005)
    language: str = ""  # HL_LANG of the call
    caller_number: str = ""
    arrived_at: float = 0.0  # the first ring (HL_ARRIVED; 0: not known)


@dataclass(frozen=True)
class AgentCompleted:
    """The queue call ended after being answered (AgentComplete)."""

    uniqueid: str
    queue: str
    interface: str
    hold_seconds: int
    talk_seconds: int
    reason: str
    at: float


@dataclass(frozen=True)
class MemberStatus:
    """A queue member's state (QueueMemberStatus / QueueMember / Added / Pause)."""

    queue: str
    interface: str
    member_name: str
    device_status: int  # Asterisk AST_DEVICE_*: 1 not in use, 2 in use, 6 ringing, 5 unavailable ...
    paused: bool
    pause_reason: str
    in_call: bool
    at: float


@dataclass(frozen=True)
class MemberRemoved:
    queue: str
    interface: str
    at: float


@dataclass(frozen=True)
class ChannelHangup:
    uniqueid: str
    linkedid: str
    channel: str
    cause: int
    at: float


@dataclass(frozen=True)
class IvrHangup:
    """The caller hung up before entering any queue (the dialplan's hangup handler, pushed at
    arrival, over FastAGI): an offered call not answered, ended in the IVR. Counted as offered in
    the first-ring clock only."""

    uniqueid: str
    caller_number: str
    language: str
    ivr_path: str
    arrived_at: float  # the first ring (HL_ARRIVED)
    at: float  # the hang-up


@dataclass(frozen=True)
class PbxConnected:
    """The AMI session is (re)connected and logged in; state must be resynced."""

    at: float


@dataclass(frozen=True)
class PbxDisconnected:
    reason: str
    at: float


@dataclass(frozen=True)
class ChannelSnapshot:
    """One live channel from a resync (CoreShowChannel)."""

    uniqueid: str
    linkedid: str
    channel: str
    bridged: bool
    connected_number: str
    application: str
    application_data: str
    caller_number: str


@dataclass(frozen=True)
class WaitingCaller:
    """One waiting caller from a resync (QueueEntry)."""

    uniqueid: str
    queue: str
    caller_number: str
    wait_seconds: int


@dataclass(frozen=True)
class Resynced:
    """The state Asterisk holds now, after a (re)connect: channels, waiting callers, members."""

    channels: tuple[ChannelSnapshot, ...]
    waiting: tuple[WaitingCaller, ...]
    members: tuple[MemberStatus, ...]
    at: float = field(default=0.0)


@dataclass(frozen=True)
class TranscriptText:
    """Recognised speech on one leg of a call: a partial (replaced as it grows) or a final segment.
    ``start``/``end`` are seconds since the call was answered."""

    uniqueid: str
    speaker: str  # caller | operator | interpreter
    language: str
    kind: str  # partial | final
    text: str
    start: float
    end: float
    confidence: float
    at: float
    engine: str = ""
    # the language the engine heard (a final of the first utterances of a leg, where it can tell; "" otherwise)
    # and how sure it is (0..1): the desk says when the caller seems to speak another one than the IVR's
    detected_language: str = ""
    detected_probability: float = 0.0


@dataclass(frozen=True)
class TranscriptionStatus:
    """Transcription of a call leg started, ended, is off (no model for the language) or failed."""

    uniqueid: str
    speaker: str
    language: str
    status: str  # on | off | ended | error
    detail: str
    at: float


@dataclass(frozen=True)
class ConferenceJoined:
    """A channel entered a ConfBridge room (ConfbridgeJoin)."""

    conference: str
    uniqueid: str
    channel: str
    at: float


@dataclass(frozen=True)
class InterpreterJoined:
    """An interpreter joined a call's room (the service's InterpreterService, from ConfbridgeJoin)."""

    uniqueid: str  # the caller's call (the case)
    request: int
    interpreter: str  # extension
    language: str
    channel: str  # the interpreter's channel (transcribed as a leg of its own)
    answered_at: float  # when the operator answered the call (transcript times count from it)
    at: float


@dataclass(frozen=True)
class InterpreterLeft:
    """An interpreter left a call's room (released, hung up, or the call ended)."""

    uniqueid: str
    request: int
    interpreter: str
    at: float


@dataclass(frozen=True)
class ConferenceLeft:
    """A channel left a ConfBridge room (ConfbridgeLeave)."""

    conference: str
    uniqueid: str
    channel: str
    at: float


@dataclass(frozen=True)
class OriginateResult:
    """The outcome of an asynchronous Originate (OriginateResponse): answered or not, and why
    (Asterisk's reason: 3 no answer, 5 busy, 8 congestion, 0 failed)."""

    channel_id: str  # the ChannelId the originate gave the new channel
    success: bool
    reason: str
    at: float


@dataclass(frozen=True)
class SipAuthFailed:
    """Asterisk refused a SIP request as a security event: a wrong password
    (ChallengeResponseFailed, InvalidPassword), an unknown account (InvalidAccountID), an
    endpoint ACL (FailedACL). ``address`` is the source IP; the SIP guard counts them per address."""

    kind: str  # the security event's name
    service: str  # PJSIP, AMI, ...
    account: str
    address: str
    at: float


@dataclass(frozen=True)
class CaseSaved:
    """A case's form was saved (the case desk, cases/desk.py), after its transaction committed:
    the form, the status change and the day counts. The desktop marks the call saved and the
    wrap-up of ``extension`` (the operator who saved it; "" for anyone else) ends."""

    uniqueid: str
    case_id: int
    status: str  # the case's status after the save ("new", "dispatched", ...; "" without a workflow)
    department: str
    username: str
    role: str
    extension: str
    at: float


Event = (CallerJoined | CallerLeft | CallerAbandoned | AgentRinging | AgentNoAnswer | AgentConnected
         | AgentCompleted | MemberStatus | MemberRemoved | ChannelHangup | PbxConnected | PbxDisconnected
         | Resynced | TranscriptText | TranscriptionStatus | ConferenceJoined | ConferenceLeft
         | InterpreterJoined | InterpreterLeft | OriginateResult | SipAuthFailed | CaseSaved | IvrHangup)
