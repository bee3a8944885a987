"""Scoping on the officers' web page (issue 13, item 3), table-driven over every route the
web app registers for officers, against a real aiohttp server on SQLite and PostgreSQL: the
ledger with each filter and search, its exports, the case page, previews and acts, notices,
evidence, the admin chat's feed and live events (reminders and the digest), the unit list
and the audit trail. Each (route × person × case) row is compared with the one oracle of
tests/helpers/scoping.py; a refused case reads exactly like an unknown one (same status,
same body) and never names the case. All failing rows are listed together."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.settings import load_settings
from handlers.ports import OutboxMessage
from petitions.roles import Role
from petitions.states import CaseState
from tests.helpers.databases import (  # noqa: F401 - fixtures
    reused_database_url,
    shared_postgres_database,
)
from tests.helpers.scoping import (
    CASE,
    CASES,
    PASSWORD,
    PEOPLE,
    UNITS,
    CaseSpec,
    Person,
    World,
    build_world,
    covers,
    may_see,
    restore,
    snapshot,
)
from tests.helpers.web import WebOfficer, WebServer, web_server

UNKNOWN = 999_999_999  # a case, attachment and notice id that does not exist
SENTINEL_DAY = "2099-12-31"  # the date of the last (empty) digest: the streams end there
AUDIT_READERS = frozenset({Role.CUSTODIAN, Role.DISCIPLINE})

# Every officer route of the web app and the rows below that check it; a new route without
# an entry here fails test_the_table_covers_every_officer_route.
WEB_ROUTES = {
    "/api/officer/me": "no case data",
    "/api/officer/login": "signs every person in",
    "/api/officer/logout": "signs every person out",
    "/api/officer/feed": "reminders and the digest",
    "/api/officer/send": "commands and buttons",
    "/api/officer/events": "reminders and the digest, live",
    "/api/officer/evidence/{attachment_id}": "each case's evidence",
    "/api/officer/audit": "audit readers",
    "/api/officer/cases": "the ledger, each filter",
    "/api/officer/units": "the unit filter",
    "/api/officer/cases.xlsx": "export",
    "/api/officer/cases.csv": "export",
    "/api/officer/cases/{case_id}": "the case page",
    "/api/officer/cases/{case_id}/preview": "a form's preview",
    "/api/officer/cases/{case_id}/act": "a formal act",
    "/api/officer/cases/{case_id}/notices/{kind}.pdf": "a notice",
    "/api/officer/warnings": "the 预警 view, and similar cases in the ledger",
}
# Routes that are not the officers': the employee's chat, pages and probes.
OTHER_ROUTES = ("/api/chat/", "/api/session", "/api/ui", "/static", "/healthz", "/readyz")
OTHER_PAGES = {"/", "/admin", "/local", "/metrics"}
# The ledger's filters: query string → whether a case the person may see is listed.
LEDGER_FILTERS: dict[str, Any] = {
    "": lambda c, p: True,  # open cases (all are)
    "state=all": lambda c, p: True,
    "state=registered": lambda c, p: True,
    "state=all&mine=1": lambda c, p: c.owner == p.key,
    "state=all&unassigned=1": lambda c, p: c.owner is None,
    "overdue=1": lambda c, p: c.overdue,
    "state=all&category=discipline": lambda c, p: c.category == "discipline",
    "state=all&category=pay": lambda c, p: c.category == "pay",
    "state=all&unit=JT-B-1": lambda c, p: c.unit == "JT-B-1",
    "state=all&unit=JT-A": lambda c, p: covers("JT-A", c.unit),
    "state=all&unit=JT-A-1": lambda c, p: c.unit == "JT-A-1",
    "state=all&sort=-number&limit=3": None,  # paged: checked by walking the pages
}


@pytest.fixture
async def web(env, keys, clock) -> AsyncIterator[WebServer]:
    """The web channel on a fresh database."""
    async with web_server(load_settings(env), keys[0], clock) as server:
        yield server


async def test_the_table_covers_every_officer_route(web: WebServer) -> None:
    """Every route the running app registers is in the table or is not an officer's."""
    found = {r.canonical for r in web.server.app.router.resources()}
    officer = {r for r in found if r.startswith("/api/officer")}
    assert officer == set(WEB_ROUTES), officer ^ set(WEB_ROUTES)
    others = found - officer
    assert all(r in OTHER_PAGES or r.startswith(OTHER_ROUTES) for r in others), others


