"""Typed AMI actions: the PBX side of hotline.queue.router.QueueControl."""

from __future__ import annotations

from hotline.pbx.ami import AmiSession, PbxError


class AmiQueueControl:
    def __init__(self, ami: AmiSession) -> None:
        self.ami = ami

    async def queue_add(self, queue: str, interface: str, penalty: int, member_name: str, paused: str = "") -> None:
        """``paused``: the pause reason of an operator who is paused elsewhere (a skill added
        during a pause must not make them ringable); empty: not paused."""
        fields = {"Action": "QueueAdd", "Queue": queue, "Interface": interface, "Penalty": str(penalty),
                  "MemberName": member_name, "StateInterface": interface}
        if paused:
            fields.update({"Paused": "true", "Reason": paused})
        # as_list=False: panoramisk 1.4 otherwise waits forever for a list after "Added ... to queue"
        try:
            await self.ami.action(fields, as_list=False)
        except PbxError as exc:
            # a member already (persistentmembers kept them across a restart): that is the goal
            if "Already there" not in str(exc):
                raise

    async def queue_remove(self, queue: str, interface: str) -> None:
        await self.ami.action({"Action": "QueueRemove", "Queue": queue, "Interface": interface}, as_list=False)

    async def queue_pause(self, interface: str, paused: bool, reason: str) -> None:
        fields = {"Action": "QueuePause", "Interface": interface, "Paused": "true" if paused else "false"}
        if reason:
            fields["Reason"] = reason
        await self.ami.action(fields, as_list=False)

    async def queue_penalty(self, queue: str, interface: str, penalty: int) -> None:
        await self.ami.action({"Action": "QueuePenalty", "Queue": queue, "Interface": interface,
                               "Penalty": str(penalty)}, as_list=False)

    async def supervise(self, phone: str, channel: str, mode: str, caller_id: str, channel_id: str) -> None:
        """Ring the supervisor's ``phone`` (PJSIP/3001); once answered it spies on ``channel``
        (the operator's leg): listen (hears both, heard by nobody), whisper (heard by the operator
        only: ChanSpy "w") or barge (heard by both: "B"). "E" ends it with the call, "q" without a
        beep; "d" lets the supervisor switch modes on the keypad (4 listen, 5 whisper, 6 barge).
        ``channel_id`` becomes the supervisor channel's uniqueid, to hang it up and know its end."""
        options = {"listen": "qEd", "whisper": "qEdw", "barge": "qEdB"}[mode]
        await self.ami.action({"Action": "Originate", "Channel": phone, "Application": "ChanSpy",
                               "Data": f"{channel},{options}", "Async": "true", "CallerID": caller_id,
                               "Timeout": "30000", "ChannelId": channel_id}, as_list=False)

    async def hangup(self, channel: str) -> None:
        """Hang up one channel, by name or uniqueid; one already gone is not an error."""
        try:
            await self.ami.action({"Action": "Hangup", "Channel": channel}, as_list=False)
        except PbxError as exc:
            if "No such channel" not in str(exc):
                raise

    async def move_to_conference(self, caller: str, operator: str, room: str) -> None:
        """Both legs of an answered queue call into ConfBridge room ``room`` at once (one Redirect
        with ExtraChannel, so neither is hung up); the caller joins as the marked user, whose
        leaving ends the room."""
        await self.ami.action({"Action": "Setvar", "Channel": caller, "Variable": "HL_CONF_ROLE",
                               "Value": "caller"}, as_list=False)
        await self.ami.action({"Action": "Redirect", "Channel": caller, "ExtraChannel": operator,
                               "Context": "hl-conference", "Exten": room, "Priority": "1",
                               "ExtraContext": "hl-conference", "ExtraExten": room, "ExtraPriority": "1"},
                              as_list=False)

    async def originate_to_conference(self, dial: str, room: str, caller_id: str, channel_id: str,
                                      ring_seconds: int, language: str = "", case: str = "") -> None:
        """Ring ``dial`` (PJSIP/3101, or a number through a trunk); answered, it hears the
        announcement (``language``, ``case`` number: digits only) and joins the room."""
        action: dict[str, str | list[str]] = {
            "Action": "Originate", "Channel": dial, "Context": "hl-interpreter", "Exten": room, "Priority": "1",
            "Async": "true", "CallerID": caller_id, "Timeout": str(ring_seconds * 1000), "ChannelId": channel_id}
        if language.isalpha():  # one Variable item each: Asterisk splits an item on commas
            action["Variable"] = [f"HL_INT_LANG={language}", *([f"HL_CASE={case}"] if case.isdigit() else [])]
        await self.ami.action(action, as_list=False)

    async def spy_to_audiosocket(self, channel: str, leg_id: str, host: str, port: int) -> None:
        """Stream the audio coming from ``channel`` (only that direction: ChanSpy "o") to an
        AudioSocket server; the spy ends when the channel hangs up ("E"), silently ("q")."""
        await self.ami.action({"Action": "Originate", "Channel": f"AudioSocket/{host}:{port}/{leg_id}",
                               "Application": "ChanSpy", "Data": f"{channel},qoE", "Async": "true",
                               "CallerID": "hotline-transcriber", "Timeout": "5000"}, as_list=False)

    async def originate_callback(self, dial: str, caller_id: str, channel_id: str, ring_seconds: int,
                                 variables: dict[str, str]) -> None:
        """Call a citizen back: ``dial`` rings for ``ring_seconds``; answered, the channel runs
        ``hl-callback`` (the case number, the reply, the two questions). The outcome comes back
        as OriginateResponse with ``channel_id`` (also the ActionID, kept on every failure)."""
        await self.ami.action({"Action": "Originate", "Channel": dial, "Context": "hl-callback", "Exten": "s",
                               "Priority": "1", "Async": "true", "CallerID": caller_id,
                               "Timeout": str(ring_seconds * 1000), "ChannelId": channel_id, "ActionID": channel_id,
                               "Variable": [f"{k}={v}" for k, v in variables.items()]}, as_list=False)

    async def originate_operator_callback(self, phone: str, dial: str, caller_id: str, channel_id: str) -> None:
        """An operator's call back: their ``phone`` rings first; answered, it dials the citizen."""
        await self.ami.action({"Action": "Originate", "Channel": phone, "Context": "hl-callback-operator",
                               "Exten": "s", "Priority": "1", "Async": "true", "CallerID": caller_id,
                               "Timeout": "30000", "ChannelId": channel_id, "ActionID": channel_id,
                               "Variable": f"HL_CB_DIAL={dial}"}, as_list=False)
