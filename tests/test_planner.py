"""The staffing planner over a real case file with four weeks of known history."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from hotline import config
from hotline.cases.store import CaseStore
from hotline.sim import planner
from hotline.sim.erlang import agents_needed

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 11, 30)  # a Monday


async def make_history(db: Path) -> None:
    store = CaseStore(db)
    n = 0
    for week in range(1, 5):
        d = DAY - dt.timedelta(weeks=week)
        for slot, count in ((20, 200), (21, 120)):  # 10:00 and 10:30
            base = dt.datetime.combine(d, dt.time(slot // 2, 30 * (slot % 2))).timestamp()
            for i in range(count):
                n += 1
                lang = "en" if i % 10 == 0 else "zh"
                await store.create({"uniqueid": f"u{n}", "caller_number": "139", "language": lang, "topic": "general",
                                    "ivr_path": "", "queue": f"hl-{lang}-general", "queued_at": base + i * 5,
                                    "state": "ended", "answered_at": base + i * 5 + 3})
                await store.update(f"u{n}", {"talk_seconds": 240.0})
    await store.close()


async def test_forecast_erlang_and_hotspot(tmp_path: Path) -> None:
    db = tmp_path / "cases.db"
    await make_history(db)
    store = CaseStore(db)
    start = dt.datetime.combine(DAY - dt.timedelta(weeks=4), dt.time()).timestamp()
    history = await store.half_hour_history(start, dt.datetime.combine(DAY, dt.time()).timestamp())
    await store.close()
    settings = config.load(ROOT / "etc/site.example.toml", {})
    plan = planner.build(settings, history, DAY, weeks=4)
    s20, s21 = plan.slots[20], plan.slots[21]
    assert (s20.start, s20.forecast, s21.forecast) == ("10:00", 200.0, 120.0)
    assert plan.aht == 240.0 and round(plan.language_mix["en"], 2) == 0.10
    assert s20.needed_erlang == agents_needed(200, 240, 1800, 15, 0.96)
    assert s20.needed_by_language["en"] == agents_needed(20, 240, 1800, 15, 0.96)
    assert plan.slots[5].needed_erlang == 0
    assert plan.model == "Erlang C" and s20.needed_erlang_a is None  # nobody gave up: no patience estimate

    hot = config.parse({**__import__("tomllib").loads((ROOT / "etc/site.example.toml").read_text()),
                        "hotspot_days": [{"date": str(DAY), "factor": 1.5, "reason": "first snow"}]}, ROOT / "etc", {})
    hot_plan = planner.build(hot, history, DAY, weeks=4, confirm=True)
    assert hot_plan.hotspot_factor == 1.5 and hot_plan.slots[20].forecast == 300.0
    busy = hot_plan.slots[20]
    assert busy.needed_erlang == agents_needed(300, 240, 1800, 15, 0.96) > s20.needed_erlang
    assert busy.needed_confirmed is not None and busy.needed_confirmed >= busy.needed_erlang
    assert busy.simulated_sl is not None and busy.simulated_sl >= 96.0


async def test_erlang_a_with_the_patience_the_history_shows(tmp_path: Path) -> None:
    # 100 calls at 10:00 on each of two Mondays: 75 answered after 10 s, 25 gave up after 40 s
    store = CaseStore(tmp_path / "cases.db")
    for week in (1, 2):
        base = dt.datetime.combine(DAY - dt.timedelta(weeks=week), dt.time(10, 0)).timestamp()
        for i in range(100):
            uid = f"w{week}-{i}"
            gave_up = i % 4 == 0
            await store.create({"uniqueid": uid, "caller_number": "139", "language": "zh", "topic": "general",
                                "ivr_path": "", "queue": "hl-zh-general", "queued_at": base + i * 15,
                                "state": "abandoned" if gave_up else "ended",
                                "answered_at": None if gave_up else base + i * 15 + 10})
            await store.update(uid, {"wait_seconds": 40.0 if gave_up else 10.0, "abandoned": int(gave_up),
                                     "talk_seconds": None if gave_up else 200.0})
    start = dt.datetime.combine(DAY - dt.timedelta(weeks=2), dt.time()).timestamp()
    history = await store.half_hour_history(start, dt.datetime.combine(DAY, dt.time()).timestamp())
    await store.close()
    settings = config.load(ROOT / "etc/site.example.toml", {})
    plan = planner.build(settings, history, DAY, weeks=2)
    # patience = seconds waited by all (2 x (75 x 10 + 25 x 40)) over the 50 abandoned
    assert plan.model == "Erlang A" and plan.patience == 70.0 and plan.abandoned == 50
    s = plan.slots[20]
    assert s.needed_erlang == agents_needed(100, 200.0, 1800, 15, 0.96)
    assert s.needed_erlang_a == agents_needed(100, 200.0, 1800, 15, 0.96, patience=70.0) <= s.needed_erlang
    assert s.needed == s.needed_erlang_a


def test_cli_writes_the_plan_as_csv(tmp_path: Path) -> None:
    import asyncio
    site = tmp_path / "site.toml"
    site.write_text((ROOT / "etc/site.example.toml").read_text().replace('state_dir = "../var"',
                                                                            f'state_dir = "{tmp_path}"'))
    asyncio.run(make_history(tmp_path / "hotline.db"))
    out = subprocess.run([sys.executable, "-m", "hotline.cli", "--site", str(site), "staffing", "plan",
                          "--date", str(DAY), "--csv", str(tmp_path / "plan.csv")],
                         capture_output=True, text=True, check=True)
    assert "10:00" in out.stdout
    assert (tmp_path / "plan.csv").read_bytes()[:3] == b"\xef\xbb\xbf"  # UTF-8 with BOM (web/csv_export.py)
    rows = (tmp_path / "plan.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("slot,forecast_calls,needed_erlang_c") and len(rows) == 49
    assert rows[21].startswith("10:00,200.0,")


def test_rota_counts_operators_per_slot_and_language() -> None:
    import datetime as dt
    from dataclasses import replace

    from hotline import config as cfg
    from hotline.sim import planner

    settings = cfg.load(Path(__file__).resolve().parents[1] / "etc/site.example.toml", {})
    ops = settings.operators
    rota = (cfg.RotaEntry(ops[0].extension, "08:00", "16:00", ("mon", "tue")),
            cfg.RotaEntry(ops[1].extension, "22:00", "06:00", ("sun",)),
            cfg.RotaEntry(ops[2].extension, "09:15", "10:00"))
    monday = dt.date(2026, 11, 23)
    slots = planner.scheduled(replace(settings, rota=rota), monday)
    count = {f"{i // 2:02d}:{30 * (i % 2):02d}": n for i, (n, _) in enumerate(slots)}
    assert count["07:30"] == 0 and count["08:00"] == 1 and count["15:30"] == 1 and count["16:00"] == 0
    assert count["09:00"] == 2 and count["09:30"] == 2  # 09:15-09:30 is half of the 09:00 slot
    assert count["05:30"] == 1 and count["06:00"] == 0  # Sunday's night shift runs into Monday
    assert slots[16][1] == {lang: 1 for lang in ops[0].languages}
    wednesday = planner.scheduled(replace(settings, rota=rota), dt.date(2026, 11, 25))
    assert (wednesday[16][0], wednesday[18][0]) == (0, 1)  # Wednesday: only the 09:15 shift


def test_rota_errors_name_the_key(tmp_path: Path) -> None:
    from hotline import config as cfg

    base = (Path(__file__).resolve().parents[1] / "etc/site.example.toml").read_text()
    for extra, key in (('[[rota]]\nextension = "9999"\nstart = "08:00"\nend = "16:00"\n', "rota[0].extension"),
                       ('[[rota]]\nextension = "1001"\nstart = "8am"\nend = "16:00"\n', "rota[0].start"),
                       ('[[rota]]\nextension = "1001"\nstart = "08:00"\nend = "16:00"\ndays = ["someday"]\n',
                        "rota[0].days")):
        site = tmp_path / "site.toml"
        site.write_text(base + "\n" + extra)
        with pytest.raises(cfg.ConfigError) as err:
            cfg.load(site, {})
        assert err.value.key == key
