"""The employee chooses the unit their matter concerns (issue 13, item 2): by level with
buttons and paging, or by typing part of its name; a conflict of interest sends the case
above that unit (or to 纪检) and says so in its history. Real container and database."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from bot.container import Container
from bot.wecom.render import MAX_CARDS, render_reply
from handlers.access import may_view, scoped_filter
from handlers.views import admin_case_card
from petitions.lifecycle import CONFLICT_DISCIPLINE, CONFLICT_LEADERSHIP
from petitions.roles import Role
from tests.helpers.chat import ChatUser
from tests.helpers.flow import CODE_RE, DESCRIPTION, file_petition, load_case

PLANTS = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十")


@dataclass(frozen=True)
class Group:
    """The ids of the example group's units, by code."""

    ids: dict[str, int]

    def __getitem__(self, code: str) -> int:
        return self.ids[code]


async def make_group(container: Container) -> Group:
    """本集团 → 甲能源公司 (ten plants: two pages) and 乙化工公司 (one plant in service, one
    retired)."""
    at = container.services.clock()
    ids: dict[str, int] = {}
    async with container.uow() as uow:
        root = await uow.units.add("ROOT", "本集团", None, at)
        ids["ROOT"] = root.id
        for code, name in (("CO-A", "甲能源公司"), ("CO-B", "乙化工公司")):
            ids[code] = (await uow.units.add(code, name, root.id, at)).id
        for n, numeral in enumerate(PLANTS, start=1):
            code = f"A-P{n:02d}"
            ids[code] = (await uow.units.add(code, f"甲{numeral}厂", ids["CO-A"], at)).id
        ids["B-P01"] = (await uow.units.add("B-P01", "乙一厂", ids["CO-B"], at)).id
        ids["B-OLD"] = (await uow.units.add("B-OLD", "乙旧厂", ids["CO-B"], at)).id
        await uow.units.update(ids["B-OLD"], retired=True)
        await uow.commit()
    return Group(ids)


def employee(container: Container, n: int = 1) -> ChatUser:
    return ChatUser(container.handlers, chat_id=f"40{n:02d}", sender_id=f"40{n:02d}")


async def to_units(user: ChatUser) -> None:
    await user.press("menu:new")
    await user.press("cat:pay")


def unit_buttons(user: ChatUser) -> dict[str, str]:
    return {p: label for p, label in user.buttons.items() if p.startswith("un:")}


async def finish(user: ChatUser, *, conflict: str = "no") -> None:
    """From the conflict question to the review."""
    await user.press(f"cf:{conflict}")
    await user.say(DESCRIPTION)
    await user.press("ev:done")
    await user.press("anon:yes")
    await user.press("up:push")
    assert "rv:submit" in user.buttons, user.text


async def submit(container: Container, user: ChatUser) -> int:
    await user.press("rv:submit")
    number = next(w for w in user.text.split() if w.startswith("XF-")).rstrip("。，,")
    async with container.uow() as uow:
        case = await uow.cases.by_number(number)
    assert case is not None and case.id is not None
    return case.id


async def officer(container: Container, role: Role, unit: int | None, account: str):
    async with container.uow() as uow:
        await uow.officers.add(
            "某", role, container.services.clock(), unit_id=unit, accounts={"telegram": account}
        )
        await uow.commit()
    async with container.uow() as uow:
        found = await uow.officers.by_account("telegram", account)
    assert found is not None
    return found


# -- by level ---------------------------------------------------------------------------


async def test_the_units_under_the_root_are_offered_right_after_the_category(
    container: Container,
):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    assert "本集团" in user.text and "输入单位名称" in user.text
    units = unit_buttons(user)
    assert units[f"un:o:{g['CO-A']}"] == "甲能源公司 ›"
    assert units[f"un:o:{g['CO-B']}"] == "乙化工公司 ›"
    assert units[f"un:ok:{g['ROOT']}"] == "就是这个单位"
    assert "上一级" not in units.values()  # the top level has nothing above it
    assert "rv:cancel" in user.buttons


