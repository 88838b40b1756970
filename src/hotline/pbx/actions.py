"""Typed AMI actions: the PBX side of hotline.queue.router.QueueControl."""

from __future__ import annotations

from hotline.pbx.ami import AmiSession, PbxError


class AmiQueueControl:
    def __init__(self, ami: AmiSession) -> None:
        self.ami = ami

    async def queue_add(self, queue: str, interface: str, penalty: int, member_name: str) -> None:
        # as_list=False: panoramisk 1.4 otherwise waits forever for a list after "Added ... to queue"
        try:
            await self.ami.action({"Action": "QueueAdd", "Queue": queue, "Interface": interface,
                                   "Penalty": str(penalty), "MemberName": member_name,
                                   "StateInterface": interface}, as_list=False)
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

    async def spy_to_audiosocket(self, channel: str, leg_id: str, host: str, port: int) -> None:
        """Stream the audio coming from ``channel`` (only that direction: ChanSpy "o") to an
        AudioSocket server; the spy ends when the channel hangs up ("E"), silently ("q")."""
        await self.ami.action({"Action": "Originate", "Channel": f"AudioSocket/{host}:{port}/{leg_id}",
                               "Application": "ChanSpy", "Data": f"{channel},qoE", "Async": "true",
                               "CallerID": "hotline-transcriber", "Timeout": "5000"}, as_list=False)
