import asyncio

from hotline.bus import Bus, consume
from hotline.cases.store import StoreError


async def test_a_store_failure_keeps_the_event_until_it_is_written() -> None:
    bus: Bus[int] = Bus()
    sub = bus.subscribe("cases")
    written: list[int] = []
    failures = {"left": 2}

    async def handler(event: int) -> None:
        if event == 2 and failures["left"]:
            failures["left"] -= 1
            raise StoreError("disk full")
        written.append(event)

    task = asyncio.create_task(consume(sub, handler, retry=(StoreError,), backoff_max=0.05))
    for i in (1, 2, 3):
        bus.publish(i)
    for _ in range(100):
        if len(written) == 3:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    assert written == [1, 2, 3], "nothing lost, order kept"


async def test_other_errors_skip_one_event_and_go_on() -> None:
    bus: Bus[int] = Bus()
    sub = bus.subscribe("state")
    seen: list[int] = []

    def handler(event: int) -> None:
        if event == 1:
            raise ValueError("bad event")
        seen.append(event)

    task = asyncio.create_task(consume(sub, handler))
    bus.publish(1)
    bus.publish(2)
    await asyncio.sleep(0.05)
    task.cancel()
    assert seen == [2]


def test_a_slow_subscriber_loses_its_oldest_events_and_knows_it() -> None:
    bus: Bus[int] = Bus()
    slow = bus.subscribe("slow", maxsize=2)
    for i in range(5):
        bus.publish(i)  # never blocks
    assert slow.dropped == 3
    assert [slow.queue.get_nowait() for _ in range(2)] == [3, 4]