async def _get(person: WebOfficer, path: str) -> tuple[int, bytes, str]:
    async with person.http.get(f"{person.base}{path}") as resp:
        return resp.status, await resp.read(), resp.headers.get("Content-Type", "")


def _text(body: bytes | dict[str, Any]) -> str:
    """A response as text, JSON with its Chinese unescaped (a leak check reads it)."""
    if isinstance(body, dict):
        return json.dumps(body, ensure_ascii=False)
    text = body.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        return text


def _leak(world: World, case: CaseSpec, text: str) -> bool:
    return world.numbers[case.key] in text or case.description in text


async def _seed_outbox(web: WebServer, world: World) -> None:
    """A reminder per case, the root's digest listing every case, and an empty digest last
    (every stream ends on it), queued for the web admin chat as the scheduler would."""
    c = web.container
    now = c.services.clock()
    async with c.uow() as uow:
        for case in CASES:
            case_id = world.cases[case.key]
            deadline = (now - timedelta(days=1)).isoformat()
            payload = {"case_id": case_id, "state": "registered", "deadline": deadline}
            await uow.outbox.add(OutboxMessage("admin", "web", "reminder", payload, now, case_id))
            # The acceptance the notice rows read back (受理告知书).
            await uow.cases.add_event(
                case_id,
                "transition",
                now,
                Role.OFFICER,
                from_state=CaseState.REGISTERED,
                to_state=CaseState.ACCEPTED,
            )
        items = [
            {
                "number": world.numbers[case.key],
                "state": "registered",
                "deadline": now.isoformat(),
                "owner": None,
                "overdue": case.overdue,
            }
            for case in CASES
        ]
        digest = {"case_id": None, "date": "2030-01-01", "items": items, "overdue": 6}
        await uow.outbox.add(OutboxMessage("admin", "web", "digest", digest, now))
        end = {"case_id": None, "date": SENTINEL_DAY, "items": [], "overdue": 0}
        await uow.outbox.add(OutboxMessage("admin", "web", "digest", end, now))
        await uow.commit()


def _compare(row: str, world: World, person: Person, text: str) -> list[str]:
    """Each case the text names that the person may not see, and each they may that it
    leaves out."""
    out = []
    for case in CASES:
        shown, expected = world.numbers[case.key] in text, may_see(person, case)
        if shown != expected:
            out.append(f"{row}: {case.key} {'shown' if shown else 'missing'}")
    return out


async def _stream_rows(
    web: WebServer, world: World, people: dict[str, WebOfficer], failures: list[str]
) -> None:
    """Every person's live events while the reminders and digests are delivered."""
    async with AsyncExitStack() as stack:
        streams = {
            key: await stack.enter_async_context(p.events("/api/officer/events"))
            for key, p in people.items()
        }
        await web.deliver()
        for person in PEOPLE:
            seen = ""
            while True:
                event = await streams[person.key].next(wait=10)
                text = "\n".join(r["text"] for r in event["replies"])
                if SENTINEL_DAY in text:
                    break
                seen += text + "\n"
            failures += _compare(f"events of {person.key}", world, person, seen)


async def _feed_rows(world: World, people: dict[str, WebOfficer], failures: list[str]) -> None:
    for person in PEOPLE:
        status, data = await people[person.key].feed()
        text = _text(data)
        if status != 200:
            failures.append(f"feed of {person.key}: {status}")
        failures += _compare(f"feed of {person.key}", world, person, text)


