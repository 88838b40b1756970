"""The knowledge base's rows (SQLite, migration 0011): ``knowledge`` (one row per article, its
counters), ``knowledge_text`` (FTS5, rowid = the article's id; CJK as bigrams) and
``knowledge_helped`` (once per article and case). Reads run on the store's read pool, writes on
its writer thread."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlite_utils

from hotline.assist.kb import Article, any_query, boosted, common_count, rare_terms
from hotline.cases.text_index import match_query
from hotline.storage.database import Database

FIELDS = ("title", "body", "topic", "tags", "language")
CARD = ("k.id, k.title, k.topic, k.language, k.tags, k.helped, k.views, k.updated_at,"
        " substr(k.body, 1, 240) as snippet")
CANDIDATES = 60  # the index's best matches the topic and language boosts re-rank
RANK_CAP = 2000  # a query matching more articles ranks the newest 2,000 of them (bm25 costs ~3 us an article)


def _cards(db: sqlite_utils.Database, sql: str, params: Sequence[Any] | dict[str, Any]) -> list[dict[str, Any]]:
    cur = db.execute(sql, params)
    names = [c[0] for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _ranked(db: sqlite_utils.Database, match: str, topic: str, language: str, limit: int) -> list[dict[str, Any]]:
    """The index's best ``CANDIDATES`` for ``match`` (bm25, the title weighing most), re-ranked
    with the boosts; the ``limit`` best, each with its score. Counting the matches is cheap and
    ranking them is not: past ``RANK_CAP`` matches only the newest ``RANK_CAP`` are ranked (a
    rowid range the index seeks to), so a word in 10,000 articles costs what one in 2,000 does."""
    lo = 0
    many = db.execute(f"select count(*) from (select rowid from knowledge_text where knowledge_text match ?"
                      f" limit {RANK_CAP + 1})", [match]).fetchone()[0]
    if many > RANK_CAP:
        lo = db.execute(f"select rowid from knowledge_text where knowledge_text match ? order by rowid desc"
                        f" limit 1 offset {RANK_CAP - 1}", [match]).fetchone()[0]
    rows = _cards(db, f"select {CARD}, t.rank from (select rowid, rank from knowledge_text where knowledge_text"
                      f" match ? and rowid >= ? order by rank limit {CANDIDATES}) t join knowledge k on k.id = t.rowid",
                  [match, lo])
    for row in rows:
        row["score"] = round(-boosted(float(row.pop("rank")), row, topic, language), 4)
    # equal scores (a word in most of a small base scores nothing): the topic's, the language's, the helpful first
    rows.sort(key=lambda r: (-r["score"], r["topic"] != topic, r["language"] != language, -r["helped"], r["id"]))
    return rows[:limit]


class KnowledgeStore:
    def __init__(self, db: Database, total_every: float = 30.0) -> None:
        self.db = db
        self.total_every = total_every
        self._total: tuple[float, int] = (0.0, 0)  # (read at, articles): the share a common word has

    async def upsert(self, articles: Sequence[Article], at: float) -> tuple[int, int, int]:
        """In one transaction: new keys inserted, changed articles updated (their index rows
        rewritten), the same left alone. Returns (imported, updated, unchanged)."""
        def run(db: sqlite_utils.Database) -> tuple[int, int, int]:
            new = changed = same = 0
            for a in articles:
                old = db.execute("select id, title, body, topic, tags, language from knowledge where key = ?",
                                 [a.key]).fetchone()
                values = [a.title, a.body, a.topic, a.tags, a.language]
                if old is not None and list(old[1:]) == values:
                    same += 1
                    continue
                if old is None:
                    cur = db.execute("insert into knowledge (key, title, body, topic, tags, language, updated_at)"
                                     " values (?, ?, ?, ?, ?, ?, ?)", [a.key, *values, at])
                    article_id = cur.lastrowid
                    new += 1
                else:
                    article_id = old[0]
                    db.execute("update knowledge set title = ?, body = ?, topic = ?, tags = ?, language = ?,"
                               " updated_at = ? where id = ?", [*values, at, article_id])
                    db.execute("delete from knowledge_text where rowid = ?", [article_id])
                    changed += 1
                db.execute("insert into knowledge_text (rowid, title, body, tags) values (?, ?, ?, ?)",
                           [article_id, *a.index()])
            return new, changed, same
        result = await self.db.transaction(run)
        self._total = (0.0, 0)
        return result

    async def search(self, words: str, topic: str, language: str, limit: int) -> list[dict[str, Any]]:
        match = match_query(words)
        if not match:
            return []
        return await self.db.read(lambda db: _ranked(db, match, topic, language, limit))

    def _articles(self, db: sqlite_utils.Database) -> int:
        read_at, total = self._total
        if time.monotonic() - read_at > self.total_every or not read_at:
            total = int(db.execute("select count(*) from knowledge").fetchone()[0])
            self._total = (time.monotonic(), total)
        return total

    async def suggest(self, terms: Sequence[str], topic: str, language: str,
                      limit: int) -> tuple[list[str], list[dict[str, Any]]]:
        """The articles with any of the rarest of ``terms`` (kb.rare_terms, on each term's count
        of articles), best first; and those terms."""
        def run(db: sqlite_utils.Database) -> tuple[list[str], list[dict[str, Any]]]:
            total = self._articles(db)
            common = common_count(total)
            counts: dict[str, int] = {}
            for term in terms[:64]:
                # counted up to one past "common" only: the vocabulary's count walks the term's whole
                # list (50 ms for a bigram in half the articles), this stops there
                counts[term] = int(db.execute(f"select count(*) from (select rowid from knowledge_text where"
                                              f" knowledge_text match ? limit {common + 1})",
                                              [any_query([term])]).fetchone()[0])
            picked = rare_terms(counts, total)
            if not picked:
                return [], []
            return picked, _ranked(db, any_query(picked), topic, language, limit)
        return await self.db.read(run)

    async def for_topic(self, topic: str, language: str, limit: int) -> list[dict[str, Any]]:
        def run(db: sqlite_utils.Database) -> list[dict[str, Any]]:
            rows = _cards(db, f"select {CARD} from knowledge k where k.topic = ? and k.language = ?"
                              " order by k.helped desc, k.id limit ?", [topic, language, limit])
            if len(rows) < limit:
                rows += _cards(db, f"select {CARD} from knowledge k where k.topic = ? and k.language != ?"
                                   " order by k.helped desc, k.id limit ?", [topic, language, limit - len(rows)])
            return rows
        return await self.db.read(run)

    async def article(self, article_id: int) -> dict[str, Any] | None:
        def run(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = _cards(db, "select id, key, title, body, topic, tags, language, updated_at, views, helped"
                              " from knowledge where id = ?", [article_id])
            return rows[0] if rows else None
        return await self.db.read(run)

    def viewed(self, article_id: int) -> None:
        """One more view, handed to the writer (nobody waits for it)."""
        self.db.submit(lambda db: db.execute("update knowledge set views = views + 1 where id = ?", [article_id]),
                       "knowledge view")

    async def helped(self, article_id: int, uniqueid: str, username: str, at: float) -> tuple[bool, int]:
        def run(db: sqlite_utils.Database) -> tuple[bool, int]:
            cur = db.execute("insert or ignore into knowledge_helped (article_id, case_uniqueid, username, at)"
                             " values (?, ?, ?, ?)", [article_id, uniqueid, username, at])
            counted = cur.rowcount > 0
            if counted:
                db.execute("update knowledge set helped = helped + 1 where id = ?", [article_id])
            return counted, int(db.execute("select helped from knowledge where id = ?", [article_id]).fetchone()[0])
        return await self.db.transaction(run)

    async def count(self) -> int:
        return await self.db.read(lambda db: int(db.execute("select count(*) from knowledge").fetchone()[0]))
