"""Users and sessions in the hotline's SQLite file (tables from migration 0003).

A session cookie carries a random token; the table keeps only its SHA-256, the user, a CSRF
token and the expiry (sliding: each use extends it). Logging out or disabling a user ends
their sessions at once, which a signed-cookie session could not do.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets as _random
import time
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from hotline.auth import passwords
from hotline.cases.store import CaseStore
from hotline.config import ROLES, Settings
from hotline.errors import HotlineError, by_id

log = logging.getLogger(__name__)


class UserError(HotlineError, ValueError):
    status = 400
    statuses = by_id({"username-invalid": 400, "role-unknown": 400, "department-missing": 400,
                      "department-unknown": 400, "extension-unknown": 400, "user-unknown": 404, "user-exists": 409,
                      "extension-taken": 409})

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message, error_id=error_id)


@dataclass(frozen=True)
class Principal:
    """Who is asking: a logged-in user, or the service token (the CLI), which acts as admin."""

    username: str
    role: str
    name: str = ""
    extension: str = ""
    csrf: str = ""
    session: str = ""  # token hash; empty for the service token
    department: str = ""  # department users: their department's code

    def to_json(self) -> dict[str, str]:
        return {"username": self.username, "role": self.role, "name": self.name, "extension": self.extension,
                "department": self.department}


USERNAME = re.compile(r"^[a-z][a-z0-9_.\-]{1,31}$")


def valid_username(username: str) -> str:
    """The user name as stored (lowercase); names differing only in case are the same user."""
    name = username.strip().lower()
    if not USERNAME.match(name):
        raise UserError("username-invalid", "a user name is 2-32 letters, digits, '.', '_' or '-', starting with a "
                        f"letter; got {username[:40]!r}")
    return name


def _extension_holder(db: sqlite_utils.Database, extension: str, other_than: str) -> str | None:
    """The enabled operator user other than ``other_than`` who holds ``extension`` (their cases and
    screen pops are keyed by it: two users on one extension would see each other's)."""
    row = db.execute("select username from users where role = 'operator' and extension = ? and disabled = 0"
                     " and username != ?", [extension, other_than]).fetchone()
    return str(row[0]) if row else None


def _refuse_taken(db: sqlite_utils.Database, username: str, extension: str) -> None:
    holder = _extension_holder(db, extension, username) if extension else None
    if holder is not None:
        raise UserError("extension-taken", f"extension {extension!r} belongs to operator user {holder!r}; "
                        "disable that user first")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


SESSIONS = "sessions"  # the store key of the writes that end sessions: a session check waits for them


class UserDirectory:
    def __init__(self, store: CaseStore, session_seconds: float = 12 * 3600) -> None:
        self.store = store
        self.session_seconds = session_seconds
        self._touched: dict[str, float] = {}  # session digest -> when its last_seen was last handed over

    async def sync_from_site(self, settings: Settings) -> None:
        """Create or update the site file's users (a hash given there replaces the stored one)."""
        def sync(db: sqlite_utils.Database) -> None:
            now = time.time()
            for u in settings.users:
                row = {"username": u.username, "role": u.role, "name": u.name, "extension": u.extension,
                       "department": u.department, "updated_at": now}
                existing = list(db["users"].rows_where("username = ?", [u.username]))
                if u.password_hash:
                    row["password_hash"] = u.password_hash
                if u.role == "operator" and not (existing and existing[0]["disabled"]):
                    _refuse_taken(db, u.username, u.extension)  # one enabled operator user per extension
                if existing:
                    db.table("users").update(u.username, row)
                else:
                    db.table("users").insert({**row, "password_hash": row.get("password_hash", ""), "disabled": 0,
                                        "created_at": now})
        await self.store.transaction(sync, key=SESSIONS)  # all the site file's users or none (roles: sessions)

    async def add(self, username: str, role: str, password: str, name: str = "", extension: str = "",
                  settings: Settings | None = None, department: str = "") -> None:
        username = valid_username(username)
        if role not in ROLES:
            raise UserError("role-unknown", f"role must be one of {', '.join(ROLES)}")
        if (role == "department") != bool(department):
            raise UserError("department-missing", "a department user needs --department (and only they have one)")
        if department and settings is not None and settings.department(department) is None:
            raise UserError("department-unknown", f"no [[departments]] with code {department!r} in the site file")
        if role == "operator" and settings is not None and settings.operator(extension) is None:
            raise UserError("extension-unknown", f"no operator with extension {extension!r} in the site file")
        if (role == "supervisor" and extension and settings is not None
                and settings.supervisor_phone(extension) is None):
            raise UserError("extension-unknown", f"no [[supervisors]] phone with extension {extension!r} in the "
                            "site file")
        passwords.check_strength(password, (username, name))
        pw_hash = await passwords.hash_async(password, check=False)  # on the hashing executor

        def add(db: sqlite_utils.Database) -> None:
            clash = db.execute("select username from users where lower(username) = ?", [username]).fetchone()
            if clash:
                raise UserError("user-exists", f"user {clash[0]!r} exists (names are case-insensitive); use "
                                "`hotline users passwd`")
            if role == "operator":
                _refuse_taken(db, username, extension)
            now = time.time()
            db.table("users").insert({"username": username, "role": role, "name": name, "extension": extension,
                                      "department": department, "password_hash": pw_hash, "disabled": 0,
                                      "created_at": now, "updated_at": now})
        await self.store.transaction(add)  # the clash check and the insert together
        log.info("user added: %s (%s%s)", username, role, f", extension {extension}" if extension else "")

    async def set_password(self, username: str, password: str) -> None:
        username = username.strip().lower()
        row = await self.get(username)
        passwords.check_strength(password, (username, str(row.get("name") or "") if row else ""))
        pw_hash = await passwords.hash_async(password, check=False)

        def upd(db: sqlite_utils.Database) -> None:
            if not list(db["users"].rows_where("username = ?", [username])):
                raise UserError("user-unknown", f"no user {username!r}")
            db.table("users").update(username, {"password_hash": pw_hash, "updated_at": time.time()})
            db.execute("delete from sessions where username = ?", [username])
        # the new hash and the end of the old sessions together; a session check waits for it
        await self.store.transaction(upd, key=SESSIONS)

    async def set_disabled(self, username: str, disabled: bool) -> None:
        username = username.strip().lower()
        def upd(db: sqlite_utils.Database) -> None:
            rows = list(db["users"].rows_where("username = ?", [username]))
            if not rows:
                raise UserError("user-unknown", f"no user {username!r}")
            if not disabled and rows[0]["role"] == "operator":  # enabled again: the extension must be free
                _refuse_taken(db, username, str(rows[0]["extension"] or ""))
            db.table("users").update(username, {"disabled": int(disabled), "updated_at": time.time()})
            if disabled:
                db.execute("delete from sessions where username = ?", [username])
        await self.store.transaction(upd, key=SESSIONS)

    async def get(self, username: str) -> dict[str, Any] | None:
        def get(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db["users"].rows_where("username = ?", [username]))
            return rows[0] if rows else None
        return await self.store.read(get)

    async def all_users(self) -> list[dict[str, Any]]:
        return await self.store.read(lambda db: [
            {k: v for k, v in r.items() if k != "password_hash"} | {"has_password": bool(r["password_hash"])}
            for r in db["users"].rows_where(order_by="username")])

    async def count(self) -> int:
        return await self.store.read(lambda db: int(db.execute("select count(*) from users").fetchone()[0]))

    async def authenticate(self, username: str, password: str) -> dict[str, Any] | None:
        """The user row when the password matches and the user is enabled. Hashing runs on the
        hashing executor (never on the event loop nor the store's threads); an unknown user costs
        the same time."""
        row = await self.get(username)
        ok = await passwords.verify_async(row["password_hash"] if row else passwords.DUMMY_HASH, password)
        if not ok or row is None or row["disabled"]:
            return None
        if passwords.needs_rehash(row["password_hash"]):
            new_hash = await passwords.hash_async(password, check=False)
            old_hash = row["password_hash"]
            # only over the hash that was verified (a password changed meanwhile stays changed)
            await self.store.run(lambda db: db.execute(
                "update users set password_hash = ? where username = ? and password_hash = ?",
                [new_hash, username, old_hash]))
        return row

    async def log_attempt(self, username: str, remote: str, outcome: str) -> None:
        await self.store.run(lambda db: db.table("auth_log").insert(
            {"at": time.time(), "username": username[:64], "remote": remote, "outcome": outcome}))

    # -- sessions --------------------------------------------------------------------------------

    async def open_session(self, username: str, remote: str) -> tuple[str, str]:
        """A new session: returns (cookie token, CSRF token)."""
        token, csrf = _random.token_urlsafe(32), _random.token_urlsafe(24)
        now = time.time()
        await self.store.run(lambda db: db.table("sessions").insert({
            "token_hash": _digest(token), "username": username, "csrf": csrf, "created_at": now,
            "expires_at": now + self.session_seconds, "last_seen": now, "remote": remote}))
        return token, csrf

    async def session_open(self, digest: str) -> bool:
        """The session (by its token's digest, ``Principal.session``) still exists, unexpired, of
        an enabled user: an open socket asks this now and then (a session ended by the CLI in
        another process is learnt here). On the read pool, after session changes handed over."""
        def get(db: sqlite_utils.Database) -> bool:
            return db.execute("select 1 from sessions s join users u on u.username = s.username"
                              " where s.token_hash = ? and s.expires_at >= ? and u.disabled = 0",
                              [digest, time.time()]).fetchone() is not None
        return bool(await self.store.read(get, after=SESSIONS))

    async def session(self, token: str) -> Principal | None:
        """The session's principal, read on the store's read pool (every request checks it, so
        it never waits behind the writer's queue; only behind a logout, password change or
        disable already handed over, key SESSIONS). The sliding expiry is written separately,
        fire and forget, at most once a minute per session; an expired session's row is deleted
        the same way."""
        if not token or len(token) > 100:
            return None
        digest = _digest(token)

        def get(db: sqlite_utils.Database) -> tuple[Any, ...] | None:
            row = db.execute(
                "select s.username, s.csrf, s.expires_at, s.last_seen, u.role, u.name, u.extension, u.disabled,"
                " u.department"
                " from sessions s join users u on u.username = s.username where s.token_hash = ?",
                [digest]).fetchone()
            return None if row is None else tuple(row)
        row = await self.store.read(get, after=SESSIONS)
        if row is None:
            return None
        now = time.time()
        username, csrf, expires_at, last_seen, role, name, extension, disabled, department = row
        if expires_at < now or disabled:
            self.store.submit(lambda db: db.execute("delete from sessions where token_hash = ?", [digest]),
                              f"end of an expired session of {username}", key=SESSIONS)
            return None
        if now - max(last_seen, self._touched.get(digest, 0.0)) > 60:  # sliding expiry, at most once a minute
            self._touch(digest, now)
            self.store.submit(lambda db: db.execute(
                "update sessions set last_seen = ?, expires_at = ? where token_hash = ?",
                [now, now + self.session_seconds, digest]), f"last_seen of a session of {username}")
        return Principal(username, role, name or "", extension or "", csrf, digest, department or "")

    def _touch(self, digest: str, now: float) -> None:
        """Remember that ``digest``'s last_seen was handed to the writer at ``now`` (so requests
        in the minute after, before the write lands, do not queue another)."""
        if len(self._touched) > 10_000:  # only the last minute's matter
            self._touched = {d: t for d, t in self._touched.items() if now - t <= 60}
        self._touched[digest] = now

    async def close_sessions_of(self, username: str) -> int:
        """End every session of ``username`` (a new login with ``[http] single_session``)."""
        return await self.store.run(lambda db: db.execute(
            "delete from sessions where username = ?", [username]).rowcount, key=SESSIONS)

    async def close_session(self, token_hash: str) -> None:
        await self.store.run(lambda db: db.execute("delete from sessions where token_hash = ?", [token_hash]),
                             key=SESSIONS)

    async def purge_expired(self) -> int:
        return await self.store.run(lambda db: db.execute(
            "delete from sessions where expires_at < ?", [time.time()]).rowcount)
