"""Scoping in the admin chats (issue 13, item 3), table-driven over every officer command and
every kind of button an officer can press, through the channel-independent handlers on
SQLite and PostgreSQL: an officer of plant A cannot list, open or act on plant B's cases, a
plant officer never sees a 纪检 case, the company office above both plants sees both, and
the root sees all. Every (action × person × case) row is compared with one oracle written
from the rule (tests/helpers/scoping.py ``may_see``); the failures are collected and listed
together, and the table is checked to cover every command and button kind there is."""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

import bot.stats
from bot.container import Container
from handlers.forms import FORMS
from handlers.inbound import Reply
from handlers.officer import OFFICER_COMMANDS
from handlers.payloads import (
    CARD_VERBS,
    RECEPTION_VERBS,
    CaseButton,
    Confirm,
    Edit,
    Fix,
    FormCancel,
    ListPage,
    MatterButton,
    Payload,
    Pick,
    PickPage,
    Preset,
    ReceptionButton,
    encode,
)
from handlers.ports import CaseCursor
from handlers.unit_chats import UnitChat, admin_routes
from petitions.reception import SlotDraft
from petitions.roles import Role
from petitions.units import Unit, UnitTree
from tests.helpers.chat import ChatUser, text_of
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.flow import admin_chat
from tests.helpers.scoping import (
    CASE,
    CASES,
    PEOPLE,
    UNIT_NAME,
    UNITS,
    CaseSpec,
    Person,
    World,
    build_world,
    covers,
    may_see,
    restore,
    snapshot,
    unrelated_units,
)

Send = Callable[[ChatUser, World, CaseSpec, Person], Awaitable[list[Reply]]]


def _say(template: str) -> Send:
    async def send(chat: ChatUser, w: World, c: CaseSpec, p: Person) -> list[Reply]:
        text = template.format(n=w.numbers[c.key], id=w.cases[c.key], me=w.officers[p.key])
        return await chat.say(text)

    return send


def _press(make: Callable[[World, CaseSpec], Payload]) -> Send:
    async def send(chat: ChatUser, w: World, c: CaseSpec, p: Person) -> list[Reply]:
        return await chat.press(encode(make(w, c)))

    return send


async def _reply_to_card(chat: ChatUser, w: World, c: CaseSpec, p: Person) -> list[Reply]:
    # A reply to the case's message in the admin chat (the explicit informal answer).
    return await chat.say("请补充加班记录。", case_ref=w.cases[c.key])


@dataclass(frozen=True)
class CaseAction:
    """One way to reach a case. ``roles``: who may use it at all (None: everyone who may
    see the case); ``shows`` the case's text when allowed; ``stale``: a form's button that
    no open form expects, refused for everyone."""

    name: str
    send: Send
    roles: frozenset[Role] | None = None
    shows: bool = False
    stale: bool = False
    # A further rule of the act beyond seeing the case (督办, 交办, 上报), from the issue.
    when: Callable[[Person, CaseSpec], bool] | None = None


def _handles(person: Person, case: CaseSpec) -> bool:
    # Officers and leaders handle ordinary cases; 纪检 (with a leader's rights) its own.
    discipline = case.category == "discipline" or case.conflict == "discipline"
    return (
        person.role is Role.DISCIPLINE
        if discipline
        else person.role
        in (
            Role.OFFICER,
            Role.LEADER,
        )
    )


def _may_supervise(person: Person, case: CaseSpec) -> bool:
    """督办: leaders (纪检 on its cases) of a unit above the office holding the step."""
    discipline = case.category == "discipline" or case.conflict == "discipline"
    leads = person.role is (Role.DISCIPLINE if discipline else Role.LEADER)
    above = person.unit in (None, "JT") or (person.unit != case.unit)
    return leads and above


def _may_assign_down(person: Person, case: CaseSpec) -> bool:
    """交办: an office with units below it (or without a unit: the whole group)."""
    has_units_below = person.unit is None or any(p == person.unit for _c, _n, p in UNITS)
    return _handles(person, case) and has_units_below


def _may_link(person: Person, case: CaseSpec) -> bool:
    """集体诉求: the offices handling petitions (纪检's never join a matter)."""
    return person.role in (Role.OFFICER, Role.LEADER)