async def _case_rows(
    web: WebServer, world: World, people: dict[str, WebOfficer], failures: list[str]
) -> None:
    """The case page, preview, act, notice, evidence and the chat's view, per case."""
    for person in PEOPLE:
        browser = people[person.key]
        act = {"action": "accept", "fields": {}}
        unknown = {
            "page": await _get(browser, f"/api/officer/cases/{UNKNOWN}"),
            "preview": await browser.post(f"/api/officer/cases/{UNKNOWN}/preview", act),
            "act": await browser.post(f"/api/officer/cases/{UNKNOWN}/act", act),
            "notice": await _get(browser, f"/api/officer/cases/{UNKNOWN}/notices/acceptance.pdf"),
            "evidence": await _get(browser, f"/api/officer/evidence/{UNKNOWN}"),
        }
        for case in CASES:
            case_id = world.cases[case.key]
            visible = may_see(person, case)
            before = await snapshot(web.container, case_id)
            answers = {
                "page": await _get(browser, f"/api/officer/cases/{case_id}"),
                "preview": await browser.post(f"/api/officer/cases/{case_id}/preview", act),
                "act": await browser.post(f"/api/officer/cases/{case_id}/act", act),
                "notice": await _get(
                    browser, f"/api/officer/cases/{case_id}/notices/acceptance.pdf"
                ),
                "evidence": await _get(
                    browser, f"/api/officer/evidence/{world.evidence[case.key]}"
                ),
            }
            acting = person.role not in (Role.CUSTODIAN,)
            for name, answer in answers.items():
                row = f"{name} by {person.key} on {case.key}"
                status = answer[0]
                if visible and (name in ("page", "notice", "evidence") or acting):
                    if status != 200:
                        failures.append(f"{row}: {status} {str(answer[1])[:80]}")
                    elif name == "page" and case.description not in _text(answer[1]):
                        failures.append(f"{row}: the case's text is not shown")
                    elif name == "evidence" and answer[1] != f"{case.key} evidence".encode():
                        failures.append(f"{row}: not the case's file")
                    continue
                if answer[:2] != unknown[name][:2]:
                    failures.append(f"{row}: {answer[:2]} unlike an unknown case's")
                if _leak(world, case, _text(answer[1])):
                    failures.append(f"{row}: the refusal names the case")
            after = await snapshot(web.container, case_id)
            if after["row"] != before["row"]:
                if not (visible and acting):
                    failures.append(f"act by {person.key} on {case.key}: the case changed")
                await restore(web.container, before)
            # The chat on the page goes through the same handlers as every channel.
            for body in (
                {"text": f"/case {world.numbers[case.key]}"},
                {"button": f"o:view:{case_id}"},
            ):
                status, data = await browser.send(**body)
                text = _text(data)
                row = f"send {body} by {person.key}"
                if status != 200:
                    failures.append(f"{row}: {status}")
                elif visible != (case.description in text):
                    failures.append(f"{row}: content {'missing' if visible else 'shown'}")
                elif not visible and world.numbers[case.key] in text:
                    failures.append(f"{row}: the refusal names the case")


def _numbers(world: World, text: str) -> set[str]:
    return {c.key for c in CASES if world.numbers[c.key] in text}


