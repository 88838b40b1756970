"""Issue 16, "count what the citizen lives": the call record from the first ring (arrived_at,
ended_in, the IVR hang-up's row), the board's two clocks, and migration 0010 against the live
case service."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from hotline import config
from hotline import events as ev
from hotline.bus import Bus
from hotline.cases.service import ENDED_IN, CaseService
from hotline.cases.store import CaseStore
from hotline.floor.calls import CallRegistry
from hotline.graph import build_services
from hotline.pbx import translate
from hotline.queue.skills import memberships
from hotline.storage import migrations

SITE = Path(__file__).resolve().parents[1] / "etc/site.example.toml"
T0 = 1_800_000_000.0
Q = "hl-en-housing"


def joined(uid: str, at: float, arrived: float = 0.0) -> ev.CallerJoined:
    return ev.CallerJoined(uid, uid, Q, "13900000001", "en", "housing", "lang:en/", 1, at, arrived_at=arrived)


async def test_the_case_keeps_the_first_ring_and_where_each_call_ended(tmp_path: Path) -> None:
    store = CaseStore(tmp_path / "cases.db")
    svc = CaseService(store)
    await svc.handle(joined("answered", T0 + 6, arrived=T0))
    await svc.handle(ev.AgentConnected("answered", Q, "PJSIP/1001", "1001", 2, T0 + 8, arrived_at=T0))
    await svc.handle(ev.AgentCompleted("answered", Q, "PJSIP/1001", 2, 30, "caller", T0 + 38))
    await svc.handle(joined("gave-up", T0 + 5, arrived=T0 + 1))
    await svc.handle(ev.CallerAbandoned("gave-up", Q, 9, T0 + 14, arrived_at=T0 + 1))
    await svc.handle(ev.IvrHangup("ivr", "13900000002", "", "greeting:silent/", T0 + 2, T0 + 4.5))
    await svc.handle(ev.IvrHangup("answered", "13900000001", "en", "", T0, T0 + 40))  # a case exists: no change
    rows = {r["uniqueid"]: r for r in await store.recent(10)}
    await store.close()
    a, g, i = rows["answered"], rows["gave-up"], rows["ivr"]
    assert a["arrived_at"] == T0 and a["arrived_at"] < a["queued_at"] and a["ended_in"] == "operator"
    assert a["state"] == "ended"
    assert g["ended_in"] == "queue" and g["state"] == "abandoned" and g["arrived_at"] == T0 + 1
    assert (i["state"], i["ended_in"], i["abandoned"], i["queue"]) == ("abandoned-ivr", "ivr", 1, "")
    assert (i["arrived_at"], i["queued_at"], i["ended_at"]) == (T0 + 2, T0 + 2, T0 + 4.5)
    assert i["status"] is None and i["form_saved_at"] is None, "never a case to work"
    assert len(rows) == 3


async def test_the_board_counts_an_ivr_hang_up_as_offered_on_the_first_ring_clock_only(tmp_path: Path) -> None:
    settings = config.load(SITE, {})
    now = [T0 + 60]
    g = build_services(settings, CaseStore(tmp_path / "c.db"), None, Bus(),  # type: ignore[arg-type]
                       clock=lambda: now[0], since_day=lambda: T0 - 3600)
    g.board.since_day = T0 - 3600
    op = settings.operator("1001")
    assert op is not None
    for q in memberships(op):
        g.apply(ev.MemberStatus(q, "PJSIP/1001", "1001", 1, False, "", False, T0))
    g.apply(joined("a", T0 + 6, arrived=T0))  # 6 s in the IVR, 12 s in the queue: 18 s from the first ring
    g.apply(ev.AgentConnected("a", Q, "PJSIP/1001", "1001", 12, T0 + 18, arrived_at=T0))
    before = g.board.totals()
    assert before["first_ring_offered"] == before["offered"] == 1
    assert before["sl_over_offered"] == 100.0 and before["first_ring_sl_over_offered"] == 0.0
    g.apply(ev.IvrHangup("b", "139", "", "", T0 + 20, T0 + 23))
    t = g.board.totals()
    assert (t["offered"], t["first_ring_offered"], t["ivr_abandoned"]) == (1, 2, 1)
    assert t["sl_over_offered"] == 100.0, "Asterisk's clock: the IVR hang-up never queued"
    row = {r["queue"]: r for r in g.board.queues()}[Q]
    assert row["sl"]["5m"]["over_offered"] == 100.0 and row["sl"]["5m"]["first_ring_over_offered"] == 0.0
    assert row["sl"]["today"]["first_ring_over_answered"] == 0.0
    alert = {a["id"]: a for a in g.board.alerts()}["sl:all"]
    assert "from the first ring" in alert["text"] and "from queue entry" in alert["text"]
    report = g.sl.report()["overall"]
    assert (report["first_ring_offered"], report["ivr_abandoned"]) == (2, 1)


def test_a_call_that_queued_is_not_an_ivr_hang_up() -> None:
    calls = CallRegistry()
    assert not calls.ever_queued("u1")
    calls.apply(joined("u1", T0 + 5, arrived=T0))
    assert calls.ever_queued("u1")
    call = calls.get("u1")
    assert call is not None and call.arrived_at == T0 and call.first_ring_at == T0
    calls.apply(ev.CallerLeft("u1", Q, T0 + 7))
    calls.apply(joined("u1", T0 + 8, arrived=T0))  # another queue (a language chosen while waiting)
    call = calls.get("u1")
    assert call is not None and call.arrived_at == T0 and call.joined_at == T0 + 8


def test_the_first_ring_from_the_channel_variables() -> None:
    m = {"Event": "QueueCallerJoin", "Uniqueid": "u1", "Queue": Q, "Position": "1",
         "ChanVariable": ["HL_LANG=en", "HL_ARRIVED=1800000000.250"]}
    e = translate.translate(m, T0 + 5)
    assert isinstance(e, ev.CallerJoined) and e.arrived_at == 1_800_000_000.25
    for bad in ("", "x", "nan", "inf", "-3"):
        assert translate.epoch(bad) == 0.0


def test_the_ended_in_values_0010_wrote_are_the_live_ones(tmp_path: Path) -> None:
    """Migration 0010's backfill (frozen) against the case service's values: an older file's finished
    rows say where they ended as the service now writes it."""
    assert {k: ENDED_IN[k] for k in ("operator", "queue")} == migrations.ENDED_IN_0010
    db = sqlite_utils.Database(sqlite3.connect(tmp_path / "old.db", isolation_level=None))
    migrations.migrate(db, [m for m in migrations.MIGRATIONS if m[0] < "0010"])
    for uid, state, answered_at, source in (("a", "ended", 5.0, "queue"), ("b", "abandoned", None, "queue"),
                                            ("c", "answered", 5.0, "queue"), ("m", "ended", None, "manual")):
        db.execute("insert into cases (uniqueid, state, queued_at, answered_at, source) values (?, ?, 1.0, ?, ?)",
                   [uid, state, answered_at, source])
    assert migrations.migrate(db)[0] == "0010_first_ring"
    got = dict(db.execute("select uniqueid, ended_in from cases").fetchall())
    assert got == {"a": "operator", "b": "queue", "c": None, "m": None}
    assert db.execute("select count(*) from cases where arrived_at is not null").fetchone()[0] == 0


async def test_the_history_gives_both_clocks(tmp_path: Path) -> None:
    store = CaseStore(tmp_path / "cases.db")
    svc = CaseService(store)
    await svc.handle(joined("late", T0 + 8, arrived=T0))  # 8 s in the IVR, 10 s in the queue: 18 s
    await svc.handle(ev.AgentConnected("late", Q, "PJSIP/1001", "1001", 10, T0 + 18, arrived_at=T0))
    await svc.handle(joined("quick", T0 + 3, arrived=T0 + 1))
    await svc.handle(ev.AgentConnected("quick", Q, "PJSIP/1001", "1001", 2, T0 + 5, arrived_at=T0 + 1))
    await svc.handle(ev.IvrHangup("ivr", "139", "", "", T0 + 2, T0 + 3))  # 1 s: a short abandon
    day = (await store.history(T0 - 86400, T0 + 86400, 15, short_abandon=2.0))["days"]
    await store.close()
    d = {k: sum(r[k] for r in day) for k in ("offered", "answered", "abandoned", "answered_in_target",
                                             "first_ring_offered", "ivr_abandoned",
                                             "first_ring_answered_in_target", "short_abandoned")}
    assert (d["offered"], d["answered"], d["abandoned"], d["answered_in_target"]) == (2, 2, 0, 2)
    assert (d["first_ring_offered"], d["ivr_abandoned"], d["first_ring_answered_in_target"]) == (3, 1, 1)
    assert d["short_abandoned"] == 1


async def test_an_ivr_hang_up_is_no_topic_on_the_big_screen(tmp_path: Path) -> None:
    store = CaseStore(tmp_path / "cases.db")
    svc = CaseService(store)
    await svc.handle(joined("a", T0 + 5, arrived=T0))
    await svc.handle(ev.IvrHangup("ivr", "139", "", "", T0 + 1, T0 + 2))
    topics = await store.top_topics(T0 - 60)
    in_progress = await store.cases_in_progress(T0 - 60)
    await store.close()
    assert topics == [{"topic": "housing", "calls": 1}] and in_progress == 1


def test_the_waiting_alert_counts_from_the_first_ring(tmp_path: Path) -> None:
    """A caller 6 s in the IVR and 5 s in the queue, nobody free: the 10 s alert is due already."""
    settings = config.load(SITE, {})
    now = [T0 + 11]
    g = build_services(settings, CaseStore(tmp_path / "c.db"), None, Bus(),  # type: ignore[arg-type]
                       clock=lambda: now[0], since_day=lambda: T0 - 3600)
    g.apply(joined("w", T0 + 6, arrived=T0))
    alert = next(a for a in g.board.alerts() if a["kind"] == "waiting")
    assert alert["since"] == T0 and "11 s from the first ring (5 s in hl-en-housing)" in alert["text"]
    assert g.board.waiting()[0]["arrived_at"] == T0
