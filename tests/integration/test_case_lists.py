"""``/cases`` at size: who may see what is filtered in SQL before the page is cut, the header
counts every case the officer may see, pages follow (deadline, id) with a 下一页 button
(keyset: the next page starts after the last case shown), cases without a deadline last."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.container import Container
from petitions.roles import Role
from tests.helpers.chat import ChatUser
from tests.helpers.clock import FakeClock
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import add_officer
from tests.helpers.seeding import seed_cases

NUMBER = re.compile(r"XF-\d{4}-\d{6}")


async def officer_ids(container: Container) -> dict[str, int]:
    async with container.uow() as uow:
        return {o.name: o.id for o in await uow.officers.list()}


async def read_all_pages(user: ChatUser, command: str) -> tuple[list[str], list[str]]:
    """Every case number shown over all pages, and each page's header."""
    await user.say(command)
    numbers: list[str] = []
    headers: list[str] = []
    while True:
        headers.append(user.text.splitlines()[0])
        numbers += NUMBER.findall(user.text)
        nexts = [p for p in user.buttons if p.startswith("o:list:")]
        if not nexts:
            return numbers, headers
        [payload] = nexts
        assert len(payload.encode()) <= 64
        await user.press(payload)


async def test_an_officer_sees_the_true_count_and_every_page_of_the_cases_they_may_see(
    container: Container, clock: FakeClock
) -> None:
    wang = await add_officer(container)
    leader = await add_officer(container, Role.LEADER, account="888", name="赵领导")
    inspector = await add_officer(container, Role.DISCIPLINE, account="999", name="纪检李")
    ids = await officer_ids(container)
    now = clock()
    # Deadlines with ties (every third case shares one), so paging must break ties by id.
    rows = [
        {"deadline_at": now + timedelta(days=1 + i // 3), "category": "pay"} for i in range(45)
    ]
    for row in rows[:5]:  # complaints about how 王专员 handled them: kept from him
        row["excluded_officer_id"] = ids["王专员"]
    rows += [
        {"deadline_at": now + timedelta(days=2 + i), "category": "discipline"} for i in range(25)
    ]
    # Discipline reports are listed first: an ordinary officer's page must not be cut
    # to them before filtering.
    rows += [
        {"deadline_at": now - timedelta(days=1), "category": "discipline", "state": "accepted"}
        for _ in range(40)
    ]
    seeded = await seed_cases(container, rows)
    async with container.uow() as uow:
        number_of = {i: (await uow.cases.get(i)).number for i in seeded}  # type: ignore[union-attr]

    numbers, headers = await read_all_pages(wang, "/cases")
    visible = [number_of[i] for i in seeded[5:45]]  # already in (deadline, id) order
    assert numbers == visible
    assert headers == ["共 40 件：", "共 40 件（续）："]
    assert wang.buttons == {}  # the last page offers no next one

    numbers, headers = await read_all_pages(inspector, "/cases")
    assert len(numbers) == 65 and len(set(numbers)) == 65
    assert headers[0] == "共 65 件：" and len(headers) == 3
    assert set(numbers) == {number_of[i] for i in seeded[45:]}

    # The overdue ones are all reports 纪检 handles: theirs to list, not a leader's.
    numbers, _ = await read_all_pages(inspector, "/cases overdue")
    assert sorted(numbers) == sorted(number_of[i] for i in seeded[70:])
    for staff in (leader, wang):
        await staff.say("/cases overdue")
        assert staff.text == container.translator.t("officer.list_empty", "zh_CN")


async def test_mine_and_unassigned_count_in_sql_and_cases_without_a_deadline_come_last(
    container: Container, clock: FakeClock
) -> None:
    wang = await add_officer(container)
    ids = await officer_ids(container)
    now = clock()
    mine = [
        {
            "owner_officer_id": ids["王专员"],
            "state": "in_progress",
            "deadline_at": now + timedelta(hours=i),
        }
        for i in range(33)
    ]
    unassigned = [{"deadline_at": now + timedelta(days=3)} for _ in range(31)]
    closed = [{"state": "closed", "deadline_at": None, "closed_at": now} for _ in range(35)]
    seeded = await seed_cases(container, mine + unassigned + closed)

    _, headers = await read_all_pages(wang, "/cases mine")
    assert headers[0] == "共 33 件："
    _, headers = await read_all_pages(wang, "/cases unassigned")
    assert headers[0] == "共 31 件："
    numbers, headers = await read_all_pages(wang, "/cases all")
    assert headers[0] == "共 99 件：" and len(headers) == 4
    async with container.uow() as uow:
        expected = [(await uow.cases.get(i)).number for i in seeded]  # type: ignore[union-attr]
    assert numbers == expected  # by deadline, then the undated ones by id


async def test_a_page_button_that_is_malformed_or_names_no_list_is_refused(
    container: Container,
) -> None:
    wang = await add_officer(container)
    stale = container.translator.t("error.stale", "zh_CN")
    for payload in ("o:list:open:zz.q", "o:list:everything:1.1", "o:list:open:"):
        await wang.press(payload)
        assert wang.text == stale
    await wang.press("o:list:open:n7")  # well formed, after the last case: the end
    assert wang.text == container.translator.t("officer.list_end", "zh_CN")
