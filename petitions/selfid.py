"""Self-identifying details in the text of an anonymous petition.

Before an anonymous petition is submitted (and when information is added later) the text
and captions are scanned for details that give the employee away: phone numbers, 身份证,
e-mail addresses, bank cards, staff numbers and "我是张三"-style self-naming. The
conversation shows what was found and offers to edit, mask (:func:`mask`) or keep; this
module never blocks anything and does no I/O.

Matching runs on a *folded* copy of the text in which full-width forms (０-９, ＋, －, （）,
＠), ideographic spaces and typographic dashes become their ASCII equivalents. Folding maps
every character to exactly one character, so offsets in the folded copy are offsets in the
original text and findings can be reported (and masked) in what the employee wrote.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

__all__ = [
    "MASK",
    "Finding",
    "Kind",
    "compile_staff_pattern",
    "find_identifying",
    "mask",
]

MASK = "▇▇"


class Kind(StrEnum):
    """What sort of detail a finding is (the value is a stable code for message ids)."""

    MOBILE = "mobile"
    LANDLINE = "landline"
    ID_CARD = "id_card"
    EMAIL = "email"
    BANK_CARD = "bank_card"
    STAFF_NO = "staff_no"
    NAME = "name"


@dataclass(frozen=True)
class Finding:
    """One detail: ``text[start:end]`` of the scanned text."""

    kind: Kind
    start: int
    end: int

    def value(self, text: str) -> str:
        """Return the detail as written in ``text`` (the text that was scanned)."""
        return text[self.start : self.end]


# When spans overlap the more specific (and more dangerous) reading wins: an 18-digit number
# that is a valid 身份证 is reported as one even if it also passes the Luhn check.
_RANK = {
    Kind.ID_CARD: 0,
    Kind.BANK_CARD: 1,
    Kind.MOBILE: 2,
    Kind.LANDLINE: 3,
    Kind.EMAIL: 4,
    Kind.STAFF_NO: 5,
    Kind.NAME: 6,
}
# Kinds that are never reported inside the system's own case numbers and tracking codes.
_NUMERIC = frozenset({Kind.ID_CARD, Kind.BANK_CARD, Kind.MOBILE, Kind.LANDLINE, Kind.STAFF_NO})


def _fold_table() -> dict[int, str]:
    table = {code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}  # full-width ASCII
    for code in (0x00A0, 0x3000, 0x202F, 0x205F, *range(0x2000, 0x200B)):
        table[code] = " "
    for code in (*range(0x2010, 0x2016), 0x2212, 0xFE58, 0xFE63):
        table[code] = "-"
    return table


_FOLD = _fold_table()

# --- numbers -------------------------------------------------------------------------------
# A number must not be glued to letters or digits (no match inside a longer digit run, an
# order number or a code) nor be the fraction of a decimal such as 3.14159265358.
_L = r"(?<![0-9A-Za-z])(?<![0-9]\.)"
_R = r"(?![0-9A-Za-z])(?!\.[0-9])"
# Between digit groups: one space, or a dash with optional spaces around it.
_S = r"(?: ?- ?| )"

_MOBILE = re.compile(
    _L
    + rf"(?:(?:\(?(?:\+|00) ?86\)?|86){_S}?)?"
    + rf"1[3-9][0-9](?:[0-9]{{8}}|{_S}[0-9]{{4}}{_S}[0-9]{{4}}"
    + rf"|{_S}[0-9]{{8}}|[0-9]{{4}}{_S}[0-9]{{4}})"
    + _R
)
_LANDLINE = re.compile(
    _L
    + rf"(?:\(0[1-9][0-9]{{1,2}}\)|0[1-9][0-9]{{1,2}}){_S}?"
    + rf"[1-9][0-9]{{2,3}}{_S}?[0-9]{{4}}"
    + r"(?: ?(?:转|分机|[Ee]xt\.?|[Xx]|-) ?[0-9]{1,6})?"
    + _R
)
# Groups are either absent or between every group, so that several numbers listed with
# spaces are not glued together into one long "card".
_ID18 = re.compile(
    _L
    + r"[1-8][0-9]{5}(?:[0-9]{11}"
    + rf"|{_S}[0-9]{{8}}{_S}[0-9]{{3}}"
    + rf"|{_S}[0-9]{{4}}{_S}[0-9]{{4}}{_S}[0-9]{{3}})[0-9Xx]"
    + _R
)
_ID15 = re.compile(_L + rf"[1-8][0-9]{{5}}(?:[0-9]{{9}}|{_S}[0-9]{{6}}{_S}[0-9]{{3}})" + _R)
_BANK = re.compile(
    _L + rf"[1-9][0-9]{{3}}(?:[0-9]{{12,15}}|(?:{_S}[0-9]{{4}}){{3}}(?:{_S}[0-9]{{1,3}})?)" + _R
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# --- e-mail --------------------------------------------------------------------------------
# The look-behind starts a match only at the beginning of an address-like run, which keeps
# the scan linear on long runs of letters; the top-level domain is checked in code.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@"
    r"[A-Za-z0-9\-]+(?:[.\u3002][A-Za-z0-9\-]+)+"
)
_DOMAIN_DOT = re.compile(r"[.\u3002]")

# --- things that look like numbers but are the system's own ---------------------------------
# Public case numbers and tracking codes (petitions.codes) are not about the employee.
_CASE_NUMBER = re.compile(r"(?<![0-9A-Za-z])[Xx][Ff]-[0-9]{4}-[0-9]{6,}(?![0-9])")
_TRACKING = re.compile(r"(?<![0-9A-Za-z\-])[0-9A-Za-z]{4}(?:-[0-9A-Za-z]{4}){3}(?![0-9A-Za-z\-])")


# --- names ---------------------------------------------------------------------------------
def _by_first_char(words: str) -> dict[str, tuple[str, ...]]:
    # Word lists indexed by first character: a name check then looks at a handful of words.
    index: dict[str, list[str]] = {}
    for word in words.split():
        index.setdefault(word[0], []).append(word)
    return {first: tuple(group) for first, group in index.items()}


# The ~100 most common surnames (they cover about 85 % of people) and some more that are
# seldom ordinary words; chars such as 车, 党, 文, 安 or 关 are left out on purpose because
# "我是车间工人" or "本人关于…" are far more common than people of those names.
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许邓韩冯曹彭曾肖田董潘袁蔡蒋余于杜叶"
    "程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛"
    "郝顾龚邵万覃武钱戴严莫孔向常汤"
    "康施牛樊葛邢乔伍庞颜倪庄聂鲁岳翟殷詹耿欧柳祝俞焦柯阮舒梅童凌毕裴霍涂苗翁冉骆靳柴鲍喻"
    "祁滕饶艾尤穆卓岑窦戚佟臧闵邬卞姬栾隋甄虞巩佘邝"
)
_COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 令狐 长孙 宇文 司徒 夏侯 轩辕 端木 独孤 "
    "南宫 西门 百里 呼延 申屠 万俟 澹台 公冶 太史 钟离 闻人 赫连 拓跋 完颜 单于".split()
)
# Surnames that are far more often a preposition or adverb right after 本人/我是 (本人于去年,
# 本人向公司, 本人曾多次, 本人任职…): accept them only when punctuation follows the name.
_AMBIGUOUS_SURNAMES = frozenset("于向曾任许万方付常")
# Words that begin with a surname but are not names.
_NOT_NAMES = _by_first_char(
    "马上 马路 高级 高兴 高中 高层 高管 高龄 高温 高度 高校 高新 周末 周一 周二 周三 周四 周五 "
    "周六 周日 周边 周围 周期 于是 任何 任职 许多 许久 谢谢 曾经 曾多 范围 方面 方便 方式 "
    "方向 万一 万分 金额 金融 严重 严格 陆续 程序 程度 黄金 石油 石化 石家庄 江西 江苏 江湖 "
    "毛病 史上 龙头 付出 付款 夏天 余额 余下 杜绝 钟点 白班 白天 顾客 顾问 黎明 何时 何况 "
    "何必 孙子 孙女 陈述 郑重 郑州 沈阳 唐山 武汉 董事 林场 林业 林区 韩国 常年 常常 莫名 "
    "黄石 马鞍山 段长"
)
# Titles and placeholders after a surname: 王师傅, 张某, 王姓职工 are not names.
_TITLES = _by_first_char(
    "某 姓 氏 家 总 工 老 师傅 师父 老师 经理 主任 书记 厂长 班长 组长 队长 部长 局长 处长 "
    "科长 矿长 站长 所长 院长 校长 主管 先生 女士 小姐 阿姨 大姐 大哥 医生 护士 律师 会计 "
    "司机 同志"
)
# Function characters: never part of a given name, and a name may end right before them.
_FUNCTION_CHARS = frozenset(
    "是在的于因系现今与从对被已也就了说要想请男女把给将还都却又才并到等及之啊呀吧呢吗哦我你他"
    "她您不没很非太最更只但而或如若每该此这那其它们个"
)
# Place and unit suffixes: never part of a given name, and a surname-like word before them
# is a place or a unit (徐州人, 黄石市, 石化厂), so a name may not end right before them.
_PLACE_CHARS = frozenset("州市省县区镇村乡厂矿局司部处科室队组间段班院校站所人族")
# Characters after which a name may end, besides function characters and punctuation.
_NAME_END_CHARS = frozenset("向和同跟自")
_NAME_END_WORDS = _by_first_char(
    "反映 投诉 举报 控告 检举 要求 请求 申请 特此 实名 工号 身份 电话 手机 联系 家住 住址 "
    "住在 现年 今年 一直 多次 曾经 入职 工作 退休 目前 同志 同事 先生 女士 师傅 来自"
)
_NAME_TRIGGER = re.compile(
    r"(?:我的(?:名字|姓名)(?:是|叫)|我名叫|我叫|我是"
    r"|本人姓名(?:是|为|:|：)?|本人名叫|本人叫|本人是|本人|鄙人"
    r"|(?:姓名|名字|反映人|信访人|投诉人|举报人|联系人|签名|署名|落款) ?(?::|：|是|为))"
    r" *"
)
# What may stand between the trigger and the name: a unit (三车间的), a role (职工).
_NAME_PREFIX = re.compile(
    r"(?:[\u4e00-\u9fff0-9]{0,8}?"
    r"(?:车间|班组|工段|分厂|科室|部门|项目部|工区|厂|矿|队|班|组|科|处|室)的?)?"
    r"(?:一名|一位|一个)?(?:普通|老|退休)?"
    r"(?:职工|员工|工人|干部|党员|技术员|工程师|司机|同志)?"
    r" *"
)
_ENGLISH_NAME = re.compile(
    r"(?<![A-Za-z])(?i:my name is|my name's|i am called|i'm called)[ \t]+"
    r"([A-Z][A-Za-z'\-]*[A-Za-z](?:[ \t][A-Z][A-Za-z'\-]*[A-Za-z]){0,2})"
)
_ENGLISH_WORD = re.compile(r"[A-Za-z'\-]+")
_ENGLISH_NOT_NAMES = frozenset(
    "not none anonymous unknown withheld secret private confidential irrelevant unimportant "
    "hidden redacted nobody and the from in at of is am but so".split()
)

# --- staff numbers -------------------------------------------------------------------------
_STAFF_PATTERN_MAX = 200
# A staff-number pattern that matches these would flag nearly every petition.
_ORDINARY_NUMBERS = ("2026", "3000", "12000")


def find_identifying(text: str, *, staff_no: re.Pattern[str] | None = None) -> list[Finding]:
    """Return the non-overlapping self-identifying details in ``text``, in text order."""
    folded = text.translate(_FOLD)
    protected = _protected_spans(folded)
    candidates: list[Finding] = []
    for finding in _numbers(folded, staff_no):
        if not _overlaps_any(finding, protected):
            candidates.append(finding)
    emails = list(_emails(folded))
    # An address that contains a phone or staff number is one detail: mask all of it.
    email_starts = [e.start for e in emails]
    candidates = [f for f in candidates if not _inside_any(f, emails, email_starts)]
    candidates += emails
    candidates += _chinese_names(folded)
    candidates += _english_names(folded)
    return _resolve(candidates)


def mask(text: str, findings: Sequence[Finding]) -> str:
    """Replace each finding with ▇▇ (overlapping findings become one), keep the rest exactly."""
    spans = sorted((f.start, f.end) for f in findings)
    for start, end in spans:
        if not 0 <= start < end <= len(text):
            raise ValueError("finding lies outside the text")
    parts: list[str] = []
    position = 0
    for start, end in spans:
        if end <= position:
            continue
        if start >= position:
            parts.append(text[position:start])
            parts.append(MASK)
        position = end
    parts.append(text[position:])
    return "".join(parts)


def compile_staff_pattern(pattern: str) -> re.Pattern[str]:
    """Validate and compile a deployment's staff-number regex (ValueError says what is wrong)."""
    if not pattern.strip():
        raise ValueError("staff-number pattern is empty")
    if len(pattern) > _STAFF_PATTERN_MAX:
        raise ValueError(f"staff-number pattern is longer than {_STAFF_PATTERN_MAX} characters")
    anchored_end = pattern.endswith(("$", r"\Z", r"\z")) and not pattern.endswith(r"\$")
    if pattern.startswith(("^", r"\A")) or anchored_end:
        raise ValueError(
            "staff-number pattern must not be anchored with ^, $, \\A or \\Z: "
            "it is searched for inside running text"
        )
    try:
        # People type staff numbers in either case; a detector should not care.
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(
            f"staff-number pattern is not a valid regular expression: {exc.msg} "
            f"(at position {exc.pos})"
        ) from None
    if compiled.search("") is not None:
        raise ValueError("staff-number pattern matches the empty string")
    for sample in _ORDINARY_NUMBERS:
        if any(True for _ in _staff_matches(compiled, sample)):
            raise ValueError(
                "staff-number pattern also matches ordinary numbers such as years or amounts "
                f"of money (for example {sample})"
            )
    return compiled


