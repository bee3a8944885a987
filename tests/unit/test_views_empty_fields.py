"""Cards and confirmations leave out what a case does not have (no "期限 —") and say
where the case stands in their title, not "新案件" for ever."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handlers.views import admin_card_header, admin_case_card, admin_case_detail, done_text
from i18n import translator
from petitions.categories import Category
from petitions.states import CaseState
from tests.helpers.builders import make_case

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
DUE = datetime(2026, 6, 30, 9, 0, tzinfo=UTC)


def _t(locale: str):
    catalog = translator()
    return lambda key, **params: catalog.t(key, locale, **params)


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_closing_a_case_without_a_deadline_confirms_without_an_empty_deadline(locale):
    text = done_text(_t(locale), "XF-2026-000001", CaseState.CLOSED, None)
    assert "—" not in text and "XF-2026-000001" in text
    if locale == "zh_CN":
        assert text == "✅ 案件 XF-2026-000001：办结。已通知信访人。"


def test_a_formal_act_with_a_deadline_still_names_it():
    text = done_text(_t("zh_CN"), "XF-2026-000001", CaseState.ACCEPTED, DUE)
    assert text == "✅ 案件 XF-2026-000001：已受理，期限 2026-06-30。已通知信访人。"


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_a_closed_cases_card_has_no_deadline_line(locale):
    case = make_case(id=1, number="XF-2026-000001", state=CaseState.CLOSED, deadline_at=None)
    card = admin_case_card(_t(locale), case, [], NOW)
    assert "—" not in card.text
    detail = admin_case_detail(_t(locale), case, [], [], [], NOW)
    assert "—" not in detail[0].text


def test_a_discipline_report_without_a_deadline_leaves_the_clause_out():
    case = make_case(
        id=2,
        number="XF-2026-000002",
        category=Category.DISCIPLINE,
        state=CaseState.CLOSED,
        deadline_at=None,
    )
    card = admin_case_card(_t("zh_CN"), case, [], NOW)
    assert "—" not in card.text and "受理期限" not in card.text
    assert card.text.startswith("🔒 违纪违法举报 XF-2026-000002\n登记：")


def test_a_new_case_is_titled_new_and_a_handled_one_by_its_state():
    t = _t("zh_CN")
    new = make_case(id=3, number="XF-2026-000003", deadline_at=DUE)
    assert admin_card_header(t, new) == "📋 新案件 XF-2026-000003"
    assert admin_case_card(t, new, [], NOW).text.splitlines()[0] == "📋 新案件 XF-2026-000003"
    accepted = make_case(id=3, number="XF-2026-000003", state=CaseState.ACCEPTED, deadline_at=DUE)
    title = admin_case_card(t, accepted, [], NOW).text.splitlines()[0]
    assert title == "📋 案件 XF-2026-000003（已受理）"
    closed = make_case(id=3, number="XF-2026-000003", state=CaseState.CLOSED)
    assert admin_card_header(t, closed) == "📋 案件 XF-2026-000003（办结）"
    assert admin_card_header(_t("en"), closed).startswith("📋 Case XF-2026-000003 (")
