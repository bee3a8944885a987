"""Early warning in the service (issue 16, docs/early-warning.md): similar petitions linked
at submission, the daily scan for clusters (a group petition in the making) and spikes with
their alerts to leaders, and what ``/warnings`` and the web 预警 view show.

The arithmetic is petitions/warnings; the index lives in the service's memory
(bot/warnings.py, :class:`~handlers.ports.SimilarityLookup`). What leaves here names cases
by number and units by name, with figures; the only text is one petition's opening per
cluster (the matter), masked first by the self-identification detector (petitions/selfid.py)
so a name or a phone number written in it never reaches an alert. 纪检's cases are never
read (storage/warnings.py): no link, cluster or count can tell an officer of them.

Hooks for what comes next: urgent petitions sit beside :func:`link_similar` in the intake,
and 集体诉求 (one answer for a cluster's cases) can start from :class:`ClusterView`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from handlers.access import scoped_filter
from handlers.inbound import Button, Reply
from handlers.labels import CATEGORY
from handlers.notify import queue_routes
from handlers.payloads import CaseButton, MatterButton, encode
from handlers.ports import CaseFilter, Officer, OutboxMessage, PetitionRecord, UnitOfWork
from handlers.services import HandlerConfig, Services
from handlers.turn import Turn
from handlers.unit_chats import AdminRoute, admin_routes, leaders_targets
from petitions.case import Case
from petitions.categories import Category
from petitions.codes import format_case_number
from petitions.deadlines import OFFICE_ZONE
from petitions.errors import NotPermitted
from petitions.retention import destroyed_at
from petitions.roles import Role
from petitions.selfid import compile_staff_pattern, find_identifying, mask
from petitions.statistics import MIN_CELL, OTHER_UNITS
from petitions.units import UnitTree
from petitions.warnings import (
    Cluster,
    ClusterConfig,
    Petition,
    Spike,
    find_spikes,
    opening,
)

__all__ = [
    "ALERT_CLUSTER",
    "ALERT_SPIKE",
    "WARNING_KINDS",
    "WARNING_ROLES",
    "ClusterView",
    "ScanResult",
    "SpikeView",
    "WarningsView",
    "card_similar",
    "current_warnings",
    "link_similar",
    "load_petitions",
    "matter_of",
    "open_records",
    "related_units",
    "render_warning",
    "scan",
    "week_start",
    "similar_buttons",
    "similar_line",
    "sparkline",
    "viewer_similar",
    "warning_lines",
    "warnings_command",
]

ALERT_CLUSTER = "warning_cluster"  # outbox kinds (rendered by render_warning)
ALERT_SPIKE = "warning_spike"
WARNING_KINDS = frozenset({ALERT_CLUSTER, ALERT_SPIKE})
# Who may read /warnings and the web 预警 view (each within their own part of the group):
# leaders, who are alerted, and the petition officers handling the cases. 纪检 and
# custodians see no ordinary case, so nothing here is theirs.
WARNING_ROLES = frozenset({Role.LEADER, Role.OFFICER})
LINK_LIMIT = 20  # similar cases stored per petition at submission (the best ones)
RELATED_LEVELS = 1  # a petition's related units: the subtree of its unit's parent
RELINK_DAYS = 2  # the daily scan links again the petitions of the last days
SPIKE_WEEKS = 26  # weeks of history for the spike baseline
SHOWN_DAYS = 14  # /warnings shows the alerts updated in the last two weeks
BATCH = 1000  # petitions read (and decrypted) at a time
EVENTS_BATCH = 5000  # (id, unit, category, time) rows read at a time for the spikes
SHOWN_NUMBERS = 10  # case numbers on one line before "等"
CASE_BUTTONS = 6  # case buttons under an alert or a card
_SPARK = "▁▂▃▄▅▆▇█"

Progress = Callable[[str, int], None]


# -- reading petitions --------------------------------------------------------------------


def open_records(records: Iterable[PetitionRecord]) -> list[Petition]:
    """Decrypt petitions for the index (CPU work: call it in a worker thread); content
    destroyed under the retention period is left out (every tombstone looks alike)."""
    out: list[Petition] = []
    for record in records:
        text = record.open()
        if destroyed_at(text) is not None:
            continue
        out.append(Petition(record.id, text, record.unit_id, record.category, record.created_at))
    return out


async def load_petitions(
    services: Services, since: datetime, until: datetime, *, progress: Progress | None = None
) -> list[Petition]:
    """The petitions registered in [since, until] (纪检's never), read in batches and
    decrypted in a worker thread, in order of id."""
    out: list[Petition] = []
    after = 0
    while True:
        async with services.uow() as uow:
            batch = await uow.warnings.petitions(since, after_id=after, limit=BATCH)
        if not batch:
            break
        out.extend(p for p in await asyncio.to_thread(open_records, batch) if p.at <= until)
        after = batch[-1].id
        if progress is not None:
            progress("read", len(out))
        if len(batch) < BATCH:
            break
    return out


def petition_of(case: Case) -> Petition:
    """What the early warning reads of a stored case."""
    assert case.id is not None
    return Petition(case.id, case.description, case.unit_id, case.category.value, case.created_at)


def related_units(tree: UnitTree, unit_id: int | None) -> frozenset[int] | None:
    """The units whose petitions may be about the same matter as one of ``unit_id``: the
    subtree of its parent (its own unit, its siblings and theirs); None for every unit (no
    unit, or a unit the tree does not know)."""
    if unit_id is None or tree.get(unit_id) is None:
        return None
    top = tree.above(unit_id, RELATED_LEVELS)
    return tree.subtree(top.id) if top is not None else None


def matter_of(text: str, staff_no_pattern: str | None = None) -> str:
    """A petition's opening as an alert shows it: names, phone numbers, staff numbers and
    the like masked (petitions/selfid.py) before the first characters are taken."""
    staff = compile_staff_pattern(staff_no_pattern) if staff_no_pattern else None
    return opening(mask(text, find_identifying(text, staff_no=staff)))


# -- on submission ------------------------------------------------------------------------


async def link_similar(uow: UnitOfWork, services: Services, case: Case, now: datetime) -> int:
    """Link a newly stored case with the similar recent petitions of its related units (in
    the intake's transaction); returns how many. Skipped while the index is being built
    (the daily scan links those cases later) and for cases 纪检 handles."""
    finder = services.warnings
    if finder is None or case.id is None or case.handled_by_discipline:
        return 0
    units = related_units(await uow.units.tree(), case.unit_id)
    matches = await finder.similar(uow, petition_of(case), units)
    if not matches:
        return 0
    links = [(m.id, m.score) for m in list(matches)[:LINK_LIMIT]]
    return await uow.warnings.add_links(case.id, links, now)


async def viewer_similar(
    uow: UnitOfWork, officer: Officer, case_ids: Sequence[int]
) -> Mapping[int, Sequence[tuple[int, str]]]:
    """The similar cases (id, number) of each case that this officer may see (the ledger's
    rule, in SQL): counts and links never reveal a case out of their sight."""
    return await uow.warnings.links(case_ids, scoped_filter(officer))


async def card_similar(uow: UnitOfWork, case: Case) -> list[tuple[int, str]]:
    """The similar cases a pushed card may name: whoever reads the card may see the case,
    so its unit's subtree (officers' scopes are whole subtrees), ordinary cases keeping no
    officer away. A viewer's own views show theirs (:func:`viewer_similar`)."""
    if case.id is None or case.handled_by_discipline:
        return []
    scope = None
    if case.unit_id is not None:
        tree = await uow.units.tree()
        scope = tree.subtree(case.unit_id) if tree.get(case.unit_id) is not None else None
    flt = CaseFilter(scope=scope, discipline=False)
    found = await uow.warnings.links([case.id], flt, unexcluded=True)
    return list(found.get(case.id, ()))


# -- the scan -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterView:
    """A cluster as shown: unit, cases (id, number), trend and the masked matter."""

    unit_id: int | None
    unit: str
    units: tuple[str, ...]
    cases: tuple[tuple[int, str], ...]
    trend: tuple[int, ...]
    matter: str
    updated_at: datetime
    new: bool = False  # alerted by this scan
    alert_id: int | None = None  # the alert recorded (合并为集体诉求 names it)

    @property
    def count(self) -> int:
        """How many cases are shown."""
        return len(self.cases)


@dataclass(frozen=True)
class SpikeView:
    """A spike as shown: unit, category, the week and its figures."""

    unit_id: int | None
    unit: str
    category: str
    week_start: datetime
    count: int
    baseline: float
    history: tuple[int, ...]
    new: bool = False


@dataclass(frozen=True)
class ScanResult:
    """What a scan found and did."""

    clusters: list[ClusterView]
    spikes: list[SpikeView]
    alerted_clusters: int = 0
    alerted_spikes: int = 0
    linked: int = 0
    petitions: int = 0


def _unit_name(tree: UnitTree, unit_id: int | None, t: Callable[..., str]) -> str:
    unit = tree.get(unit_id) if unit_id is not None else None
    if unit is None:
        return tree.root.name if tree.root is not None else t("warnings.all_units")
    return tree.path_name(unit.id) or unit.name


def _number(p: Petition) -> str:
    return format_case_number(p.at.year, p.id)


def week_start(now: datetime) -> datetime:
    """Monday 00:00 (office time) of the week holding ``now``."""
    local = now.astimezone(OFFICE_ZONE)
    monday = local.date() - timedelta(days=local.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=OFFICE_ZONE)


async def scan(
    services: Services,
    now: datetime,
    *,
    days: int | None = None,
    alert: bool = True,
    progress: Progress | None = None,
) -> ScanResult:
    """The scan: links the petitions of the last days again (those skipped while the index
    was built), finds the clusters of the last ``days`` (default 14) and this week's spikes,
    and (``alert``) alerts the leaders of each new one once. Each step in short
    transactions; the index's similarity work runs in a worker thread."""
    finder = services.warnings
    if finder is None:
        raise RuntimeError("the early warning has no similarity index")
    cfg = ClusterConfig() if days is None else ClusterConfig(days=days)
    await finder.wait()  # the index gives the scan its document frequencies
    async with services.uow() as uow:
        tree = await uow.units.tree()
    window = await load_petitions(
        services, now - timedelta(days=max(cfg.days, RELINK_DAYS)), now, progress=progress
    )
    recent = [p for p in window if p.at >= now - timedelta(days=RELINK_DAYS)]
    linked = await _relink(services, recent, tree, now)
    if progress is not None:
        progress("linked", linked)
    clusters = list(await finder.clusters(window, now=now, tree=tree, config=cfg))
    if progress is not None:
        progress("clusters", len(clusters))
    by_id = {p.id: p for p in window}
    cluster_views, alerted_clusters = await _cluster_alerts(
        services, clusters, by_id, tree, now, cfg, alert=alert
    )
    clustered = {i for c in clusters for i in c.case_ids}
    spike_views, alerted_spikes = await _spike_alerts(
        services, tree, now, alert=alert, clustered=clustered
    )
    return ScanResult(
        cluster_views,
        spike_views,
        alerted_clusters,
        alerted_spikes,
        linked,
        len(window),
    )


async def _relink(
    services: Services, recent: Sequence[Petition], tree: UnitTree, now: datetime
) -> int:
    finder = services.warnings
    assert finder is not None
    linked = 0
    for start in range(0, len(recent), 100):
        async with services.uow() as uow:
            for p in recent[start : start + 100]:
                matches = await finder.similar(uow, p, related_units(tree, p.unit_id))
                if matches:
                    links = [(m.id, m.score) for m in list(matches)[:LINK_LIMIT]]
                    linked += await uow.warnings.add_links(p.id, links, now)
            await uow.commit()
    return linked


async def _cluster_alerts(
    services: Services,
    clusters: Sequence[Cluster],
    by_id: Mapping[int, Petition],
    tree: UnitTree,
    now: datetime,
    cfg: ClusterConfig,
    *,
    alert: bool,
) -> tuple[list[ClusterView], int]:
    """Each cluster compared with those alerted before: found again (sharing at least half
    of the smaller), it updates that alert; new, it alerts its unit's and its parent's
    leaders once."""
    t = services.t
    views: list[ClusterView] = []
    alerted = 0
    async with services.uow() as uow:
        before = list(await uow.warnings.alerts("cluster", now - timedelta(days=90)))
        for cluster in clusters:
            ids = list(cluster.case_ids)
            central = by_id[cluster.central_id]
            matter = matter_of(central.text, services.config.staff_no_pattern)
            previous = max(
                before,
                key=lambda a: _overlap(a.case_ids, ids),
                default=None,
            )
            new = previous is None or _overlap(previous.case_ids, ids) < 0.5
            detail: dict[str, Any] = {"trend": list(cluster.trend), "days": cfg.days}
            if not new and previous is not None:
                members = sorted(set(previous.case_ids) | set(ids))
                if alert:
                    await uow.warnings.update_alert(
                        previous.id,
                        members,
                        detail,
                        now,
                        unit_id=cluster.unit_id,
                        central_id=cluster.central_id,
                    )
            elif alert:
                key = f"{ids[0]}:{now.date().isoformat()}"
                alert_id = await uow.warnings.add_alert(
                    "cluster", key, cluster.unit_id, cluster.central_id, ids, detail, now
                )
                if alert_id is not None:
                    alerted += 1
                    payload = _cluster_payload(tree, cluster, by_id, matter, cfg, t)
                    payload["alert"] = alert_id  # its 合并为集体诉求 button names it
                    await _queue_leaders(
                        uow, services.config, tree, cluster.unit_id, (0, RELATED_LEVELS),
                        cluster.central_id, ALERT_CLUSTER, payload, now,
                    )  # fmt: skip
            views.append(
                ClusterView(
                    unit_id=cluster.unit_id,
                    unit=_unit_name(tree, cluster.unit_id, t),
                    units=tuple(_unit_name(tree, u, t) for u in cluster.unit_ids),
                    cases=tuple((i, _number(by_id[i])) for i in ids),
                    trend=cluster.trend,
                    matter=matter,
                    updated_at=now,
                    new=new,
                )
            )
        await uow.commit()
    return views, alerted


def _overlap(a: Sequence[int], b: Sequence[int]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / min(len(sa), len(sb)) if sa and sb else 0.0


def _cluster_payload(
    tree: UnitTree,
    cluster: Cluster,
    by_id: Mapping[int, Petition],
    matter: str,
    cfg: ClusterConfig,
    t: Callable[..., str],
) -> dict[str, Any]:
    return {
        "unit": _unit_name(tree, cluster.unit_id, t),
        "units": [_unit_name(tree, u, t) for u in cluster.unit_ids],
        "count": cluster.count,
        "days": cfg.days,
        "trend": list(cluster.trend),
        "matter": matter,
        "cases": [[i, _number(by_id[i])] for i in cluster.case_ids],
    }


async def _queue_leaders(
    uow: UnitOfWork,
    config: HandlerConfig,
    tree: UnitTree,
    unit_id: int | None,
    levels: Sequence[int],
    case_id: int | None,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """One message to the leaders of the unit and of the units ``levels`` above it: their
    leaders' chats (each once, the nearest configured at or above each), else the admin
    chats covering the unit, leaders named (as handlers/notify.queue_unit_leaders).

    ``case_id`` is a case of the alert (a cluster's central petition): the admin page's
    feed and WeCom show the row to those who may see that case."""
    chats: list[tuple[str, str]] = []
    units: list[int] = []
    for up in levels:
        above = tree.above(unit_id, up) if unit_id is not None else None
        if above is not None and above.id not in units:
            units.append(above.id)
        for chat in leaders_targets(config, tree, above.id if above is not None else None):
            if chat not in chats:
                chats.append(chat)
    if chats:
        for channel, chat_id in chats:
            body = {"case_id": case_id, "chat_id": chat_id, **payload}
            await uow.outbox.add(OutboxMessage("officer", channel, kind, body, now, case_id))
        return
    routes = [AdminRoute(channel, None) for channel in config.admin_channels]
    if config.unit_chats:
        routes = admin_routes(config, tree, unit_id)
    # The leaders of those units are named (True: every leader, without units).
    named: list[int] | bool = units or True
    await queue_routes(uow, routes, case_id, kind, {**payload, "leaders": named}, now)


async def _spike_alerts(
    services: Services,
    tree: UnitTree,
    now: datetime,
    *,
    alert: bool,
    clustered: set[int] | None = None,
) -> tuple[list[SpikeView], int]:
    """This week's spikes per unit and category (small units pooled), each alerted to the
    unit's leaders once; a rise that is mostly one cluster's petitions (``clustered``) is
    that cluster's alert already, and is shown but not alerted again."""
    start = week_start(now) - timedelta(weeks=SPIKE_WEEKS - 1)
    events: list[tuple[int, int | None, str, datetime]] = []
    after = 0
    while True:
        # Rows are turned into tuples on the event loop: a few thousand per query keep
        # each step short (issue 12: no step holds the loop 50 ms).
        async with services.uow() as uow:
            batch = await uow.warnings.events(start, now, after_id=after, limit=EVENTS_BATCH)
        events.extend(batch)
        if len(batch) < EVENTS_BATCH:
            break
        after = batch[-1][0]
    # Half a year of petitions counted and each spike's cases found: a worker thread's.
    found = await asyncio.to_thread(_spikes_and_cells, events, tree, start)
    t = services.t
    views: list[SpikeView] = []
    alerted = 0
    async with services.uow() as uow:
        for spike, cell in found:
            unit_id = spike.unit if isinstance(spike.unit, int) else None
            unit = _spike_unit(tree, spike, t)
            key = f"{spike.unit}:{spike.category}:{int(spike.rolled)}:{spike.week_start.date()}"
            new = False
            explained = len(cell & (clustered or set())) * 2 >= len(cell) > 0
            if alert and not explained:
                detail = {
                    "count": spike.count,
                    "baseline": spike.baseline,
                    "history": list(spike.history[-8:]),
                    "category": spike.category,
                    "week": spike.week_start.isoformat(),
                    "rolled": spike.rolled,
                    "pooled": spike.unit == OTHER_UNITS,
                }
                added = await uow.warnings.add_alert("spike", key, unit_id, None, [], detail, now)
                new = added is not None
                if new:
                    alerted += 1
                    payload = {
                        "unit": unit,
                        "category": spike.category,
                        "count": spike.count,
                        "baseline": spike.baseline,
                        "history": list(spike.history[-8:]),
                    }
                    sample = max(cell) if cell else None
                    await _queue_leaders(
                        uow, services.config, tree, unit_id, (0,), sample,
                        ALERT_SPIKE, payload, now,
                    )  # fmt: skip
            views.append(
                SpikeView(
                    unit_id,
                    unit,
                    spike.category,
                    spike.week_start,
                    spike.count,
                    spike.baseline,
                    tuple(spike.history[-8:]),
                    new,
                )  # fmt: skip
            )
        await uow.commit()
    return views, alerted


def _spike_unit(tree: UnitTree, spike: Spike, t: Callable[..., str]) -> str:
    if not isinstance(spike.unit, int):
        return t("warnings.other_units")
    name = _unit_name(tree, spike.unit, t)
    return t("warnings.rolled", unit=name) if spike.rolled else name


def _spikes_and_cells(
    events: Sequence[tuple[int, int | None, str, datetime]], tree: UnitTree, start: datetime
) -> list[tuple[Spike, set[int]]]:
    """This week's spikes, each with the cases it counted (CPU work: a worker thread's)."""
    spikes = find_spikes(
        ((u, c, at) for _i, u, c, at in events),
        start=start,
        weeks=SPIKE_WEEKS,
        tree=tree if len(tree) else None,
        last=1,
    )
    totals: dict[int | None, int] = {}
    for _i, unit, _c, _at in events:
        totals[unit] = totals.get(unit, 0) + 1
    return [(spike, _cell_cases(events, spike, tree, start, totals)) for spike in spikes]


def _cell_cases(
    events: Sequence[tuple[int, int | None, str, datetime]],
    spike: Spike,
    tree: UnitTree,
    start: datetime,
    totals: Mapping[int | None, int],
) -> set[int]:
    """The cases a spike counted (``totals``: petitions per unit). Its alert's row names the
    newest: whoever may see that case sees the spike on the admin page (its figures are
    about their part of the group)."""
    inside: Callable[[int | None], bool]
    if isinstance(spike.unit, int):
        members = tree.subtree(spike.unit) if spike.rolled else frozenset({spike.unit})
        inside = members.__contains__
    else:
        inside = lambda unit: unit is None or totals.get(unit, 0) < MIN_CELL  # noqa: E731
    week = timedelta(weeks=1)
    return {
        i
        for i, unit, category, at in events
        if category == spike.category and int((at - start) / week) == spike.week and inside(unit)
    }


# -- what officers see --------------------------------------------------------------------


@dataclass(frozen=True)
class WarningsView:
    """The current clusters and spikes in an officer's part of the group."""

    clusters: list[ClusterView]
    spikes: list[SpikeView]


async def current_warnings(
    uow: UnitOfWork, services: Services, officer: Officer, now: datetime
) -> WarningsView:
    """The clusters and spikes alerted or found again in the last two weeks, of units in
    the officer's scope; a cluster lists (and counts) only the cases they may see."""
    if officer.role not in WARNING_ROLES:
        raise NotPermitted(action="warnings", role=officer.role.value)
    t = services.t
    tree = await uow.units.tree()
    since = now - timedelta(days=SHOWN_DAYS)

    def in_scope(unit_id: int | None) -> bool:
        return officer.scope is None or (unit_id is not None and unit_id in officer.scope)

    clusters: list[ClusterView] = []
    for alert in await uow.warnings.alerts("cluster", since):
        if not in_scope(alert.unit_id):
            continue
        visible = await _visible(uow, officer, alert.case_ids)
        if not visible:
            continue
        shown = alert.central_id if alert.central_id in dict(visible) else visible[0][0]
        case = await uow.cases.get(shown)
        matter = matter_of(case.description, services.config.staff_no_pattern) if case else ""
        if case is not None and destroyed_at(case.description) is not None:
            matter = ""
        clusters.append(
            ClusterView(
                unit_id=alert.unit_id,
                unit=_unit_name(tree, alert.unit_id, t),
                units=(),
                cases=tuple(visible),
                trend=tuple(int(n) for n in alert.detail.get("trend", ())),
                matter=matter,
                updated_at=alert.updated_at,
                alert_id=alert.id,
            )
        )
    spikes: list[SpikeView] = []
    for alert in await uow.warnings.alerts("spike", since):
        d = alert.detail
        if d.get("pooled"):
            if officer.scope is not None:
                continue
            unit = t("warnings.other_units")
        elif not in_scope(alert.unit_id):
            continue
        else:
            name = _unit_name(tree, alert.unit_id, t)
            unit = t("warnings.rolled", unit=name) if d.get("rolled") else name
        spikes.append(
            SpikeView(
                alert.unit_id,
                unit,
                str(d.get("category", "")),
                datetime.fromisoformat(str(d["week"])),
                int(d.get("count", 0)),
                float(d.get("baseline", 0.0)),
                tuple(int(n) for n in d.get("history", ())),
            )
        )
    return WarningsView(clusters, spikes)


async def _visible(
    uow: UnitOfWork, officer: Officer, case_ids: Sequence[int]
) -> list[tuple[int, str]]:
    """The cases among these that the officer may see, as (id, number), in order."""
    if not case_ids:
        return []
    flt = scoped_filter(officer, search_ids=frozenset(case_ids), limit=len(case_ids))
    cases = await uow.cases.list(flt)
    seen = {c.id: c.number or "" for c in cases if c.id is not None}
    return [(i, seen[i]) for i in case_ids if i in seen]


async def warnings_command(turn: Turn, officer: Officer) -> list[Reply]:
    """``/warnings``: the current clusters and spikes of the officer's part of the group."""
    view = await current_warnings(turn.uow, turn.services, officer, turn.now)
    await turn.uow.audit.add(turn.now, officer.role, "warnings.view", actor_officer_id=officer.id)
    t = turn.t
    if not view.clusters and not view.spikes:
        return [Reply(t("warnings.none"))]
    lines = warning_lines(t, view.clusters, view.spikes)
    buttons = [_case_button(t, i, n) for c in view.clusters for i, n in c.cases[:3]]
    rows = tuple(tuple(buttons[i : i + 3]) for i in range(0, min(len(buttons), 9), 3))
    return [Reply("\n".join(lines), rows)]


# -- texts --------------------------------------------------------------------------------


def warning_lines(
    t: Callable[..., str], clusters: Sequence[ClusterView], spikes: Sequence[SpikeView]
) -> list[str]:
    """The header and one line per cluster (numbers, never identities) and spike."""
    lines = [t("warnings.header", clusters=len(clusters), spikes=len(spikes))]
    for c in clusters:
        lines.append(
            t(
                "warnings.cluster_line",
                unit=c.unit,
                count=c.count,
                matter=c.matter or "—",
                trend=_trend_text(c.trend),
                numbers=_numbers(t, [n for _i, n in c.cases]),
            )
        )
    lines.extend(_spike_line(t, s) for s in spikes)
    return lines


def sparkline(values: Sequence[int]) -> str:
    """A small chart of weekly counts in block characters."""
    top = max(values, default=0)
    if top <= 0:
        return _SPARK[0] * len(values)
    steps = len(_SPARK) - 1
    return "".join(_SPARK[min(steps, math.ceil(v / top * steps))] for v in values)


def _trend_text(trend: Sequence[int]) -> str:
    return " → ".join(str(n) for n in trend) or "—"


def _numbers(t: Callable[..., str], numbers: Sequence[str]) -> str:
    shown = "、".join(numbers[:SHOWN_NUMBERS])
    return t("warnings.numbers_more", numbers=shown) if len(numbers) > SHOWN_NUMBERS else shown


def _case_button(t: Callable[..., str], case_id: int, number: str) -> Button:
    return Button(t("warnings.view_case", number=number), encode(CaseButton("view", case_id)))


def _category(t: Callable[..., str], value: str) -> str:
    try:
        return t(CATEGORY[Category(value)])
    except ValueError:
        return value


def _spike_line(t: Callable[..., str], s: SpikeView) -> str:
    return t(
        "warnings.spike_line",
        unit=s.unit,
        category=_category(t, s.category),
        week=s.week_start.astimezone(OFFICE_ZONE).strftime("%Y-%m-%d"),
        count=s.count,
        baseline=f"{s.baseline:.1f}",
        chart=sparkline(s.history),
    )


def similar_line(t: Callable[..., str], similar: Sequence[tuple[int, str]]) -> str:
    """The card's "相似案件 N 件：…" line."""
    return t(
        "warnings.similar_line",
        count=len(similar),
        numbers=_numbers(t, [n for _i, n in similar]),
    )


def similar_buttons(
    t: Callable[..., str], similar: Sequence[tuple[int, str]]
) -> tuple[tuple[Button, ...], ...]:
    """Buttons opening the first similar cases (each opened with the presser's rights)."""
    buttons = [_case_button(t, i, n) for i, n in similar[:3]]
    return (tuple(buttons),) if buttons else ()


def render_warning(tr: Callable[..., str], kind: str, payload: Mapping[str, Any]) -> Reply:
    """An alert's message (the outbox row's payload holds figures, numbers and the masked
    matter; nothing else)."""
    if kind == ALERT_CLUSTER:
        cases = [(int(i), str(n)) for i, n in payload.get("cases", ())]
        text = tr(
            "warnings.cluster_alert",
            unit=payload.get("unit") or "—",
            days=int(payload.get("days", 14)),
            count=int(payload.get("count", len(cases))),
            matter=payload.get("matter") or "—",
            units="、".join(payload.get("units") or ()) or "—",
            trend=_trend_text(payload.get("trend") or ()),
            chart=sparkline(payload.get("trend") or ()),
            numbers=_numbers(tr, [n for _i, n in cases]),
        )
        buttons = [_case_button(tr, i, n) for i, n in cases[:CASE_BUTTONS]]
        rows = tuple(tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3))
        if isinstance(payload.get("alert"), int):
            # 集体诉求: link the alert's petitions (those the presser may see) as one matter.
            link = Button(tr("button.o.link"), encode(MatterButton(payload["alert"])))
            rows = (*rows, (link,))
        return Reply(text, rows)
    history = [int(n) for n in payload.get("history") or ()]
    text = tr(
        "warnings.spike_alert",
        unit=payload.get("unit") or "—",
        category=_category(tr, str(payload.get("category", ""))),
        count=int(payload.get("count", 0)),
        baseline=f"{float(payload.get('baseline', 0.0)):.1f}",
        chart=sparkline(history),
        history=_trend_text(history),
    )
    return Reply(text)
