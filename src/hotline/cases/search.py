"""Full-text search (FTS5) and trends over the case store: counts by topic, district and keyword
per day or week, the hotspot counts, and bundles of related cases. Aggregated in SQL on the
store's thread; nothing here loads a year of cases into memory."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlite_utils

from hotline.cases.store import CaseStore
from hotline.cases.text_index import match_query
from hotline.cases.workflow_store import CASE_COLUMNS, _rows

TOPIC = "coalesce(nullif(category, ''), topic, 'general')"
FILTERS = ("district", "department", "status")


class SearchError(ValueError):
    error_id = "bad-request"


def _bucket(period: str) -> str:
    if period == "day":
        return "date(queued_at, 'unixepoch', 'localtime')"
    if period == "week":  # the Monday of the week
        return "date(queued_at, 'unixepoch', 'localtime', 'weekday 0', '-6 days')"
    raise SearchError("period must be day or week")


class SearchStore:
    def __init__(self, store: CaseStore) -> None:
        self.store = store

    async def search(self, query: str, since: float, until: float, filters: dict[str, str],
                     limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """Cases whose form text or transcript has every word of ``query`` (empty: all), with the
        filters (district, department, status, topic), newest first; and the total."""
        where = ["c.queued_at >= :since", "c.queued_at < :until"]
        params: dict[str, Any] = {"since": since, "until": until, "limit": limit, "offset": offset}
        match = match_query(query)
        if query.strip() and not match:
            raise SearchError("nothing to search for in the query")
        if match:
            where.append("c.id in (select case_id from case_text where case_text match :q)")
            params["q"] = match
        for key in FILTERS:
            if filters.get(key):
                where.append(f"c.{key} = :{key}")
                params[key] = filters[key]
        if filters.get("topic"):
            where.append("coalesce(nullif(c.category, ''), c.topic, 'general') = :topic")
            params["topic"] = filters["topic"]
        cond = " and ".join(where)
        cols = ", ".join(f"c.{c.strip()}" for c in CASE_COLUMNS.split(","))

        def run(db: sqlite_utils.Database) -> dict[str, Any]:
            total = db.execute(f"select count(*) from cases c where {cond}", params).fetchone()[0]
            rows = _rows(db, f"select {cols} from cases c where {cond} order by c.queued_at desc"
                             " limit :limit offset :offset", params)
            return {"total": total, "cases": rows}
        try:
            return await self.store.run(run)
        except Exception as exc:
            if "fts5" in str(exc).lower():
                raise SearchError(f"the search words could not be used: {exc}") from None
            raise

    async def counts(self, since: float, until: float, period: str, by: str) -> list[dict[str, Any]]:
        """[{bucket, key, cases}] per day or week, by topic or district."""
        key = {"topic": TOPIC, "district": "coalesce(nullif(district, ''), '(none)')"}.get(by)
        if key is None:
            raise SearchError("by must be topic or district")
        sql = (f"select {_bucket(period)} as bucket, {key} as key, count(*) as cases from cases"
               " where queued_at >= ? and queued_at < ? and form_saved_at is not null"
               " group by bucket, key order by bucket, cases desc")
        return await self.store.run(lambda db: _rows(db, sql, [since, until]))

    async def keyword_counts(self, words: list[str], since: float, until: float,
                             period: str) -> list[dict[str, Any]]:
        """[{bucket, key: word, cases}]: cases mentioning each word (form or transcript)."""
        bucket = _bucket(period)

        def run(db: sqlite_utils.Database) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for word in words:
                match = match_query(word)
                if not match:
                    continue
                for r in _rows(db, (f"select {bucket} as bucket, count(*) as cases from cases where queued_at >= ?"
                                    " and queued_at < ? and id in (select case_id from case_text where case_text"
                                    " match ?) group by bucket order by bucket"), [since, until, match]):
                    out.append({**r, "key": word})
            return out
        return await self.store.run(run)

    async def hotspot_counts(self, day: dt.date, baseline_days: int) -> tuple[dict[tuple[str, str], int],
                                                                               dict[tuple[str, str], int],
                                                                               dict[tuple[str, str], str], int]:
        """Counts by topic and by (address, topic) for ``day`` and summed over the ``baseline_days``
        before it, with the labels and how many of those days had any case (a new hotline's
        baseline is the days it has)."""
        start = dt.datetime.combine(day, dt.time()).astimezone().timestamp()
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()).astimezone().timestamp()
        base = dt.datetime.combine(day - dt.timedelta(days=baseline_days), dt.time()).astimezone().timestamp()
        sql = (f"select 'topic' as kind, {TOPIC} as key, min({TOPIC}) as label, count(*) as n from cases"
               " where queued_at >= ? and queued_at < ? and form_saved_at is not null group by key"
               f" union all select 'address', address_key || '|' || {TOPIC}, min(address) || ' (' || {TOPIC} || ')',"
               " count(*) from cases where queued_at >= ? and queued_at < ? and address_key != ''"
               f" group by address_key, {TOPIC}")

        def run(db: sqlite_utils.Database) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int],
                                                     dict[tuple[str, str], str], int]:
            today: dict[tuple[str, str], int] = {}
            labels: dict[tuple[str, str], str] = {}
            for kind, key, label, n in db.execute(sql, [start, end, start, end]):
                today[(kind, key)] = n
                labels[(kind, key)] = label
            before = {(k, key): n for k, key, _label, n in db.execute(sql, [base, start, base, start])}
            days = db.execute("select count(distinct date(queued_at, 'unixepoch', 'localtime')) from cases"
                              " where queued_at >= ? and queued_at < ?", [base, start]).fetchone()[0]
            return today, before, labels, int(days)
        return await self.store.run(run)

    async def bundles(self, since: float, min_cases: int = 2, limit: int = 100) -> list[dict[str, Any]]:
        def run(db: sqlite_utils.Database) -> list[dict[str, Any]]:
            rows = _rows(db, "select * from bundles where last_at >= ? and cases >= ? order by cases desc, last_at"
                             " desc limit ?", [since, min_cases, limit])
            for b in rows:
                b["case_list"] = _rows(db, "select id, uniqueid, queued_at, status, department, description from"
                                           " cases where bundle_id = ? order by queued_at", [b["id"]])
            return rows
        return await self.store.run(run)
