"""The numbered schema migrations of the hotline's SQLite file, each applied with its _migrations
row in one transaction (all or nothing): one that raises leaves the file as the migration before
it left it.

A migration is history: it writes rows as they were defined when it was written. The backfills of
0007 (search text, address keys, day counts) and 0008 (the audit hash chain) therefore carry their
own copies of the formats they wrote (``_index_text``, ``_address_key``, ``_count``, ``_row_hash``
below), as of then; the storage package imports no aggregate. tests/test_migrations.py checks the
copies still agree with the live code (cases/text_index.py, cases/store.py, cases/audit_chain.py):
changing one of those formats needs a new migration that rewrites the rows, not an edit here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import sqlite_utils

from hotline.storage.transaction import transaction

log = logging.getLogger("hotline.cases.store")  # the name the service log has always used

Migration = tuple[str, Callable[[sqlite_utils.Database], None]]

# -- the formats 0007 and 0008 wrote, frozen with them ----------------------------------------------

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f\uf900-\ufaff"
_RUN = re.compile(f"[{_CJK}]+")
AUDIT_FIELDS = ("id", "at", "actor", "role", "action", "target", "detail")
AUDIT_HEAD_KEY = "audit_head"


def _index_text(text: str) -> str:
    """CJK runs as overlapping bigrams, everything else unchanged (cases/text_index.py)."""
    def grams(run: str) -> str:
        return run if len(run) == 1 else " ".join(run[i:i + 2] for i in range(len(run) - 1))
    return _RUN.sub(lambda m: " " + grams(m.group(0)) + " ", text or "")


def _address_key(address: str) -> str:
    return re.sub(r"[\W_]+", "", (address or "").lower())


def _count(db: sqlite_utils.Database, case: dict[str, Any], delta: int) -> None:
    """The case's day counts: its topic, its district and its address with topic (cases/store.py)."""
    day = db.execute("select date(?, 'unixepoch', 'localtime')", [case["queued_at"]]).fetchone()[0]
    topic = case.get("category") or case.get("topic") or "general"
    keys = [("topic", topic), ("district", case.get("district") or "(none)")]
    if case.get("address_key"):
        keys.append(("address", f"{case['address_key']}|{topic}"))
    for kind, key in keys:
        db.execute("insert into daily_counts (day, kind, key, cases) values (?, ?, ?, ?) on conflict (day, kind, key)"
                   " do update set cases = cases + excluded.cases", [day, kind, key, delta])


