"""Full-text search (FTS5) and trends over the case store: counts by topic, district and keyword
per day or week, the hotspot counts, and bundles of related cases. Aggregated in SQL on the
store's thread; nothing here loads a year of cases into memory."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlite_utils

from hotline.cases.access import SearchScope
from hotline.cases.text_index import match_query
from hotline.cases.workflow_store import CASE_COLUMNS, _rows
from hotline.errors import HotlineError
from hotline.storage.database import Database

TOPIC = "coalesce(nullif(category, ''), topic, 'general')"
FILTERS = ("district", "department", "status", "caller_key")  # caller_key: one caller's cases (cases/caller_key.py)
COUNT_CAP = 10_000  # a search counts its matches up to here ("10,000 or more")


class SearchError(HotlineError, ValueError):
    error_id = "bad-request"
    status = 400


def _bucket(period: str) -> str:
    if period == "day":
        return "date(queued_at, 'unixepoch', 'localtime')"
    if period == "week":  # the Monday of the week
        return "date(queued_at, 'unixepoch', 'localtime', 'weekday 0', '-6 days')"
    raise SearchError("period must be day or week")


def _day(t: float) -> str:
    return dt.datetime.fromtimestamp(t).date().isoformat()


def _day_bucket(period: str) -> str:
    if period == "day":
        return "day"
    if period == "week":
        return "date(day, 'weekday 0', '-6 days')"
    raise SearchError("period must be day or week")


def _rowid_bounds(db: sqlite_utils.Database, since: float, until: float) -> tuple[int, int] | None:
    """The search index's rowids of the cases queued in [since, until): case ids grow with time,
    so the first and last case of the range, with a day's margin each side for cases opened out
    of order (the query still filters on queued_at), through the queued_at index."""
    lo = db.execute("select id from cases where queued_at >= ? order by queued_at limit 1", [since - 86400]).fetchone()
    hi = db.execute("select id from cases where queued_at < ? order by queued_at desc limit 1",
                    [until + 86400]).fetchone()
    if lo is None or hi is None:
        return None
    return min(lo[0], hi[0]) << 16, (max(lo[0], hi[0]) << 16) + 65535


class SearchStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(self, query: str, since: float, until: float, filters: dict[str, str],
                     limit: int = 50, offset: int = 0, scope: SearchScope | None = None) -> dict[str, Any]:
        """Cases whose form text or transcript has every word of ``query`` (empty: all), with the
        filters (district, department, status, topic), newest first; and the total. The date
        range also bounds the index's rowids (case ids grow with time; a day's margin each side
        covers cases opened out of order), so a month's search reads a month of the index.
        ``scope`` (cases/access.py) limits what the reader may find: the query itself leaves out
        what they may not see, so the total and the pages agree."""
        where = ["c.queued_at >= :since", "c.queued_at < :until"]
        params: dict[str, Any] = {"since": since, "until": until, "limit": limit, "offset": offset}
        scope = scope or SearchScope()
        if scope.nothing:
            return {"total": 0, "more": False, "cases": []}
        text_where = ""
        if scope.department:
            filters = {**filters, "department": scope.department}
        if scope.confidential == "own":  # another operator's confidential case is not found at all
            where.append("(coalesce(c.confidential, 0) = 0 or c.operator = :scope_ext"
                         " or (c.source = 'manual' and c.form_saved_by = :scope_user))")
            params.update({"scope_ext": scope.extension or None, "scope_user": scope.username or None})
        elif scope.confidential == "form":  # found by its form's text, never by its transcript
            text_where = " and (coalesce(c.confidential, 0) = 0 or case_text.kind = 'form')"
            if filters.get("caller_key"):  # nor by the caller they may not see
                where.append("coalesce(c.confidential, 0) = 0")
        match = match_query(query)
        if query.strip() and not match:
            raise SearchError("nothing to search for in the query")
        for key in FILTERS:
            if filters.get(key):
                where.append(f"c.{key} = :{key}")
                params[key] = filters[key]
        if filters.get("topic"):
            where.append("coalesce(nullif(c.category, ''), c.topic, 'general') = :topic")
            params["topic"] = filters["topic"]
        cols = ", ".join(f"c.{c.strip()}" for c in CASE_COLUMNS.split(","))

        def run(db: sqlite_utils.Database) -> dict[str, Any]:
            cond = " and ".join(where)
            if not match:
                total = db.execute(f"select count(*) from (select 1 from cases c where {cond} limit {COUNT_CAP + 1})",
                                   params).fetchone()[0]
                rows = _rows(db, f"select {cols} from cases c where {cond} order by c.queued_at desc"
                                 " limit :limit offset :offset", params)
                return {"total": min(total, COUNT_CAP), "more": total > COUNT_CAP, "cases": rows}
            bounds = _rowid_bounds(db, since, until)
            if bounds is None:
                return {"total": 0, "more": False, "cases": []}
            params.update({"q": match, "lo": bounds[0], "hi": bounds[1]})
            # the index in descending rowid order (newest first), joined to each case: stops as soon
            # as enough cases passed the filters; a case matching in several rows comes once
            base = (" from case_text join cases c on c.id = case_text.case_id where case_text match :q"
                    f" and case_text.rowid between :lo and :hi and {cond}{text_where}")
            total = db.execute(f"select count(*) from (select distinct case_text.case_id {base}"
                               f" limit {COUNT_CAP + 1})", params).fetchone()[0]
            wanted = limit + offset
            fetch = wanted * 2
            while True:
                found = _rows(db, f"select {cols} {base} order by case_text.rowid desc limit {fetch}", params)
                unique: dict[int, dict[str, Any]] = {}
                for r in found:
                    unique.setdefault(r["id"], r)
                if len(unique) >= wanted or len(found) < fetch:
                    break
                fetch *= 4
            return {"total": min(total, COUNT_CAP), "more": total > COUNT_CAP,
                    "cases": list(unique.values())[offset:wanted]}
        try:
            return await self.db.read(run)
        except Exception as exc:
            if "fts5" in str(exc).lower():
                raise SearchError(f"the search words could not be used: {exc}") from None
            raise

    async def counts(self, since: float, until: float, period: str, by: str) -> list[dict[str, Any]]:
        """[{bucket, key, cases}] per day or week, by topic or district (cases with a saved form),
        from the day counts."""
        if by not in ("topic", "district"):
            raise SearchError("by must be topic or district")
        bucket = _day_bucket(period)
        first, last = _day(since), _day(until - 1)
        sql = (f"select {bucket} as bucket, key, sum(cases) as cases from daily_counts"
               " where kind = ? and day >= ? and day <= ? group by bucket, key having sum(cases) > 0"
               " order by bucket, cases desc")
        return await self.db.read(lambda db: _rows(db, sql, [by, first, last]))

    async def keyword_counts(self, words: list[str], since: float, until: float,
                             period: str) -> list[dict[str, Any]]:
        """[{bucket, key: word, cases}]: cases mentioning each word (form or transcript)."""
        bucket = _bucket(period)

        def run(db: sqlite_utils.Database) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            bounds = _rowid_bounds(db, since, until)
            if bounds is None:
                return out
            for word in words:
                match = match_query(word)
                if not match:
                    continue
                for r in _rows(db, (f"select {bucket} as bucket, count(*) as cases from cases where queued_at >= ?"
                                    " and queued_at < ? and id in (select case_id from case_text where case_text"
                                    " match ? and rowid between ? and ?) group by bucket order by bucket"),
                               [since, until, match, *bounds]):
                    out.append({**r, "key": word})
            return out
        return await self.db.read(run)

    async def hotspot_counts(self, day: dt.date, baseline_days: int,
                             min_cases: int = 1) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int], int]:
        """Counts by topic and by (address, topic) for ``day`` (keys with at least ``min_cases``)
        and each one's sum over the ``baseline_days`` before it, in one statement over the day
        counts; and how many of those days had any case (a new hotline's baseline is the days it
        has)."""
        first = (day - dt.timedelta(days=baseline_days)).isoformat()
        today_s, before_s = day.isoformat(), (day - dt.timedelta(days=1)).isoformat()
        sql = ("select t.kind, t.key, t.cases, (select coalesce(sum(b.cases), 0) from daily_counts b where"
               " b.kind = t.kind and b.key = t.key and b.day >= :first and b.day <= :last) from daily_counts t"
               " where t.day = :day and t.kind in ('topic', 'address') and t.cases >= :min")

        def run(db: sqlite_utils.Database) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int], int]:
            today: dict[tuple[str, str], int] = {}
            before: dict[tuple[str, str], int] = {}
            for kind, key, n, base in db.execute(sql, {"first": first, "last": before_s, "day": today_s,
                                                       "min": min_cases}):
                today[(kind, key)] = int(n)
                before[(kind, key)] = int(base)
            days = db.execute("select count(distinct day) from daily_counts where kind = 'topic' and day >= ?"
                              " and day <= ? and cases > 0", [first, before_s]).fetchone()[0]
            return today, before, int(days)
        return await self.db.read(run)

    async def address_labels(self, keys: list[str]) -> dict[str, str]:
        """"<address as last written> (<topic>)" for day-count keys "<address key>|<topic>"."""
        def run(db: sqlite_utils.Database) -> dict[str, str]:
            out = {}
            for key in keys:
                addr_key, _sep, topic = key.rpartition("|")
                row = db.execute("select address from cases where address_key = ? order by queued_at desc limit 1",
                                 [addr_key]).fetchone()
                out[key] = f"{row[0] if row else addr_key} ({topic})"
            return out
        return await self.db.read(run)

    async def bundles(self, since: float, min_cases: int = 2, limit: int = 100) -> list[dict[str, Any]]:
        def run(db: sqlite_utils.Database) -> list[dict[str, Any]]:
            rows = _rows(db, "select * from bundles where last_at >= ? and cases >= ? order by cases desc, last_at"
                             " desc limit ?", [since, min_cases, limit])
            for b in rows:
                b["case_list"] = _rows(db, "select id, uniqueid, queued_at, status, department, description from"
                                           " cases where bundle_id = ? order by queued_at", [b["id"]])
            return rows
        return await self.db.read(run)
