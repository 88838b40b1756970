"""The migrations' frozen formats (storage/migrations.py) against the live code: a migration writes
rows as they were defined when it was written, so changing one of these formats needs a new
migration that rewrites the rows (re-index, re-count, re-chain), not a silent drift."""

import sqlite3
from pathlib import Path

import sqlite_utils

from hotline.cases import audit_chain
from hotline.cases.store import CaseStore
from hotline.cases.text_index import address_key, index_text
from hotline.storage import migrations
from hotline.storage.database import Database

TEXTS = ["", "leak", "漏水严重 in 5 Elm St.", "水", "물이 새요, 빨리!", "ｶﾀｶﾅ and かな", "No. 5, Elm St."]


def test_the_search_text_and_address_key_are_the_ones_migration_0007_wrote() -> None:
    for text in TEXTS:
        assert migrations._index_text(text) == index_text(text), text
        assert migrations._address_key(text) == address_key(text), text


def test_the_audit_hash_is_the_one_migration_0008_chained() -> None:
    row = {"id": 3, "at": 100.5, "actor": "boss", "role": "", "action": "listen", "target": "1001",
           "detail": '{"why": "李雷"}'}
    assert migrations._row_hash("ab" * 32, row) == audit_chain.row_hash("ab" * 32, row)
    assert migrations.AUDIT_HEAD_KEY == audit_chain.HEAD_KEY


async def test_the_day_counts_are_the_ones_migration_0007_counted(tmp_path: Path) -> None:
    """A form saved through the case store and the same case counted by the migration's copy
    give the same daily_counts rows."""
    db = Database(tmp_path / "c.db")
    store = CaseStore(db)
    await store.create({"uniqueid": "u1", "linkedid": "u1", "caller_number": "1", "language": "en",
                        "topic": "housing", "ivr_path": "", "queue": "q", "queued_at": 1_700_000_000.0})
    assert await store.save_form("u1", {"category": "water", "district": "east", "address": "5 Elm St."}, "op1",
                                 1_700_000_100.0)
    await db.close()
    conn = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    live = conn.execute("select day, kind, key, cases from daily_counts order by 1, 2, 3").fetchall()
    conn.execute("delete from daily_counts")
    case = dict(zip(["queued_at", "category", "topic", "district", "address_key"], conn.execute(
        "select queued_at, category, topic, district, address_key from cases").fetchone(), strict=True))
    migrations._count(sqlite_utils.Database(conn), case, +1)
    assert conn.execute("select day, kind, key, cases from daily_counts order by 1, 2, 3").fetchall() == live
    conn.close()