async def test_two_levels_by_buttons_with_a_second_page_choose_the_tenth_plant(
    container: Container,
):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.press(f"un:o:{g['CO-A']}")
    first = unit_buttons(user)
    plants = [label for p, label in first.items() if p.startswith("un:o:")]
    assert plants[:8] == [f"甲{n}厂" for n in PLANTS[:8]] and len(plants) == 9  # + 上一级
    assert first[f"un:o:{g['ROOT']}"] == "上一级"
    assert first[f"un:ok:{g['CO-A']}"] == "就是这个单位"
    assert first[f"un:p:{g['CO-A']}:1"] == "下一页"
    assert "第 1/2 页" in user.text and "甲能源公司" in user.text

    await user.press(f"un:p:{g['CO-A']}:1")
    second = unit_buttons(user)
    assert second[f"un:o:{g['A-P09']}"] == "甲九厂" and second[f"un:o:{g['A-P10']}"] == "甲十厂"
    assert second[f"un:p:{g['CO-A']}:0"] == "上一页" and "下一页" not in second.values()
    assert "第 2/2 页" in user.text

    await user.press(f"un:o:{g['A-P10']}")  # a plant has nothing under it: chosen
    assert "甲能源公司/甲十厂" in user.text and "领导" in user.text
    assert {"cf:no", "cf:leadership", "cf:discipline"} <= set(user.buttons)
    await finish(user)
    assert "涉及单位：甲能源公司/甲十厂" in user.text
    case = await load_case(container, await submit(container, user))
    assert (case.unit_id, case.origin_unit_id, case.conflict) == (g["A-P10"], g["A-P10"], None)


async def test_up_goes_back_a_level_and_this_unit_chooses_the_company_itself(
    container: Container,
):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.press(f"un:o:{g['CO-A']}")
    await user.press(f"un:o:{g['ROOT']}")  # 上一级
    assert f"un:o:{g['CO-B']}" in user.buttons and "上一级" not in unit_buttons(user).values()
    await user.press(f"un:o:{g['CO-B']}")
    assert f"un:o:{g['B-P01']}" in user.buttons
    await user.press(f"un:ok:{g['CO-B']}")
    await finish(user)
    case = await load_case(container, await submit(container, user))
    assert case.unit_id == g["CO-B"] and case.origin_unit_id == g["CO-B"]


async def test_a_page_past_the_end_shows_the_last_page(container: Container):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.press(f"un:p:{g['CO-A']}:99")
    assert f"un:o:{g['A-P10']}" in user.buttons and "第 2/2 页" in user.text


async def test_retired_units_are_not_offered_and_their_old_buttons_are_refused(
    container: Container,
):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.press(f"un:o:{g['CO-B']}")
    assert f"un:o:{g['B-OLD']}" not in user.buttons and "乙旧厂" not in user.text
    await user.say("旧厂")
    assert "没有找到" in user.text
    await user.press(f"un:ok:{g['B-OLD']}")
    assert "已失效" in user.text and "cf:no" not in user.buttons
    await user.press("un:ok:999999")
    assert "已失效" in user.text and "cf:no" not in user.buttons


async def test_a_file_or_a_foreign_button_at_the_unit_question_asks_again(
    container: Container,
):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.send_file(b"\xff\xd8\xff", name="a.jpg")
    assert "输入单位名称" in user.text and f"un:o:{g['CO-A']}" in user.buttons
    await user.press("cat:labor")
    assert f"un:o:{g['CO-A']}" in user.buttons


# -- by typing --------------------------------------------------------------------------


async def test_typing_part_of_one_name_chooses_that_unit(container: Container):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.say("乙一")
    assert "乙化工公司/乙一厂" in user.text and "cf:no" in user.buttons
    await finish(user)
    case = await load_case(container, await submit(container, user))
    assert case.unit_id == g["B-P01"]


async def test_typing_a_name_several_units_share_offers_them_by_full_name(container: Container):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.say("一厂")
    assert "找到 2 个单位" in user.text
    found = unit_buttons(user)
    assert found[f"un:ok:{g['A-P01']}"] == "甲能源公司/甲一厂"
    assert found[f"un:ok:{g['B-P01']}"] == "乙化工公司/乙一厂"
    assert found[f"un:o:{g['ROOT']}"] == "按层级选择"
    await user.press(f"un:ok:{g['B-P01']}")
    assert "cf:no" in user.buttons and "乙化工公司/乙一厂" in user.text


