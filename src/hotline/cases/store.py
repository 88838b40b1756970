"""The case rows in SQLite: the cases, their forms (search text, day counts, bundles), drafts and
transcripts, and the reports read from them (the caller's history, the half-hour history, the
floor's history and summary). ``CaseStore`` is one repository on the ``Database``
(storage/database.py: the writer thread, the read pool, transactions, migrations); the other
aggregates of the file have their own (auth/user_store.py, cases/audit_store.py,
cases/interpreting_store.py, storage/operator_store.py, storage/values.py).

Writes that touch a case hand over its uniqueid as the key, so a read of that case
(``after=uniqueid``) sees them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlite_utils

from hotline.cases.caller_key import DEFAULT_REGION, caller_key, key_format
from hotline.cases.text_index import address_key, index_text
from hotline.queue.service_level import IVR_STATE
from hotline.storage.database import Database, transaction
from hotline.storage.errors import StoreBusy, StoreError

__all__ = ["OPEN_STATES", "CaseStore", "StoreBusy", "StoreError", "save_form_in"]

OPEN_STATES = ("queued", "answered")


def _bundle(db: sqlite_utils.Database, case: dict[str, Any], window: float) -> None:
    """Join the case to the bundle of its address and topic (cases within ``window`` seconds of
    each other), or start one with the related cases not yet bundled."""
    key = case.get("address_key") or ""
    if not key or case.get("bundle_id"):
        return
    topic = case.get("category") or case.get("topic") or "general"
    at = float(case["queued_at"])
    row = db.execute("select id from bundles where address_key = ? and topic = ? and last_at >= ?"
                     " order by last_at desc limit 1", [key, topic, at - window]).fetchone()
    if row is None:
        related = [r[0] for r in db.execute(
            "select id from cases where address_key = ? and coalesce(nullif(category, ''), topic, 'general') = ?"
            " and queued_at >= ? and queued_at <= ? and bundle_id is null and id != ?",
            [key, topic, at - window, at + window, case["id"]])]
        if not related:
            return
        bundle_id = int(db.table("bundles").insert({
            "address_key": key, "topic": topic, "address": case.get("address") or "",
            "district": case.get("district") or "", "first_at": at, "last_at": at, "cases": 0}).last_pk or 0)
        ids = [*related, case["id"]]
    else:
        bundle_id, ids = int(row[0]), [case["id"]]
    marks = ", ".join("?" for _ in ids)
    db.execute(f"update cases set bundle_id = ? where id in ({marks})", [bundle_id, *ids])
    db.execute("update bundles set cases = (select count(*) from cases where bundle_id = :b),"
               " first_at = (select min(queued_at) from cases where bundle_id = :b),"
               " last_at = (select max(queued_at) from cases where bundle_id = :b) where id = :b", {"b": bundle_id})


def _count(db: sqlite_utils.Database, case: dict[str, Any], delta: int) -> None:
    """Add ``delta`` to the case's day counts: its topic, its district and its address with topic."""
    day = db.execute("select date(?, 'unixepoch', 'localtime')", [case["queued_at"]]).fetchone()[0]
    topic = case.get("category") or case.get("topic") or "general"
    keys = [("topic", topic), ("district", case.get("district") or "(none)")]
    if case.get("address_key"):
        keys.append(("address", f"{case['address_key']}|{topic}"))
    for kind, key in keys:
        db.execute("insert into daily_counts (day, kind, key, cases) values (?, ?, ?, ?) on conflict (day, kind, key)"
                   " do update set cases = cases + excluded.cases", [day, kind, key, delta])