# --- numbers -------------------------------------------------------------------------------


def _numbers(folded: str, staff_no: re.Pattern[str] | None) -> Iterator[Finding]:
    for match in _ID18.finditer(folded):
        if _valid_id18(_digits(match.group())):
            yield Finding(Kind.ID_CARD, match.start(), match.end())
    for match in _ID15.finditer(folded):
        if _valid_id15(_digits(match.group())):
            yield Finding(Kind.ID_CARD, match.start(), match.end())
    for match in _BANK.finditer(folded):
        if _luhn_ok(_digits(match.group())):
            yield Finding(Kind.BANK_CARD, match.start(), match.end())
    for match in _MOBILE.finditer(folded):
        yield Finding(Kind.MOBILE, match.start(), match.end())
    for match in _LANDLINE.finditer(folded):
        yield Finding(Kind.LANDLINE, match.start(), match.end())
    if staff_no is not None:
        for start, end in _staff_matches(staff_no, folded):
            yield Finding(Kind.STAFF_NO, start, end)


def _digits(number: str) -> str:
    return "".join(c for c in number if c in "0123456789Xx").upper()


def _valid_id18(digits: str) -> bool:
    if not _valid_birth_date(digits[6:14]):
        return False
    total = sum(int(d) * w for d, w in zip(digits[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == digits[17]


def _valid_id15(digits: str) -> bool:
    # First-generation cards (until 2004) wrote the birth year with two digits, all 19xx.
    return _valid_birth_date("19" + digits[6:12])


def _valid_birth_date(yyyymmdd: str) -> bool:
    year, month, day = int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8])
    if not 1900 <= year <= 2099:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _staff_matches(pattern: re.Pattern[str], folded: str) -> Iterator[tuple[int, int]]:
    for match in pattern.finditer(folded):
        start, end = match.span()
        if start == end:
            continue
        # Like the built-in numbers: not a piece of a longer run of letters and digits.
        if _is_word(folded[start]) and start > 0 and _is_word(folded[start - 1]):
            continue
        if _is_word(folded[end - 1]) and end < len(folded) and _is_word(folded[end]):
            continue
        yield start, end


def _is_word(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _protected_spans(folded: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in _CASE_NUMBER.finditer(folded)]
    # Only codes with a letter: sixteen digits in groups of four are more likely a bank card.
    for match in _TRACKING.finditer(folded):
        if not match.group().replace("-", "").isdigit():
            spans.append(match.span())
    return sorted(spans)


def _overlaps_any(finding: Finding, spans: list[tuple[int, int]]) -> bool:
    if finding.kind not in _NUMERIC or not spans:
        return False
    index = bisect_left(spans, (finding.end, finding.end))
    return any(
        start < finding.end and finding.start < end
        for start, end in spans[max(0, index - 2) : index]
    )


def _inside_any(finding: Finding, outers: list[Finding], starts: list[int]) -> bool:
    # ``outers`` are disjoint and sorted: only the last one starting at or before can contain.
    index = bisect_right(starts, finding.start) - 1
    return index >= 0 and finding.end <= outers[index].end


# --- e-mail --------------------------------------------------------------------------------


def _emails(folded: str) -> Iterator[Finding]:
    for match in _EMAIL.finditer(folded):
        local, _, domain = match.group().partition("@")
        labels = _DOMAIN_DOT.split(domain)
        # Keep the address up to its last plausible top-level domain (letters only).
        keep = len(labels)
        while keep >= 2 and not (labels[keep - 1].isalpha() and len(labels[keep - 1]) >= 2):
            keep -= 1
        if keep < 2:
            continue
        length = len(local) + 1 + sum(len(label) for label in labels[:keep]) + keep - 1
        yield Finding(Kind.EMAIL, match.start(), match.start() + length)


# --- names ---------------------------------------------------------------------------------


def _chinese_names(folded: str) -> Iterator[Finding]:
    for trigger in _NAME_TRIGGER.finditer(folded):
        after = trigger.end()
        end = _name_at(folded, after)
        if end is not None:
            yield Finding(Kind.NAME, after, end)
            continue
        prefixed = _NAME_PREFIX.match(folded, after)
        if prefixed is not None and prefixed.end() > after:
            end = _name_at(folded, prefixed.end())
            if end is not None:
                yield Finding(Kind.NAME, prefixed.end(), end)


def _name_at(text: str, start: int) -> int | None:
    if text[start : start + 2] in _COMPOUND_SURNAMES:
        given = start + 2
        strict = False
    elif start < len(text) and text[start] in _SURNAMES:
        given = start + 1
        strict = text[start] in _AMBIGUOUS_SURNAMES
    else:
        return None
    if _starts_with_any(text, start, _NOT_NAMES) or _starts_with_any(text, given, _TITLES):
        return None
    length = 0
    while length < 2 and given + length < len(text):
        char = text[given + length]
        if not _is_han(char) or char in _FUNCTION_CHARS or char in _PLACE_CHARS:
            break
        length += 1
    # Chinese has no spaces: prefer the longer given name, but only where a name can end.
    for size in range(length, 0, -1):
        if _name_can_end(text, given + size, strict):
            return given + size
    return None


def _name_can_end(text: str, end: int, strict: bool) -> bool:
    if end >= len(text) or not _is_han(text[end]):
        return True
    if strict:
        return False
    char = text[end]
    if char in _PLACE_CHARS:
        return False
    if char in _FUNCTION_CHARS or char in _NAME_END_CHARS:
        return True
    return _starts_with_any(text, end, _NAME_END_WORDS)


def _starts_with_any(text: str, position: int, words: dict[str, tuple[str, ...]]) -> bool:
    if position >= len(text):
        return False
    return any(text.startswith(word, position) for word in words.get(text[position], ()))


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def _english_names(folded: str) -> Iterator[Finding]:
    for match in _ENGLISH_NAME.finditer(folded):
        end = match.start(1)
        for word in _ENGLISH_WORD.finditer(match.group(1)):
            if word.group().lower() in _ENGLISH_NOT_NAMES:
                break
            end = match.start(1) + word.end()
        if end > match.start(1):
            yield Finding(Kind.NAME, match.start(1), end)


# --- overlaps ------------------------------------------------------------------------------


def _resolve(candidates: list[Finding]) -> list[Finding]:
    chosen: list[Finding] = []  # kept sorted by start
    starts: list[int] = []
    for finding in sorted(candidates, key=lambda f: (_RANK[f.kind], f.start, -f.end)):
        index = bisect_left(starts, finding.start)
        before = chosen[index - 1] if index > 0 else None
        after = chosen[index] if index < len(chosen) else None
        if before is not None and before.end > finding.start:
            continue
        if after is not None and finding.end > after.start:
            continue
        chosen.insert(index, finding)
        starts.insert(index, finding.start)
    return chosen
