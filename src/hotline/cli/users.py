"""``hotline users``: web users (add, passwd, list, disable, enable) in the database; ``hash`` makes
a password hash for the site file."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from hotline.cli.common import load_settings


def read_password(args: argparse.Namespace) -> str:
    import getpass

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise SystemExit("hotline: no terminal to ask for the password on; pipe it in with --password-stdin")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("hotline: the passwords differ")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    from hotline.auth import passwords
    from hotline.auth.user_store import UserStore
    from hotline.auth.users import UserDirectory, UserError
    from hotline.storage.database import Database

    if args.action == "hash":
        print(passwords.hash_password(read_password(args)))
        return 0
    settings = load_settings(args)

    async def run() -> int:
        db = Database(settings.database)
        users = UserDirectory(UserStore(db))
        try:
            await users.sync_from_site(settings)
            if args.action == "list" and args.json:
                print(json.dumps(await users.all_users(), ensure_ascii=False, default=str))
                return 0
            if args.action == "list":
                for u in await users.all_users():
                    print(f"{u['username']:<20} {u['role']:<12} {u['extension'] or u['department'] or '-':<8} "
                          f"{'disabled' if u['disabled'] else 'active':<9} {'' if u['has_password'] else 'NO PASSWORD'}"
                          f" {u['name'] or ''}")
                return 0
            if not args.username:
                raise SystemExit("hotline: name the user")
            if args.action == "add":
                if not args.role:
                    raise SystemExit("hotline: --role is required")
                await users.add(args.username, args.role, read_password(args), args.name or "",
                                args.extension or "", settings, args.department or "")
            elif args.action == "passwd":
                await users.set_password(args.username, read_password(args))
            elif args.action in ("disable", "enable"):
                await users.set_disabled(args.username, args.action == "disable")
            print(f"user {args.username}: {args.action} done")
            return 0
        except (UserError, passwords.WeakPassword) as exc:
            print(f"hotline: {exc}", file=sys.stderr)
            return 1
        finally:
            await db.close()
    return asyncio.run(run())


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from hotline.config import ROLES

    u = sub.add_parser("users", help="web users: add, passwd, list, disable, enable; hash makes a site-file hash")
    u.add_argument("action", choices=["add", "passwd", "list", "disable", "enable", "hash"])
    u.add_argument("username", nargs="?")
    u.add_argument("--role", choices=ROLES)
    u.add_argument("--extension", help="operators: their [[operators]] extension; supervisors: their [[supervisors]] "
                   "phone (for listen, whisper and barge)")
    u.add_argument("--department", help="department users: the code of their [[departments]] entry")
    u.add_argument("--name", help="the name shown on pages")
    u.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    u.add_argument("--json", action="store_true", help="with list: one JSON array instead of the table")
    u.set_defaults(fn=cmd_users)
