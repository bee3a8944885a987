"""Urgent petitions: danger signs in the text that call for leaders at once.

A :class:`DangerSign` is one pattern of one kind (:data:`KINDS`): a threat to life or
safety (``life_safety``: weapons, killing, arson, an imminent explosion or collapse), a
plan of group action (``group_action``: 集体上访, 堵门, 罢工, 静坐, 拉横幅…) or self-harm
(``self_harm``: 跳楼, 自杀, 不想活…). Each sign has guards: patterns that, found around
the match, mean it is not one (安全帽不够 is a safety complaint, 跳槽 is changing jobs, 油炸
is cooking, 消防门被堵 is a blocked door, 不会去上访 says the opposite, 打击报复 is a fear of
retaliation).

Matching reads the text as :func:`normal_form` makes it: NFKC, traditional → simplified,
lower case, spaces removed (跳 樓 is 跳楼). :func:`check` returns the kinds and sign names
that matched, never the matched text, so an alert can say "紧急：自伤风险" without
repeating the petition.

The defaults (:data:`DEFAULT_SIGNS`) are measured in ``python -m bench.early_warning``;
a deployment can replace or extend them with :func:`signs_from_config`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from petitions.warnings.text import simplified

__all__ = [
    "DEFAULT_SIGNS",
    "GROUP_ACTION",
    "KINDS",
    "LIFE_SAFETY",
    "SELF_HARM",
    "DangerSign",
    "UrgentMatch",
    "check",
    "normal_form",
    "signs_from_config",
]

LIFE_SAFETY = "life_safety"
GROUP_ACTION = "group_action"
SELF_HARM = "self_harm"
KINDS = (LIFE_SAFETY, GROUP_ACTION, SELF_HARM)
CONTEXT = 8  # characters either side of a match in which guards are looked for


@dataclass(frozen=True)
class DangerSign:
    """One danger pattern (a regular expression on the normal form) and its guards."""

    kind: str
    name: str
    pattern: str
    guards: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown danger kind: {self.kind!r}")
        re.compile(self.pattern)
        for guard in self.guards:
            re.compile(guard)


@dataclass(frozen=True)
class UrgentMatch:
    """A danger sign found in a petition: its kind and name, never the text."""

    kind: str
    sign: str


_NO_PLAN = r"(不会|不想|不打算|没有打算|没打算|不愿|不敢|没有想|不是要|并不想|绝不会)"

DEFAULT_SIGNS: tuple[DangerSign, ...] = (
    # Self-harm.
    DangerSign(SELF_HARM, "jump", r"跳楼|跳下去|从.{0,8}(楼顶|顶楼|天台|楼上).{0,4}跳"),
    DangerSign(
        SELF_HARM,
        "suicide",
        r"自杀|轻生|寻短见|寻死|一死了之|不想活|活不下去|不如死了|死了算了|只有去死|只能去死"
        r"|割腕|上吊|喝农药|买了农药|吃安眠药|结束(自己的)?生命",
        guards=(
            r"(厂|公司|企业|单位|厂子)(都|也|就)?(快|要)?活不下去",
            r"防止.{0,6}(自杀|轻生)",
            r"不想活得",
        ),
    ),
    # Threats to life or safety.
    DangerSign(
        LIFE_SAFETY,
        "violence",
        r"(拿|带|持|提)着?(刀|斧|棍|枪)|杀了|杀死|砍死|砍人|弄死|捅死|同归于尽|报复",
        guards=(
            r"杀毒|杀菌|杀虫|杀价",
            r"打击报复|被.{0,6}报复|怕.{0,6}报复|遭.{0,2}报复|报复性",
        ),
    ),
    DangerSign(
        LIFE_SAFETY,
        "arson_explosion",
        r"放火|纵火|烧了|烧掉|炸了|炸掉|炸死|引爆",
        guards=(r"油炸|炸鸡|炸酱|炸串|炸薯", r"(饭|菜|锅|汤)(都|又)?烧了|烧(坏|焦|糊)"),
    ),
    DangerSign(
        LIFE_SAFETY,
        "imminent_danger",
        r"(随时|马上|就要|迟早|早晚)(可能|会|要)?.{0,4}(爆炸|坍塌|倒塌|塌|中毒|出人命|死人)"
        r"|出人命|会死人|要死人",
        guards=(r"(热|累|冻|笑|吓|气|烦|忙)死人",),
    ),
    # Group action plans.
    DangerSign(
        GROUP_ACTION,
        "petition_trip",
        r"集体上访|越级上访|(去|到|赴|进)(北京|京|省里|省城|省政府|市里|市政府|集团|国资委).{0,4}上访"
        r"|(去|要|准备|打算)上访|进京|去北京",
        guards=(_NO_PLAN + r".{0,6}上访",),
    ),
    DangerSign(
        GROUP_ACTION,
        "blockade",
        r"堵(住)?(厂|公司|集团|政府|大|工厂|办公楼)?(大)?门|围堵|堵路|堵(在)?(厂|公司|集团|政府)"
        r"(门口|大门|办公楼)",
        guards=(
            r"被.{0,6}堵",
            r"(杂物|货物|垃圾|车辆|东西|材料).{0,4}堵",
            r"消防(通道|门)",
            r"堵车|堵在路上",
        ),
    ),
    DangerSign(
        GROUP_ACTION,
        "strike",
        r"罢工|停工|怠工|静坐|拉横幅|打横幅|举横幅|示威|游行",
        guards=(
            r"(外地|别的|其他|别人|新闻).{0,8}(罢工|停工)",
            _NO_PLAN + r".{0,4}(罢工|停工|静坐)",
            r"停工(检修|整顿|待料|放假)|(检修|设备|停电).{0,4}停工",
            r"(厂|我们)不会这样",
        ),
    ),
    DangerSign(
        GROUP_ACTION,
        "mass_gathering",
        r"(几十|上百|一百多|好几百|数百|几百|全厂|全车间|全班组)(个)?(人|工友|职工|员工)?"
        r".{0,10}(一起|集体)?(去|到|围|堵|集合|决定)",
        guards=(_NO_PLAN,),
    ),
)


def normal_form(text: str) -> str:
    """NFKC, simplified characters, lower case, no whitespace."""
    text = simplified(unicodedata.normalize("NFKC", text)).lower()
    return "".join(text.split())


@lru_cache(maxsize=64)
def _compiled(sign: DangerSign) -> tuple[re.Pattern[str], tuple[re.Pattern[str], ...]]:
    return re.compile(sign.pattern), tuple(re.compile(g) for g in sign.guards)


def _hits(sign: DangerSign, text: str) -> bool:
    pattern, guards = _compiled(sign)
    for m in pattern.finditer(text):
        context = text[max(0, m.start() - CONTEXT) : m.end() + CONTEXT]
        if not any(g.search(context) for g in guards):
            return True
    return False


def check(text: str, signs: Sequence[DangerSign] = DEFAULT_SIGNS) -> list[UrgentMatch]:
    """The danger signs in ``text``: the first matching sign of each kind, in kind order."""
    normal = normal_form(text)
    found: dict[str, UrgentMatch] = {}
    for sign in signs:
        if sign.kind not in found and _hits(sign, normal):
            found[sign.kind] = UrgentMatch(sign.kind, sign.name)
    return [found[k] for k in KINDS if k in found]


def signs_from_config(
    entries: Iterable[Mapping[str, object]], *, defaults: bool = True
) -> tuple[DangerSign, ...]:
    """Danger signs from configuration entries (``kind``, ``name``, ``pattern``, optional
    ``guards``), after the defaults unless ``defaults`` is False. An entry with the name of
    a default sign replaces it; one with an empty pattern removes it."""
    signs = {(s.kind, s.name): s for s in DEFAULT_SIGNS} if defaults else {}
    for entry in entries:
        kind, name = str(entry["kind"]), str(entry["name"])
        pattern = str(entry.get("pattern", ""))
        if not pattern:
            signs.pop((kind, name), None)
            continue
        raw_guards = entry.get("guards", ())
        guards = tuple(str(g) for g in raw_guards) if isinstance(raw_guards, list | tuple) else ()
        signs[(kind, name)] = DangerSign(kind, name, pattern, guards)
    return tuple(signs.values())
