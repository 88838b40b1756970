"""The knowledge base (issue 19): articles operators read during a call, imported from CSV or
JSON, found like cases (CJK as bigrams), suggested from the caller's words and the call's topic,
counted when they helped.

Pure rules here: an import row checked and keyed (``parse_csv``, ``parse_json``, ``check_row``),
the words a caller's line is searched by (``line_terms``, ``rare_terms``), the ranking's boosts;
and ``KnowledgeBase``, the service the CLI, the web and the floor use, over the repository
protocol it owns (assist/kb_store.py: SQLite, FTS5).
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hotline.cases.text_index import index_text, match_query
from hotline.errors import HotlineError

COLUMNS = ("id", "title", "body", "topic", "tags", "language")
LIMITS = {"id": 100, "title": 300, "body": 20_000, "topic": 40, "tags": 500, "language": 10}
_CODE = re.compile(r"^[a-z0-9_-]*$")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f\uf900-\ufaff"
_TOKEN = re.compile(f"[{_CJK}]+|[^\\W_]+", re.UNICODE)
_IS_CJK = re.compile(f"[{_CJK}]")
TOPIC_BOOST = 0.6  # an article of the call's topic ranks as if it matched 1.6 times as well
LANGUAGE_BOOST = 0.3  # in the caller's language
MAX_TERMS = 8  # a caller's line is searched by at most its 8 rarest words
COMMON_SHARE = 0.02  # a word in more than 2% of the articles (and 50 of them) says nothing about one


class KnowledgeError(HotlineError, ValueError):
    error_id = "bad-request"
    status = 400


class ArticleUnknown(HotlineError, LookupError):
    error_id = "article-unknown"
    status = 404


@dataclass(frozen=True)
class Article:
    """One row to import: ``key`` is the stable key an import updates by (its id, else title + language)."""

    key: str
    title: str
    body: str
    topic: str
    tags: str
    language: str

    def index(self) -> tuple[str, str, str]:
        """The full-text index's title, body and tags (CJK as bigrams)."""
        return index_text(self.title), index_text(self.body), index_text(self.tags.replace(",", " "))


@dataclass
class Parsed:
    """What a file held: the good rows, and for each refused one its number and why."""

    articles: list[Article] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise KnowledgeError(f"{name} must be text")
    return unicodedata.normalize("NFC", str(value)).strip()


def _tags(value: Any) -> str:
    if isinstance(value, list):
        items = [_text(v, "tags") for v in value]
    else:
        items = re.split(r"[,;，；、]", _text(value, "tags"))
    return ",".join(dict.fromkeys(t.strip() for t in items if t.strip()))


def check_row(row: dict[str, Any], languages: Sequence[str], topics: Sequence[str]) -> Article:
    """One import row as an article, or ``KnowledgeError`` saying what is wrong with it.
    ``languages``/``topics``: the site's codes (an empty topic is general)."""
    unknown = sorted(str(k)[:40] for k in row if k not in COLUMNS and k not in ("", None))
    if unknown:
        raise KnowledgeError(f"unknown column(s): {', '.join(unknown[:5])} (columns: {', '.join(COLUMNS)})")
    got = {k: (_tags(row.get(k)) if k == "tags" else _text(row.get(k), k)) for k in COLUMNS}
    for name in ("title", "body", "language"):
        if not got[name]:
            raise KnowledgeError(f"{name} is empty")
    for name, limit in LIMITS.items():
        if len(got[name]) > limit:
            raise KnowledgeError(f"{name} is longer than {limit} characters")
    got["language"], got["topic"] = got["language"].lower(), got["topic"].lower()
    if got["language"] not in languages:
        raise KnowledgeError(f"language {got['language']!r} is not one of the site's ({', '.join(languages)})")
    if got["topic"] and got["topic"] not in topics:
        raise KnowledgeError(f"topic {got['topic']!r} is not one of the site's ({', '.join(topics)}) or empty")
    if not _CODE.match(got["topic"]):
        raise KnowledgeError("topic must be a code")
    title_key = " ".join(got["title"].casefold().split())
    key = f"id:{got['id']}" if got["id"] else f"title:{got['language']}:{title_key}"
    return Article(key, got["title"], got["body"], got["topic"], got["tags"], got["language"])


def _check_all(rows: Iterable[tuple[int, Any]], languages: Sequence[str], topics: Sequence[str]) -> Parsed:
    out = Parsed()
    seen: dict[str, int] = {}
    for number, row in rows:
        try:
            if isinstance(row, str):  # the reader's own complaint about the row
                raise KnowledgeError(row)
            if not isinstance(row, dict):
                raise KnowledgeError("must be an object with the columns " + ", ".join(COLUMNS))
            article = check_row(row, languages, topics)
        except KnowledgeError as exc:
            out.refused.append((number, str(exc)))
            continue
        if article.key in seen:
            out.refused.append((number, f"the same article as row {seen[article.key]} (same id, or title and "
                                        "language)"))
            continue
        seen[article.key] = number
        out.articles.append(article)
    return out


