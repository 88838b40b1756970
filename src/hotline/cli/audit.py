"""``hotline audit``: the audit log, read from the database file: verify its hash chain, show rows."""

from __future__ import annotations

import argparse
import json
import sys

from hotline.cli.common import load_settings


def cmd_audit(args: argparse.Namespace) -> int:
    """Read the audit log straight from the SQLite file (no service needed): verify its hash
    chain, or show the newest rows."""
    from hotline.cases import audit_chain

    settings = load_settings(args)
    try:
        if args.action == "verify":
            head = None
            if args.head:
                rid, _, digest = args.head.partition(":")
                if not rid.isdigit() or len(digest) != 64:
                    raise SystemExit("hotline: --head must be ID:HASH (as 'hotline audit verify' printed it)")
                head = {"id": int(rid), "hash": digest}
            report = audit_chain.verify(settings.database, head)
            print(report.text(), file=sys.stdout if report.ok else sys.stderr)
            return 0 if report.ok else 1
        rows, _head = audit_chain.read(settings.database)
        for r in rows[-args.limit:]:
            print(json.dumps({**r, "detail": json.loads(r["detail"] or "{}")}, ensure_ascii=False))
        return 0
    except (FileNotFoundError, ValueError) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    au = sub.add_parser("audit", help="the audit log (read from the database file): verify its hash chain, show rows")
    au.add_argument("action", choices=["verify", "show"])
    au.add_argument("--head", help="with verify: the newest row as recorded elsewhere, ID:HASH (finds deleted "
                    "last rows even if the stored head was changed too)")
    au.add_argument("--limit", type=int, default=50, help="with show: the newest N rows")
    au.set_defaults(fn=cmd_audit)