async def _ledger_rows(world: World, people: dict[str, WebOfficer], failures: list[str]) -> None:
    for person in PEOPLE:
        browser = people[person.key]
        visible = {c.key for c in CASES if may_see(person, c)}
        for query, keep in LEDGER_FILTERS.items():
            expected = {
                c.key for c in CASES if c.key in visible and (keep is None or keep(c, person))
            }
            status, body, _ = await _get(browser, f"/api/officer/cases?{query}")
            rows: set[str] = set()
            if status == 200:
                data = json.loads(body)
                rows = _numbers(world, str(data["rows"]))
                while keep is None and data["next"]:
                    status, body, _ = await _get(
                        browser, f"/api/officer/cases?{query}&after={data['next']}"
                    )
                    data = json.loads(body)
                    rows |= _numbers(world, str(data["rows"]))
                if data["count"] != len(expected):
                    failures.append(f"ledger {query!r} of {person.key}: count {data['count']}")
            if rows != expected:
                failures.append(f"ledger {query!r} of {person.key}: {sorted(rows ^ expected)}")
        for case in CASES:
            for q in (world.numbers[case.key], str(world.cases[case.key]), case.description):
                status, body, _ = await _get(browser, f"/api/officer/cases?state=all&q={q}")
                rows = _numbers(world, _text(body))
                if not rows <= visible or (case.key in rows) != (case.key in visible):
                    failures.append(f"ledger search {q!r} of {person.key}: {sorted(rows)}")
        status, body, _ = await _get(browser, "/api/officer/cases.csv?state=all")
        rows = {r[0] for r in csv.reader(io.StringIO(body.decode("utf-8-sig")))}
        if _numbers(world, "\n".join(rows)) != visible:
            failures.append(f"csv export of {person.key}: {sorted(_numbers(world, str(rows)))}")
        status, body, _ = await _get(browser, "/api/officer/cases.xlsx?state=all")
        sheet = load_workbook(io.BytesIO(body)).active
        cells = "\n".join(str(r[0]) for r in sheet.iter_rows(values_only=True))
        if _numbers(world, cells) != visible:
            failures.append(f"xlsx export of {person.key}: {sorted(_numbers(world, cells))}")
        status, body, _ = await _get(browser, "/api/officer/units")
        codes = {u["code"] for u in json.loads(body)["units"]}
        mine = {
            code
            for code, _n, _p in UNITS
            if person.unit is None or person.unit == "JT" or covers(person.unit, code)
        }
        if codes != mine:
            failures.append(f"units of {person.key}: {sorted(codes ^ mine)}")
        status, body, _ = await _get(browser, "/api/officer/me")
        if _numbers(world, _text(body)):
            failures.append(f"me of {person.key} names cases")


def _in_unit_scope(person: Person, case: CaseSpec) -> bool:
    return person.unit is None or covers(person.unit, case.unit)


async def _audit_rows(world: World, people: dict[str, WebOfficer], failures: list[str]) -> None:
    """The audit trail: custodians and 纪检 read it, each within their part of the group
    (the role rule does not apply: 纪检 audits how officers handled ordinary cases)."""
    for person in PEOPLE:
        browser = people[person.key]
        status, body, _ = await _get(browser, "/api/officer/audit")
        if person.role not in AUDIT_READERS:
            if status != 404:
                failures.append(f"audit by {person.key}: {status}")
            continue
        entries = json.loads(body)["entries"]
        shown = _numbers(world, str([e["case"] for e in entries]))
        expected = {c.key for c in CASES if _in_unit_scope(person, c)}
        # Every case was opened by someone above, so each has entries.
        if shown != expected:
            failures.append(f"audit by {person.key}: {sorted(shown ^ expected)}")
        unknown = await _get(browser, "/api/officer/audit?case=XF-2099-999999")
        for case in CASES:
            answer = await _get(browser, f"/api/officer/audit?case={world.numbers[case.key]}")
            if _in_unit_scope(person, case):
                if not json.loads(answer[1])["entries"]:
                    failures.append(f"audit of {case.key} by {person.key}: empty")
            elif answer[:2] != unknown[:2]:
                failures.append(f"audit of {case.key} by {person.key}: unlike an unknown one")


