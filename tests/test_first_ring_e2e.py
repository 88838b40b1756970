"""Issue 16, end to end on real Asterisk with SIP phones: the call counted from its first ring.
An answered call's case keeps its arrival (before its queue entry) and where it ended; a caller
who hangs up in the IVR leaves a row counted as offered (first-ring clock only), which the service
level, the wallboard's totals and `hotline queues` show."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from typing import Any

import pytest

from support.calls import call_hotline, wait_until

pytestmark = pytest.mark.asterisk

OPERATORS = """
[[operators]]
extension = "2001"
name = "English Housing"
languages = { en = 5, zh = 3 }
topics = ["housing"]
"""

CALLER_HZ, OP_HZ = 600, 1000


def hotline_cli(h: Any, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "hotline.cli", "--site", str(h.site), *args],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_first_ring_is_kept_and_an_ivr_hang_up_is_offered(make_hotline: Any, phones: Any, tones: Any) -> None:
    h = make_hotline(OPERATORS)
    h.start_service()
    op = phones.operator("2001", h.secrets.sip_passwords["2001"], tones[OP_HZ])
    h.login("2001")

    # answered: the case keeps the first ring, before its queue entry
    call = call_hotline(phones, tones[CALLER_HZ], "13900000001", ["2", "1"])  # English, housing
    wait_until(lambda: op.calls and op.calls[0].connected_at, 20, "the English operator answered")
    phones.hangup(call)
    wait_until(lambda: h.cases() and h.cases()[0]["state"] == "ended", 10, "the case ended")
    case = h.cases()[0]
    assert case["arrived_at"] is not None and case["arrived_at"] < case["queued_at"], case
    assert case["queued_at"] - case["arrived_at"] >= 1.5, "the IVR's seconds before the queue"
    assert case["ended_in"] == "operator"
    before = h.api("GET", "/api/queues")["overall"]
    assert (before["first_ring_offered"], before["ivr_abandoned"]) == (1, 0)
    assert before["answered"] == 1 and before["first_ring_sl_over_offered"] == 100.0

    # hung up during the greeting: offered, not answered, ended in the IVR
    quitter = call_hotline(phones, tones[CALLER_HZ], "13900000002", [])
    time.sleep(1.0)
    phones.hangup(quitter)
    wait_until(lambda: any(c["caller_number"] == "13900000002" for c in h.cases()), 10, "the IVR hang-up's row")
    row = next(c for c in h.cases() if c["caller_number"] == "13900000002")
    assert (row["state"], row["ended_in"], row["abandoned"], row["queue"]) == ("abandoned-ivr", "ivr", 1, ""), row
    assert row["arrived_at"] is not None and 0.5 <= row["ended_at"] - row["arrived_at"] < 10, row
    after = wait_until(lambda: (o := h.api("GET", "/api/queues")["overall"])["ivr_abandoned"] == 1 and o, 10,
                       "the service level counts the IVR hang-up")
    assert after["first_ring_offered"] == before["first_ring_offered"] + 1
    assert after["first_ring_sl_over_offered"] == 50.0, "the first-ring service level drops"
    assert after["sl_over_offered"] == 100.0 and after["abandoned"] == 0, "Asterisk's clock: it never queued"
    queues = hotline_cli(h, "queues")
    assert "from the first ring" in queues and "from queue entry" in queues, queues
    overall = re.search(r"^overall\s+(\d+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", queues, re.M)
    assert overall and overall.groups() == ("0", "2", "1", "0", "1"), queues  # offered 2, 1 answered, 1 in the IVR
