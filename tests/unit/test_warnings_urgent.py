"""Urgent petitions: danger signs of three kinds, matched in any script or spacing, with
guards against look-alikes, reported by kind and never by text."""

from __future__ import annotations

import pytest

from petitions.warnings.urgent import (
    DEFAULT_SIGNS,
    GROUP_ACTION,
    LIFE_SAFETY,
    SELF_HARM,
    DangerSign,
    check,
    signs_from_config,
)


def kinds(text: str) -> list[str]:
    return [m.kind for m in check(text)]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("再不给说法我就从厂房楼顶跳下去。", SELF_HARM),
        ("我真的不想活了。", SELF_HARM),
        ("我準備輕生，這是最後一次反映。", SELF_HARM),
        ("实在没办法只能跳 樓了", SELF_HARM),
        ("我要跟车间主任同归于尽。", LIFE_SAFETY),
        ("锅炉压力一直超标，随时可能爆炸，要出人命的。", LIFE_SAFETY),
        ("他说要带刀来厂里报复。", LIFE_SAFETY),
        ("我们几十个人商量好下周一去集团集体上访。", GROUP_ACTION),
        ("大家准备明天堵厂门。", GROUP_ACTION),
        ("工友们说好了月底一起罢工。", GROUP_ACTION),
    ],
)
def test_danger_signs_are_found_with_their_kind(text: str, kind: str) -> None:
    assert kind in kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "安全帽不够，新来的工人都没有。",
        "好几个技术骨干都跳槽走了。",
        "食堂的油炸食品太多。",
        "仓库通道被货物堵住了，消防门也堵了。",
        "高温车间热死人了。",
        "我们不会去上访，只希望领导重视。",
        "大家都不敢说，怕被打击报复。",
        "电脑的杀毒软件过期了。",
        "配电房经常跳闸。",
        "新闻里说外地有工厂罢工，我们厂不会这样。",
        "班车堵在路上经常迟到。",
        "厂子都快活不下去了，订单越来越少。",
    ],
)
def test_look_alikes_are_not_urgent(text: str) -> None:
    assert check(text) == []


def test_the_match_names_the_kind_and_sign_never_the_text() -> None:
    (match,) = check("我不想活了")
    assert (match.kind, match.sign) == (SELF_HARM, "suicide")
    assert "不想活" not in repr(match)


def test_one_match_per_kind_in_kind_order() -> None:
    found = check("我要去跳楼，我们还要集体上访，还要放火")
    assert [m.kind for m in found] == [LIFE_SAFETY, GROUP_ACTION, SELF_HARM]


def test_configuration_adds_replaces_and_removes_signs() -> None:
    signs = signs_from_config(
        [
            {"kind": GROUP_ACTION, "name": "petition_trip", "pattern": ""},  # removed
            {"kind": SELF_HARM, "name": "letter", "pattern": "遗书", "guards": ["读后感"]},
        ]
    )
    assert all(s.name != "petition_trip" for s in signs)
    assert len(signs) == len(DEFAULT_SIGNS)
    assert kinds_with(signs, "我已经写好了遗书") == [SELF_HARM]
    assert kinds_with(signs, "遗书读后感") == []
    assert kinds_with(signs, "我们要集体上访") == []
    only = signs_from_config(
        [{"kind": LIFE_SAFETY, "name": "x", "pattern": "危险"}], defaults=False
    )
    assert [s.name for s in only] == ["x"]


def kinds_with(signs: tuple[DangerSign, ...], text: str) -> list[str]:
    return [m.kind for m in check(text, signs)]


def test_a_sign_of_an_unknown_kind_or_a_broken_pattern_is_refused() -> None:
    with pytest.raises(ValueError):
        DangerSign("anger", "x", "生气")
    with pytest.raises(Exception):  # noqa: B017 - re.error
        DangerSign(SELF_HARM, "x", "(")
