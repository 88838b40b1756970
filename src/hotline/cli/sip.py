"""``hotline sip``: the SIP guard's blocked addresses, read from the ACL file Asterisk reads: list
them, lift one."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from hotline import config
from hotline.cli.common import load_settings


def _in_block(address: str, blocked: str) -> bool:
    import ipaddress
    try:
        ip, net = ipaddress.ip_address(address), ipaddress.ip_network(blocked, strict=False)
    except ValueError:
        return False
    return ip.version == net.version and ip in net


def cmd_sip(args: argparse.Namespace) -> int:
    """The SIP guard's blocked addresses, straight from the ACL file Asterisk reads (no service
    needed): list them, or lift one (in force at Asterisk's next SIP request; audited)."""
    from hotline import privileges
    from hotline.cases.audit_store import AuditStore
    from hotline.pbx.sip_acl import SipAclFile, db_path
    from hotline.storage.database import Database

    settings = load_settings(args)
    if (user := privileges.run_user(settings)) is not None:  # the ACL file and the case file are the user's:
        privileges.drop(user)  # root never writes (or creates) them, SQLite would follow a link planted there
    acl = SipAclFile(db_path(settings.asterisk.instance_dir))
    rows = acl.blocks()
    if args.action == "blocks":
        for r in rows:
            print(json.dumps({"address": r.address, "failures": r.failures, "since": r.since, "until": r.until,
                              **json.loads(r.reason or "{}")}, ensure_ascii=False))
        return 0
    row = next((r for r in rows if r.address == args.address), None) or next(
        (r for r in rows if _in_block(args.address, r.address)), None)  # an address of a blocked IPv6 /64
    if row is None:
        print(f"hotline: {args.address!r} is not blocked", file=sys.stderr)
        return 1
    acl.unblock(row.address)

    async def audit() -> None:
        db = Database(settings.database)
        await db.open()
        try:
            by = config.command_user()
            await AuditStore(db).audit(by, "sip_unblock", row.address, {
                "address": row.address, "failures": row.failures, "since": row.since, "until": row.until,
                "why": "lifted by hand (hotline sip unblock)"}, time.time(), role="admin")
        finally:
            await db.close()

    asyncio.run(audit())
    print(f"{row.address} unblocked")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("sip", help="the SIP guard's blocked addresses: list them, lift one")
    sp.add_argument("action", choices=["blocks", "unblock"])
    sp.add_argument("address", nargs="?", help="with unblock: the blocked IP address")
    sp.set_defaults(fn=cmd_sip)
