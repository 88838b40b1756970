"""Users, sessions and the login log in the hotline's SQLite file (tables from migration 0003):
the repository ``UserDirectory`` (auth/users.py) reaches through its ``UserRepository``.

Writes that end sessions (a logout, a password change, a disabled user, the site file's roles)
are handed to the writer with the key ``SESSIONS``; a session check (on the read pool) waits for
those already handed over, never for the rest of the writer's queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlite_utils

from hotline.auth.users import UserError
from hotline.storage.database import Database

SESSIONS = "sessions"  # the key of the writes that end sessions: a session check waits for them


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


def _refuse_last_admin(db: sqlite_utils.Database, username: str) -> None:
    """``username`` stops being an enabled admin: refused when no other enabled admin is left."""
    others = db.execute("select count(*) from users where role = 'admin' and disabled = 0 and username != ?",
                        [username]).fetchone()[0]
    if not others:
        raise UserError("last-admin", f"{username!r} is the last enabled admin; make another admin first")


PROFILE = ("role", "name", "extension", "department")  # what the admin page sets (update_user)


class UserStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- users ---------------------------------------------------------------------------------------

    async def sync_users(self, rows: Sequence[dict[str, Any]], now: float) -> None:
        """Create or update these users (the site file's: username, role, name, extension,
        department, password_hash ("" keeps the stored one)); all or none."""
        def sync(db: sqlite_utils.Database) -> None:
            for u in rows:
                row = {k: u[k] for k in ("username", "role", "name", "extension", "department")} | {"updated_at": now}
                existing = list(db["users"].rows_where("username = ?", [u["username"]]))
                if u.get("password_hash"):
                    row["password_hash"] = u["password_hash"]
                if u["role"] == "operator" and not (existing and existing[0]["disabled"]):
                    _refuse_taken(db, u["username"], u["extension"])  # one enabled operator user per extension
                if existing:
                    db.table("users").update(u["username"], row)
                else:
                    db.table("users").insert({**row, "password_hash": row.get("password_hash", ""), "disabled": 0,
                                              "created_at": now})
        await self.db.transaction(sync, key=SESSIONS)  # roles change what sessions may do

    async def add_user(self, row: dict[str, Any]) -> None:
        """Insert a user (username, role, name, extension, department, password_hash, created_at,
        updated_at): ``user-exists`` for a name taken in any case, ``extension-taken`` for an
        operator's extension held by another enabled operator; the checks and the insert together."""
        def add(db: sqlite_utils.Database) -> None:
            username = row["username"]
            clash = db.execute("select username from users where lower(username) = ?", [username]).fetchone()
            if clash:
                raise UserError("user-exists", f"user {clash[0]!r} exists (names are case-insensitive); use "
                                "`hotline users passwd`")
            if row["role"] == "operator":
                _refuse_taken(db, username, row["extension"])
            db.table("users").insert({**row, "disabled": 0})
        await self.db.transaction(add)

    async def set_password_hash(self, username: str, pw_hash: str, at: float) -> None:
        """The new hash and the end of the user's sessions together (``user-unknown``: no such user)."""
        def upd(db: sqlite_utils.Database) -> None:
            if not list(db["users"].rows_where("username = ?", [username])):
                raise UserError("user-unknown", f"no user {username!r}")
            db.table("users").update(username, {"password_hash": pw_hash, "updated_at": at})
            db.execute("delete from sessions where username = ?", [username])
        await self.db.transaction(upd, key=SESSIONS)

    async def set_disabled(self, username: str, disabled: bool, at: float) -> None:
        """Disable (ending the user's sessions) or enable again (an operator's extension must be free)."""
        def upd(db: sqlite_utils.Database) -> None:
            rows = list(db["users"].rows_where("username = ?", [username]))
            if not rows:
                raise UserError("user-unknown", f"no user {username!r}")
            if not disabled and rows[0]["role"] == "operator":
                _refuse_taken(db, username, str(rows[0]["extension"] or ""))
            if disabled and rows[0]["role"] == "admin" and not rows[0]["disabled"]:
                _refuse_last_admin(db, username)
            db.table("users").update(username, {"disabled": int(disabled), "updated_at": at})
            if disabled:
                db.execute("delete from sessions where username = ?", [username])
        await self.db.transaction(upd, key=SESSIONS)

    async def update_user(self, username: str, changes: dict[str, Any], at: float) -> dict[str, Any]:
        """Set the user's role, name, extension and department (``PROFILE``): ``user-unknown``,
        ``last-admin`` (the last enabled admin keeps the role), ``extension-taken`` (an enabled
        operator's extension held by another); a changed role, extension or department ends the
        user's sessions, in the same transaction. Returns the row as ``all_users`` gives it."""
        def upd(db: sqlite_utils.Database) -> dict[str, Any]:
            rows = list(db["users"].rows_where("username = ?", [username]))
            if not rows:
                raise UserError("user-unknown", f"no user {username!r}")
            before = rows[0]
            new = {k: str(changes[k]) for k in PROFILE}
            enabled = not before["disabled"]
            if enabled and before["role"] == "admin" and new["role"] != "admin":
                _refuse_last_admin(db, username)
            if enabled and new["role"] == "operator":
                _refuse_taken(db, username, new["extension"])
            db.table("users").update(username, {**new, "updated_at": at})
            if any(str(before[k] or "") != new[k] for k in ("role", "extension", "department")):
                db.execute("delete from sessions where username = ?", [username])
            after = next(iter(db["users"].rows_where("username = ?", [username])))
            return {k: v for k, v in after.items() if k != "password_hash"} | {"has_password": bool(
                after["password_hash"])}
        return await self.db.transaction(upd, key=SESSIONS)

    async def rehash(self, username: str, old_hash: str, new_hash: str) -> None:
        """Replace the password hash, only over ``old_hash`` (a password changed meanwhile stays)."""
        await self.db.run(lambda db: db.execute(
            "update users set password_hash = ? where username = ? and password_hash = ?",
            [new_hash, username, old_hash]))

    async def user(self, username: str) -> dict[str, Any] | None:
        def get(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db["users"].rows_where("username = ?", [username]))
            return rows[0] if rows else None
        return await self.db.read(get)

    async def all_users(self) -> list[dict[str, Any]]:
        """Every user without the password hash (``has_password`` instead), by name."""
        return await self.db.read(lambda db: [
            {k: v for k, v in r.items() if k != "password_hash"} | {"has_password": bool(r["password_hash"])}
            for r in db["users"].rows_where(order_by="username")])

    async def count(self) -> int:
        return await self.db.read(lambda db: int(db.execute("select count(*) from users").fetchone()[0]))

    async def log_attempt(self, at: float, username: str, remote: str, outcome: str) -> None:
        await self.db.run(lambda db: db.table("auth_log").insert(
            {"at": at, "username": username[:64], "remote": remote, "outcome": outcome}))

    # -- sessions ------------------------------------------------------------------------------------

    async def add_session(self, row: dict[str, Any]) -> None:
        """A new session (token_hash, username, csrf, created_at, expires_at, last_seen, remote)."""
        await self.db.run(lambda db: db.table("sessions").insert(row))

    async def session_open(self, digest: str, now: float) -> bool:
        """The session exists, unexpired at ``now``, of an enabled user (after session changes handed over)."""
        def get(db: sqlite_utils.Database) -> bool:
            return db.execute("select 1 from sessions s join users u on u.username = s.username"
                              " where s.token_hash = ? and s.expires_at >= ? and u.disabled = 0",
                              [digest, now]).fetchone() is not None
        return bool(await self.db.read(get, after=SESSIONS))

    async def session_row(self, digest: str) -> tuple[Any, ...] | None:
        """(username, csrf, expires_at, last_seen, role, name, extension, disabled, department) of the
        session, on the read pool after session changes handed over."""
        def get(db: sqlite_utils.Database) -> tuple[Any, ...] | None:
            row = db.execute(
                "select s.username, s.csrf, s.expires_at, s.last_seen, u.role, u.name, u.extension, u.disabled,"
                " u.department"
                " from sessions s join users u on u.username = s.username where s.token_hash = ?",
                [digest]).fetchone()
            return None if row is None else tuple(row)
        return await self.db.read(get, after=SESSIONS)

    def drop_session_later(self, digest: str, what: str) -> None:
        """Delete the session, fire and forget (an expired one); a failure is logged with ``what``."""
        self.db.submit(lambda db: db.execute("delete from sessions where token_hash = ?", [digest]), what,
                       key=SESSIONS)

    def touch_session_later(self, digest: str, now: float, expires_at: float, what: str) -> None:
        """The sliding expiry, fire and forget; a failure is logged with ``what``."""
        self.db.submit(lambda db: db.execute(
            "update sessions set last_seen = ?, expires_at = ? where token_hash = ?", [now, expires_at, digest]),
            what)

    async def close_sessions_of(self, username: str) -> int:
        return await self.db.run(lambda db: db.execute(
            "delete from sessions where username = ?", [username]).rowcount, key=SESSIONS)

    async def close_session(self, token_hash: str) -> None:
        await self.db.run(lambda db: db.execute("delete from sessions where token_hash = ?", [token_hash]),
                          key=SESSIONS)

    async def purge_expired(self, now: float) -> int:
        return await self.db.run(lambda db: db.execute(
            "delete from sessions where expires_at < ?", [now]).rowcount)
