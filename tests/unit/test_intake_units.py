"""The unit picker's rules without a database: payloads, levels and pages, search, and
where a conflict of interest sends a case (handlers/unit_picker.py)."""

from __future__ import annotations

import pytest

from handlers import unit_picker as up
from petitions.lifecycle import CONFLICT_DISCIPLINE, CONFLICT_LEADERSHIP
from petitions.units import Unit, UnitTree

ROOT = Unit(1, "ROOT", "本集团", None)
CO_A = Unit(2, "CO-A", "甲能源公司", 1)
CO_B = Unit(3, "CO-B", "乙化工公司", 1)
CO_OLD = Unit(4, "CO-OLD", "丁公司", 1, retired=True)
UNDER_OLD = Unit(5, "D-P01", "丁一厂", 4)  # in service, under a retired unit
PLANTS = [Unit(10 + n, f"A-P{n:02d}", f"甲{n}号厂", 2) for n in range(1, 11)]
B_PLANT = Unit(30, "B-P01", "乙（一）厂", 3)
TREE = UnitTree([ROOT, CO_A, CO_B, CO_OLD, UNDER_OLD, *PLANTS, B_PLANT])


@pytest.mark.parametrize(
    "payload",
    [up.OpenUnit(7), up.ChooseUnit(123456789012), up.UnitPage(2, 0), up.UnitPage(2, 3)],
)
def test_payloads_read_back_as_written(payload):
    assert up.parse(up.encode(payload)) == payload


@pytest.mark.parametrize(
    "text",
    [
        "",
        "un",
        "un:o",
        "un:o:",
        "un:o:x",
        "un:o:-1",
        "un:o:１",
        "un:ok:1:2",
        "un:p:1",
        "un:x:1",
        "o:ok:1",
        "cat:pay",
        "un:o:" + "9" * 19,
    ],
)
def test_anything_else_is_not_a_picker_payload(text):
    assert up.parse(text) is None


def test_a_payload_longer_than_telegram_allows_is_refused():
    with pytest.raises(ValueError):
        up.encode(up.UnitPage(10**40, 10**20))


def test_there_is_nothing_to_choose_without_units_below_a_root_in_service():
    assert up.start_level(UnitTree([])) is None
    assert up.start_level(UnitTree([ROOT])) is None
    assert up.start_level(UnitTree([ROOT, CO_OLD])) is None
    assert up.start_level(UnitTree([ROOT, CO_A])) == ROOT
    assert up.default_unit(UnitTree([])) is None
    assert up.default_unit(UnitTree([ROOT])) == ROOT.id


def test_the_first_level_lists_the_units_in_service_under_the_root():
    lv = up.level(TREE, ROOT)
    assert lv.units == (CO_A, CO_B)  # 丁公司 is retired
    assert lv.branches == {CO_A.id, CO_B.id}
    assert (lv.page, lv.pages, lv.up) == (0, 1, None)


def test_ten_plants_make_two_pages_of_eight_and_two():
    first, second = up.level(TREE, CO_A, 0), up.level(TREE, CO_A, 1)
    assert first.units == tuple(PLANTS[:8]) and second.units == tuple(PLANTS[8:])
    assert first.pages == second.pages == 2
    assert first.branches == frozenset() and first.up == ROOT
    assert up.level(TREE, CO_A, 5).page == 1 and up.level(TREE, CO_A, -3).page == 0


def test_a_retired_unit_or_one_under_it_cannot_be_chosen():
    assert up.choosable(TREE, CO_A.id) == CO_A
    assert up.choosable(TREE, CO_OLD.id) is None
    assert up.choosable(TREE, UNDER_OLD.id) is None
    assert up.choosable(TREE, 999) is None
    assert up.choosable(TREE, "2") is None and up.choosable(TREE, True) is None


def test_search_finds_one_several_or_none():
    assert up.search(TREE, "乙（一", 9) == [B_PLANT]
    assert up.search(TREE, "甲1", 9) == [PLANTS[0], PLANTS[9]]  # 甲1号厂, 甲10号厂
    assert up.search(TREE, "丙", 9) == []
    assert len(up.search(TREE, "号厂", 9)) == 9  # at most the limit


@pytest.mark.parametrize(
    "typed",
    ["乙（\u200b一）厂", "\u202e乙（一）厂\u202c", "ｂ－ｐ０１", " B-P01 ", "乙（一）厂\n"],
)
def test_search_sees_through_invisible_characters_and_full_width_letters(typed):
    assert up.search(TREE, typed, 9) == [B_PLANT]


@pytest.mark.parametrize("typed", ["", "   ", "\u200b", "乙" * 5000, "号厂" * 51, "🏭"])
def test_search_finds_nothing_for_empty_or_overlong_text(typed):
    assert up.search(TREE, typed, 9) == []


def test_search_skips_retired_units_and_units_under_them():
    assert up.search(TREE, "丁", 9) == []


def test_a_conflict_sends_the_case_one_level_up_and_the_root_stays_the_root():
    plant = PLANTS[0].id
    assert up.handling_unit(TREE, plant, None) == plant
    assert up.handling_unit(TREE, plant, CONFLICT_LEADERSHIP) == CO_A.id
    assert up.handling_unit(TREE, plant, CONFLICT_DISCIPLINE) == CO_A.id
    assert up.handling_unit(TREE, CO_A.id, CONFLICT_LEADERSHIP) == ROOT.id
    assert up.handling_unit(TREE, ROOT.id, CONFLICT_DISCIPLINE) == ROOT.id
    assert up.handling_unit(TREE, plant, "something else") == plant