def _may_clear_urgent(person: Person, case: CaseSpec) -> bool:
    """解除紧急: the leaders (纪检 on its cases); the seeded cases are open."""
    discipline = case.category == "discipline" or case.conflict == "discipline"
    return person.role is (Role.DISCIPLINE if discipline else Role.LEADER)


OFFICE_ACT_RULES: dict[str, Callable[[Person, CaseSpec], bool]] = {
    "supervise": _may_supervise,
    "assign_down": _may_assign_down,
    # 集体诉求 (handlers/collective.py): the command, the card's buttons.
    "collective": _may_link,
    "separate": _may_link,
    "link": _may_link,
    "unlink": _may_link,
    "noturgent": _may_clear_urgent,
}


# Typed commands naming a case (every one of handlers/officer.py's that takes REF).
CASE_COMMANDS: dict[str, str] = {
    "case": "/case {n}",
    "take": "/take {n} 由我接手",
    "accept": "/accept {n}",
    "reject": "/reject {n} arbitration 属于劳动争议，请申请仲裁",
    "transfer": "/transfer {n} JT-B-1 属乙一厂管辖",
    "begin": "/begin {n}",
    "extend": "/extend {n} 10 需要补充调查",
    "respond": "/respond {n} explained 已按制度说明",
    "reviewstart": "/reviewstart {n}",
    "reviewdone": "/reviewdone {n} explained 经复查维持原答复",
    "recheckstart": "/recheckstart {n}",
    "recheckdone": "/recheckdone {n} explained 经复核维持",
    "close": "/close {n}",
    "note": "/note {n} 内部备注：已电话联系车间",
    "answer": "/answer {n} 已收到，正在办理",
    "assign": "/assign {n} {me} 由我承办",
    "supervise": "/supervise {n} 5 请加快办理",
    "assigndown": "/assigndown {n} JT-A-2 5 请核实后上报",
    # Visible but owing no report in this world: "nothing to report", not a refusal.
    "report": "/report {n} 已核实完毕",
    # With no similar petition or matter in this world: "nothing to link", not a refusal.
    "collective": "/collective {n}",
    "separate": "/separate {n}",
    # Not urgent in this world: "not marked", not a refusal.
    "noturgent": "/noturgent {n}",
}
LIST_WORDS = ("open", "mine", "unassigned", "overdue", "all")
# Commands about no one case: checked by their own rows below.
OTHER_COMMANDS = {
    "cases",
    "ohelp",
    "stats",
    "slots",
    "disclosures",
    "approve_disclosure",
    "warnings",  # checked by _warnings_rows
}
CASE_VERBS = sorted(CARD_VERBS | {a.value for a in FORMS})
# Reception buttons naming a booking (of the case) or the case itself (包案).
BOOKING_VERBS = ("held", "reso", "cont")
CASE_RECEPTION_VERBS = ("take",)
NO_CASE_RECEPTION_VERBS = ("list", "new", "quit", "min", "cap", "online", "publish")
LEADERS = frozenset({Role.LEADER})

CASE_ACTIONS: tuple[CaseAction, ...] = (
    *(
        CaseAction(
            f"/{name}",
            _say(text),
            shows=name == "case",
            when=OFFICE_ACT_RULES.get(name.replace("assigndown", "assign_down")),
        )
        for name, text in CASE_COMMANDS.items()
    ),
    CaseAction("/case by id", _say("/case {id}"), shows=True),
    CaseAction("reply to the case's message", _reply_to_card),
    *(
        CaseAction(
            f"button {verb}",
            _press(lambda w, c, v=verb: CaseButton(v, w.cases[c.key])),
            shows=verb == "view",
            when=OFFICE_ACT_RULES.get(verb),
        )
        for verb in CASE_VERBS
    ),
    CaseAction(
        "button reception take (包案)",
        _press(lambda w, c: ReceptionButton("take", w.cases[c.key])),
        roles=LEADERS,
    ),
    *(
        CaseAction(
            f"button reception {verb} (a booking of the case)",
            _press(lambda w, c, v=verb: ReceptionButton(v, int(w.notes[f"booking:{c.key}"]))),
            roles=LEADERS,
        )
        for verb in BOOKING_VERBS
    ),
    CaseAction(
        "button confirm without a form",
        _press(lambda w, c: Confirm(w.cases[c.key], 1)),
        stale=True,
    ),
    CaseAction(
        "button edit without a form", _press(lambda w, c: Edit(w.cases[c.key], 1)), stale=True
    ),
    CaseAction(
        "button cancel without a form",
        _press(lambda w, c: FormCancel(w.cases[c.key])),
        stale=True,
    ),
)
# A form's buttons that name no case: refused (stale) for everyone without an open form.
NO_FORM_BUTTONS: tuple[Payload, ...] = (
    Pick("outcome", "explained"),
    Pick("redirect", "court"),
    PickPage("destination", 0),
    Preset("finalized"),
    Fix("reason"),
    FormCancel(0),
)


