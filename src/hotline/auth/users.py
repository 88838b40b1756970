"""The user directory: users (names, roles, password strength and hashing) and their sessions.
The rows live behind ``UserRepository`` (auth/user_store.py in SQLite, tables from migration 0003).

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hotline.auth import passwords
from hotline.config import ROLES, Settings
from hotline.errors import HotlineError, by_id

log = logging.getLogger(__name__)


class UserError(HotlineError, ValueError):
    status = 400
    statuses = by_id({"username-invalid": 400, "role-unknown": 400, "department-missing": 400,
                      "department-unknown": 400, "extension-unknown": 400, "user-unknown": 404, "user-exists": 409,
                      "extension-taken": 409, "self-disable": 409, "self-demote": 409, "last-admin": 409})

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


def check_profile(role: str, extension: str, department: str, settings: Settings | None) -> None:
    """A role the hotline knows; a department for department users only (one of the site file's);
    an operator's extension one of the site file's operators; a supervisor's phone, when given,
    one of its ``[[supervisors]]`` (without settings only the role and department rule)."""
    if role not in ROLES:
        raise UserError("role-unknown", f"role must be one of {', '.join(ROLES)}")
    if (role == "department") != bool(department):
        raise UserError("department-missing", "a department user needs --department (and only they have one)")
    if department and settings is not None and settings.department(department) is None:
        raise UserError("department-unknown", f"no [[departments]] with code {department!r} in the site file")
    if role == "operator" and settings is not None and settings.operator(extension) is None:
        raise UserError("extension-unknown", f"no operator with extension {extension!r} in the site file")
    if role == "supervisor" and extension and settings is not None and settings.supervisor_phone(extension) is None:
        raise UserError("extension-unknown", f"no [[supervisors]] phone with extension {extension!r} in the site file")


def generate_password() -> str:
    """A one-time password for a new user or a reset (the admin page shows it once): 20 random
    URL-safe characters, far past the strength rule."""
    return _random.token_urlsafe(15)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserRepository(Protocol):
    """What the directory needs of the users' and sessions' storage (auth/user_store.py
    ``UserStore``): the SQL and its transactions there, the rules and the hashing here."""

    async def sync_users(self, rows: Sequence[dict[str, Any]], now: float) -> None: ...
    async def add_user(self, row: dict[str, Any]) -> None: ...
    async def set_password_hash(self, username: str, pw_hash: str, at: float) -> None: ...
    async def set_disabled(self, username: str, disabled: bool, at: float) -> None: ...
    async def update_user(self, username: str, changes: dict[str, Any], at: float) -> dict[str, Any]: ...
    async def rehash(self, username: str, old_hash: str, new_hash: str) -> None: ...
    async def user(self, username: str) -> dict[str, Any] | None: ...
    async def all_users(self) -> list[dict[str, Any]]: ...
    async def count(self) -> int: ...
    async def log_attempt(self, at: float, username: str, remote: str, outcome: str) -> None: ...
    async def add_session(self, row: dict[str, Any]) -> None: ...
    async def session_open(self, digest: str, now: float) -> bool: ...
    async def session_row(self, digest: str) -> tuple[Any, ...] | None: ...
    def drop_session_later(self, digest: str, what: str) -> None: ...
    def touch_session_later(self, digest: str, now: float, expires_at: float, what: str) -> None: ...
    async def close_sessions_of(self, username: str) -> int: ...
    async def close_session(self, token_hash: str) -> None: ...
    async def purge_expired(self, now: float) -> int: ...


class UserDirectory:
    def __init__(self, store: UserRepository, session_seconds: float = 12 * 3600) -> None:
        self.store = store
        self.session_seconds = session_seconds
        self._touched: dict[str, float] = {}  # session digest -> when its last_seen was last handed over

    async def sync_from_site(self, settings: Settings) -> None:
        """Create or update the site file's users (a hash given there replaces the stored one)."""
        await self.store.sync_users([
            {"username": u.username, "role": u.role, "name": u.name, "extension": u.extension,
             "department": u.department, "password_hash": u.password_hash} for u in settings.users], time.time())

    async def add(self, username: str, role: str, password: str, name: str = "", extension: str = "",
                  settings: Settings | None = None, department: str = "") -> None:
        username = valid_username(username)
        check_profile(role, extension, department, settings)
        passwords.check_strength(password, (username, name))
        pw_hash = await passwords.hash_async(password, check=False)  # on the hashing executor
        now = time.time()
        await self.store.add_user({"username": username, "role": role, "name": name, "extension": extension,
                                   "department": department, "password_hash": pw_hash, "created_at": now,
                                   "updated_at": now})
        log.info("user added: %s (%s%s)", username, role, f", extension {extension}" if extension else "")

    async def update(self, username: str, role: str, name: str, extension: str, department: str,
                     settings: Settings | None = None, by: str = "") -> dict[str, Any]:
        """Set a user's role, name, extension and department (the admin page), checked as ``add``
        checks them. ``by`` may not change their own role (``self-demote``); the last enabled
        admin stays one (``last-admin``, checked with the update in one transaction). A change of
        role, extension or department ends the user's sessions. Returns the row (no hash)."""
        username = username.strip().lower()
        check_profile(role, extension, department, settings)
        row = await self.get(username)
        if row is None:
            raise UserError("user-unknown", f"no user {username!r}")
        if by and by == username and role != row["role"]:
            raise UserError("self-demote", "you cannot change your own role; ask another admin")
        updated = await self.store.update_user(username, {"role": role, "name": name, "extension": extension,
                                                          "department": department}, time.time())
        log.info("user updated: %s (%s%s)", username, role, f", extension {extension}" if extension else "")
        return updated

    async def set_password(self, username: str, password: str) -> None:
        username = username.strip().lower()
        row = await self.get(username)
        passwords.check_strength(password, (username, str(row.get("name") or "") if row else ""))
        pw_hash = await passwords.hash_async(password, check=False)
        # the new hash and the end of the old sessions together; a session check waits for it
        await self.store.set_password_hash(username, pw_hash, time.time())

    async def set_disabled(self, username: str, disabled: bool, by: str = "") -> None:
        """Disable (ending the user's sessions) or enable again. ``by`` (the admin page's user) may
        not disable themselves (``self-disable``); the last enabled admin is never disabled
        (``last-admin``, in the store's transaction)."""
        username = username.strip().lower()
        if disabled and by and by == username:
            raise UserError("self-disable", "you cannot disable yourself; ask another admin")
        await self.store.set_disabled(username, disabled, time.time())

    async def get(self, username: str) -> dict[str, Any] | None:
        return await self.store.user(username)

    async def all_users(self) -> list[dict[str, Any]]:
        return await self.store.all_users()

    async def count(self) -> int:
        return await self.store.count()

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
            # only over the hash that was verified (a password changed meanwhile stays changed)
            await self.store.rehash(username, row["password_hash"], new_hash)
        return row

    async def log_attempt(self, username: str, remote: str, outcome: str) -> None:
        await self.store.log_attempt(time.time(), username, remote, outcome)

    # -- sessions --------------------------------------------------------------------------------

    async def open_session(self, username: str, remote: str) -> tuple[str, str]:
        """A new session: returns (cookie token, CSRF token)."""
        token, csrf = _random.token_urlsafe(32), _random.token_urlsafe(24)
        now = time.time()
        await self.store.add_session({
            "token_hash": _digest(token), "username": username, "csrf": csrf, "created_at": now,
            "expires_at": now + self.session_seconds, "last_seen": now, "remote": remote})
        return token, csrf

    async def session_open(self, digest: str) -> bool:
        """The session (by its token's digest, ``Principal.session``) still exists, unexpired, of
        an enabled user: an open socket asks this now and then (a session ended by the CLI in
        another process is learnt here). On the read pool, after session changes handed over."""
        return await self.store.session_open(digest, time.time())

    async def session(self, token: str) -> Principal | None:
        """The session's principal, read on the store's read pool (every request checks it, so
        it never waits behind the writer's queue; only behind a logout, password change or
        disable already handed over). The sliding expiry is written separately, fire and
        forget, at most once a minute per session; an expired session's row is deleted the same
        way."""
        if not token or len(token) > 100:
            return None
        digest = _digest(token)
        row = await self.store.session_row(digest)
        if row is None:
            return None
        now = time.time()
        username, csrf, expires_at, last_seen, role, name, extension, disabled, department = row
        if expires_at < now or disabled:
            self.store.drop_session_later(digest, f"end of an expired session of {username}")
            return None
        if now - max(last_seen, self._touched.get(digest, 0.0)) > 60:  # sliding expiry, at most once a minute
            self._touch(digest, now)
            self.store.touch_session_later(digest, now, now + self.session_seconds,
                                           f"last_seen of a session of {username}")
        return Principal(username, role, name or "", extension or "", csrf, digest, department or "")

    def _touch(self, digest: str, now: float) -> None:
        """Remember that ``digest``'s last_seen was handed to the writer at ``now`` (so requests
        in the minute after, before the write lands, do not queue another)."""
        if len(self._touched) > 10_000:  # only the last minute's matter
            self._touched = {d: t for d, t in self._touched.items() if now - t <= 60}
        self._touched[digest] = now

    async def close_sessions_of(self, username: str) -> int:
        """End every session of ``username`` (a new login with ``[http] single_session``)."""
        return await self.store.close_sessions_of(username)

    async def close_session(self, token_hash: str) -> None:
        await self.store.close_session(token_hash)

    async def purge_expired(self) -> int:
        return await self.store.purge_expired(time.time())
