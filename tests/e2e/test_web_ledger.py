"""The case ledger (台账) on the officers' web page: the role rule in SQL, every filter and
sort, keyset paging both ways, the search over case numbers and petition text, the case
page, and exports to XLSX and CSV with Chinese (or English) headers, audited."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

import bot.web.ledger as ledger
from bot.cli.search import reindex_all
from bot.settings import load_settings
from petitions.roles import Role
from storage.models import CaseRow, FeedbackRow, SearchTokenRow
from storage.vault import aad
from tests.helpers.seeding import seed_cases
from tests.helpers.web import WebOfficer, WebServer, WebVisitor, add_web_officer, web_server

PASSWORD = "correct horse battery"
WAGES = "车间拖欠工资三个月，多次向班组长反映无人处理，请求尽快补发。"
HEATER = "宿舍热水器坏了两个月，冬天洗澡很困难。"
SECRET = "举报某处长收受供应商礼金，金额巨大。"
ABOUT_LI = "李专员处理我上次的工资投诉时态度恶劣。"
HEADERS_ZH = [
    "案件编号",
    "登记日期",
    "承办单位",
    "类别",
    "状态",
    "承办人",
    "下一期限",
    "是否超期",
    "来源渠道",
    "满意度",
]
HEADERS_EN = [
    "Case number",
    "Registered",
    "Unit",
    "Category",
    "State",
    "Owner",
    "Next deadline",
    "Overdue",
    "Channel",
    "Satisfaction",
]


@dataclass
class Desk:
    """The seeded ledger: officers by login and the interesting cases by name."""

    web: WebServer
    officers: dict[str, int]
    cases: dict[str, int]
    fillers: list[int]


@pytest.fixture
async def web(env, keys, clock):
    """The web channel on a fresh database."""
    async with web_server(load_settings(env), keys[0], clock) as server:
        yield server


async def _set_text(web: WebServer, case_id: int, text: str) -> None:
    """Give a seeded case its petition text, encrypted and indexed as intake does."""
    vault = web.container.uow.vault
    async with web.container.uow() as uow:
        ct = vault.encrypt_text(text, aad("cases", case_id, "description"))
        await uow.session.execute(
            update(CaseRow).where(CaseRow.id == case_id).values(description_ct=ct)
        )
        await uow.search.index(case_id, text)
        await uow.commit()


@pytest.fixture
async def desk(web: WebServer) -> Desk:
    """Officers of every role and cases that tell the filters apart."""
    c = web.container
    officers = {
        "li": await add_web_officer(c, "李专员", "li", PASSWORD),
        "wang": await add_web_officer(c, "王专员", "wang", PASSWORD),
        "ji": await add_web_officer(c, "纪检员", "ji", PASSWORD, Role.DISCIPLINE),
        "boss": await add_web_officer(c, "张书记", "boss", PASSWORD, Role.LEADER),
        "keeper": await add_web_officer(c, "保管人", "keeper", PASSWORD, Role.CUSTODIAN),
    }
    now = c.services.clock()
    day = timedelta(days=1)
    named = {
        # mine, pay, unit 1, registered 10 days ago, deadline in 5 days, web
        "wages": {
            "created_at": now - 10 * day,
            "deadline_at": now + 5 * day,
            "owner_officer_id": officers["li"],
            "unit": "第一车间",
            "state": "accepted",
            "channel": "web",
        },
        # unassigned, labor, unit 2, overdue
        "heater": {
            "created_at": now - 40 * day,
            "deadline_at": now - 2 * day,
            "unit": "第二车间",
            "state": "in_progress",
            "category": "labor",
            "channel": "wecom",
        },
        "secret": {"created_at": now - 3 * day, "category": "discipline", "priority": 1},
        "about_li": {"created_at": now - 4 * day, "excluded_officer_id": officers["li"]},
        "closed": {
            "created_at": now - 90 * day,
            "state": "closed",
            "closed_at": now - 20 * day,
            "owner_officer_id": officers["wang"],
        },
    }
    ids = await seed_cases(c, list(named.values()))
    cases = dict(zip(named, ids, strict=True))
    # Many more, a day apart, with deadlines in a different order than their dates.
    fillers = await seed_cases(
        c,
        [
            {
                "created_at": now - (20 + n) * day,
                "deadline_at": now + ((n * 7) % 30 + 1) * day,
                "state": "registered" if n % 2 else "accepted",
            }
            for n in range(30)
        ],
    )
    for name, text in (
        ("wages", WAGES),
        ("heater", HEATER),
        ("secret", SECRET),
        ("about_li", ABOUT_LI),
    ):
        await _set_text(web, cases[name], text)
    async with c.uow() as uow:
        uow.session.add(
            FeedbackRow(
                case_id=cases["closed"],
                kind="satisfaction",
                token_index="t" * 64,
                created_at=now - 25 * day,
                answered_at=now - 24 * day,
                rating="satisfied",
            )
        )
        await uow.commit()
    return Desk(web, officers, cases, fillers)


async def _officer(web: WebServer, login: str) -> WebOfficer:
    officer = WebOfficer(web.base)
    await officer.open()
    status, _ = await officer.login(login, PASSWORD)
    assert status == 200
    return officer


async def _get(officer: WebVisitor, path: str, **query: str) -> tuple[int, Any]:
    async with officer.http.get(f"{officer.base}{path}", params=query) as resp:
        body = await resp.read()
        kind = resp.headers.get("Content-Type", "")
        if kind.startswith("application/json"):
            import json

            return resp.status, json.loads(body)
        return resp.status, (body, dict(resp.headers))


async def _ledger(officer: WebOfficer, **query: str) -> dict[str, Any]:
    status, data = await _get(officer, "/api/officer/cases", **query)
    assert status == 200, (status, data)
    return data


def _numbers(data: dict[str, Any]) -> list[str]:
    return [row["number"] for row in data["rows"]]


def _ids(data: dict[str, Any]) -> set[int]:
    return {row["id"] for row in data["rows"]}


async def _walk(officer: WebOfficer, **query: str) -> list[int]:
    """Every row of a view, page by page (下一页), then back again (上一页)."""
    forward: list[list[int]] = []
    data = await _ledger(officer, limit="7", **query)
    assert data["prev"] is None
    while True:
        forward.append([row["id"] for row in data["rows"]])
        if data["next"] is None:
            break
        data = await _ledger(officer, limit="7", after=data["next"], **query)
    backward = [forward[-1]]
    while data["prev"] is not None:
        data = await _ledger(officer, limit="7", before=data["prev"], **query)
        backward.append([row["id"] for row in data["rows"]])
    assert list(reversed(backward)) == forward  # the same pages, the other way round
    return [case_id for page in forward for case_id in page]


async def test_the_ledger_needs_a_signed_in_officer_and_readable_parameters(desk):
    async with WebVisitor(desk.web.base) as stranger:
        status, _ = await _get(stranger, "/api/officer/cases")
        assert status == 401
        status, _ = await _get(stranger, "/api/officer/cases.xlsx")
        assert status == 401
    officer = await _officer(desk.web, "li")
    async with officer:
        for bad in ({"sort": "name"}, {"state": "lost"}, {"from": "yesterday"}, {"after": "zz"}):
            status, data = await _get(officer, "/api/officer/cases", **bad)
            assert status == 400, bad
            assert data == {"error": "bad_request"}


async def test_an_officer_sees_neither_discipline_cases_nor_those_that_keep_them_away(desk):
    officer = await _officer(desk.web, "li")
    async with officer:
        data = await _ledger(officer, state="all", limit="100")
    seen = _ids(data)
    assert desk.cases["secret"] not in seen and desk.cases["about_li"] not in seen
    assert {desk.cases["wages"], desk.cases["heater"], desk.cases["closed"]} <= seen
    assert data["count"] == len(seen) == 3 + len(desk.fillers)


async def test_each_role_gets_its_own_cases_and_counts(desk):
    expected = {
        "wang": 4 + len(desk.fillers),  # not kept away from the complaint about li
        "boss": 4 + len(desk.fillers),  # leaders: every case but the one 纪检 handles
        "ji": 1,  # discipline inspection sees the reports of violations only
        "keeper": 0,  # a custodian sees no case's content
    }
    for login, count in expected.items():
        officer = await _officer(desk.web, login)
        async with officer:
            data = await _ledger(officer, state="all", limit="100")
        assert data["count"] == len(data["rows"]) == count, login
    officer = await _officer(desk.web, "ji")
    async with officer:
        data = await _ledger(officer, state="all")
    assert _ids(data) == {desk.cases["secret"]}


async def test_every_filter_narrows_the_view_and_the_count(desk):
    c, now = desk.cases, desk.web.container.services.clock()
    officer = await _officer(desk.web, "li")
    async with officer:
        open_cases = await _ledger(officer, limit="100")
        assert c["closed"] not in _ids(open_cases)  # the default view: open cases
        checks = {
            "closed": ({"state": "closed"}, {c["closed"]}),
            "in_progress": ({"state": "in_progress"}, {c["heater"]}),
            "labor": ({"category": "labor", "state": "all"}, {c["heater"]}),
            "discipline": ({"category": "discipline", "state": "all"}, set()),
            "unit": ({"unit": "第一车间"}, {c["wages"]}),
            "overdue": ({"overdue": "1"}, {c["heater"]}),
            "mine": ({"mine": "1", "state": "all"}, {c["wages"]}),
            "dates": (
                {
                    "from": (now - timedelta(days=11)).date().isoformat(),
                    "to": (now - timedelta(days=9)).date().isoformat(),
                },
                {c["wages"]},
            ),
        }
        for name, (query, expected) in checks.items():
            data = await _ledger(officer, **query)
            assert _ids(data) == expected, name
            assert data["count"] == len(expected), name
        unassigned = await _ledger(officer, unassigned="1", limit="100")
        assert c["heater"] in _ids(unassigned) and c["wages"] not in _ids(unassigned)
        assert unassigned["count"] == len(unassigned["rows"])


async def test_rows_carry_every_column_in_the_page_language(desk):
    officer = await _officer(desk.web, "li")
    async with officer:
        [wages] = (await _ledger(officer, unit="第一车间"))["rows"]
        [closed] = (await _ledger(officer, state="closed"))["rows"]
        [heater] = (await _ledger(officer, overdue="1", locale="en"))["rows"]
    assert wages["number"].startswith("XF-2026-")
    assert wages["registered"] == "2026-02-20"
    assert (wages["unit"], wages["category"], wages["state"]) == ("第一车间", "薪酬福利", "已受理")
    assert (wages["owner"], wages["channel"], wages["overdue"]) == ("李专员", "网页", False)
    assert wages["deadline"] == "2026-03-07"
    assert closed["owner"] == "王专员" and closed["satisfaction"] == "满意"
    assert closed["deadline"] == ""
    assert heater["overdue"] is True and heater["overdue_text"] == "Yes"
    assert heater["channel"] == "WeCom" and heater["state"] == "in progress"


@pytest.mark.parametrize("sort", ["deadline", "-deadline", "created", "-created", "number"])
async def test_each_sort_pages_forward_and_back_over_the_same_order(desk, sort):
    officer = await _officer(desk.web, "li")
    async with officer:
        walked = await _walk(officer, sort=sort, state="all")
        whole = await _ledger(officer, sort=sort, state="all", limit="100")
    assert walked == [row["id"] for row in whole["rows"]]
    rows = whole["rows"]
    key = sort.lstrip("-")
    if key == "number":
        assert walked == sorted(walked)
    else:
        column = "registered" if key == "created" else "deadline"
        dated = [row[column] for row in rows if row[column]]
        assert dated == sorted(dated, reverse=sort.startswith("-"))
        if key == "deadline":  # cases without a deadline last, first when descending
            undated = [i for i, row in enumerate(rows) if not row["deadline"]]
            assert undated
            edge = undated[0] if sort.startswith("-") else undated[-1]
            assert edge == (0 if sort.startswith("-") else len(rows) - 1)


async def test_number_sorts_descending_too(desk):
    officer = await _officer(desk.web, "li")
    async with officer:
        walked = await _walk(officer, sort="-number", state="all")
    assert walked == sorted(walked, reverse=True) and len(walked) == 3 + len(desk.fillers)


async def test_search_finds_a_chinese_substring_and_a_case_number_but_nothing_hidden(desk):
    c = desk.cases
    officer = await _officer(desk.web, "li")
    async with officer:
        found = await _ledger(officer, q="拖欠工资", state="all")
        assert _ids(found) == {c["wages"]} and found["count"] == 1
        both = await _ledger(officer, q="工资", state="all")
        # "工资" is also in the complaint about li, which li may not see.
        assert _ids(both) == {c["wages"]}
        number = (await _ledger(officer, unit="第一车间"))["rows"][0]["number"]
        for typed in (number, number.lower(), number.split("-", 1)[1], str(c["wages"])):
            assert _ids(await _ledger(officer, q=typed, state="all")) == {c["wages"]}, typed
        assert (await _ledger(officer, q="礼金", state="all"))["rows"] == []
        hidden = await _ledger(officer, q=str(c["secret"]), state="all")
        assert hidden["rows"] == [] and hidden["count"] == 0
        short = await _ledger(officer, q="薪", state="all")
        assert short["rows"] == [] and "至少" in short["notice"]
    ji = await _officer(desk.web, "ji")
    async with ji:
        assert _ids(await _ledger(ji, q="礼金", state="all")) == {c["secret"]}


async def test_search_confirms_candidates_so_scattered_bigrams_do_not_match(desk):
    scattered = desk.fillers[0]
    await _set_text(desk.web, scattered, "工资拖了，欠工很久")  # 拖欠 nowhere, 工资 and 欠工 yes
    officer = await _officer(desk.web, "li")
    async with officer:
        data = await _ledger(officer, q="拖欠工资", state="all")
        assert _ids(data) == {desk.cases["wages"]}
        two_terms = await _ledger(officer, q="工资  很久", state="all")
        assert _ids(two_terms) == {scattered}


async def test_too_many_candidates_fall_back_to_the_token_match_and_say_so(desk, monkeypatch):
    monkeypatch.setattr(ledger, "CONFIRM_LIMIT", 0)
    officer = await _officer(desk.web, "li")
    async with officer:
        data = await _ledger(officer, q="拖欠工资", state="all")
    assert _ids(data) == {desk.cases["wages"]}
    assert "字词匹配" in data["notice"]


async def test_a_petition_filed_on_the_web_is_found_by_its_words(web):
    await add_web_officer(web.container, "李专员", "li", PASSWORD)
    async with WebVisitor(web.base) as employee:
        await employee.file_petition("食堂饭菜价格上涨但分量减少，希望公开成本。", evidence=False)
        await employee.say("/track")
    officer = await _officer(web, "li")
    async with officer:
        data = await _ledger(officer, q="分量减少")
    assert data["count"] == 1 and len(data["rows"]) == 1


async def test_reindex_rebuilds_the_tokens_and_forget_removes_them(desk):
    c = desk.web.container
    async with c.uow() as uow:
        before = await uow.session.execute(select(func.count()).select_from(SearchTokenRow))
        count_before = before.scalar_one()
        await uow.session.execute(SearchTokenRow.__table__.delete())
        await uow.commit()
    out = io.StringIO()
    assert await reindex_all(c.uow, batch=10, out=out) == 0
    # The command line speaks zh_CN unless told otherwise (bot/cli/common.py).
    assert "完成：已索引 35 件" in out.getvalue()
    assert "已索引 10/35 件" in out.getvalue()
    async with c.uow() as uow:
        after = await uow.session.execute(select(func.count()).select_from(SearchTokenRow))
        assert after.scalar_one() >= count_before
        await uow.search.forget(desk.cases["wages"])
        await uow.commit()
    officer = await _officer(desk.web, "li")
    async with officer:
        assert (await _ledger(officer, q="拖欠工资", state="all"))["rows"] == []


async def test_the_token_table_holds_keyed_hashes_and_no_text(desk):
    async with desk.web.container.uow() as uow:
        rows = (await uow.session.execute(select(SearchTokenRow.token))).scalars().all()
        plain = uow.search.token_hash("工资")
    assert rows and all(isinstance(token, int) for token in rows)
    assert plain in rows  # the same token hashes the same (which is what search needs) ...
    assert hash("工资") not in rows  # ... under the keyring's pepper, not a public function


async def test_the_case_page_shows_the_card_timeline_and_actions_and_is_audited(desk):
    c = desk.cases
    officer = await _officer(desk.web, "li")
    async with officer:
        status, data = await _get(officer, f"/api/officer/cases/{c['wages']}")
        assert status == 200
        status_hidden, hidden = await _get(officer, f"/api/officer/cases/{c['about_li']}")
        status_gone, _ = await _get(officer, "/api/officer/cases/999999")
    assert status_hidden == status_gone == 404 and hidden == {"error": "not_found"}
    assert data["row"]["number"].startswith("XF-") and WAGES in data["card"]["text"]
    payloads = [b["payload"] for row in data["card"]["buttons"] for b in row]
    assert f"o:view:{c['wages']}" in payloads
    assert any(p.startswith("o:") and p.endswith(f":{c['wages']}") for p in payloads)
    assert data["timeline"]["text"]
    async with desk.web.container.uow() as uow:
        entries = await uow.audit.list(c["wages"])
    assert [e["action"] for e in entries if e["case_id"] == c["wages"]] == ["case.view"]


async def _download(officer: WebOfficer, path: str, **query: str) -> tuple[bytes, dict[str, str]]:
    status, found = await _get(officer, path, **query)
    assert status == 200, (status, found)
    body, headers = found
    return body, headers


async def test_the_filtered_view_exports_to_xlsx_with_chinese_headers(desk):
    officer = await _officer(desk.web, "li")
    async with officer:
        view = await _ledger(officer, state="all", sort="created", limit="100")
        body, headers = await _download(
            officer, "/api/officer/cases.xlsx", state="all", sort="created"
        )
    assert headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(body)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == HEADERS_ZH
    assert [r[0] for r in rows[1:]] == _numbers(view)
    wages = next(r for r in rows if r[2] == "第一车间")
    assert wages[3:] == ["薪酬福利", "已受理", "李专员", "2026-03-07", "否", "网页", None]


async def test_an_english_page_exports_english_headers_and_csv_opens_in_excel(desk):
    officer = await _officer(desk.web, "li")
    async with officer:
        body, _ = await _download(officer, "/api/officer/cases.xlsx", locale="en", overdue="1")
        raw, headers = await _download(officer, "/api/officer/cases.csv", unit="第一车间")
        raw_en, _ = await _download(officer, "/api/officer/cases.csv", locale="en", state="closed")
    rows = [list(r) for r in load_workbook(io.BytesIO(body)).active.iter_rows(values_only=True)]
    assert rows[0] == HEADERS_EN and len(rows) == 2 and rows[1][7] == "Yes"
    assert headers["Content-Type"].startswith("text/csv")
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == HEADERS_ZH and len(table) == 2 and table[1][2] == "第一车间"
    table_en = list(csv.reader(io.StringIO(raw_en.decode("utf-8-sig"))))
    assert table_en[0] == HEADERS_EN and table_en[1][9] == "Satisfied"


async def test_exports_are_audited_without_the_search_text(desk):
    officer = await _officer(desk.web, "li")
    async with officer:
        await _download(officer, "/api/officer/cases.csv", q="拖欠工资", state="all")
        await _download(officer, "/api/officer/cases.xlsx", mine="1")
    async with desk.web.container.uow() as uow:
        entries = [e for e in await uow.audit.list() if e["action"] == "cases.export"]
    assert len(entries) == 2
    first, second = (e["detail"] for e in entries)
    assert first["rows"] == 1 and first["format"] == "csv"
    assert first["filters"]["search"] is True and first["filters"]["state"] == "all"
    assert "拖欠" not in repr(entries)
    assert second["rows"] == 1 and second["filters"]["mine"] is True
    assert all(e["actor_officer_id"] == desk.officers["li"] for e in entries)


async def test_an_export_past_the_limit_is_refused_with_a_translated_message(desk, monkeypatch):
    monkeypatch.setattr(ledger, "EXPORT_LIMIT", 5)
    officer = await _officer(desk.web, "li")
    async with officer:
        status, data = await _get(officer, "/api/officer/cases.xlsx")
        status_en, data_en = await _get(officer, "/api/officer/cases.csv", locale="en")
        status_ok, _ = await _get(officer, "/api/officer/cases.csv", unit="第一车间")
    assert status == status_en == 413 and status_ok == 200
    assert data["error"] == "export_too_many" and "缩小" in data["message"]
    assert "Narrow the filters" in data_en["message"]
    async with desk.web.container.uow() as uow:
        entries = [e for e in await uow.audit.list() if e["action"] == "cases.export"]
    assert len(entries) == 1  # only the export that happened


async def test_a_count_past_the_cap_says_more_than_the_cap_in_the_page_language(desk, monkeypatch):
    t = desk.web.container.translator.t
    officer = await _officer(desk.web, "li")
    async with officer:
        exact = await _ledger(officer, state="all")
        assert exact["count_over"] is False
        assert exact["count_text"] == t("ledger.count", "zh_CN", count=exact["count"])
        monkeypatch.setattr(ledger, "COUNT_CAP", 2)
        over = await _ledger(officer, state="all")
        english = await _ledger(officer, state="all", locale="en")
    assert over["count_over"] is True and over["count"] == 3
    assert over["count_text"] == "2 件以上" and english["count_text"] == "more than 2 cases"
    assert _ids(over) == _ids(exact)  # the rows do not depend on the count