def zh(container: Container, key: str, **params: object) -> str:
    return container.translator.t(key, "zh_CN", **params)


def test_the_table_covers_every_officer_command_and_button_kind() -> None:
    """A command or a button kind added to the handlers without a row here fails."""
    assert set(CASE_COMMANDS) | OTHER_COMMANDS == set(OFFICER_COMMANDS)
    kinds = set(typing.get_args(Payload))
    covered = {CaseButton, ReceptionButton, Confirm, Edit, FormCancel, ListPage, MatterButton}
    covered |= {type(p) for p in NO_FORM_BUTTONS}
    assert kinds <= covered, kinds - covered
    assert set(BOOKING_VERBS + CASE_RECEPTION_VERBS + NO_CASE_RECEPTION_VERBS) == RECEPTION_VERBS
    assert {a.name for a in CASE_ACTIONS} >= {f"button {v}" for v in CARD_VERBS}


def test_the_oracle_says_what_the_issue_says() -> None:
    """The rule as the issue words it, read off the oracle the tables use."""
    people = {p.key: p for p in PEOPLE}
    ordinary = [c for c in CASES if c.category != "discipline" and c.conflict is None]
    jijian = [c for c in CASES if c not in ordinary]
    # Plant A's officer: not plant A-2's, not plant B's, never a 纪检 case.
    assert not may_see(people["plant_a1"], CASE["b1"])
    assert not may_see(people["plant_a1"], CASE["a2"])
    assert not any(may_see(people[k], c) for k in ("plant_a1", "plant_a2") for c in jijian)
    # The company office sees both plants; the root sees every ordinary case.
    assert may_see(people["company_a"], CASE["a1"]) and may_see(people["company_a"], CASE["a2"])
    assert all(may_see(people["root"], c) for c in ordinary)
    # 纪检: of the unit and above only; the conflict route lands at the company's 纪检.
    assert may_see(people["jijian_a1"], CASE["a1_jijian"])
    assert not may_see(people["jijian_a1"], CASE["a_conflict"])
    assert may_see(people["jijian_a"], CASE["a_conflict"])
    assert not may_see(people["plant_a1"], CASE["a1_excluded"])
    assert not any(may_see(people["keeper"], c) for c in CASES)


async def _reset(container: Container, person: Person) -> None:
    """End whatever form the row left open (the next row starts from an idle chat)."""
    async with container.uow() as uow:
        await uow.conversations.delete("telegram", person.account)
        await uow.commit()


async def _bookings(container: Container, w: World) -> None:
    """A slot of the company's leader and one booking per case (plant B's and the 纪检
    ones as if their case had moved away after the employee booked)."""
    now = container.services.clock()
    draft = SlotDraft(now + timedelta(days=3), 30, "甲公司接访室", False, 20)
    async with container.uow() as uow:
        leader = w.officers["leader_a"]
        slot = await uow.reception.add_slot(leader, w.units["JT-A"], draft, now)
        for c in CASES:
            booking = await uow.reception.book(
                slot.id, w.cases[c.key], starts_after=now, booked_at=now, remind_at=None
            )
            assert booking is not None
            w.notes[f"booking:{c.key}"] = str(booking.id)
        await uow.commit()


def _refusals(container: Container) -> set[str]:
    return {
        zh(container, k) for k in ("error.not_permitted", "error.case_not_found", "error.stale")
    }


