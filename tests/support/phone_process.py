"""Phones in child processes: this pjsua2 wheel allows 4 calls per process (PJSUA_MAX_CALLS),
so each PhoneProcess runs its own PhoneBank and is driven over a pipe. Handles mirror the
in-process API: ``bank.operator(...)`` / ``bank.caller(...)`` return a PhoneHandle whose
``calls`` are CallHandles; each attribute read asks the child for the current value."""

from __future__ import annotations

import multiprocessing as mp
import threading
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any


def _serve(conn: Any, workdir: str, pbx_port: int, local_port: int, codecs: tuple[str, ...]) -> None:
    from support.phones import PhoneBank

    bank = PhoneBank(Path(workdir), pbx_port, local_port, codecs=codecs)
    bank.register_this_thread()

    def info(user: str, idx: int) -> dict[str, Any]:
        d = asdict(replace(bank.phones[user].calls[idx], call=None))
        d["recording"] = str(d["recording"]) if d["recording"] else None
        return d

    while True:
        try:
            op, args = conn.recv()
        except EOFError:
            break
        try:
            if op == "operator":
                bank.operator(*args)
                result: Any = None
            elif op == "caller":
                bank.caller(*args)
                result = None
            elif op == "registered":
                result = bank.phones[args[0]].registered
            elif op == "ncalls":
                result = len(bank.phones[args[0]].calls)
            elif op == "info":
                result = info(*args)
            elif op == "dial":
                phone = bank.phones[args[0]]
                bank.dial(phone, args[1])
                result = len(phone.calls) - 1
            elif op == "dtmf":
                bank.dtmf(bank.phones[args[0]].calls[args[1]], args[2], *args[3:])
                result = None
            elif op == "hangup":
                bank.hangup(bank.phones[args[0]].calls[args[1]])
                result = None
            elif op == "remove_all":
                bank.remove_all()
                result = None
            elif op == "close":
                bank.close()
                conn.send(("ok", None))
                break
            else:
                raise ValueError(f"unknown phone command {op}")
            conn.send(("ok", result))
        except Exception as exc:  # reported to the parent, which raises it
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class CallHandle:
    def __init__(self, bank: PhoneProcess, user: str, idx: int) -> None:
        self._bank, self._user, self._idx = bank, user, idx

    def __getattr__(self, name: str) -> Any:
        value = self._bank._rpc("info", self._user, self._idx)[name]
        return Path(value) if name == "recording" and value else value


class PhoneHandle:
    def __init__(self, bank: PhoneProcess, user: str) -> None:
        self.bank, self.user = bank, user

    @property
    def registered(self) -> bool:
        return bool(self.bank._rpc("registered", self.user))

    @property
    def calls(self) -> list[CallHandle]:
        return [CallHandle(self.bank, self.user, i) for i in range(self.bank._rpc("ncalls", self.user))]


class PhoneProcess:
    def __init__(self, workdir: Path, pbx_port: int, local_port: int,
                 codecs: tuple[str, ...] = ("PCMU/", "PCMA/")) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._lock = threading.Lock()
        self._proc = ctx.Process(target=_serve, args=(child, str(workdir), pbx_port, local_port, codecs),
                                 daemon=True)
        self._proc.start()

    def _rpc(self, op: str, *args: Any, timeout: float = 30) -> Any:
        with self._lock:
            self._conn.send((op, args))
            if not self._conn.poll(timeout):
                raise TimeoutError(f"phone process did not answer {op} in {timeout:.0f}s")
            status, result = self._conn.recv()
        if status == "error":
            raise RuntimeError(result)
        return result

    def operator(self, ext: str, password: str, mic: Path | None, auto_answer: bool = True,
                 answer_after: float = 0.5, hangup_after: float | None = None) -> PhoneHandle:
        self._rpc("operator", ext, password, mic, auto_answer, answer_after, 10, hangup_after)
        return PhoneHandle(self, ext)

    def caller(self, number: str, mic: Path | None, auto_answer: bool = False) -> PhoneHandle:
        self._rpc("caller", number, mic, auto_answer)
        return PhoneHandle(self, number)

    def remove_all(self) -> None:
        self._rpc("remove_all")

    def close(self) -> None:
        try:
            self._rpc("close", timeout=20)
        except (TimeoutError, RuntimeError, EOFError, BrokenPipeError):
            pass
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


class Phones:
    """Operators in one process, callers in another: up to 4 calls each."""

    def __init__(self, workdir: Path, pbx_port: int) -> None:
        self.operators = PhoneProcess(workdir / "operators", pbx_port, 5090)
        self.callers = PhoneProcess(workdir / "callers", pbx_port, 5092)

    def operator(self, *args: Any, **kw: Any) -> PhoneHandle:
        return self.operators.operator(*args, **kw)

    def caller(self, *args: Any) -> PhoneHandle:
        return self.callers.caller(*args)

    def dial(self, phone: PhoneHandle, target: str) -> CallHandle:
        return CallHandle(phone.bank, phone.user, phone.bank._rpc("dial", phone.user, target))

    def dtmf(self, call: CallHandle, digits: str, sip_info: bool = False) -> None:
        call._bank._rpc("dtmf", call._user, call._idx, digits, sip_info)

    def hangup(self, call: CallHandle) -> None:
        call._bank._rpc("hangup", call._user, call._idx)

    def remove_all(self) -> None:
        self.operators.remove_all()
        self.callers.remove_all()

    def close(self) -> None:
        self.operators.close()
        self.callers.close()