async def test_a_name_too_many_units_share_lists_the_first_eight(container: Container):
    await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.say("厂")
    assert "前 8 个" in user.text
    assert sum(p.startswith("un:ok:") for p in user.buttons) == 8


async def test_typing_what_no_unit_is_called_gives_a_hint_and_the_level_again(
    container: Container,
):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    for text in ("丙公司", "🏭", "   ", "x" * 5000, "甲" * 5000):
        await user.say(text)
        assert "没有找到" in user.text, text
        assert f"un:o:{g['CO-A']}" in user.buttons and "cf:no" not in user.buttons
        assert "x" * 100 not in user.text and "甲" * 100 not in user.text  # not echoed


@pytest.mark.parametrize(
    "typed",
    [
        "乙\u200b一厂",  # a zero-width space inside
        "\u202e乙一\u202c",  # bidi controls around
        " 乙 一 厂 ",  # spaces
        "Ｂ－Ｐ０１",  # the code in full-width letters
        "b-p01",  # the code in lower case
    ],
)
async def test_odd_unicode_still_finds_the_unit(container: Container, typed: str):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.say(typed)
    assert "乙化工公司/乙一厂" in user.text and "cf:no" in user.buttons
    await finish(user)
    case = await load_case(container, await submit(container, user))
    assert case.unit_id == g["B-P01"]


# -- review and edit --------------------------------------------------------------------


async def test_the_review_shows_the_unit_and_editing_it_returns_to_the_review(
    container: Container,
):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.say("甲一厂")
    await finish(user)
    assert "涉及单位：甲能源公司/甲一厂" in user.text
    await user.press("rv:edit")
    assert user.buttons["ed:unit"] == "修改涉及单位"
    await user.press("ed:unit")
    await user.press(f"un:o:{g['ROOT']}")
    await user.press(f"un:o:{g['CO-B']}")
    await user.press(f"un:o:{g['B-P01']}")
    await user.press("cf:leadership")
    assert "rv:submit" in user.buttons  # straight back: nothing else asked again
    assert "涉及单位：乙化工公司/乙一厂" in user.text
    assert "涉及该单位领导：交乙化工公司办理" in user.text
    assert DESCRIPTION in user.text
    case = await load_case(container, await submit(container, user))
    assert (case.unit_id, case.origin_unit_id) == (g["CO-B"], g["B-P01"])


async def test_editing_the_category_does_not_ask_the_unit_again(container: Container):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.say("甲二厂")
    await finish(user)
    await user.press("rv:edit")
    await user.press("ed:category")
    await user.press("cat:labor")
    assert "rv:submit" in user.buttons and "涉及单位：甲能源公司/甲二厂" in user.text
    case = await load_case(container, await submit(container, user))
    assert case.unit_id == g["A-P02"]


async def test_a_draft_begun_before_the_group_had_units_asks_the_unit_before_submitting(
    container: Container,
):
    user = employee(container)
    await user.press("menu:new")
    await user.press("cat:pay")
    assert not unit_buttons(user)  # no units yet: not asked
    await user.say(DESCRIPTION)
    await user.press("ev:done")
    await user.press("anon:yes")
    await user.press("up:push")
    g = await make_group(container)
    await user.press("rv:submit")
    assert f"un:o:{g['CO-A']}" in user.buttons
    await user.say("甲三厂")
    await user.press("cf:no")
    assert "rv:submit" in user.buttons and "涉及单位：甲能源公司/甲三厂" in user.text
    case = await load_case(container, await submit(container, user))
    assert case.unit_id == g["A-P03"]


async def test_a_unit_retired_while_the_draft_waits_is_asked_again(container: Container):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.say("甲四厂")
    await finish(user)
    async with container.uow() as uow:
        await uow.units.update(g["A-P04"], retired=True)
        await uow.commit()
    await user.press("rv:submit")
    assert f"un:o:{g['CO-A']}" in user.buttons and "XF-" not in user.text


