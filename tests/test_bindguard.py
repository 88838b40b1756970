"""The bind guard (pbx/bindguard.c) preloaded into a small process: a UDP bind() to a wildcard
address is moved onto the configured address of its family, or refused (EADDRNOTAVAIL) when
asterisk.bind is of the other family; explicit addresses and TCP pass unchanged. Asterisk itself
with the guard: tests/test_privileges.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hotline.pbx import asterisk

PROBE = """
import errno, json, socket
out = {}
for name, family, kind, host in [("udp4_any", socket.AF_INET, socket.SOCK_DGRAM, "0.0.0.0"),
                                 ("udp6_any", socket.AF_INET6, socket.SOCK_DGRAM, "::"),
                                 ("udp4_lo", socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1"),
                                 ("tcp4_any", socket.AF_INET, socket.SOCK_STREAM, "0.0.0.0")]:
    s = socket.socket(family, kind)
    try:
        s.bind((host, 0))
        out[name] = s.getsockname()[0]
    except OSError as exc:
        out[name] = errno.errorcode.get(exc.errno, str(exc.errno))
    s.close()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no C compiler")
    return asterisk.build_bindguard(tmp_path_factory.mktemp("chroot"))


def probe(guard: Path, v4: str, v6: str) -> dict[str, str]:
    env = {**os.environ, "LD_PRELOAD": str(guard), "HOTLINE_BIND_ADDR": v4, "HOTLINE_BIND_ADDR6": v6}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    result: dict[str, str] = json.loads(out.stdout)
    return result


def test_an_ipv4_bind_address_takes_the_v4_wildcard_and_refuses_the_v6_one(guard: Path) -> None:
    assert probe(guard, "127.0.0.1", "") == {"udp4_any": "127.0.0.1", "udp6_any": "EADDRNOTAVAIL",
                                             "udp4_lo": "127.0.0.1", "tcp4_any": "0.0.0.0"}


def test_an_ipv6_bind_address_leaves_no_v4_wildcard_socket(guard: Path) -> None:
    got = probe(guard, "", "::1")
    assert got["udp4_any"] == "EADDRNOTAVAIL", got  # was left on 0.0.0.0
    assert got["udp4_lo"] == "127.0.0.1" and got["tcp4_any"] == "0.0.0.0"
    assert got["udp6_any"] in ("::1", "EADDRNOTAVAIL")  # ::1 needs IPv6 on lo (not in every namespace)
