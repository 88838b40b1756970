"""queue_log replay: lines from a real Asterisk 22 run (bench/load.py), plus the HLINFO line."""

from pathlib import Path

from hotline import events as ev
from hotline.cases.service import CaseService
from hotline.cases.store import CaseStore
from hotline.pbx.queue_log import QueueLogReplay, parse, read_from
from hotline.storage.values import ValueStore

LOG = """1795356521|MANAGER|hl-all|PJSIP/3000|ADDMEMBER|
1795356525|1795356521.0|hl-zh-transport|NONE|HLINFO|zh|transport|lang:zh/topic:transport/
1795356525|1795356521.0|hl-zh-transport|NONE|ENTERQUEUE||1391|1
1795356525|1795356521.0|hl-zh-transport|3002|CONNECT|0|1795356525.9|0
1795356550|1795356521.0|hl-zh-transport|3002|COMPLETECALLER|0|25|1
1795356600|1795356590.4|hl-zh-transport|NONE|ENTERQUEUE||1392|1
1795356609|1795356590.4|hl-zh-transport|NONE|ABANDON|1|1|9
"""


def test_parse_turns_lines_into_events() -> None:
    events = parse(LOG.splitlines())
    assert [type(e).__name__ for e in events] == ["CallerJoined", "AgentConnected", "AgentCompleted",
                                                   "CallerJoined", "CallerAbandoned"]
    joined = events[0]
    assert isinstance(joined, ev.CallerJoined)
    assert (joined.language, joined.topic, joined.ivr_path, joined.caller_number) == (
        "zh", "transport", "lang:zh/topic:transport/", "1391")
    done = events[2]
    assert isinstance(done, ev.AgentCompleted) and done.talk_seconds == 25 and done.interface == "PJSIP/3002"
    assert isinstance(events[4], ev.CallerAbandoned) and events[4].hold_seconds == 9
    assert parse(["garbage", "x|y|z|w|CONNECT|notanumber"]) == []


def test_read_from_waits_for_whole_lines_and_survives_rotation(tmp_path: Path) -> None:
    f = tmp_path / "queue_log"
    f.write_text(LOG + "1795356700|1.1|q|NONE|ENTER")  # half-written last line
    lines, offset = read_from(f, 0)
    assert len(lines) == 7 and offset == len(LOG.encode())
    f.write_text("1|2|q|NONE|ENTERQUEUE||5|1\n")  # rotated: smaller than the offset
    lines, offset = read_from(f, offset)
    assert lines == ["1|2|q|NONE|ENTERQUEUE||5|1"]
    assert read_from(tmp_path / "missing", 10) == ([], 0)


async def test_replay_builds_cases_once_and_remembers_its_offset(tmp_path: Path) -> None:
    (tmp_path / "queue_log").write_text(LOG)
    store = CaseStore(tmp_path / "c.db")
    svc = CaseService(store)
    published: list[ev.Event] = []
    replay = QueueLogReplay(tmp_path / "queue_log", ValueStore(store.db), published.append)
    assert await replay.replay() == 5
    for e in published:
        await svc.handle(e)
    for e in published:  # the same lines again (already seen live): nothing changes
        await svc.handle(e)
    assert await replay.replay() == 0, "nothing new since the stored offset"
    cases = {c["uniqueid"]: c for c in await store.recent(10)}
    await store.close()
    assert len(cases) == 2
    assert cases["1795356521.0"]["state"] == "ended" and cases["1795356521.0"]["operator"] == "3002"
    assert cases["1795356521.0"]["talk_seconds"] == 25.0
    assert cases["1795356590.4"]["state"] == "abandoned" and cases["1795356590.4"]["wait_seconds"] == 9.0