def parse_csv(text: str, languages: Sequence[str], topics: Sequence[str]) -> Parsed:
    """A CSV file with a header row (id optional; title, body, topic, tags, language); rows are
    numbered as a spreadsheet shows them (the header is row 1)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in ("title", "body", "language") if c not in header]
    if missing:
        raise KnowledgeError(f"the header row has no {', '.join(missing)} column (columns: {', '.join(COLUMNS)})")
    reader.fieldnames = header

    def rows() -> Iterator[tuple[int, Any]]:
        try:
            for row in reader:
                extra = row.pop(None, None)
                if extra:
                    yield reader.line_num, "more fields than the header has (a comma in an unquoted field?)"
                else:
                    yield reader.line_num, row
        except csv.Error as exc:
            raise KnowledgeError(f"line {reader.line_num}: not CSV: {exc}") from None
    return _check_all(rows(), languages, topics)


def parse_json(text: str, languages: Sequence[str], topics: Sequence[str]) -> Parsed:
    """A JSON array of objects (or ``{"articles": [...]}``); rows are numbered from 1."""
    try:
        data = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise KnowledgeError(f"not JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    if not isinstance(data, list):
        raise KnowledgeError('expected a JSON array of articles (or {"articles": [...]})')
    return _check_all(enumerate(data, 1), languages, topics)


# -- searching -----------------------------------------------------------------------------------

def line_terms(text: str) -> list[str]:
    """The index terms of a caller's line, in order, once each: CJK runs as bigrams, other words
    lower-cased (as the tokenizer keeps them), words of one or two letters left out."""
    out: list[str] = []
    for token in _TOKEN.findall(unicodedata.normalize("NFC", text or "")):
        if _IS_CJK.match(token):
            out += [token] if len(token) == 1 else [token[i:i + 2] for i in range(len(token) - 1)]
        elif len(token) >= 3 and not token.isdigit():
            out.append(token.casefold())
    return [t for t in dict.fromkeys(out) if len(t) > 1 or not _IS_CJK.match(t)]


def common_count(total: int) -> int:
    """In more articles than this a word says nothing about one: ``COMMON_SHARE`` of them, at least 50."""
    return max(50, int(total * COMMON_SHARE))


def rare_terms(counts: dict[str, int], total: int, limit: int = MAX_TERMS) -> list[str]:
    """The terms that say most about an article: found in some article but not in too many
    (``common_count``), the rarest first, at most ``limit``."""
    common = common_count(total)
    kept = [t for t, n in counts.items() if 0 < n <= common]
    return sorted(kept, key=lambda t: (counts[t], t))[:limit]


def any_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH for articles with any of ``terms`` (each quoted: taken as plain text)."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def boosted(rank: float, row: dict[str, Any], topic: str, language: str) -> float:
    """bm25's rank (negative: lower is better) with the call's topic and language counting for more."""
    factor = 1.0 + (TOPIC_BOOST if topic and row.get("topic") == topic else 0.0)
    factor += LANGUAGE_BOOST if language and row.get("language") == language else 0.0
    return rank * factor


class KnowledgeRepository(Protocol):
    """What the knowledge base keeps (assist/kb_store.py)."""

    async def upsert(self, articles: Sequence[Article], at: float) -> tuple[int, int, int]: ...
    async def search(self, words: str, topic: str, language: str, limit: int) -> list[dict[str, Any]]: ...
    async def suggest(self, terms: Sequence[str], topic: str, language: str,
                      limit: int) -> tuple[list[str], list[dict[str, Any]]]: ...
    async def for_topic(self, topic: str, language: str, limit: int) -> list[dict[str, Any]]: ...
    async def article(self, article_id: int) -> dict[str, Any] | None: ...
    def viewed(self, article_id: int) -> None: ...
    async def helped(self, article_id: int, uniqueid: str, username: str, at: float) -> tuple[bool, int]: ...


class KnowledgeBase:
    """The knowledge base's operations, for the CLI (import), the desk's search box and panel (the
    web) and the suggestions (floor/knowledge.py)."""

    def __init__(self, repository: KnowledgeRepository, languages: Sequence[str], topics: Sequence[str]) -> None:
        self.repository = repository
        self.languages = list(languages)
        self.topics = list(topics)

    def parse(self, text: str, fmt: str) -> Parsed:
        if fmt == "csv":
            return parse_csv(text, self.languages, self.topics)
        if fmt == "json":
            return parse_json(text, self.languages, self.topics)
        raise KnowledgeError("the format is csv or json")

    async def import_articles(self, articles: Sequence[Article], at: float) -> tuple[int, int, int]:
        """Insert new articles and update changed ones (by key): (imported, updated, unchanged)."""
        return await self.repository.upsert(articles, at)

    async def search(self, words: str, topic: str = "", language: str = "", limit: int = 10) -> list[dict[str, Any]]:
        """Articles with every word (CJK: the characters as written); when none has all of them,
        those with the rarest of them. The call's topic and language rank first among equals."""
        if not match_query(words):
            raise KnowledgeError("nothing to search for")
        found = await self.repository.search(words, topic, language, limit)
        if found:
            return found
        return (await self.repository.suggest(line_terms(words), topic, language, limit))[1]

    async def suggest(self, text: str, topic: str, language: str,
                      limit: int = 3) -> tuple[list[str], list[dict[str, Any]]]:
        """What a caller's words (the last lines) suggest: the words searched by, the articles."""
        terms = line_terms(text)
        if not terms:
            return [], []
        return await self.repository.suggest(terms, topic, language, limit)

    async def for_topic(self, topic: str, language: str, limit: int = 3) -> list[dict[str, Any]]:
        """The articles of a topic that helped most (before the caller has said anything)."""
        return await self.repository.for_topic(topic, language, limit) if topic else []

    async def article(self, article_id: int) -> dict[str, Any]:
        found = await self.repository.article(article_id)
        if found is None:
            raise ArticleUnknown(f"no article {article_id}")
        self.repository.viewed(article_id)
        return found

    async def helped(self, article_id: int, uniqueid: str, username: str, at: float) -> tuple[bool, int]:
        """The operator says the article helped on this call: counted once per article and case.
        (counted now, the article's helped count)."""
        if await self.repository.article(article_id) is None:
            raise ArticleUnknown(f"no article {article_id}")
        return await self.repository.helped(article_id, uniqueid, username, at)