async def _warnings_rows(
    web: WebServer, world: World, people: dict[str, WebOfficer], failures: list[str]
) -> None:
    """四早: every case linked with every other, and clusters alerted at each company and the
    root; the 预警 view lists the clusters of the person's part of the group with the cases
    they may see, and the ledger's similar cases are exactly the visible others."""
    c = web.container
    now = c.services.clock()
    clusters = {
        "JT-A": [k.key for k in CASES if covers("JT-A", k.unit)],
        "JT": [k.key for k in CASES],
    }
    async with c.uow() as uow:
        for case in CASES:
            others = [(world.cases[o.key], 0.5) for o in CASES if o is not case]
            await uow.warnings.add_links(world.cases[case.key], others, now)
        for unit, keys in clusters.items():
            ids = [world.cases[k] for k in keys]
            detail = {"trend": [0, len(ids)], "days": 14}
            await uow.warnings.add_alert(
                "cluster", unit, world.units[unit], ids[0], ids, detail, now
            )
        await uow.commit()
    for person in PEOPLE:
        browser = people[person.key]
        status, body, _ = await _get(browser, "/api/officer/warnings")
        if person.role not in (Role.LEADER, Role.OFFICER):
            if status != 403:
                failures.append(f"warnings by {person.key}: {status}")
            continue
        shown = _numbers(world, _text(body))
        expected = {
            k
            for unit, keys in clusters.items()
            if person.unit is None or covers(person.unit, unit)
            for k in keys
            if may_see(person, CASE[k])
        }
        if status != 200 or shown != expected:
            failures.append(f"warnings by {person.key}: {status} {sorted(shown ^ expected)}")
        visible = {k.key for k in CASES if may_see(person, k)}
        # 合并为集体诉求 from each cluster of the view: only cases the person sees change.
        for cluster in json.loads(body)["clusters"] if status == 200 else []:
            before = {k.key: await snapshot(c, world.cases[k.key]) for k in CASES}
            sent, data = await browser.send(button=cluster["link"])
            changed = {
                k.key for k in CASES if await snapshot(c, world.cases[k.key]) != before[k.key]
            }
            if sent != 200 or not changed <= visible:
                failures.append(f"link by {person.key}: {sent} changed {sorted(changed)}")
            if leaked := _numbers(world, _text(data)) - visible:
                failures.append(f"link by {person.key}: names {sorted(leaked)}")
            for key in changed:
                await restore(c, before[key])
        status, body, _ = await _get(browser, "/api/officer/cases?state=all&limit=50")
        for row in json.loads(body)["rows"] if status == 200 else []:
            key = world.case_key(row["id"])
            similar = {world.case_key(s["id"]) for s in row["similar"]}
            if similar != visible - {key}:
                failures.append(f"similar of {key} for {person.key}: {sorted(similar)}")
        for key in sorted(visible):
            status, body, _ = await _get(browser, f"/api/officer/cases/{world.cases[key]}")
            page = json.loads(body)["row"]["similar"] if status == 200 else []
            similar = {world.case_key(s["id"]) for s in page}
            if not similar <= visible - {key}:
                failures.append(f"case page of {key} for {person.key}: {sorted(similar)}")


async def test_every_officer_route_reaches_only_the_cases_the_rule_lets_them_see(
    web: WebServer,
) -> None:
    """One pass over the table on this backend; every failing row is listed."""
    world = await build_world(web.container, web=True)
    await _seed_outbox(web, world)
    failures: list[str] = []
    async with AsyncExitStack() as stack:
        people: dict[str, WebOfficer] = {}
        for person in PEOPLE:
            browser = await stack.enter_async_context(WebOfficer(web.base))
            status, data = await browser.login(person.key, PASSWORD)
            assert status == 200, (person.key, status, data)
            people[person.key] = browser
        await _stream_rows(web, world, people, failures)
        await _feed_rows(world, people, failures)
        await _case_rows(web, world, people, failures)
        await _ledger_rows(world, people, failures)
        await _audit_rows(world, people, failures)
        await _warnings_rows(web, world, people, failures)
        for person in PEOPLE:
            status, data = await people[person.key].post("/api/officer/logout")
            if status != 200 or data != {"officer": None}:
                failures.append(f"logout of {person.key}: {status}")
    assert not failures, f"{len(failures)} failing rows:\n" + "\n".join(failures)
