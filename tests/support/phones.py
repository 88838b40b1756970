"""Scripted SIP user agents (pjsua2): operators that register and answer, callers that dial
12345 and press digits. Each phone plays a WAV (a tone, or speech) as its microphone and
records what it hears, so a test can prove who heard whom.

pjsua2 is one library instance per process; a single thread owns it and runs every pjsua2
call (``PhoneBank.run`` hands functions to that thread). The public methods block with a
timeout and are safe to call from any other thread.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pjsua2 as pj

from support.calls import wait_until

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class CallInfo:
    remote: str
    incoming: bool
    started: float
    state: str = "CALLING"
    connected_at: float | None = None
    ended_at: float | None = None
    recording: Path | None = None
    call: Any = field(default=None, repr=False)


class _Call(pj.Call):  # type: ignore[misc]
    def __init__(self, phone: Phone, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(phone, call_id)
        self.phone = phone
        self.info = CallInfo(remote="", incoming=call_id != pj.PJSUA_INVALID_ID, started=time.time())
        self.player: Any = None
        self.recorder: Any = None

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        self.info.state = ci.stateText
        self.info.remote = ci.remoteUri
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and self.info.connected_at is None:
            self.info.connected_at = time.time()
            if self.info.incoming and self.phone.hangup_after is not None:
                self.phone.bank._later(self.phone.hangup_after, self._hang_up)
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.info.ended_at = time.time()
            self.info.state = "DISCONNECTED"
            self.player = self.recorder = None  # stops media; the recorder closes its file
            self.phone.bank._forget(self)

    def _hang_up(self) -> None:
        if self.info.state != "DISCONNECTED":
            op = pj.CallOpParam()
            op.statusCode = 200
            self.hangup(op)

    def onCallMediaState(self, prm: Any) -> None:
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                aud = self.getAudioMedia(i)
                if self.player is None and self.phone.mic is not None:
                    self.player = pj.AudioMediaPlayer()
                    self.player.createPlayer(str(self.phone.mic), 0)
                    self.player.startTransmit(aud)
                if self.recorder is None:
                    n = len(self.phone.calls)
                    path = self.phone.bank.workdir / f"{self.phone.user}-call{n}-heard.wav"
                    self.recorder = pj.AudioMediaRecorder()
                    self.recorder.createRecorder(str(path))
                    aud.startTransmit(self.recorder)
                    self.info.recording = path


class Phone(pj.Account):  # type: ignore[misc]
    def __init__(self, bank: PhoneBank, user: str, password: str | None, mic: Path | None,
                 auto_answer: bool, answer_after: float, hangup_after: float | None = None) -> None:
        super().__init__()
        self.hangup_after = hangup_after  # an operator with a fixed handling time
        self.bank = bank
        self.user = user
        self.password = password
        self.mic = mic
        self.auto_answer = auto_answer
        self.answer_after = answer_after
        self.calls: list[CallInfo] = []
        self.registered = False
        self.reg_status = 0

    def onRegState(self, prm: Any) -> None:
        self.reg_status = prm.code
        self.registered = prm.code == 200 and prm.expiration > 0

    def onIncomingCall(self, prm: Any) -> None:
        call = _Call(self, prm.callId)
        call.info.remote = call.getInfo().remoteUri
        call.info.call = call
        self.calls.append(call.info)
        self.bank._keep(call)
        op = pj.CallOpParam()
        op.statusCode = 180
        call.answer(op)
        if self.auto_answer:
            self.bank._later(self.answer_after, lambda: self._answer(call))

    def _answer(self, call: _Call) -> None:
        if call.info.state != "DISCONNECTED":
            op = pj.CallOpParam()
            op.statusCode = 200
            call.answer(op)


class PhoneBank:
    """All the test phones of one process, on one SIP UDP port on 127.0.0.1."""

    def __init__(self, workdir: Path, pbx_port: int, local_port: int = 5090, log_level: int = 1,
                 codecs: tuple[str, ...] = ("PCMU/", "PCMA/")) -> None:
        """``codecs``: the codec ids (prefixes, e.g. "G722/") the phones offer, first preferred."""
        self.codecs = codecs
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pbx = f"127.0.0.1:{pbx_port}"
        self.local_port = local_port
        self.log_level = log_level
        self._cmds: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._timers: list[tuple[float, Callable[[], None]]] = []
        self._live_calls: list[_Call] = []
        self.phones: dict[str, Phone] = {}
        self._stop = threading.Event()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, name="pjsua2", daemon=True)
        self._thread.start()
        self._ready.result(timeout=20)

    # -- the pjsua2 thread -----------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self.ep = pj.Endpoint()
            self.ep.libCreate()
            cfg = pj.EpConfig()
            cfg.uaConfig.threadCnt = 0
            cfg.uaConfig.maxCalls = 32
            cfg.uaConfig.mainThreadOnly = False
            cfg.logConfig.level = self.log_level
            cfg.logConfig.consoleLevel = self.log_level
            cfg.medConfig.noVad = True
            cfg.medConfig.ecTailLen = 0
            cfg.medConfig.clockRate = 8000
            cfg.medConfig.sndClockRate = 8000
            self.ep.libInit(cfg)
            tcfg = pj.TransportConfig()
            tcfg.port = self.local_port
            tcfg.boundAddress = "127.0.0.1"
            self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
            self.ep.audDevManager().setNullDev()
            for codec in self.ep.codecEnum2():
                ranks = [i for i, prefix in enumerate(self.codecs) if codec.codecId.startswith(prefix)]
                self.ep.codecSetPriority(codec.codecId, 255 - ranks[0] if ranks else 0)
            self.ep.libStart()
        except Exception as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        while not self._stop.is_set():
            try:
                while True:
                    fn, fut = self._cmds.get_nowait()
                    try:
                        fut.set_result(fn())
                    except Exception as exc:
                        fut.set_exception(exc)
            except queue.Empty:
                pass
            now = time.time()
            due = [t for t in self._timers if t[0] <= now]
            self._timers = [t for t in self._timers if t[0] > now]
            for _, fn in due:
                try:
                    fn()
                except Exception:
                    log.exception("phone timer failed")
            self.ep.libHandleEvents(10)
        try:
            self.ep.hangupAllCalls()
            for _ in range(50):
                self.ep.libHandleEvents(10)
            self._drop_phones()
            self.ep.libDestroy()
        except Exception:
            log.exception("pjsua2 shutdown")

    def _drop_phones(self) -> None:
        """Release every pjsua2 Call and Account in this thread (their destructors call pjsua)."""
        self._timers.clear()
        self._live_calls.clear()
        for phone in self.phones.values():
            for info in phone.calls:
                info.call = None
            phone.shutdown()
        self.phones.clear()
        gc.collect()

    def _keep(self, call: _Call) -> None:
        self._live_calls.append(call)

    def _forget(self, call: _Call) -> None:
        # drop our reference later, outside pjsua2's callback
        self._later(0.5, lambda: self._live_calls.remove(call) if call in self._live_calls else None)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self._timers.append((time.time() + delay, fn))

    def register_this_thread(self, name: str = "rpc") -> None:
        """Let the calling thread touch pjsua2 objects (Python's GC may free them anywhere)."""
        if not self.ep.libIsThreadRegistered():
            self.ep.libRegisterThread(name)

    def run(self, fn: Callable[[], T], timeout: float = 10) -> T:
        fut: Future[T] = Future()
        self._cmds.put((fn, fut))
        return fut.result(timeout=timeout)

    # -- public API ------------------------------------------------------------------------------

    def operator(self, ext: str, password: str, mic: Path | None, auto_answer: bool = True,
                 answer_after: float = 0.5, timeout: float = 10, hangup_after: float | None = None) -> Phone:
        """A registered operator phone; waits until Asterisk accepted the registration.

        A phone for the same user is reused (re-registered with the new password): deleting
        and re-creating pjsua2 accounts in one process invalidates the recycled account slot."""
        def create() -> Phone:
            acfg = pj.AccountConfig()
            acfg.idUri = f"sip:{ext}@127.0.0.1"
            acfg.regConfig.registrarUri = f"sip:{self.pbx}"
            acfg.regConfig.timeoutSec = 300
            acfg.regConfig.retryIntervalSec = 2
            cred = pj.AuthCredInfo("digest", "*", ext, 0, password)
            acfg.sipConfig.authCreds.append(cred)
            phone = self.phones.get(ext)
            if phone is None:
                phone = Phone(self, ext, password, mic, auto_answer, answer_after, hangup_after)
                phone.create(acfg)
                self.phones[ext] = phone
            else:
                phone.password, phone.mic, phone.hangup_after = password, mic, hangup_after
                phone.auto_answer, phone.answer_after = auto_answer, answer_after
                phone.calls, phone.registered = [], False
                phone.modify(acfg)
                try:  # modify re-registers only when the config changed
                    phone.setRegistration(True)
                except pj.Error:
                    pass  # a registration is already under way
            return phone
        phone = self.run(create)
        wait_until(lambda: phone.registered, timeout, f"operator {ext} registered (last status {phone.reg_status})")
        return phone

    def caller(self, number: str, mic: Path | None, auto_answer: bool = False) -> Phone:
        """An unregistered phone that reaches the hotline through the citizens' trunk (and, with
        ``auto_answer``, answers a call back to its number half a second after it rings)."""
        def create() -> Phone:
            acfg = pj.AccountConfig()
            acfg.idUri = f"sip:{number}@127.0.0.1"
            phone = self.phones.get(number)
            if phone is None:
                # pjsua has few account slots (PJSUA_MAX_ACC): re-point an idle caller phone
                idle = [p for p in self.phones.values() if p.password is None
                        and all(c.state == "DISCONNECTED" for c in p.calls)]
                if len([p for p in self.phones.values() if p.password is None]) >= 4 and idle:
                    phone = idle[0]
                    del self.phones[phone.user]
                    phone.user = number
                    phone.modify(acfg)
                else:
                    phone = Phone(self, number, None, mic, False, 0)
                    phone.create(acfg)
                self.phones[number] = phone
            phone.mic, phone.calls = mic, []
            phone.auto_answer, phone.answer_after = auto_answer, 0.5
            return phone
        return self.run(create)

    def dial(self, phone: Phone, target: str) -> CallInfo:
        def dial() -> CallInfo:
            call = _Call(phone)
            call.info.call = call
            phone.calls.append(call.info)
            self._keep(call)
            try:
                call.makeCall(f"sip:{target}@{self.pbx}", pj.CallOpParam(True))
            except pj.Error as exc:
                raise RuntimeError(f"{phone.user} could not dial {target}: {exc.info()}") from None
            return call.info
        return self.run(dial)

    def dtmf(self, info: CallInfo, digits: str, sip_info: bool = False) -> None:
        """Send ``digits`` as RFC 4733 events on the call's audio, or as SIP INFO requests."""
        def send() -> None:
            try:
                if sip_info:
                    prm = pj.CallSendDtmfParam()
                    prm.method, prm.digits = pj.PJSUA_DTMF_METHOD_SIP_INFO, digits
                    info.call.sendDtmf(prm)
                else:
                    info.call.dialDtmf(digits)
            except pj.Error as exc:
                raise RuntimeError(f"DTMF {digits!r} not sent on the call to {info.remote} (state {info.state}, "
                                   f"connected {info.connected_at}, audio {'up' if info.recording else 'not up'}):"
                                   f" {exc.info()}") from None
        self.run(send)

    def hangup(self, info: CallInfo) -> None:
        def hang() -> None:
            if info.state != "DISCONNECTED":
                op = pj.CallOpParam()
                op.statusCode = 200
                info.call.hangup(op)
        self.run(hang)

    def unregister(self, phone: Phone) -> None:
        self.run(lambda: phone.setRegistration(False))

    def remove_all(self) -> None:
        """Between tests: hang up every call and unregister every operator phone (phones are
        kept and reused, see ``operator``)."""
        self.run(self.ep.hangupAllCalls)
        time.sleep(0.5)

        def reset() -> None:
            for phone in self.phones.values():
                for info in phone.calls:
                    info.call = None
                phone.calls = []
                if phone.password is not None and phone.registered:
                    try:
                        phone.setRegistration(False)
                    except pj.Error:
                        pass
                    phone.registered = False
            self._live_calls.clear()
        self.run(reset)
        time.sleep(0.2)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
