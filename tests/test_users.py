"""The user directory (auth/users.py) on its SQLite repository (auth/user_store.py): the rules
that hold across the two (one name in any case, one enabled operator per extension, a password
change or a disable ends the sessions, expired sessions go), over a real file."""

import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from argon2 import PasswordHasher

from hotline.auth import passwords
from hotline.auth.user_store import UserStore
from hotline.auth.users import UserDirectory, UserError
from hotline.config import Settings
from hotline.storage.database import Database

PASSWORD = "correct horse battery staple"


def rows(path: Path, sql: str) -> list[Any]:
    with sqlite3.connect(path) as conn:
        return [tuple(r) for r in conn.execute(sql)]


async def test_names_extensions_and_what_ends_sessions(tmp_path: Path) -> None:
    db = Database(tmp_path / "c.db")
    users = UserDirectory(UserStore(db))
    try:
        await users.add("Ana", "operator", PASSWORD, name="Ana", extension="1001")
        with pytest.raises(UserError) as exists:
            await users.add("ANA", "supervisor", PASSWORD)
        assert exists.value.error_id == "user-exists"
        with pytest.raises(UserError) as taken:
            await users.add("bob", "operator", PASSWORD, extension="1001")
        assert taken.value.error_id == "extension-taken"
        assert [u["username"] for u in await users.all_users()] == ["ana"]
        assert await users.count() == 1 and "password_hash" not in (await users.all_users())[0]

        token, csrf = await users.open_session("ana", "127.0.0.1")
        seen = await users.session(token)
        assert seen is not None and (seen.username, seen.extension, seen.csrf) == ("ana", "1001", csrf)
        assert await users.session_open(seen.session)
        await users.set_disabled("ana", True)  # ends the session at once
        assert await users.session(token) is None and not await users.session_open(seen.session)
        await users.add("bob", "operator", PASSWORD, extension="1001")  # free while ana is disabled
        with pytest.raises(UserError) as again:
            await users.set_disabled("ana", False)
        assert again.value.error_id == "extension-taken"
        with pytest.raises(UserError) as unknown:
            await users.set_disabled("nobody", True)
        assert unknown.value.error_id == "user-unknown"

        token, _ = await users.open_session("bob", "127.0.0.1")
        assert await users.authenticate("bob", PASSWORD) is not None
        assert await users.authenticate("bob", "wrong password entirely") is None
        await users.set_password("bob", "another correct horse battery")
        assert await users.session(token) is None  # the old sessions end with the old password
        assert await users.authenticate("bob", "another correct horse battery") is not None
        await users.log_attempt("bob", "127.0.0.1", "ok")
    finally:
        await db.close()
    assert rows(tmp_path / "c.db", "select username, outcome from auth_log") == [("bob", "ok")]


async def test_expired_sessions_and_the_sliding_expiry(tmp_path: Path) -> None:
    db = Database(tmp_path / "c.db")
    users = UserDirectory(UserStore(db), session_seconds=3600)
    try:
        await users.add("ana", "supervisor", PASSWORD)
        stale, _ = await users.open_session("ana", "a")
        fresh, _ = await users.open_session("ana", "b")
        await db.run(lambda d: d.execute("update sessions set expires_at = 1 where remote = 'a'"))
        await db.run(lambda d: d.execute("update sessions set last_seen = last_seen - 120 where remote = 'b'"))
        assert await users.session(stale) is None  # expired: refused, and its row deleted in the background
        assert await users.session(fresh) is not None  # last_seen 2 minutes old: written again
        await db.run(lambda d: None)  # the writer's queue drained
        remotes = rows(tmp_path / "c.db", "select remote, last_seen from sessions")
        assert [r[0] for r in remotes] == ["b"] and remotes[0][1] > time.time() - 60
        await db.run(lambda d: d.execute("update sessions set expires_at = 1"))
        assert await users.purge_expired() == 1
        assert await users.close_sessions_of("ana") == 0
    finally:
        await db.close()


async def test_the_site_files_users_and_a_rehash_on_login(tmp_path: Path) -> None:
    db = Database(tmp_path / "c.db")
    users = UserDirectory(UserStore(db))
    weak = passwords.hash_password(PASSWORD)
    site = [SimpleNamespace(username="ana", role="operator", name="Ana", extension="1001", department="",
                            password_hash=""),
            SimpleNamespace(username="dep", role="department", name="", extension="", department="water",
                            password_hash=weak)]
    try:
        await users.sync_from_site(cast(Settings, SimpleNamespace(users=site)))
        await users.sync_from_site(cast(Settings, SimpleNamespace(users=site)))  # again: updated, not doubled
        assert [(u["username"], u["department"], u["has_password"]) for u in await users.all_users()] == [
            ("ana", "", False), ("dep", "water", True)]
        clash = [SimpleNamespace(username="eve", role="operator", name="", extension="1001", department="",
                                 password_hash="")]
        with pytest.raises(UserError) as taken:
            await users.sync_from_site(cast(Settings, SimpleNamespace(users=[*site, *clash])))
        assert taken.value.error_id == "extension-taken"
        assert await users.get("eve") is None  # all the site file's users or none
        old = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)  # yesterday's parameters
        assert passwords.needs_rehash(old)
        await db.run(lambda d: d.execute("update users set password_hash = ? where username = 'dep'", [old]))
        assert await users.authenticate("dep", PASSWORD) is not None
        row = await users.get("dep")
        assert row is not None and row["password_hash"] != old and not passwords.needs_rehash(row["password_hash"])
    finally:
        await db.close()
