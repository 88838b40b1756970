"""The outside world around the service graph (graph.py): the AMI session, FastAGI, the queue_log
replay, transcription, the HTTP site, the process's thread pools, and the tasks that run them."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets as secrets_mod
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from hotline import events as ev
from hotline.bus import Bus, consume
from hotline.cases.store import CaseStore
from hotline.cases.surge_store import SurgeStore
from hotline.config import Settings
from hotline.floor.surge import SurgeService
from hotline.graph import RecordingFiles, build_services
from hotline.ivr.known import known_language
from hotline.ivr.prompts import synthesise, to_asterisk_wav
from hotline.pbx.actions import AmiQueueControl
from hotline.pbx.agi import AgiServer
from hotline.pbx.ami import AmiSession, PbxError
from hotline.pbx.queue_log import QueueLogReplay
from hotline.pbx.sip_acl import SipAclBlockList, db_path
from hotline.pbx.translate import epoch
from hotline.queue.agents import AgentCommands
from hotline.recordings.archive import make_archive
from hotline.secrets import Secrets
from hotline.storage.database import Database
from hotline.storage.values import ValueStore
from hotline.transcribe.audiosocket import AudioSocketServer
from hotline.transcribe.engines import registry_for
from hotline.transcribe.pipeline import TranscriptionService
from hotline.web.app import build_app
from hotline.web.probes import Probes

log = logging.getLogger(__name__)
T = TypeVar("T")


class Hotline:
    """The Python side of the hotline: AMI session, router, FastAGI, cases, HTTP API."""

    def __init__(self, settings: Settings, secrets: Secrets, *, serve_http: bool = True) -> None:
        self.settings = settings
        self.secrets = secrets
        self.serve_http = serve_http
        self.tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None

    @property
    def commands(self) -> AgentCommands:
        return self.services.commands

    async def start(self, connect_timeout: float = 15.0) -> None:
        s = self.settings
        self.bus: Bus[ev.Event] = Bus()
        self.database = Database(s.database)  # one file, one writer: every repository shares it
        await self.database.open()
        self.store = CaseStore(self.database, phone_region=s.phone_region)  # the callers' keys' region
        rekeyed = await self.store.rekey_callers()  # another phone_region or phonenumbers than the keys'
        if rekeyed:
            log.info("callers' keys made again for %d numbers (phone_region %s)", rekeyed, s.phone_region)
        self.replay = QueueLogReplay(s.asterisk.instance_dir / "log" / "queue_log", ValueStore(self.database),
                                     self.bus.publish)
        self.ami = AmiSession(self.bus, "127.0.0.1", s.asterisk.ami_port, "hotline", self.secrets.ami_secret,
                              before_snapshot=self.replay.replay, trace_path=s.asterisk.ami_trace or None)
        self.pbx = AmiQueueControl(self.ami)
        self._blocking = ThreadPoolExecutor(max_workers=2, thread_name_prefix="after-call")
        # the recordings' quick file work (stat, unlink) has its own thread, never behind speech
        # synthesis or an archive job; the archive jobs run in the service's own bounded pool
        self._rec_files = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rec-files")
        files = RecordingFiles(s.asterisk.instance_dir / "spool" / "recordings", make_archive,
                               lambda p: shutil.disk_usage(p).free,
                               lambda fn: asyncio.get_running_loop().run_in_executor(self._rec_files, fn))
        # the domain graph (graph.py) on the AMI's queue control; the SIP guard's blocks are
        # realtime ACL rows, its call limit answers on FastAGI below
        g = self.services = build_services(s, self.store, self.pbx, self.bus, say=self._say, recording_files=files,
                                           sip_blocks=SipAclBlockList(db_path(s.asterisk.instance_dir)))
        changed = await g.load()
        if changed:
            log.info("skills of %d operators as last set by shift managers (the store, over the site file)", changed)
        await g.users.sync_from_site(s)
        await self._first_admin()
        assert g.sip_security is not None and g.recordings is not None
        await g.sip_security.start()
        self.tasks = g.start()
        self.surge = self._surge_service()
        await self.surge.load()
        self.transcription: TranscriptionService | None = None
        self.audiosocket: AudioSocketServer | None = None
        if s.transcription.enabled:
            await self._start_transcription()
        self.agi = AgiServer({"route": lambda uid, a: self.route(uid, a[0], a[1], a[2], a[3]),
                              "ivr_hangup": lambda uid, a: self.ivr_hangup(uid, a[0], a[1], a[2], a[3], a[4], a[5]),
                              "callback": lambda uid, a: g.callbacks.answer(a[0], a[1], a[2]),
                              "admit": g.sip_security.admit, "refused": g.sip_security.refused,
                              "known": lambda uid, a: known_language(s, self.store, uid, a[0]),
                              "surge": lambda uid, a: self.surge_optout(a[0])},
                             "127.0.0.1", s.asterisk.agi_port)
        await self.agi.start()
        self.ami.start()
        try:
            await self.ami.wait_connected(connect_timeout)
        except PbxError as exc:
            log.error("%s; carrying on, the session keeps trying", exc)
        if self.serve_http:
            services = replace(g.web(self.secrets.api_token), probes=self._probes(),
                               metrics_token=self.secrets.metrics_token, surge=self.surge)
            self._runner = web.AppRunner(build_app(services), access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, s.http.host, s.http.port).start()
            log.info("desktop and API on http://%s:%d", s.http.host, s.http.port)

    def _surge_service(self) -> SurgeService:
        """Surge announcements (floor/surge.py): their sounds made in the after-call thread pool,
        into the sounds folder Asterisk reads; on the wallboard as its ``surge`` section."""
        s = self.settings

        async def speak(text: str, voice: str, dest: Path) -> None:
            await self._in_thread(lambda: synthesise(text, voice, dest))

        async def convert(src: Path, dest: Path) -> None:
            await self._in_thread(lambda: to_asterisk_wav(src, dest))

        surge = SurgeService(s, SurgeStore(self.database), self.services.audits, s.asterisk.instance_dir / "sounds",
                             f"{s.asterisk.instance_dir_in_chroot}/sounds", speak, convert)
        surge.on_change = self.services.wallboard.changed
        self.services.wallboard.sections["surge"] = surge.board
        return surge

    def _probes(self) -> Probes:
        """What /health and /metrics read from outside the graph (web/probes.py)."""
        transcription = self.transcription
        return Probes(ami_connected=self.ami.connected.is_set, ami_reconnects=lambda: max(0, self.ami.logins - 1),
                      transcription_lag=transcription.lag_seconds if transcription is not None else None)

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._blocking, fn)

    async def _say(self, cb_id: int, text: str, language: str) -> str:
        """The department's reply as speech for a call back: the file's path as the dialplan
        plays it (in the chroot, no extension); "" when there is nothing to say."""
        if not text.strip():
            return ""
        lang = self.settings.language(language) or self.settings.default_language
        dest = self.settings.asterisk.instance_dir / "sounds" / "callback" / "summary" / f"{cb_id}.wav"
        await self._in_thread(lambda: synthesise(text[:500], lang.voice, dest))
        return f"{self.settings.asterisk.instance_dir_in_chroot}/sounds/callback/summary/{cb_id}"

    async def _start_transcription(self) -> None:
        s = self.settings
        self._speech_pool = ThreadPoolExecutor(max_workers=s.transcription.workers, thread_name_prefix="speech")
        self.models = registry_for(s.transcription, self._speech_pool)
        folders = self.models.folders
        self.transcription = TranscriptionService(self.models, self._speech_pool, self.bus.publish, self.pbx,
                                                  "127.0.0.1", s.transcription.audiosocket_port,
                                                  operator_language=self.services.operator_language)
        sub = self.bus.subscribe("transcription")
        self.tasks.append(asyncio.create_task(consume(sub, self.transcription.handle), name="transcription-pump"))
        self.audiosocket = AudioSocketServer(self.transcription.open_leg, "127.0.0.1",
                                             s.transcription.audiosocket_port)
        await self.audiosocket.start()
        if not folders:
            log.warning("transcription: no speech models configured ([transcription.models] or "
                        "HOTLINE_VOSK_MODEL_<LANG>); calls go on without transcripts")
        self.tasks.append(asyncio.create_task(self.models.load_all(), name="load-speech-models"))

    async def _first_admin(self) -> None:
        """A fresh installation gets one admin, with a generated password in a 0600 file."""
        users = self.services.users
        if await users.count():
            return
        path = self.settings.state_dir / "initial-admin-password"
        password = secrets_mod.token_urlsafe(15)
        await users.add("admin", "admin", password, name="Administrator")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        log.warning("no users yet: created user 'admin' (password in %s); add operators with "
                    "`hotline users add NAME --role operator --extension EXT`", path)

    async def route(self, uniqueid: str, language: str, topic: str, path: str, arrived: str = "") -> dict[str, str]:
        d = self.services.router.decide(uniqueid, language, topic, path, epoch(arrived))
        # a surge message for the caller's topic (or everyone), once: not again after a language switch
        surge = None if "switch:" in path else self.surge.match(language, topic)
        if surge is not None:
            await self.surge.counted(str(surge[0].id), "played")
        return {"HL_QUEUE": d.queue, "QUEUE_MAX_PENALTY": str(d.max_penalty), "HL_RULE": d.rule,
                "HL_RECORD": "1" if self._records() else "0", "HL_SURGE": surge[1] if surge else "",
                "HL_SURGE_ID": str(surge[0].id) if surge else "", "HL_ROUTED": "1"}

    async def surge_optout(self, surge_id: str) -> dict[str, str]:
        """The caller pressed the surge message's key to still reach a person (the dialplan queues them)."""
        await self.surge.counted(surge_id, "opted_out")
        return {}

    async def ivr_hangup(self, uniqueid: str, arrived: str, language: str, path: str,
                         caller: str, queued: str = "", surge_heard: str = "") -> dict[str, str]:
        """The hangup handler's report (every citizen's call, wherever it ended): a call that never
        entered a queue is an IVR hang-up, offered and not answered; the queue's events count the
        others. A caller who hung up during or after a surge message, before the queue, is counted
        informed (HL_SURGE_HEARD, the message's id). Sets nothing (the channel is gone)."""
        if queued == "1" or self.services.calls.ever_queued(uniqueid):
            return {}  # the dialplan's HL_QUEUED first: the queue's events may still be on their way
        if surge_heard:
            await self.surge.counted(surge_heard, "informed")
        lang = language if self.settings.language(language) else ""
        path = "".join(c for c in path if c.isalnum() or c in ":/-_*#")[:200]
        self.bus.publish(ev.IvrHangup(uniqueid, caller, lang, path, epoch(arrived), time.time()))
        return {}

    def _records(self) -> bool:
        recordings = self.services.recordings
        return recordings is not None and recordings.record_this_call()

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every published event has been handled (for tests and shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.bus.pending():
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self.audiosocket is not None:
            await self.audiosocket.close()
        if self.transcription is not None:
            await self.transcription.close()
        await self.agi.close()
        await self.ami.close()
        await self.drain(2.0)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.database.close()
        self._blocking.shutdown(wait=False, cancel_futures=True)
        if self.services.recordings is not None:
            self.services.recordings.close()  # rows not archived yet stay pending: the next start resumes them
        self._rec_files.shutdown(wait=False, cancel_futures=True)
        if self.transcription is not None:
            self._speech_pool.shutdown(wait=False, cancel_futures=True)