# -- conflict of interest ---------------------------------------------------------------


async def test_a_leadership_conflict_lands_at_the_parent_and_the_plant_cannot_see_it(
    container: Container,
):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.say("甲五厂")
    assert "甲五厂自己的信访工作机构将看不到" in user.text
    await user.press("cf:leadership")
    assert "这件事将交由甲能源公司办理" in user.text
    await user.say(DESCRIPTION)
    await user.press("ev:done")
    await user.press("anon:yes")
    await user.press("up:push")
    case_id = await submit(container, user)
    code = CODE_RE.search(user.text)
    assert code is not None

    case = await load_case(container, case_id)
    assert case.unit_id == g["CO-A"] and case.origin_unit_id == g["A-P05"]
    assert case.conflict == CONFLICT_LEADERSHIP
    async with container.uow() as uow:
        events = await uow.cases.events(case_id)
    submitted = next(e for e in events if e.kind == "submitted")
    assert submitted.detail["conflict"] == "leadership"

    plant = await officer(container, Role.OFFICER, g["A-P05"], "801")
    company = await officer(container, Role.OFFICER, g["CO-A"], "802")
    assert not may_view(plant, case) and may_view(company, case)

    await user.say(code.group(0))
    assert "涉及所选单位领导，交上级单位办理" in user.text


async def test_a_discipline_conflict_lands_at_the_parent_for_discipline_inspection_only(
    container: Container,
):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.say("甲六厂")
    await user.press("cf:discipline")
    assert "甲能源公司的纪检监察部门" in user.text
    await user.say(DESCRIPTION)
    await user.press("ev:done")
    await user.press("anon:yes")
    await user.press("up:push")
    assert "涉及该单位领导：交甲能源公司纪检监察部门办理" in user.text
    case = await load_case(container, await submit(container, user))
    assert case.unit_id == g["CO-A"] and case.origin_unit_id == g["A-P06"]
    assert case.conflict == CONFLICT_DISCIPLINE

    seen = {
        (role, unit): may_view(await officer(container, role, g[unit], f"9{n}"), case)
        for n, (role, unit) in enumerate(
            [
                (Role.OFFICER, "CO-A"),
                (Role.DISCIPLINE, "CO-A"),
                (Role.DISCIPLINE, "A-P06"),
                (Role.DISCIPLINE, "ROOT"),
                (Role.DISCIPLINE, "CO-B"),
            ]
        )
    }
    assert seen == {
        (Role.OFFICER, "CO-A"): False,  # a plain officer of the parent
        (Role.DISCIPLINE, "CO-A"): True,
        (Role.DISCIPLINE, "A-P06"): False,  # the chosen unit's own 纪检
        (Role.DISCIPLINE, "ROOT"): True,
        (Role.DISCIPLINE, "CO-B"): False,
    }


async def test_the_root_chosen_offers_no_unit_above_and_discipline_stays_at_the_root(
    container: Container,
):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.press(f"un:ok:{g['ROOT']}")
    assert "cf:leadership" not in user.buttons and "cf:discipline" in user.buttons
    await user.press("cf:leadership")  # an old button: nothing above the root
    assert "cf:no" in user.buttons
    await finish(user, conflict="discipline")
    case = await load_case(container, await submit(container, user))
    assert (case.unit_id, case.origin_unit_id, case.conflict) == (
        g["ROOT"],
        g["ROOT"],
        CONFLICT_DISCIPLINE,
    )


async def test_the_flow_helper_files_at_a_typed_unit_with_a_conflict(container: Container):
    g = await make_group(container)
    filed = await file_petition(
        container, employee(container), unit="甲七厂", conflict="leadership"
    )
    case = await load_case(container, filed.case_id)
    assert (case.unit_id, case.origin_unit_id) == (g["CO-A"], g["A-P07"])