def _row_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """sha256(prev_hash + the row's canonical JSON) (cases/audit_chain.py)."""
    canonical = json.dumps({k: row.get(k) for k in AUDIT_FIELDS}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


# -- the migrations -------------------------------------------------------------------------------

def _m1_cases(db: sqlite_utils.Database) -> None:
    cases = db.table("cases")
    cases.create({
        "id": int, "uniqueid": str, "linkedid": str, "caller_number": str, "language": str, "topic": str,
        "ivr_path": str, "queue": str, "state": str, "operator": str, "queued_at": float,
        "answered_at": float, "ended_at": float, "wait_seconds": float, "talk_seconds": float,
        "abandoned": int, "source": str, "note": str,
    }, pk="id", not_null={"uniqueid", "state", "queued_at"}, defaults={"abandoned": 0, "source": "queue"})
    cases.create_index(["uniqueid"], unique=True)
    cases.create_index(["state"])
    cases.create_index(["queued_at"])
    cases.create_index(["caller_number"])


def _m2_settings_kv(db: sqlite_utils.Database) -> None:
    db.table("kv").create({"key": str, "value": str}, pk="key")


def _m3_users_sessions(db: sqlite_utils.Database) -> None:
    db.table("users").create({
        "username": str, "role": str, "name": str, "extension": str, "password_hash": str, "disabled": int,
        "created_at": float, "updated_at": float}, pk="username", not_null={"role"}, defaults={"disabled": 0})
    db.table("users").create_index(["extension"])
    # server-side sessions: the cookie holds a random token, the table only its SHA-256
    db.table("sessions").create({
        "token_hash": str, "username": str, "csrf": str, "created_at": float, "expires_at": float,
        "last_seen": float, "remote": str}, pk="token_hash", not_null={"username"})
    db.table("sessions").create_index(["username"])
    db.table("auth_log").create({
        "id": int, "at": float, "username": str, "remote": str, "outcome": str}, pk="id")


def _m4_case_form_transcript(db: sqlite_utils.Database) -> None:
    cases = db.table("cases")
    for column, kind in (("category", str), ("district", str), ("address", str), ("description", str),
                         ("urgency", str), ("citizen_name", str), ("confidential", int), ("notes", str),
                         ("form_saved_at", float), ("form_saved_by", str)):
        cases.add_column(column, kind)
    db.table("transcript").create({
        "id": int, "case_uniqueid": str, "speaker": str, "language": str, "start": float, "end": float,
        "text": str, "confidence": float, "engine": str, "created_at": float},
        pk="id", not_null={"case_uniqueid", "speaker", "text"})
    db.table("transcript").create_index(["case_uniqueid", "start"])
    db.table("drafts").create({
        "username": str, "case_uniqueid": str, "data": str, "updated_at": float},
        pk=("username", "case_uniqueid"))


def _m5_supervision(db: sqlite_utils.Database) -> None:
    # skills changed by shift managers (over the site file's), kept across restarts
    db.table("operator_skills").create({"extension": str, "languages": str, "topics": str, "updated_at": float,
                                        "updated_by": str}, pk="extension")
    # who changed what, who listened to which call: never updated, never deleted
    db.table("audit").create({"id": int, "at": float, "actor": str, "action": str, "target": str, "detail": str},
                             pk="id", not_null={"at", "actor", "action"})
    db.table("audit").create_index(["at"])
    # operators' pauses (reason "wrap-up" for after-call work), for the per-operator history
    db.table("agent_pauses").create({"id": int, "extension": str, "reason": str, "started_at": float,
                                     "ended_at": float}, pk="id", not_null={"extension", "started_at"})
    db.table("agent_pauses").create_index(["started_at"])
    db.table("cases").create_index(["operator", "answered_at"])


def _m6_interpreting(db: sqlite_utils.Database) -> None:
    # who interpreted which case, when they joined and left, the minutes
    db.table("interpreting").create({"id": int, "case_uniqueid": str, "interpreter": str, "language": str,
                                     "requested_at": float, "joined_at": float, "left_at": float,
                                     "minutes": float, "requested_by": str}, pk="id",
                                    not_null={"case_uniqueid", "interpreter"})
    db.table("interpreting").create_index(["case_uniqueid"])
    db.table("interpreting").create_index(["joined_at"])


def _m7_after_the_call(db: sqlite_utils.Database) -> None:
    cases = db.table("cases")
    for column, kind in (("status", str), ("department", str), ("dispatched_at", float), ("due_at", float),
                         ("warn_at", float), ("warned_at", float), ("escalated_at", float), ("accepted_at", float),
                         ("reply", str), ("reply_summary", str), ("replied_at", float), ("replied_by", str),
                         ("returned_by", str), ("return_reason", str), ("extension_days", int),
                         ("callback_at", float), ("resolved", int), ("satisfied", int), ("closed_at", float),
                         ("reopen_count", int), ("address_key", str), ("bundle_id", int)):
        cases.add_column(column, kind)
    cases.create_index(["department", "status", "due_at"])
    cases.create_index(["status", "due_at"])
    cases.create_index(["address_key", "queued_at"])
    cases.create_index(["bundle_id"])
    db.table("users").add_column("department", str)
    # every change of a case's life: who, when, from what to what (never updated, never deleted)
    db.table("case_events").create({
        "id": int, "case_id": int, "case_uniqueid": str, "at": float, "actor": str, "role": str, "action": str,
        "from_status": str, "to_status": str, "detail": str}, pk="id", not_null={"case_uniqueid", "at", "action"})
    db.table("case_events").create_index(["case_uniqueid", "at"])
    # call back attempts (automatic calls and operators' tasks)
    db.table("callbacks").create({
        "id": int, "case_uniqueid": str, "attempt": int, "kind": str, "status": str, "due_at": float,
        "started_at": float, "ended_at": float, "channel_id": str, "resolved": int, "satisfied": int,
        "detail": str, "operator": str}, pk="id", not_null={"case_uniqueid", "status", "kind"})
    db.table("callbacks").create_index(["status", "due_at"])
    db.table("callbacks").create_index(["case_uniqueid"])
    # one row per recorded call: the raw MixMonitor files, then the verified archive copy
    db.table("recordings").create({
        "case_uniqueid": str, "started_at": float, "status": str, "raw_caller": str, "raw_operator": str,
        "raw_mix": str, "archive": str, "seconds": float, "bytes": int, "sha256": str, "verified_at": float,
        "purged_at": float, "error": str}, pk="case_uniqueid", not_null={"status"})
    db.table("recordings").create_index(["status"])
    db.table("bundles").create({
        "id": int, "address_key": str, "topic": str, "address": str, "district": str, "first_at": float,
        "last_at": float, "cases": int}, pk="id")
    db.table("bundles").create_index(["address_key", "topic", "last_at"])
    # the rates read only this index (dispatched in a period, per department), not the rows
    db.execute("create index cases_rates on cases (dispatched_at, department, returned_by, status, replied_at,"
               " due_at, resolved, satisfied, reopen_count)")
    # full-text search over the form's text and the transcripts (CJK and Hangul indexed as bigrams);
    # rowid = case id << 16 (+ n for the case's nth transcript segment): a case's rows are found by
    # rowid, and a date range becomes a rowid range FTS5 seeks to
    db.execute("create virtual table case_text using fts5(case_id unindexed, kind unindexed, body,"
               " tokenize = 'unicode61 remove_diacritics 2')")
    # cases per local day by topic, district and address+topic (kept by save_form): a year of
    # trends reads 365 x keys rows, not 24 million cases
    db.execute("create table daily_counts (day text not null, kind text not null, key text not null,"
               " cases integer not null, primary key (day, kind, key)) without rowid")
    db.execute("create index daily_counts_key on daily_counts (kind, key, day)")
    # the cases already in the file: their address keys, search text and day counts
    for case in list(db.query("select * from cases where form_saved_at is not null")):
        case["address_key"] = _address_key(str(case.get("address") or ""))
        db.execute("update cases set address_key = ? where id = ?", [case["address_key"], case["id"]])
        _count(db, case, +1)
        text = " ".join(str(case.get(k) or "") for k in ("category", "district", "address", "description", "notes"))
        db.execute("insert into case_text (rowid, case_id, kind, body) values (?, ?, 'form', ?)",
                   [case["id"] << 16, case["id"], _index_text(text)])
    seen: dict[int, int] = {}
    for case_id, body in list(db.execute(
            "select c.id, t.text from transcript t join cases c on c.uniqueid = t.case_uniqueid order by t.id")):
        seen[case_id] = n = seen.get(case_id, 0) + 1
        if n < 65536:
            db.execute("insert into case_text (rowid, case_id, kind, body) values (?, ?, 'transcript', ?)",
                       [(case_id << 16) + n, case_id, _index_text(str(body or ""))])


def _m8_audit_chain(db: sqlite_utils.Database) -> None:
    # the audit log becomes a hash chain (cases/audit_chain.py): the rows already there are chained
    # in id order, and the head is kept in kv
    audit = db.table("audit")
    for column in ("role", "prev_hash", "hash"):
        audit.add_column(column, str)
    db.execute("update audit set role = '' where role is null")
    prev = ""
    last = 0
    for row in list(db.query("select id, at, actor, role, action, target, detail from audit order by id")):
        digest = _row_hash(prev, row)
        db.execute("update audit set prev_hash = ?, hash = ? where id = ?", [prev, digest, row["id"]])
        prev, last = digest, int(row["id"])
    if last:
        db.execute("insert or replace into kv (key, value) values (?, ?)",
                   [AUDIT_HEAD_KEY, json.dumps({"id": last, "hash": prev})])


def _m9_recording_attempts(db: sqlite_utils.Database) -> None:
    # the archive's queue (issue 14): when the call hung up, when Asterisk had closed the files, attempts
    recordings = db.table("recordings")
    have = recordings.columns_dict
    for column, kind in (("ended_at", float), ("closed_at", float), ("attempts", int)):
        if column not in have:
            recordings.add_column(column, kind)


# the ended_in values 0010 wrote for the rows already finished (cases/service.py ENDED_IN), frozen
ENDED_IN_0010 = {"operator": "operator", "queue": "queue"}


def _m10_first_ring(db: sqlite_utils.Database) -> None:
    # the call from its first ring (issue 16): when it arrived at the IVR (null for older rows: their
    # clock starts at queued_at) and where it ended ('ivr', 'queue', 'operator'); an IVR hang-up is a
    # row of its own (state 'abandoned-ivr', queued_at = its arrival, it never queued)
    cases = db.table("cases")
    have = cases.columns_dict
    for column, kind in (("arrived_at", float), ("ended_in", str)):
        if column not in have:
            cases.add_column(column, kind)
    db.execute("update cases set ended_in = case when answered_at is not null then ? else ? end"
               " where ended_in is null and state in ('ended', 'abandoned') and source != 'manual'",
               [ENDED_IN_0010["operator"], ENDED_IN_0010["queue"]])


def _m11_knowledge(db: sqlite_utils.Database) -> None:
    # the knowledge base (issue 19): articles by a stable key (the import's id, or title + language),
    # counted when opened (views) and when an operator says one helped (helped, once per article and case)
    db.execute("create table knowledge (id integer primary key, key text not null unique, title text not null,"
               " body text not null, topic text not null default '', tags text not null default '',"
               " language text not null default '', updated_at real not null, views integer not null default 0,"
               " helped integer not null default 0)")
    db.execute("create index knowledge_topic on knowledge (topic, language, helped)")
    db.execute("create table knowledge_helped (article_id integer not null, case_uniqueid text not null,"
               " username text not null, at real not null, primary key (article_id, case_uniqueid)) without rowid")
    # full text (rowid = knowledge.id): CJK and Hangul as bigrams (cases/text_index.py), the title
    # weighing most; the vocabulary gives each term's document count (how rare a caller's word is)
    db.execute("create virtual table knowledge_text using fts5(title, body, tags,"
               " tokenize = 'unicode61 remove_diacritics 2')")
    db.execute("insert into knowledge_text (knowledge_text, rank) values ('rank', 'bm25(4.0, 1.0, 2.0)')")
    db.execute("create virtual table knowledge_vocab using fts5vocab(knowledge_text, 'row')")


def _m12_crisis_alerts(db: sqlite_utils.Database) -> None:
    # crisis words in a caller's line (issue 19): one alert per call and category, its words and the
    # line, whose desk it reached, and a supervisor's dismissal as a false alarm (who, when, why)
    db.execute("create table crisis_alerts (id text primary key, uniqueid text not null, case_id integer,"
               " category text not null, language text not null default '', words text not null,"
               " line text not null default '', operator text not null default '', raised_at real not null,"
               " dismissed_at real, dismissed_by text, reason text)")
    db.execute("create index crisis_alerts_raised on crisis_alerts (raised_at)")
    db.execute("create index crisis_alerts_call on crisis_alerts (uniqueid)")


# the caller keys 0013 wrote (cases/caller_key.py as of then), frozen: E.164 when valid, else the digits
CALLER_KEY_REGION_0013 = "CN"
CALLER_KEY_FORMAT = "caller_key_format"  # kv: the region and library version the keys were made with
_NOT_DIAL = re.compile(r"[^\d+]")


def _caller_key(number: str, region: str) -> str:
    import phonenumbers  # only here: the one migration that needs it

    dial = _NOT_DIAL.sub("", number or "")
    dial = dial[:1] + dial[1:].replace("+", "")
    if not dial.strip("+"):
        return ""
    try:
        parsed = phonenumbers.parse(dial, region)
    except phonenumbers.NumberParseException:
        return dial
    if phonenumbers.is_valid_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return dial


def _m13_caller_key(db: sqlite_utils.Database) -> None:
    # one caller under one number (issue 18): the caller's number normalised (E.164), which the
    # caller's history and the search by number read; the rows already there keyed with the default
    # region (a site with another phone_region is re-keyed at start: CaseStore.rekey_callers)
    import phonenumbers

    cases = db.table("cases")
    if "caller_key" not in cases.columns_dict:
        cases.add_column("caller_key", str)
    for number in [r[0] for r in db.execute("select distinct caller_number from cases where caller_number != ''")]:
        db.execute("update cases set caller_key = ? where caller_number = ?",
                   [_caller_key(str(number), CALLER_KEY_REGION_0013), number])
    db.execute("create index if not exists cases_caller_key on cases (caller_key, queued_at)")
    db.execute("insert or replace into kv (key, value) values (?, ?)",
               [CALLER_KEY_FORMAT, f"{CALLER_KEY_REGION_0013}|phonenumbers {phonenumbers.__version__}"])


def _m14_surge(db: sqlite_utils.Database) -> None:
    # surge announcements (issue 16): a shift manager's short message for a topic, a district or
    # everyone, per language (texts: JSON {language: text}) or one recorded file, between its start
    # and end (ended_at: deleted early); played before the queue, counted as played, informed (hung
    # up after hearing it, before the queue) and opted out (the key to still reach a person)
    db.execute("create table surges (id integer primary key, scope text not null, target text not null default '',"
               " texts text not null default '{}', recorded integer not null default 0, starts_at real not null,"
               " ends_at real not null, created_by text not null, created_at real not null, ended_at real,"
               " ended_by text, played integer not null default 0, informed integer not null default 0,"
               " opted_out integer not null default 0)")
    db.execute("create index surges_ends on surges (ends_at)")


MIGRATIONS: list[Migration] = [
    ("0001_cases", _m1_cases),
    ("0002_kv", _m2_settings_kv),  # small persistent values (e.g. the queue_log replay offset)
    ("0003_users_sessions", _m3_users_sessions),
    ("0004_case_form_transcript", _m4_case_form_transcript),
    ("0005_supervision", _m5_supervision),
    ("0006_interpreting", _m6_interpreting),
    ("0007_after_the_call", _m7_after_the_call),
    ("0008_audit_chain", _m8_audit_chain),
    ("0009_recording_attempts", _m9_recording_attempts),
    ("0010_first_ring", _m10_first_ring),
    ("0011_knowledge", _m11_knowledge),
    ("0012_crisis_alerts", _m12_crisis_alerts),
    ("0013_caller_key", _m13_caller_key),
    ("0014_surge", _m14_surge),
]


def migrate(db: sqlite_utils.Database,
            migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet applied; returns their names. Each migration and its
    _migrations row commit together or not at all (one transaction each); one that raises
    leaves the file as the migration before it left it."""
    if "_migrations" not in db.table_names():
        db.execute("create table if not exists _migrations (name text primary key, applied_at text)")
    done = {str(row[0]) for row in db.execute("select name from _migrations")}
    applied = []
    for name, fn in migrations:
        if name in done:
            continue
        with transaction(db):
            # read under the write lock: another process may have applied it meanwhile
            if db.execute("select 1 from _migrations where name = ?", [name]).fetchone():
                continue
            fn(db)
            now = db.execute("select datetime('now')").fetchone()[0]
            db.execute("insert into _migrations (name, applied_at) values (?, ?)", [name, now])
        applied.append(name)
        log.info("case store migration applied: %s", name)
    return applied