def save_form_in(db: sqlite_utils.Database, uniqueid: str, form: dict[str, Any], by: str, at: float,
                 bundle_days: int = 3) -> dict[str, Any] | None:
    """The form saved on the writer's connection, inside the caller's transaction: the case's
    columns, its day counts (moved when saved before), its search text and its bundle. Returns
    the case as saved (None: no case for ``uniqueid``, nothing written)."""
    changes = {**form, "form_saved_at": at, "form_saved_by": by,
               "address_key": address_key(str(form.get("address") or ""))}
    before = list(db["cases"].rows_where("uniqueid = ?", [uniqueid]))
    if not before:
        return None
    if before[0]["form_saved_at"] is not None:
        _count(db, before[0], -1)
    sets = ", ".join(f"{k} = :{k}" for k in changes)
    db.execute(f"update cases set {sets} where uniqueid = :_uid", {**changes, "_uid": uniqueid})
    case = {**before[0], **changes}
    _count(db, case, +1)
    db.execute("delete from case_text where rowid = ?", [case["id"] << 16])
    text = " ".join(str(case.get(k) or "") for k in ("category", "district", "address", "description", "notes"))
    db.execute("insert into case_text (rowid, case_id, kind, body) values (?, ?, 'form', ?)",
               [case["id"] << 16, case["id"], index_text(text)])
    _bundle(db, case, bundle_days * 86400.0)
    return case


