"""Web users from the site file (more are added with `hotline users add`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hotline.config import checks
from hotline.config.base import ConfigError, require, unique, unknown_keys

ROLES = ("operator", "interpreter", "supervisor", "department", "admin")
_KEYS = {"username", "role", "extension", "name", "password_hash", "department"}


@dataclass(frozen=True)
class User:
    """A web user from the site file (more are added with `hotline users add`)."""

    username: str
    role: str
    name: str = ""
    extension: str = ""  # operators and interpreters: their SIP extension
    password_hash: str = ""  # an argon2 hash (`hotline users hash`); empty: set it with `users passwd`
    department: str = ""  # department users: the code of their department


def parse_users(data: Mapping[str, Any], phones: Mapping[str, set[str]],
                departments: set[str]) -> tuple[User, ...]:
    """``phones``: role ("operator", "interpreter", "supervisor") -> the extensions of its phones."""
    users: list[User] = []
    for i, item in enumerate(data.get("users", [])):
        where = f"users[{i}]."
        username = require(item, "username", where, str)
        if not re.match(r"^[a-z][a-z0-9_.\-]{1,31}$", username):
            raise ConfigError(where + "username", f"must be 2-32 lowercase letters, digits, . _ -, got {username!r}")
        role = require(item, "role", where, str)
        if role not in ROLES:
            raise ConfigError(where + "role", f"must be one of {', '.join(ROLES)}, got {role!r}")
        ext, dept = checks.user_links(item, where, role, phones)
        pw_hash = str(item.get("password_hash", ""))
        if pw_hash and not pw_hash.startswith("$argon2"):
            raise ConfigError(where + "password_hash", "must be an argon2 hash (make one with `hotline users "
                              "hash`); never put a plain password in the site file")
        unknown_keys(item, _KEYS, where)
        checks.user_department(dept, role, where, departments)
        users.append(User(username, role, str(item.get("name", "")), ext, pw_hash, dept))
    unique([u.username for u in users], "users", "username")
    return tuple(users)
