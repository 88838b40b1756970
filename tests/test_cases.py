"""The case service over a real SQLite file: lifecycle, resync, no duplicates, migrations."""

import sqlite3
from pathlib import Path

from hotline import events as ev
from hotline.cases.service import CaseService
from hotline.cases.store import CaseStore
from hotline.storage.migrations import MIGRATIONS


def joined(uid: str, at: float = 10.0) -> ev.CallerJoined:
    return ev.CallerJoined(uid, uid, "hl-en-housing", "13900000001", "en", "housing", "lang:en/topic:housing/", 1, at)


async def test_a_call_becomes_one_complete_case(tmp_path: Path) -> None:
    store = CaseStore(tmp_path / "cases.db")
    svc = CaseService(store)
    await svc.handle(joined("u1"))
    await svc.handle(joined("u1"))  # duplicate join: still one row
    await svc.handle(ev.AgentConnected("u1", "hl-en-housing", "PJSIP/2001", "Op", 3, 13.0))
    await svc.handle(ev.AgentCompleted("u1", "hl-en-housing", "PJSIP/2001", 3, 40, "caller", 53.0))
    await svc.handle(ev.ChannelHangup("u1", "u1", "PJSIP/citizens-1", 16, 53.1))
    await store.close()
    rows = sqlite3.connect(tmp_path / "cases.db").execute(
        "select language, topic, operator, state, wait_seconds, talk_seconds, ivr_path from cases").fetchall()
    assert rows == [("en", "housing", "2001", "ended", 3.0, 40.0, "lang:en/topic:housing/")]


async def test_resync_closes_gone_calls_and_opens_unknown_ones(tmp_path: Path) -> None:
    store = CaseStore(tmp_path / "cases.db")
    svc = CaseService(store)
    await svc.handle(joined("gone"))
    await svc.handle(joined("answered-meanwhile"))
    snap = ev.Resynced(
        channels=(
            ev.ChannelSnapshot("answered-meanwhile", "x", "PJSIP/citizens-2", True, "2002", "Queue",
                               "hl-en-housing,,,,,,,", "139"),
            ev.ChannelSnapshot("fallback-call", "y", "PJSIP/citizens-3", True, "2001", "Queue", "hl-all,,,,,,,", "138"),
            ev.ChannelSnapshot("waiting", "z", "PJSIP/citizens-4", False, "", "Queue", "hl-zh-general", "137"),
        ),
        waiting=(ev.WaitingCaller("waiting", "hl-zh-general", "137", 4),),
        members=(), at=100.0)
    await svc.handle(snap)
    await svc.handle(snap)  # twice: nothing doubles
    by_uid = {c["uniqueid"]: c for c in await store.recent(10)}
    await store.close()
    assert by_uid["gone"]["state"] == "abandoned" and "resync" in by_uid["gone"]["note"]
    assert by_uid["answered-meanwhile"]["state"] == "answered"
    assert by_uid["answered-meanwhile"]["operator"] == "2002"
    assert by_uid["fallback-call"]["queue"] == "hl-all" and by_uid["fallback-call"]["source"] == "resync"
    assert by_uid["waiting"]["state"] == "queued" and by_uid["waiting"]["queued_at"] == 96.0
    assert len(by_uid) == 4


async def test_migrations_apply_once(tmp_path: Path) -> None:
    for _ in range(2):
        store = CaseStore(tmp_path / "cases.db")
        await store.open()
        await store.close()
    names = sqlite3.connect(tmp_path / "cases.db").execute("select name from _migrations").fetchall()
    assert names[:9] == [("0001_cases",), ("0002_kv",), ("0003_users_sessions",), ("0004_case_form_transcript",),
                         ("0005_supervision",), ("0006_interpreting",), ("0007_after_the_call",),
                         ("0008_audit_chain",), ("0009_recording_attempts",)]
    assert names == [(name,) for name, _ in MIGRATIONS]  # each once, in order (later issues add theirs)
    columns = {row[1] for row in sqlite3.connect(tmp_path / "cases.db").execute("pragma table_info(recordings)")}
    assert {"ended_at", "closed_at", "attempts"} <= columns
