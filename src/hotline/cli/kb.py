"""``hotline kb``: the knowledge base in the database file: ``import FILE`` (CSV or JSON: title,
body, topic, tags, language; an optional id), ``search WORDS``. Works on the file directly, the
service running or not (each chunk of the import is one short transaction)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from hotline.cli.common import load_settings

CHUNK = 500  # articles per transaction: a running service's writes wait at most one chunk (~0.1 s)


def _format(path: Path, given: str | None) -> str:
    if given:
        return given
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json"):
        return suffix[1:]
    raise SystemExit(f"hotline: say --format csv or --format json ({path.name} ends in neither)")


def cmd_kb(args: argparse.Namespace) -> int:
    from hotline.assist.kb import KnowledgeBase, KnowledgeError
    from hotline.assist.kb_store import KnowledgeStore
    from hotline.cases import form
    from hotline.storage.database import Database

    settings = load_settings(args)
    topics = [c["code"] for c in form.categories(settings)]
    languages = [lang.code for lang in settings.languages]

    path = Path(args.file) if args.action == "import" else Path()
    text = ""
    if args.action == "import":
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"hotline: cannot read {path}: {exc}", file=sys.stderr)
            return 2

    async def run() -> int:
        db = Database(settings.database)
        kb = KnowledgeBase(KnowledgeStore(db), languages, topics)
        try:
            if args.action == "search":
                words = " ".join(args.words)
                for a in await kb.search(words, args.topic or "", args.language or "", args.limit):
                    print(f"{a['id']:>7}  {a['language']:<3} {a['topic'] or '-':<10} {a['helped']:>4} helped  "
                          f"{a['title']}")
                return 0
            parsed = kb.parse(text, _format(path, args.format))
            started = time.monotonic()
            totals = [0, 0, 0]
            for i in range(0, len(parsed.articles), CHUNK):
                counts = await kb.import_articles(parsed.articles[i:i + CHUNK], time.time())
                totals = [t + c for t, c in zip(totals, counts, strict=True)]
            for number, why in parsed.refused[:args.show_refused]:
                print(f"row {number}: {why}", file=sys.stderr)
            if len(parsed.refused) > args.show_refused:
                print(f"... and {len(parsed.refused) - args.show_refused} more refused rows", file=sys.stderr)
            print(f"{path.name}: imported {totals[0]}, updated {totals[1]}, unchanged {totals[2]}, "
                  f"refused {len(parsed.refused)} ({time.monotonic() - started:.1f} s)")
            return 1 if parsed.refused else 0
        except KnowledgeError as exc:
            print(f"hotline: {exc}", file=sys.stderr)
            return 2
        finally:
            await db.close()
    return asyncio.run(run())


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kb = sub.add_parser("kb", help="the knowledge base: import articles (CSV or JSON), search them")
    kb_sub = kb.add_subparsers(dest="action", required=True)
    imp = kb_sub.add_parser("import", help="import articles from FILE (new ones added, changed ones updated)")
    imp.add_argument("file")
    imp.add_argument("--format", choices=["csv", "json"], help="default: from the file's name (.csv, .json)")
    imp.add_argument("--show-refused", type=int, default=50, help="print at most N refused rows (default 50)")
    imp.set_defaults(fn=cmd_kb)
    find = kb_sub.add_parser("search", help="search the articles as the desk's search box does")
    find.add_argument("words", nargs="+")
    find.add_argument("--topic", help="rank this topic's articles first")
    find.add_argument("--language", help="rank this language's articles first")
    find.add_argument("--limit", type=int, default=10)
    find.set_defaults(fn=cmd_kb)