# What the lead's views and list filters do with a discipline conflict of a category that
# is not a discipline report: they look at the category only (handlers/views.py
# admin_case_card, handlers/access.py scoped_filter), so today the case's content reaches
# plain officers there. Strict: these fail loudly once fixed, so the markers go.
async def test_the_admin_card_of_a_discipline_conflict_shows_plain_officers_no_content(
    container: Container,
):
    await make_group(container)
    filed = await file_petition(
        container, employee(container), unit="甲八厂", conflict="discipline"
    )
    case = await load_case(container, filed.case_id)

    def t(key: str, **params: object) -> str:
        return container.services.t(key, "zh_CN", **params)

    card = admin_case_card(t, case, [], container.services.clock())
    assert DESCRIPTION not in card.text


async def test_a_plain_officer_of_the_parent_does_not_list_a_discipline_conflict(
    container: Container,
):
    g = await make_group(container)
    filed = await file_petition(
        container, employee(container), unit="甲八厂", conflict="discipline"
    )
    company = await officer(container, Role.OFFICER, g["CO-A"], "811")
    async with container.uow() as uow:
        listed = await uow.cases.list(scoped_filter(company))
    assert filed.case_id not in [c.id for c in listed]


# -- deployments without a tree ---------------------------------------------------------


async def test_without_units_the_intake_asks_nothing_about_them(container: Container):
    user = employee(container)
    filed = await file_petition(container, user)
    assert not any(
        p.startswith(("un:", "cf:"))
        for r in user.history
        for row in r.buttons
        for p in (b.payload for b in row)
    )
    case = await load_case(container, filed.case_id)
    assert (case.unit_id, case.origin_unit_id, case.conflict) == (None, None, None)


async def test_with_only_a_root_the_case_belongs_to_the_root_without_asking(
    container: Container,
):
    async with container.uow() as uow:
        root = await uow.units.add("ROOT", "本集团", None, container.services.clock())
        await uow.commit()
    user = employee(container)
    filed = await file_petition(container, user)
    assert not any(
        b.payload.startswith("un:") for r in user.history for row in r.buttons for b in row
    )
    case = await load_case(container, filed.case_id)
    assert (case.unit_id, case.origin_unit_id) == (root.id, root.id)


# -- privacy ----------------------------------------------------------------------------


async def test_nothing_about_the_chosen_unit_is_logged(
    container: Container, caplog: pytest.LogCaptureFixture
):
    g = await make_group(container)  # the tree itself is no secret: seeded before looking
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # statements, parameters and rows
    user = employee(container)
    await to_units(user)
    await user.press(f"un:o:{g['CO-B']}")
    await user.say("乙一厂")
    await finish(user, conflict="leadership")
    await user.press("rv:edit")
    await user.press("ed:unit")
    await user.say("B-P01")
    await user.press("cf:discipline")
    await submit(container, user)
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    # Reading the tree logs every unit alike (at DEBUG): the chosen plant and company are
    # named exactly as often as a plant and a company nobody chose.
    assert logged.count("乙一厂") == logged.count("甲九厂") > 0
    assert logged.count("乙化工公司") == logged.count("甲能源公司") > 0
    assert logged.count("'B-P01'") == logged.count("'A-P09'")
    # What was typed and pressed never is. Whole values, not prefixes: sealed columns show in
    # the row logs as random bytes, whose repr spells a short prefix such as "\\xcf:" by chance.
    for secret in ("un:ok:", "un:o:", "un:p:", "cf:discipline", "cf:leadership", "ed:unit"):
        assert secret not in logged


async def test_the_widest_level_fits_in_wecom_cards_with_every_button(container: Container):
    g = await make_group(container)
    user = employee(container)
    await to_units(user)
    await user.press(f"un:o:{g['CO-A']}")  # a full page with paging, up and cancel
    offered = set(user.buttons)
    assert len(offered) == 8 + 4  # eight plants, this unit, next page, up, cancel
    sent = [m for reply in user.last for m in render_reply(reply)]
    cards = [m for m in sent if m.msgtype == "template_card"]
    assert 1 <= len(cards) <= MAX_CARDS
    keys = {b["key"] for card in cards for b in card.payload["button_list"]}
    assert keys == offered
