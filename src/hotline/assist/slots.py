"""Slot filling: suggested form values from one line of what the caller said (pure, no I/O).

From a transcript line: phone numbers (Arabic digits, Chinese numerals with 幺 for one and 两 for
two, English digit words with "double"/"triple"; 11-digit mobiles, landlines with or without the
area code), the site's districts (their own names, the site's other names for them, Beijing's
Chinese names), addresses (Chinese road, estate, building and room patterns; English
"<number> <Name> Road/Street") and a category from the site's keywords. Each suggestion keeps the
words it came from (``source``: ``text[start:end]``), so the desk can show why it is offered.
Nothing here fills a form: the operator accepts a suggestion or ignores it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# the form field each slot fills (a phone number goes to the notes: the form has no phone field)
FIELDS = {"category": "category", "district": "district", "address": "address", "phone": "notes"}

# Beijing's sixteen districts as the site file may write them, and their Chinese names
BEIJING = {
    "dongcheng": "东城区", "xicheng": "西城区", "chaoyang": "朝阳区", "haidian": "海淀区", "fengtai": "丰台区",
    "shijingshan": "石景山区", "mentougou": "门头沟区", "fangshan": "房山区", "tongzhou": "通州区",
    "shunyi": "顺义区", "changping": "昌平区", "daxing": "大兴区", "huairou": "怀柔区", "pinggu": "平谷区",
    "miyun": "密云区", "yanqing": "延庆区",
}

CN_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5",
             "六": "6", "七": "7", "八": "8", "九": "9"}
EN_DIGITS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
             "six": "6", "seven": "7", "eight": "8", "nine": "9"}
REPEAT = {"double": 2, "triple": 3}
SEPARATORS = set(" \t-‐–—,，、.·")  # what may stand between the digits of one number
STRONG = set(",，、")  # between two numbers said one after the other
MIN_DIGITS, MAX_DIGITS = 7, 12

CJK = "\u4e00-\u9fff"
NUM = r"[0-9０-９一二三四五六七八九十百零〇两幺]+"
# a road or street (not 路灯 "street lamp", 路口 "crossing", 街上 "in the street" ...), an estate,
# then buildings, units and rooms
ROAD = rf"[{CJK}]+?(?:大街|大道|胡同|路|街|巷)(?![灯口上边面况线旁人道])(?:{NUM}号(?![楼院]))?"
ESTATE = rf"[{CJK}]+?(?:小区|花园|公寓|大厦|家园|社区|新村)"
BUILDING = rf"{NUM}(?:号楼|号院|单元|栋|幢|座|层|楼|室|号)"
CN_ADDRESS = re.compile(rf"(?:{ROAD}|{ESTATE})(?:{ROAD}|{ESTATE}|{BUILDING})*")
FIRST_UNIT = re.compile(rf"^(?:{ROAD}|{ESTATE})")
# what comes before an address in a sentence: cut up to the last of them
UNIT_WORD = re.compile(rf"(?:大街|大道|胡同|小区|花园|公寓|大厦|家园|社区|新村|路|街|巷)(?:{NUM}号)?$")
NAMED = re.compile("大街|大道|胡同|小区|花园|公寓|大厦|家园|社区|新村|路|街|巷")
CUES = re.compile(r"^.*(?:地址是|地址|住在|家在|位于|在|住|是|到|去)")
LEADING = "我你他她们的家这那个就"
EN_ADDRESS = re.compile(r"\b(?:[Nn]o\.?\s*)?(\d{1,5})\s+((?:[A-Z][A-Za-z'-]*\s+){1,3})"
                        r"(Road|Street|Avenue|Lane|Hutong|Alley|Rd|St|Ave)\b\.?")
STREET_AFTER = re.compile(r"^\s*(?:road|street|avenue|lane|rd|st|ave)\b|^(?:路|街|大街|大道|门|桥)", re.I)


@dataclass(frozen=True)
class Suggestion:
    slot: str  # phone | district | address | category
    value: str  # what accepting writes (a district as the site names it, a category code, digits)
    start: int  # the words it came from: text[start:end] of the line
    end: int
    source: str

    @property
    def field(self) -> str:
        """The form field it fills."""
        return FIELDS[self.slot]

    def to_json(self) -> dict[str, object]:
        return {"slot": self.slot, "field": self.field, "value": self.value, "source": self.source,
                "start": self.start, "end": self.end}


def _cjk(word: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in word)


def _find(word: str, text: str, lowered: str) -> Iterable[int]:
    """Where ``word`` occurs in ``text``: CJK anywhere, Latin words only whole and in any case."""
    if _cjk(word):
        start = text.find(word)
        while start >= 0:
            yield start
            start = text.find(word, start + len(word))
        return
    for m in re.finditer(rf"(?<![A-Za-z0-9]){re.escape(word.lower())}(?![A-Za-z0-9])", lowered):
        yield m.start()


# -- phone numbers --------------------------------------------------------------------------------

def _digit_tokens(text: str) -> list[tuple[int, int, str]]:
    """(start, end, digits) for every digit in the line: an Arabic or full-width digit, a Chinese
    numeral, an English digit word ("double five" is two)."""
    tokens: list[tuple[int, int, str]] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isascii() and c.isdigit():
            tokens.append((i, i + 1, c))
        elif "０" <= c <= "９":
            tokens.append((i, i + 1, str(ord(c) - ord("０"))))
        elif c in CN_DIGITS:
            tokens.append((i, i + 1, CN_DIGITS[c]))
        elif c.isascii() and c.isalpha():
            m = re.match(r"[A-Za-z]+", text[i:])
            assert m is not None
            word = m.group().lower()
            j = i + len(word)
            if word in EN_DIGITS:
                tokens.append((i, j, EN_DIGITS[word]))
            elif word in REPEAT:
                nxt = re.match(r"[\s-]+([A-Za-z]+|\d)", text[j:])
                said = nxt.group(1).lower() if nxt else ""
                digit = EN_DIGITS.get(said, said if said.isdigit() else "")
                if digit:
                    j += nxt.end() if nxt else 0
                    tokens.append((i, j, digit * REPEAT[word]))
            i = j
            continue
        i += 1
    return tokens


def _phone_kind(digits: str) -> bool:
    if len(digits) == 11 and re.match(r"^1[3-9]", digits):
        return True  # a mobile
    if digits.startswith("0"):
        return 10 <= len(digits) <= 12  # a landline with its area code (010 8888 6666)
    return len(digits) in (7, 8)  # a landline without it


def phones(text: str) -> list[Suggestion]:
    out: list[Suggestion] = []
    runs: list[list[tuple[int, int, str]]] = []
    for tok in _digit_tokens(text):
        gap = text[runs[-1][-1][1]:tok[0]] if runs else None
        if gap is not None and all(c in SEPARATORS for c in gap) and len(gap) <= 3:
            runs[-1].append(tok)
        else:
            runs.append([tok])
    for run in runs:
        for group in _numbers(text, run):
            start, end = group[0][0], group[-1][1]
            out.append(Suggestion("phone", "".join(t[2] for t in group), start, end, text[start:end]))
    return out


def _valid(group: list[tuple[int, int, str]]) -> bool:
    digits = "".join(t[2] for t in group)
    return MIN_DIGITS <= len(digits) <= MAX_DIGITS and _phone_kind(digits)


def _numbers(text: str, run: list[tuple[int, int, str]]) -> list[list[tuple[int, int, str]]]:
    """The phone numbers in a run of digits: the whole run, or, when that is none, the groups between
    commas that make one ("13901285678, 13812345678" is two; "139, 0128, 5678" is one)."""
    if _valid(run):
        return [run]
    parts: list[list[tuple[int, int, str]]] = [[run[0]]]
    for prev, tok in itertools.pairwise(run):
        if STRONG & set(text[prev[1]:tok[0]]):
            parts.append([tok])
        else:
            parts[-1].append(tok)
    found: list[list[tuple[int, int, str]]] = []
    group: list[tuple[int, int, str]] = []
    for part in parts:
        if group and _valid(group) and not _valid(group + part):
            found.append(group)
            group = []
        group = group + part
    if group and _valid(group):
        found.append(group)
    return found


# -- districts, addresses, categories ---------------------------------------------------------------

class SlotRules:
    """The site's districts (with their other names) and category keywords, ready to match."""

    def __init__(self, districts: Sequence[str], aliases: Mapping[str, Sequence[str]] | None = None,
                 keywords: Mapping[str, Sequence[str]] | None = None) -> None:
        aliases = aliases or {}
        self.district_names: list[tuple[str, str]] = []  # (spoken name, the district), longest first
        for d in districts:
            names = {d, *aliases.get(d, ())}
            chinese = BEIJING.get(re.sub(r"\s*district$", "", d.strip().lower()))
            if chinese:
                names.add(chinese)
            if _cjk(d) and d.endswith("区") and len(d) > 2:
                names.add(d[:-1])  # 朝阳 for 朝阳区 (not before 路, 街, 门: see STREET_AFTER)
            if not _cjk(d):
                names.add(d + " District")
            self.district_names += [(n, d) for n in names if n.strip()]
        self.district_names.sort(key=lambda p: -len(p[0]))
        self.keywords = [(w, code) for code, words in (keywords or {}).items() for w in words]
        self.keywords.sort(key=lambda p: -len(p[0]))

    def extract(self, text: str) -> list[Suggestion]:
        """Every suggestion in one line, in the order of the line."""
        found = [*phones(text), *self.districts(text), *self.addresses(text), *self.categories(text)]
        return sorted(found, key=lambda s: (s.start, s.slot))

    def districts(self, text: str) -> list[Suggestion]:
        lowered = text.lower()
        taken: list[tuple[int, int]] = []
        out: list[Suggestion] = []
        for name, district in self.district_names:
            for start in _find(name, text, lowered):
                end = start + len(name)
                if any(s < end and start < e for s, e in taken) or STREET_AFTER.match(text[end:]):
                    continue  # inside a longer name already found, or a road named after it
                taken.append((start, end))
                if all(s.value != district for s in out):
                    out.append(Suggestion("district", district, start, end, text[start:end]))
        return out

    def _district_prefix(self, name: str) -> str:
        """``name`` without a district name it starts with (the district is a field of its own)."""
        for spoken, _ in self.district_names:
            if (name.lower().startswith(spoken.lower()) and len(name) > len(spoken)
                    and not STREET_AFTER.match(name[len(spoken):])):  # 朝阳路 is a road, not 朝阳 + 路
                return name[len(spoken):]
        return name

    def addresses(self, text: str) -> list[Suggestion]:
        out: list[Suggestion] = []
        for m in CN_ADDRESS.finditer(text):
            address = m.group()
            named = [n.start() for n in NAMED.finditer(address)]
            # what the caller said before it, up to the last cue before the last road or estate:
            # "我住在朝阳区幸福小区5号楼" -> "朝阳区幸福小区5号楼", "我们小区是阳光花园3栋" -> "阳光花园3栋"
            cue = CUES.match(address[:named[-1]]) if named else None
            address = address[cue.end():] if cue else address
            address = self._district_prefix(address).lstrip(LEADING)
            first = FIRST_UNIT.match(address)
            if first is None or len(UNIT_WORD.sub("", first.group())) < 2:
                continue  # "小区门口", "路上": no name before the road or estate
            start = m.end() - len(address)
            out.append(Suggestion("address", address, start, m.end(), address))
        for m in EN_ADDRESS.finditer(text):
            value = f"{m.group(1)} {m.group(2).strip()} {m.group(3)}"
            out.append(Suggestion("address", value, m.start(), m.end(), m.group()))
        return out

    def categories(self, text: str) -> list[Suggestion]:
        """The category whose keywords the line says most often (the first said on a tie)."""
        lowered = text.lower()
        hits: dict[str, list[tuple[int, str]]] = {}
        taken: list[tuple[int, int]] = []
        for word, code in self.keywords:
            for start in _find(word, text, lowered):
                end = start + len(word)
                if any(s < end and start < e for s, e in taken):
                    continue
                taken.append((start, end))
                hits.setdefault(code, []).append((start, word))
        if not hits:
            return []
        code, words = max(hits.items(), key=lambda kv: (len(kv[1]), -min(kv[1])[0]))
        start, word = min(words)
        return [Suggestion("category", code, start, start + len(word), text[start:start + len(word)])]