class CaseStore:
    """The case rows. ``db``: the Database it runs on (a path: a Database of its own, opened
    and closed with this store: the tests' and the CLI's shorthand). ``phone_region``: the
    site's, for the callers' keys (cases/caller_key.py)."""

    def __init__(self, db: Database | Path | str, readers: int = 3, busy_timeout: float = 5.0,
                 phone_region: str = DEFAULT_REGION) -> None:
        self.db = db if isinstance(db, Database) else Database(db, readers=readers, busy_timeout=busy_timeout)
        self.phone_region = phone_region

    def caller_key(self, number: str) -> str:
        """The key this store files ``number``'s cases under."""
        return caller_key(number, self.phone_region)

    @property
    def path(self) -> str:
        return self.db.path

    # -- writes --------------------------------------------------------------------------------

    async def create(self, row: dict[str, Any]) -> bool:
        """Insert a case unless one exists for the uniqueid; True when inserted."""
        def insert(db: sqlite_utils.Database) -> bool:
            cur = db.execute(
                "insert or ignore into cases (uniqueid, linkedid, caller_number, language, topic, ivr_path, queue,"
                " state, operator, queued_at, answered_at, wait_seconds, abandoned, source, note, arrived_at,"
                " ended_at, ended_in)"
                " values (:uniqueid, :linkedid, :caller_number, :language, :topic, :ivr_path, :queue, :state,"
                " :operator, :queued_at, :answered_at, :wait_seconds, :abandoned, :source, :note, :arrived_at,"
                " :ended_at, :ended_in)",
                {"linkedid": "", "operator": None, "answered_at": None, "wait_seconds": None, "note": "",
                 "state": "queued", "source": "queue", "abandoned": 0, "arrived_at": None, "ended_at": None,
                 "ended_in": None, **row})
            if cur.rowcount:  # one caller under one number: the key with the row, in its transaction
                db.execute("update cases set caller_key = ? where uniqueid = ?",
                           [key, row["uniqueid"]])
            return bool(cur.rowcount)
        key = row.get("caller_key") or self.caller_key(str(row.get("caller_number") or ""))
        return await self.db.run(insert, str(row["uniqueid"]))

    async def rekey_callers(self) -> int:
        """Make the callers' keys again when they were made with another region or library version
        than this store's (the site's ``phone_region`` changed, a new ``phonenumbers``); at start.
        Returns the numbers re-keyed (0: the keys were current)."""
        wanted = key_format(self.phone_region)

        def rekey(db: sqlite_utils.Database) -> int:
            row = db.execute("select value from kv where key = 'caller_key_format'").fetchone()
            if row is not None and row[0] == wanted:
                return 0
            numbers = [str(r[0]) for r in db.execute(
                "select distinct caller_number from cases where caller_number != ''")]
            for number in numbers:
                db.execute("update cases set caller_key = ? where caller_number = ?", [self.caller_key(number), number])
            db.execute("insert or replace into kv (key, value) values ('caller_key_format', ?)", [wanted])
            return len(numbers)
        return await self.db.transaction(rekey)

    async def update(self, uniqueid: str, changes: dict[str, Any], only_states: tuple[str, ...] = ()) -> bool:
        """Update the case of ``uniqueid`` (only while in one of ``only_states`` when given)."""
        def upd(db: sqlite_utils.Database) -> bool:
            sets = ", ".join(f"{k} = :{k}" for k in changes)
            where = "uniqueid = :_uid"
            params = {**changes, "_uid": uniqueid}
            if only_states:
                where += " and state in ({})".format(", ".join(f":_s{i}" for i in range(len(only_states))))
                params.update({f"_s{i}": s for i, s in enumerate(only_states)})
            return bool(db.execute(f"update cases set {sets} where {where}", params).rowcount)
        return await self.db.run(upd, uniqueid)

    async def save_form(self, uniqueid: str, form: dict[str, Any], by: str, at: float,
                        bundle_days: int = 3) -> bool:
        """Save the form, index its text for search, and group the case with related ones (same
        address and topic within ``bundle_days``) into a bundle; one transaction."""
        def save(db: sqlite_utils.Database) -> bool:
            with transaction(db):
                return save_form_in(db, uniqueid, form, by, at, bundle_days) is not None
        return await self.db.run(save, uniqueid)

    async def add_segment(self, row: dict[str, Any]) -> int:
        def insert(db: sqlite_utils.Database) -> int:
            with transaction(db):
                pk = int(db.table("transcript").insert(row).last_pk or 0)
                found = db.execute("select id from cases where uniqueid = ?", [row["case_uniqueid"]]).fetchone()
                if found is not None:
                    n = db.execute("select count(*) from transcript where case_uniqueid = ?",
                                   [row["case_uniqueid"]]).fetchone()[0]
                    if n < 65536:  # a case's segments beyond 65,535 are kept but not searchable
                        db.execute("insert into case_text (rowid, case_id, kind, body) values (?, ?, 'transcript', ?)",
                                   [(found[0] << 16) + n, found[0], index_text(str(row.get("text") or ""))])
            return pk
        return await self.db.run(insert, str(row["case_uniqueid"]))

    async def save_draft(self, username: str, uniqueid: str, data: str, at: float) -> None:
        await self.db.run(lambda db: db.table("drafts").upsert(
            {"username": username, "case_uniqueid": uniqueid, "data": data, "updated_at": at},
            pk=("username", "case_uniqueid")), uniqueid)

    async def drop_draft(self, username: str, uniqueid: str) -> None:
        await self.db.run(lambda db: db.execute(
            "delete from drafts where username = ? and case_uniqueid = ?", [username, uniqueid]), uniqueid)

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, uniqueid: str) -> dict[str, Any] | None:
        def get(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db["cases"].rows_where("uniqueid = ?", [uniqueid]))
            return rows[0] if rows else None
        return await self.db.read(get, after=uniqueid)

    async def transcript(self, uniqueid: str) -> list[dict[str, Any]]:
        return await self.db.read(lambda db: list(db["transcript"].rows_where(
            "case_uniqueid = ?", [uniqueid], order_by="start, id")), after=uniqueid)

    async def draft(self, username: str, uniqueid: str) -> dict[str, Any] | None:
        def get(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db["drafts"].rows_where("username = ? and case_uniqueid = ?", [username, uniqueid]))
            return rows[0] if rows else None
        return await self.db.read(get, after=uniqueid)

    async def caller_history(self, caller_number: str, exclude: str, limit: int = 5) -> list[dict[str, Any]]:
        """The caller's earlier cases, newest first (for the screen pop): every case filed under
        the number's key (``13912341234`` finds ``+8613912341234``'s; cases/caller_key.py)."""
        key = self.caller_key(caller_number)
        if not key:
            return []
        return await self.db.read(lambda db: [dict(r) for r in db.query(
            "select id, uniqueid, queued_at, state, language, topic, category, description, operator,"
            " confidential, form_saved_by, source from cases where caller_key = ? and uniqueid != ?"
            # hang-ups in the IVR are no cases: a few of them must not push the real ones out
            " and state != 'abandoned-ivr' order by queued_at desc limit ?",
            [key, exclude, limit])])

    async def answered_today(self, since: float) -> list[tuple[str, str]]:
        """(operator, uniqueid) of the calls answered since ``since``."""
        return await self.db.read(lambda db: [(str(r[0]), str(r[1])) for r in db.execute(
            "select operator, uniqueid from cases where answered_at >= ? and operator is not null", [since])])

    async def open_cases(self) -> list[dict[str, Any]]:
        return await self.db.read(lambda db: list(db["cases"].rows_where(
            "state in (?, ?)", list(OPEN_STATES), order_by="id")))

    async def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        return await self.db.read(lambda db: list(db["cases"].rows_where(order_by="id desc", limit=limit)))

    async def half_hour_history(self, since: float, until: float) -> list[dict[str, Any]]:
        """Offered calls per local date, half-hour slot and language, with their talk time, the
        abandoned calls and the seconds all callers waited (for the callers' patience):
        aggregated in SQL, so a year of city-scale cases never loads into memory. The calls that
        reached a queue: an IVR hang-up took no operator's time (the planner's load is unchanged)."""
        sql = ("select date(queued_at, 'unixepoch', 'localtime') as day,"
               " cast(strftime('%H', queued_at, 'unixepoch', 'localtime') as integer) * 2"
               " + cast(strftime('%M', queued_at, 'unixepoch', 'localtime') as integer) / 30 as slot,"
               " language, count(*) as calls, sum(coalesce(talk_seconds, 0)) as talk,"
               " sum(case when answered_at is not null then 1 else 0 end) as answered,"
               " sum(abandoned) as abandoned, sum(coalesce(wait_seconds, 0)) as waited"
               f" from cases where queued_at >= ? and queued_at < ? and state != '{IVR_STATE}'"
               " group by day, slot, language")
        keys = ("day", "slot", "language", "calls", "talk", "answered", "abandoned", "waited")
        return await self.db.read(lambda db: [dict(zip(keys, r, strict=True)) for r in db.execute(sql, [since, until])])

    async def since(self, epoch: float) -> list[dict[str, Any]]:
        return await self.db.read(lambda db: list(db["cases"].rows_where("queued_at >= ?", [epoch], order_by="id")))

    # -- reports: the floor's history and summary -------------------------------------------------

    async def history(self, since: float, until: float, target: int,
                      short_abandon: float = 0.0) -> dict[str, list[dict[str, Any]]]:
        """Per local day and per half hour: offered, answered, abandoned, answered within ``target``,
        average speed of answer, average handling time, on both clocks: from queue entry (offered:
        the calls that reached a queue) and from the first ring (``first_ring_*``: the IVR hang-ups
        are offered there too; a row without ``arrived_at`` counts from its queue entry), and the
        abandons under ``short_abandon`` seconds from the first ring (shown apart, still offered);
        per operator: calls, talk, pause and wrap-up seconds. Aggregated in SQL from the case rows
        and the pause log."""
        ivr = f"state = '{IVR_STATE}'"
        ring_wait = ("case when arrived_at is null then coalesce(wait_seconds, 0)"
                     " else max(coalesce(wait_seconds, 0), answered_at - arrived_at) end")

        def slot_sql(bucket: str) -> str:
            return (f"select {bucket} as bucket, sum(not {ivr}) as offered,"
                    " sum(answered_at is not null) as answered,"
                    f" sum(case when {ivr} then 0 else abandoned end) as abandoned,"
                    " coalesce(sum(answered_at is not null and wait_seconds <= :t), 0) as answered_in_target,"
                    " avg(case when answered_at is not null then wait_seconds end) as asa,"
                    " avg(case when state = 'ended' then talk_seconds end) as aht,"
                    f" count(*) as first_ring_offered, sum({ivr}) as ivr_abandoned,"
                    f" coalesce(sum(answered_at is not null and {ring_wait} <= :t), 0)"
                    " as first_ring_answered_in_target,"
                    f" avg(case when answered_at is not null then {ring_wait} end) as first_ring_asa,"
                    " sum(abandoned = 1 and coalesce(ended_at, queued_at) - coalesce(arrived_at, queued_at) < :short)"
                    " as short_abandoned"
                    " from cases where queued_at >= :a and queued_at < :b and state != 'queued'"
                    # a case entered by hand is no call (the wallboard's series leave it out too)
                    " and coalesce(source, 'queue') != 'manual'"
                    " group by bucket order by bucket")
        day = "date(queued_at, 'unixepoch', 'localtime')"
        half = ("strftime('%Y-%m-%d %H:', queued_at, 'unixepoch', 'localtime') || "
                "case when cast(strftime('%M', queued_at, 'unixepoch', 'localtime') as integer) < 30 "
                "then '00' else '30' end")
        ops_sql = ("select operator, count(*) as calls, coalesce(sum(talk_seconds), 0) as talk from cases"
                   " where answered_at >= :a and answered_at < :b and operator is not null group by operator")
        pause_sql = ("select extension, reason = 'wrap-up' as wrapup,"
                     " sum(min(coalesce(ended_at, :now), :b) - max(started_at, :a)) as seconds from agent_pauses"
                     " where started_at < :b and coalesce(ended_at, :now) > :a group by extension, wrapup")

        def run(db: sqlite_utils.Database) -> dict[str, list[dict[str, Any]]]:
            params = {"a": since, "b": until, "t": target, "now": time.time(), "short": short_abandon}

            def rows(sql: str) -> list[dict[str, Any]]:
                cur = db.execute(sql, params)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            ops: dict[str, dict[str, Any]] = {}
            for r in rows(ops_sql):
                ops[r["operator"]] = {"operator": r["operator"], "calls": r["calls"], "talk": r["talk"],
                                      "pause": 0.0, "wrapup": 0.0}
            for r in rows(pause_sql):
                o = ops.setdefault(r["extension"], {"operator": r["extension"], "calls": 0, "talk": 0.0,
                                                    "pause": 0.0, "wrapup": 0.0})
                o["wrapup" if r["wrapup"] else "pause"] += max(0.0, r["seconds"] or 0.0)
            return {"days": rows(slot_sql(day)), "half_hours": rows(slot_sql(half)),
                    "operators": sorted(ops.values(), key=lambda o: o["operator"])}
        return await self.db.read(run)

    async def cases_in_progress(self, since: float) -> int:
        """Cases of today's calls not yet finished (waiting, in a call, or the form not saved)."""
        return await self.db.read(lambda db: int(db.execute(
            "select count(*) from cases where queued_at >= ? and (state in ('queued', 'answered')"
            " or (state = 'ended' and form_saved_at is null))", [since]).fetchone()[0]))

    async def top_topics(self, since: float, limit: int = 5) -> list[dict[str, Any]]:
        """Today's calls per topic (the IVR hang-ups have none: not counted as "general")."""
        return await self.db.read(lambda db: [{"topic": r[0] or "general", "calls": r[1]} for r in db.execute(
            "select coalesce(nullif(category, ''), topic) as t, count(*) as n from cases where queued_at >= ?"
            f" and state != '{IVR_STATE}' group by t order by n desc limit ?", [since, limit])])

    # the lifecycle of the Database, for the callers that made this store from a path

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()