async def _case_rows(container: Container, w: World, failures: list[str]) -> None:
    refusals = _refusals(container)
    # Each row starts from the seeded case: an allowed act is undone after its row. The
    # case as it stands, so a refused row is compared with one query.
    current = {c.key: await snapshot(container, w.cases[c.key]) for c in CASES}
    for person in PEOPLE:
        chat = admin_chat(container, person.account)
        for case in CASES:
            visible = may_see(person, case)
            for action in CASE_ACTIONS:
                allowed = (
                    visible
                    and not action.stale
                    and (action.roles is None or person.role in action.roles)
                    and (action.when is None or action.when(person, case))
                )
                before = current[case.key]
                text = text_of(await action.send(chat, w, case, person))
                row = f"{action.name} by {person.key} on {case.key}"
                if allowed:
                    if text in refusals:
                        failures.append(f"{row}: refused ({text})")
                    elif action.shows and case.description not in text:
                        failures.append(f"{row}: the case's text is not shown")
                    await restore(container, before)
                    current[case.key] = await snapshot(container, w.cases[case.key])
                    await _reset(container, person)
                    continue
                if text not in refusals:
                    failures.append(f"{row}: not refused: {text[:80]!r}")
                    await _reset(container, person)
                if w.numbers[case.key] in text or case.description in text:
                    failures.append(f"{row}: the refusal names the case")
                after = await snapshot(container, w.cases[case.key])
                if after != before:
                    failures.append(f"{row}: the case changed")
                    await restore(container, before)
                    current[case.key] = await snapshot(container, w.cases[case.key])


async def _forged_confirm_rows(container: Container, w: World, failures: list[str]) -> None:
    """A form open on a case the officer may act on, and 确认 pressed with another case's
    id: only the form's own case is ever acted on."""
    stale = zh(container, "error.stale")
    for person in PEOPLE:
        chat = admin_chat(container, person.account)
        own = next((c for c in CASES if may_see(person, c)), None)
        if own is None:
            continue
        for case in CASES:
            if case is own:
                continue
            await chat.press(encode(CaseButton("accept", w.cases[own.key])))
            assert encode(Confirm(w.cases[own.key], 1)) in chat.buttons, (person.key, chat.text)
            before = await snapshot(container, w.cases[case.key])
            text = text_of(await chat.press(encode(Confirm(w.cases[case.key], 1))))
            row = f"forged confirm by {person.key} on {case.key} (form on {own.key})"
            if text != stale:
                failures.append(f"{row}: not refused: {text[:80]!r}")
            if await snapshot(container, w.cases[case.key]) != before:
                failures.append(f"{row}: the case changed")
            await _reset(container, person)


def _in_list(which: str, case: CaseSpec, person: Person) -> bool:
    return {
        "open": True,
        "all": True,
        "mine": case.owner == person.key,
        "unassigned": case.owner is None,
        "overdue": case.overdue,
    }[which]


async def _list_rows(container: Container, w: World, failures: list[str]) -> None:
    # Before every deadline: a "next page" button pressed with it lists everything after.
    start = CaseCursor(datetime(1971, 1, 1, tzinfo=UTC), 0).to_text()
    for person in PEOPLE:
        chat = admin_chat(container, person.account)
        for which in LIST_WORDS:
            for how, text in (
                (f"/cases {which}", text_of(await chat.say(f"/cases {which}"))),
                (f"list page {which}", text_of(await chat.press(encode(ListPage(which, start))))),
            ):
                for case in CASES:
                    expected = may_see(person, case) and _in_list(which, case, person)
                    if (w.numbers[case.key] in text) != expected:
                        failures.append(
                            f"{how} by {person.key}: {case.key} "
                            f"{'missing' if expected else 'listed'}"
                        )


def _leaks(w: World, person: Person, text: str) -> list[str]:
    """Numbers of cases the person may not see, and names of units outside their part."""
    found = [c.key for c in CASES if not may_see(person, c) and w.numbers[c.key] in text]
    found += [UNIT_NAME[u] for u in unrelated_units(person) if UNIT_NAME[u] in text]
    return found


