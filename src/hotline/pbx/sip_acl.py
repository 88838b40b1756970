"""The SIP guard's blocked addresses, as rows Asterisk reads: a small SQLite file in the
instance's lib/ folder.

``hl_sip_acl`` is the realtime table behind the PJSIP ``acl`` sorcery type (sorcery.conf,
extconfig.conf, res_config_sqlite3.conf): one row per blocked address, ``deny = <addr>/32``
(IPv6: the source's /64). res_pjsip_acl fetches every acl object on each incoming SIP request and answers a
denied source with 403, before authentication, so a row takes effect on the next request, with
no reload and no AMI write class. ``hl_sip_blocks`` is the service's own bookkeeping (why, since
when, until when); Asterisk never reads it (an unknown column in ``hl_sip_acl`` would make
every ACL row unusable).

Rollback-journal mode (not WAL): Asterisk's reader then needs no write access to a -shm file.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from hotline.security.guard import Block

DB_NAME = "sip-blocks.sqlite3"

_SCHEMA = """
create table if not exists hl_sip_acl (id text primary key, deny text not null);
create table if not exists hl_sip_blocks (
    address text primary key, failures integer not null, since real not null, until real not null,
    reason text not null default ''
);
"""


@dataclass(frozen=True)
class BlockRow:
    address: str
    failures: int
    since: float
    until: float
    reason: str


def db_path(instance_dir: Path) -> Path:
    return instance_dir / "lib" / DB_NAME


def _acl_id(address: str) -> str:
    return "hl-block-" + address.replace(":", "_").replace("/", "-")


def _deny(address: str) -> str:
    """The ACL's deny of a blocked address (``/32``) or IPv6 prefix (the guard blocks a /64)."""
    return str(ipaddress.ip_network(address, strict=False))


class SipAclFile:
    """Blocks as rows of the realtime table; every call is short and synchronous (the caller
    runs it in a thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        con.execute("pragma journal_mode=delete")
        return con

    def ensure(self) -> None:
        """Create the file and its tables (at render time, before Asterisk starts)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect()
        try:
            con.executescript(_SCHEMA)
        finally:
            con.close()

    def block(self, row: BlockRow) -> None:
        con = self._connect()
        try:
            con.execute("begin immediate")
            con.execute("insert or replace into hl_sip_blocks values (?, ?, ?, ?, ?)",
                        (row.address, row.failures, row.since, row.until, row.reason))
            con.execute("insert or replace into hl_sip_acl (id, deny) values (?, ?)",
                        (_acl_id(row.address), _deny(row.address)))
            con.execute("commit")
        finally:
            con.close()

    def unblock(self, address: str) -> None:
        con = self._connect()
        try:
            con.execute("begin immediate")
            con.execute("delete from hl_sip_blocks where address = ?", (address,))
            con.execute("delete from hl_sip_acl where id = ?", (_acl_id(address),))
            con.execute("commit")
        finally:
            con.close()

    def blocks(self) -> list[BlockRow]:
        if not self.path.exists():
            return []
        con = self._connect()
        try:
            rows = con.execute("select address, failures, since, until, reason from hl_sip_blocks").fetchall()
            # an acl row without its bookkeeping (a crash between the two) is dropped here
            con.execute("delete from hl_sip_acl where id not in (select 'hl-block-' || "
                        "replace(replace(address, ':', '_'), '/', '-') "
                        "from hl_sip_blocks)")
        finally:
            con.close()
        return [BlockRow(str(a), int(f), float(s), float(u), str(r)) for a, f, s, u, r in rows]


class SipAclBlockList:
    """The SIP security service's BlockList over the file, each call in a thread."""

    def __init__(self, path: Path) -> None:
        self.file = SipAclFile(path)

    async def block(self, block: Block) -> None:
        row = BlockRow(block.address, block.failures, block.since, block.until,
                       json.dumps({"reason": block.reason, "accounts": list(block.accounts)}))
        await asyncio.to_thread(self.file.block, row)

    async def unblock(self, address: str) -> None:
        await asyncio.to_thread(self.file.unblock, address)

    async def load(self) -> list[Block]:
        out = []
        for r in await asyncio.to_thread(self.file.blocks):
            try:
                info = json.loads(r.reason)
            except ValueError:
                info = {"reason": r.reason}
            out.append(Block(r.address, r.failures, r.since, r.until, tuple(info.get("accounts", ())),
                             str(info.get("reason", ""))))
        return out
