"""Chinese address normalisation: one canonical spelling for what callers say in many ways.

Full-width → half-width, traditional → simplified for address characters, Chinese numerals → digits,
`#`/號/号院 → 号, administrative prefixes (省/市/区, 街道, 社区) and trailing noise (附近, 对面…) removed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_TRADITIONAL = str.maketrans(
    {
        "號": "号",
        "區": "区",
        "門": "门",
        "樓": "楼",
        "單": "单",
        "園": "园",
        "條": "条",
        "廣": "广",
        "場": "场",
        "東": "东",
        "陽": "阳",
        "華": "华",
        "車": "车",
        "站": "站",
        "橋": "桥",
        "灣": "湾",
        "莊": "庄",
        "鎮": "镇",
        "縣": "县",
        "巿": "市",
    }
)
_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百]+(?=[号栋楼单层室])")
_PREFIXES = re.compile(
    r"^(中国|中華人民共和国|中华人民共和国)?([\u4e00-\u9fff]{2,3}省)?([\u4e00-\u9fff]{2,3}市)?"
)
_NOISE = re.compile(r"(附近|旁边|旁|对面|门口|东侧|西侧|南侧|北侧|一带|周边|那里|这里)+$")
_PUNCT = re.compile(r"[\s,，。.、;；:：'\"“”‘’()（）\[\]【】<>《》\-—_/\\|~·!！?？]+")
_ALIASES = (
    ("号院", "号"),
    ("#", "号"),
    ("栋", "号楼"),
    ("幢", "号楼"),
    ("号号楼", "号楼"),
    ("小区", ""),
)
_HOUSE = re.compile(r"^(?P<road>.*?(?:大道|大街|胡同|路|街|巷|道))(?P<num>\d+)(?:号)?(?!\d|号楼|楼)")
_LOOSE_HOUSE = re.compile(r"^(?P<road>\D{2,})(?P<num>\d+)号$")  # 御河北12号: the 路 left out


def _numeral(text: str) -> str:
    """Convert a Chinese numeral below 1,000 (十二, 二十, 一百零五) to its digits."""
    total, current = 0, 0
    for ch in text:
        if ch == "百":
            total += (current or 1) * 100
            current = 0
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = current * 10 + _DIGITS[ch] if current and text.find("十") < 0 else _DIGITS[ch]
    return str(total + current)


def normalize(text: str, *, drop: tuple[str, ...] = ()) -> str:
    """The canonical form of an address text; `drop` lists more prefixes to remove (平城区, 街道 names)."""
    t = unicodedata.normalize("NFKC", text).translate(_TRADITIONAL).lower()
    t = _PUNCT.sub("", t)
    t = _NUMERAL.sub(lambda m: _numeral(m.group(0)), t)
    for old, new in _ALIASES:
        t = t.replace(old, new)
    t = _PREFIXES.sub("", t)
    changed = True
    while changed:  # prefixes may come in any order: 平城区御河街道… or 御河街道平城区…
        changed = False
        for prefix in drop:
            if prefix and t.startswith(prefix) and len(t) > len(prefix):
                t = t[len(prefix) :]
                changed = True
    return _NOISE.sub("", t)


@dataclass(frozen=True)
class HouseNumber:
    road: str
    number: int


def house_number(normalized: str) -> HouseNumber | None:
    """Road and number of a `…路12号` style address (normalised text), or None."""
    m = _HOUSE.match(normalized) or _LOOSE_HOUSE.match(normalized)
    if m is None or not m.group("road"):
        return None
    return HouseNumber(m.group("road"), int(m.group("num")))