async def _no_case_rows(container: Container, w: World, failures: list[str]) -> None:
    """Commands and buttons about no one case: nothing in their answers names a case the
    person may not see or a unit outside their part of the group."""
    stale = zh(container, "error.stale")
    for person in PEOPLE:
        chat = admin_chat(container, person.account)
        inputs: list[tuple[str, Callable[[], Awaitable[list[Reply]]]]] = [
            ("/ohelp", lambda: chat.say("/ohelp")),
            ("/slots", lambda: chat.say("/slots")),
            ("/disclosures", lambda: chat.say("/disclosures")),
            ("/approve_disclosure", lambda: chat.say("/approve_disclosure 1")),
            *(
                (
                    f"button reception {verb}",
                    lambda v=verb: chat.press(encode(ReceptionButton(v, 0))),
                )
                for verb in NO_CASE_RECEPTION_VERBS
            ),
        ]
        for name, send in inputs:
            replies = await send()
            text = text_of(replies)
            text += "".join(
                f.data.decode("utf-8", "replace")
                for r in replies
                for f in r.files
                if f.mime.startswith("text/")
            )
            if leaks := _leaks(w, person, text):
                failures.append(f"{name} by {person.key}: names {leaks}")
            await _reset(container, person)
        for payload in NO_FORM_BUTTONS:
            text = text_of(await chat.press(encode(payload)))
            if text != stale:
                failures.append(f"{payload} by {person.key} without a form: {text[:60]!r}")


async def _stats_rows(container: Container, w: World, failures: list[str]) -> None:
    """``/stats`` counts the cases of the person's part of the group only."""
    for person in PEOPLE:
        chat = admin_chat(container, person.account)
        replies = await chat.say("/stats 2020-01-01")
        if person.role is Role.CUSTODIAN:
            if text_of(replies) != zh(container, "error.not_permitted"):
                failures.append(f"/stats by {person.key}: not refused")
            continue
        units_csv = next(
            (
                f.data.decode("utf-8-sig")
                for r in replies
                for f in r.files
                if f.name.endswith("-units.csv")
            ),
            "",
        )
        if not units_csv:
            failures.append(f"/stats by {person.key}: no per-unit figures")
        text = text_of(replies) + units_csv
        if leaks := _leaks(w, person, text):
            failures.append(f"/stats by {person.key}: names {leaks}")
        named = {code for code, name, _parent in UNITS if name in units_csv}
        if outside := named & unrelated_units(person):
            failures.append(f"/stats by {person.key}: names units {sorted(outside)}")


# 四早: alerted clusters (unit, cases) seeded for /warnings: each company's subtree with
# all its cases (纪检's and one that keeps an officer away among them), and the root's.
WARNING_CLUSTERS = (
    ("JT-A", ("a1", "a2", "a_company", "a1_jijian", "a_conflict", "a1_excluded")),
    ("JT-A-1", ("a1", "a1_jijian", "a1_excluded")),
    ("JT-B", ("b1",)),
    ("JT", tuple(c.key for c in CASES)),
)


async def _link_alert_rows(
    container: Container, w: World, person: Person, alert_ids: list[int], failures: list[str]
) -> None:
    """合并为集体诉求 under each cluster alert: only the cases the person may see are linked,
    only by the offices handling petitions, and the answer names no other case."""
    refusals = _refusals(container)
    chat = admin_chat(container, person.account)
    for alert_id in alert_ids:
        before = {c.key: await snapshot(container, w.cases[c.key]) for c in CASES}
        text = text_of(await chat.press(encode(MatterButton(alert_id))))
        row = f"button link alert {alert_id} by {person.key}"
        changed = [
            c for c in CASES if await snapshot(container, w.cases[c.key]) != before[c.key]
        ]
        if bad := [c.key for c in changed if not (may_see(person, c) and _may_link(person, c))]:
            failures.append(f"{row}: changed {bad}")
        if person.role not in (Role.OFFICER, Role.LEADER) and text not in refusals:
            failures.append(f"{row}: not refused: {text[:60]!r}")
        if leaks := _leaks(w, person, text):
            failures.append(f"{row}: names {leaks}")
        for c in changed:
            await restore(container, before[c.key])
        await _reset(container, person)


