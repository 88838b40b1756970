"""The knowledge base at Beijing's size (issue 19): 180,000 generated articles (Mandarin and
English, Beijing's subjects, districts and offices), imported with ``hotline kb import``; then
the search box's queries and the suggestions from a caller's line, timed.

1. Generate N articles (default 180,000: 72% Mandarin, 28% English) into a CSV file.
2. ``hotline kb import`` it into a fresh database file (the command an operator runs; each
   chunk of 500 articles one transaction): wall time, articles per second, file size.
3. Search: Q queries (Chinese words of two to four characters, an English word or two, two
   words together, a query with a topic), through ``KnowledgeBase.search`` on the store's read
   pool as the web route calls it: p50, p99, max. Run once alone and once with 4 at a time.
4. Suggestions: caller lines (the Mandarin test speech's texts and generated ones, in Mandarin
   and English) through the floor service (floor/knowledge.py, debounce off) from the
   ``TranscriptText`` event to the ``knowledge`` message handed to the desk: p50, p99, max.

    .venv/bin/python bench/kb_search.py [--articles 180000] [--queries 400] [--folder /var/tmp/hotline-kb]
        [--keep] [--reuse]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hotline import config  # noqa: E402
from hotline import events as ev  # noqa: E402
from hotline.assist.kb import KnowledgeBase  # noqa: E402
from hotline.assist.kb_store import KnowledgeStore  # noqa: E402
from hotline.cases.form import categories  # noqa: E402
from hotline.floor.calls import CallRegistry  # noqa: E402
from hotline.floor.knowledge import KnowledgeSuggestions  # noqa: E402
from hotline.storage.database import Database  # noqa: E402

SITE = ROOT / "etc/site.example.toml"
DISTRICTS = [
    "东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区", "通州区", "昌平区",
    "大兴区", "顺义区", "房山区", "门头沟区", "平谷区", "怀柔区", "密云区", "延庆区",
]
DISTRICTS_EN = ["Dongcheng", "Xicheng", "Chaoyang", "Haidian", "Fengtai", "Shijingshan", "Tongzhou", "Changping",
                "Daxing", "Shunyi", "Fangshan", "Mentougou", "Pinggu", "Huairou", "Miyun", "Yanqing"]
PLACES = [
    "幸福小区", "和平里", "望京", "回龙观", "天通苑", "双井", "劲松", "五道口", "中关村", "亦庄",
    "方庄", "石佛营", "团结湖", "安贞", "马甸", "德胜门", "广渠门", "左家庄", "北苑", "酒仙桥",
]
SUBJECTS: dict[str, list[tuple[str, str, str]]] = {  # topic: (Mandarin subject, English subject, office)
    "housing": [
        ("电梯", "lift", "区房管局"), ("漏水", "water leak", "物业公司"), ("供暖", "heating", "区供热办"),
        ("路灯", "street light", "区城市管理委员会"), ("垃圾清运", "rubbish collection", "街道办事处"),
        ("噪音", "noise", "区城管执法局"), ("物业费", "property fee", "区住建委"),
        ("停水", "water cut", "自来水集团"), ("停电", "power cut", "国网北京电力"),
        ("燃气", "gas supply", "北京燃气集团"), ("违章建筑", "illegal building", "区城管执法局"),
        ("下水道堵塞", "blocked drain", "区水务局"), ("楼道杂物", "hallway clutter", "社区居委会"),
        ("老旧小区改造", "old compound renovation", "区住建委"), ("房屋租赁", "renting", "区房管局"),
    ],
    "transport": [
        ("出租车", "taxi", "市交通委员会"), ("公交车", "bus", "北京公交集团"), ("地铁", "subway", "北京地铁"),
        ("共享单车", "shared bike", "区城管委"), ("停车收费", "parking fee", "区交通委"),
        ("交通信号灯", "traffic light", "交管局"), ("道路破损", "damaged road", "区公路分局"),
        ("网约车", "ride hailing", "市交通委员会"), ("货车限行", "lorry restrictions", "交管局"),
        ("机动车摇号", "car licence lottery", "市小客车指标办"),
    ],
    "papers": [
        ("居住证", "residence permit", "派出所"), ("社保", "social insurance", "区社保中心"),
        ("医保", "medical insurance", "区医保局"), ("户口迁移", "household registration", "派出所"),
        ("营业执照", "business licence", "区市场监管局"), ("公积金", "housing fund", "住房公积金管理中心"),
        ("出入境", "exit and entry", "出入境管理局"), ("结婚登记", "marriage registration", "区民政局"),
        ("残疾证", "disability card", "区残联"), ("退休手续", "retirement", "区人力社保局"),
    ],
    "other": [
        ("消费投诉", "consumer complaint", "区市场监管局"), ("食品安全", "food safety", "区市场监管局"),
        ("宠物扰民", "pets disturbing neighbours", "社区居委会"), ("价格举报", "price report", "市发改委"),
    ],
}
ASKS = ["怎么办", "投诉", "报修", "咨询", "办理流程", "常见问题", "处理规定", "多久处理", "找哪个部门", "需要什么材料"]
ASKS_EN = ["what to do", "complaints", "repairs", "questions", "how to apply", "common questions", "rules",
           "how long it takes", "which office", "documents needed"]
SENTENCES = [
    "市民反映{s}问题时，请先记录{d}{p}的具体地址、楼号和单元号。",
    "{s}问题一般由{o}负责处理，接到派单后须在三个工作日内答复。",
    "如遇紧急情况，请立即拨打110或119。",
    "请告知市民保留照片、票据等证据，便于{o}核实。",
    "{d}的{s}问题较多时，可合并派单并注明“同一地址多次反映”。",
    "市民对处理结果不满意的，可在回访时说明，工单将退回{o}重新办理。",
    "办理时请携带身份证原件及复印件。",
    "工作时间为周一至周五上午九点至下午五点，节假日除外。",
    "{s}相关政策可在“北京通”APP或首都之窗网站查询。",
    "涉及赔偿的纠纷，建议市民申请人民调解或向法院起诉。",
]
SENTENCES_EN = ["When a caller reports a {s} problem, note the exact address in {d}: compound, building, entrance.",
                "{s} problems are handled by {o}; a dispatched case is answered within three working days.",
                "In an emergency tell the caller to dial 110 or 119 at once.",
                "Ask the caller to keep photos and receipts so that {o} can check the facts.",
                "Several calls about {s} at one address in {d} can be bundled into one case.",
                "A caller not satisfied with the answer can say so on the call back; the case returns to {o}.",
                "Bring the original ID card and a copy.", "Office hours are Monday to Friday, 9:00 to 17:00.",
                "The {s} rules are on the Beijing Tong app and the city's portal.",
                "For compensation disputes suggest mediation or a court."]
OFFICES_EN = {"区房管局": "the district housing bureau", "物业公司": "the property company",
              "区供热办": "the district heating office"}


def generate(n: int, seed: int = 19) -> list[dict[str, str]]:
    rng = random.Random(seed)
    topics = list(SUBJECTS)
    rows = []
    for i in range(n):
        topic = rng.choice(topics)
        zh_s, en_s, office = rng.choice(SUBJECTS[topic])
        k = rng.randrange(len(DISTRICTS))
        ask = rng.randrange(len(ASKS))
        if rng.random() < 0.72:
            d, p = DISTRICTS[k], rng.choice(PLACES)
            title = f"{d}{p}{zh_s}{ASKS[ask]}（{i}）"
            body = "".join(rng.choice(SENTENCES).format(s=zh_s, d=d, p=p, o=office) for _ in range(rng.randint(4, 8)))
            rows.append({"id": f"gen-{i}", "title": title, "body": body, "topic": topic,
                         "tags": f"{zh_s},{d}", "language": "zh"})
        else:
            d = DISTRICTS_EN[k]
            o = OFFICES_EN.get(office, "the office in charge")
            title = f"{en_s.capitalize()} in {d}: {ASKS_EN[ask]} ({i})"
            body = " ".join(rng.choice(SENTENCES_EN).format(s=en_s, d=d, o=o) for _ in range(rng.randint(4, 8)))
            rows.append({"id": f"gen-{i}", "title": title, "body": body, "topic": topic,
                         "tags": f"{en_s},{d}", "language": "en"})
    return rows


def queries(n: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pool: list[tuple[str, str]] = []
    for topic, subjects in SUBJECTS.items():
        for zh_s, en_s, _ in subjects:
            pool += [(zh_s, ""), (zh_s[:2], topic), (en_s, ""), (en_s.split()[0], topic)]
    pool += [(f"{rng.choice(DISTRICTS)} {rng.choice(SUBJECTS['housing'])[0]}", "housing") for _ in range(20)]
    pool += [(f"{rng.choice(PLACES)}", "") for _ in range(10)]
    pool += [("lift broken", "housing"), ("taxi receipt", "transport"), ("电梯坏了", "housing"),
             ("漏水严重", "housing")]
    return [rng.choice(pool) for _ in range(n)]



LINES_ZH = [
    "我家楼下的路灯坏了三天了，晚上很黑。", "小区门口的垃圾已经一个星期没有人清理了。",
    "我们楼的电梯又坏了，老人上不去楼。", "楼上漏水，我家天花板都湿了。", "暖气一点都不热，家里只有十五度。",
    "出租车司机绕路还多收费。", "我想问一下居住证怎么办理。", "晚上工地施工太吵了，睡不着觉。",
    "公交车不按站停靠。", "我住在朝阳区幸福小区五号楼。", "你好，我要反映一个问题。",
]
LINES_EN = ["The lift in our building has been broken for a week.", "The taxi driver took a detour and overcharged me.",
            "How do I apply for a residence permit?", "There is a water leak from the flat above.",
            "Nobody collected the rubbish in our compound.", "Hello, I would like to report a problem."]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def line(label: str, ms: list[float], cpu: list[float] | None = None) -> str:
    out = (f"{label:<40} n={len(ms):<4} wall p50 {statistics.median(ms):5.1f} ms p99 {pct(ms, 99):6.1f} ms"
           f" max {max(ms):6.1f} ms")
    if cpu:
        out += f"; store CPU p50 {statistics.median(cpu):5.1f} ms p99 {pct(cpu, 99):5.1f} ms"
    return out + f" (load {os.getloadavg()[0]:.1f})"


class CpuTimed:
    """The store's reads with the CPU time each took on its reader thread (the machine's load
    stretches the wall time, not this)."""

    def __init__(self, db: Database) -> None:
        self.ms: list[float] = []
        self._read = db.read

        async def read(fn: Any, after: str | None = None) -> Any:
            def timed(conn: Any) -> Any:
                t0 = time.thread_time()
                try:
                    return fn(conn)
                finally:
                    self.ms.append((time.thread_time() - t0) * 1000)
            return await self._read(timed, after)
        db.read = read  # type: ignore[method-assign]

    def take(self) -> list[float]:
        out, self.ms = self.ms, []
        return out


class Desk:
    def __init__(self) -> None:
        self.got: asyncio.Queue[float] = asyncio.Queue()

    def to_extension(self, extension: str, msg: dict[str, Any]) -> int:
        self.got.put_nowait(time.perf_counter())
        return 1

    def extensions(self) -> set[str]:
        return {"1001"}


async def timed(folder: Path, n_queries: int) -> None:
    settings = config.load(SITE, {})
    db = Database(folder / "kb.db")
    kb = KnowledgeBase(KnowledgeStore(db), [lang.code for lang in settings.languages],
                       [c["code"] for c in categories(settings)])
    print(f"articles in the file: {await kb.repository.count():,}")  # type: ignore[attr-defined]
    qs = queries(n_queries)
    for q, topic in qs[:20]:  # warm the cache
        await kb.search(q, topic, "zh", 10)
    cpu = CpuTimed(db)
    ms: list[float] = []
    found = 0
    for q, topic in qs:
        t0 = time.perf_counter()
        found += bool(await kb.search(q, topic, "zh" if not q.isascii() else "en", 10))
        ms.append((time.perf_counter() - t0) * 1000)
    print(line("search (one at a time)", ms, cpu.take()), f" {found}/{len(qs)} found something")

    async def one(q: str, topic: str) -> float:
        t0 = time.perf_counter()
        await kb.search(q, topic, "", 10)
        return (time.perf_counter() - t0) * 1000
    together: list[float] = []
    for i in range(0, len(qs), 4):
        together += await asyncio.gather(*(one(q, t) for q, t in qs[i:i + 4]))
    print(line("search (4 at a time)", together, cpu.take()))

    calls = CallRegistry(0.0)
    desk = Desk()
    floor = KnowledgeSuggestions(calls, kb, desk, delay=0.0)
    lines = [(t, "zh") for t in LINES_ZH] + [(t, "en") for t in LINES_EN]
    rng = random.Random(3)
    sample = [rng.choice(lines) for _ in range(max(100, n_queries // 2))]
    wait: list[float] = []
    line_cpu: list[float] = []
    sent = 0
    for i, (text, language) in enumerate(sample):
        uid = f"bench-{i}"
        await floor.handle(ev.AgentConnected(uid, "hl-zh-housing", "PJSIP/1001", "Wang", 3, time.time(),
                                             language=language))
        await floor.idle()  # (no topic in the registry: nothing for the topic)
        cpu.take()
        t0 = time.perf_counter()
        await floor.handle(ev.TranscriptText(uid, "caller", language, "final", text, 1.0, 3.0, 0.9, time.time()))
        await floor.idle()
        if not desk.got.empty():
            wait.append((desk.got.get_nowait() - t0) * 1000)
            line_cpu.append(sum(cpu.take()))  # the line's reads together
            sent += 1
        while not desk.got.empty():
            desk.got.get_nowait()
    print(line("suggestion: caller line -> desk", wait, line_cpu), f" {sent}/{len(sample)} lines suggested")
    await db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=180_000)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--folder", type=Path, default=Path("/var/tmp/hotline-kb"))
    ap.add_argument("--keep", action="store_true", help="keep the CSV and the database file")
    ap.add_argument("--reuse", action="store_true", help="time the queries on the file a --keep run left")
    args = ap.parse_args()
    folder: Path = args.folder
    folder.mkdir(parents=True, exist_ok=True)
    if args.reuse:
        asyncio.run(timed(folder, args.queries))
        return
    for old in folder.glob("kb.db*"):
        old.unlink()
    t0 = time.perf_counter()
    rows = generate(args.articles)
    data = folder / "kb.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["id", "title", "body", "topic", "tags", "language"])
        w.writeheader()
        w.writerows(rows)
    zh = sum(r["language"] == "zh" for r in rows)
    print(f"generated {len(rows):,} articles ({zh:,} Mandarin, {len(rows) - zh:,} English) in "
          f"{time.perf_counter() - t0:.1f} s; CSV {data.stat().st_size / 1e6:.0f} MB")
    env = {"HOTLINE_DATABASE": str(folder / "kb.db"), "PATH": "/usr/bin:/bin"}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "hotline.cli", "--site", str(SITE), "kb", "import", str(data)],
                         capture_output=True, text=True, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT / "src")},
                         check=False)
    took = time.perf_counter() - t0
    print(f"hotline kb import: {out.stdout.strip()} (exit {out.returncode}); wall {took:.1f} s, "
          f"{len(rows) / took:,.0f} articles/s; file {(folder / 'kb.db').stat().st_size / 1e6:.0f} MB")
    if out.returncode:
        print(out.stderr[-2000:])
        raise SystemExit(1)
    asyncio.run(timed(folder, args.queries))
    if not args.keep:
        for f in folder.glob("kb.*"):
            f.unlink()


if __name__ == "__main__":
    main()