async def _warnings_rows(container: Container, w: World, failures: list[str]) -> None:
    """``/warnings``: leaders and officers see the clusters of units in their subtree, each
    with the cases they may see; nothing names a case out of sight; others are refused."""
    now = container.services.clock()
    async with container.uow() as uow:
        for n, (unit, keys) in enumerate(WARNING_CLUSTERS):
            ids = [w.cases[k] for k in keys]
            detail = {"trend": [0, len(ids)], "days": 14}
            await uow.warnings.add_alert(
                "cluster", f"t{n}", w.units[unit], ids[0], ids, detail, now
            )
        await uow.commit()
    alert_ids: list[int] = []
    async with container.uow() as uow:
        since = now - timedelta(days=1)
        alert_ids = [a.id for a in await uow.warnings.alerts("cluster", since)]
    refused = zh(container, "error.not_permitted")
    for person in PEOPLE:
        await _link_alert_rows(container, w, person, alert_ids, failures)
        text = text_of(await admin_chat(container, person.account).say("/warnings"))
        if person.role not in (Role.LEADER, Role.OFFICER):
            if text != refused:
                failures.append(f"/warnings by {person.key}: not refused: {text[:60]!r}")
            continue
        if leaks := _leaks(w, person, text):
            failures.append(f"/warnings by {person.key}: names {leaks}")
        for unit, keys in WARNING_CLUSTERS:
            in_part = person.unit is None or covers(person.unit, unit)
            for key in keys:
                expected = in_part and may_see(person, CASE[key])
                if (w.numbers[key] in text) != expected and expected:
                    failures.append(f"/warnings by {person.key}: {key} of {unit} missing")


async def test_every_command_and_button_reaches_only_the_cases_the_rule_lets_them_see(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One pass over the whole table on this backend; every failing row is listed."""
    # The charts draw the figures the CSV holds (checked); drawing them for every person
    # would only add seconds.
    monkeypatch.setattr(bot.stats, "_draw_charts", lambda *args: (b"", b""))
    w = await build_world(container)
    await _bookings(container, w)
    failures: list[str] = []
    for part in (
        _case_rows,
        _forged_confirm_rows,
        _list_rows,
        _no_case_rows,
        _stats_rows,
        _warnings_rows,
    ):
        await part(container, w, failures)
    assert not failures, f"{len(failures)} failing rows:\n" + "\n".join(failures)


async def test_a_form_opened_before_its_case_moved_away_cannot_be_confirmed(
    container: Container,
) -> None:
    """A plant officer's open form on a case that was then handled at plant B is refused at
    the next press, and the case stays as it was."""
    w = await build_world(container)
    person = next(p for p in PEOPLE if p.key == "plant_a1")
    chat = admin_chat(container, person.account)
    case_id = w.cases["a1"]
    await chat.press(encode(CaseButton("accept", case_id)))
    assert encode(Confirm(case_id, 1)) in chat.buttons, chat.text
    async with container.uow() as uow:
        case = await uow.cases.get(case_id, for_update=True)
        assert case is not None
        case.unit_id = w.units["JT-B-1"]
        await uow.cases.save(case)
        await uow.commit()
    before = await snapshot(container, case_id)
    await chat.press(encode(Confirm(case_id, 1)))
    assert w.numbers["a1"] not in chat.text
    assert chat.text in _refusals(container)
    assert await snapshot(container, case_id) == before


def test_reminders_and_alerts_about_a_case_reach_only_the_chats_of_units_covering_it() -> None:
    """With one admin chat per unit, a case's reminders go to the chats of its unit and the
    units above it (and the root's), never to a plant or company beside it."""
    ids = {code: n for n, (code, _name, _parent) in enumerate(UNITS, start=1)}
    tree = UnitTree(
        Unit(ids[code], code, name, ids[parent] if parent else None, False)
        for code, name, parent in UNITS
    )

    @dataclass(frozen=True)
    class Config:
        admin_channels: tuple[str, ...] = ("telegram",)
        unit_chats: tuple[UnitChat, ...] = tuple(
            UnitChat(code, "telegram", f"-100{n}") for code, n in ids.items() if code != "JT"
        )
        unit_leaders_chats: tuple[UnitChat, ...] = ()
        leaders_chats: tuple[tuple[str, str], ...] = ()

    config = Config()
    failures = []
    for case in CASES:
        chats = {r.chat for r in admin_routes(config, tree, ids[case.unit])}
        for code, n in ids.items():
            if code == "JT":
                continue
            expected = covers(code, case.unit)
            if (f"-100{n}" in chats) != expected:
                failures.append(
                    f"{case.key} → chat of {code}: {'missing' if expected else 'sent'}"
                )
    assert not failures, "\n".join(failures)
