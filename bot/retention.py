"""Retention: the scheduler's purge pass and the forecast behind ``xinfang retention show``.

What goes when (docs/retention.md):

- a closed or withdrawn case's content, ``cases_years`` after its closing: description
  (an encrypted tombstone instead), messages, evidence, event details, feedback comments,
  push address, sealed identity, outbox rows and search tokens; the case row stays with
  its number, category, state, unit, outcome and dates, so statistics stay the same;
- delivered outbox rows (``sent``, ``unreachable``) ``outbox_days`` after they were last
  due, ``failed`` ones after ``failed_outbox_days``; ``pending`` rows never;
- the audit trail never (its hash chain starts at the first entry).

Drafts, processed update ids, web sessions, throttling rows and push addresses are
purged by the scheduler's housekeeping already (bot/scheduler.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta

from bot.settings import RetentionSettings
from i18n import N_
from petitions.retention import years_before
from petitions.roles import Role
from storage.uow import UnitOfWorkFactory

__all__ = [
    "CASE_BATCH",
    "DELIVERED",
    "OUTBOX_BATCH",
    "Forecast",
    "PurgeResult",
    "forecast",
    "purge_due",
]

log = logging.getLogger(__name__)

# Cases purged per transaction: short transactions, other work running in between.
CASE_BATCH = 200
# Outbox rows deleted per transaction.
OUTBOX_BATCH = 5000
# Outbox statuses of a row that reached its recipient or never can (kept outbox_days).
DELIVERED = ("sent", "unreachable")


@dataclass
class PurgeResult:
    """What one purge pass destroyed."""

    cases: int = 0
    outbox: int = 0


def _cases_cutoff(policy: RetentionSettings, at: datetime) -> datetime | None:
    """Cases closed at or before this time are due at ``at`` (None: kept for ever)."""
    if policy.cases_years <= 0:
        return None
    return years_before(at, policy.cases_years)


def _outbox_cutoffs(policy: RetentionSettings, at: datetime) -> list[tuple[str, datetime]]:
    delivered = at - timedelta(days=policy.outbox_days)
    failed = at - timedelta(days=policy.failed_outbox_days)
    return [*((status, delivered) for status in DELIVERED), ("failed", failed)]


async def purge_due(
    uow: UnitOfWorkFactory,
    policy: RetentionSettings,
    now: datetime,
    *,
    batch: int = CASE_BATCH,
) -> PurgeResult:
    """Destroy what the retention periods say is due at ``now``, in short transactions;
    each case's purge is audited (``case.purged``) in the transaction that does it."""
    result = PurgeResult()
    cutoff = _cases_cutoff(policy, now)
    while cutoff is not None:
        async with uow() as work:
            ids = await work.cases.due_for_purge(cutoff, batch)
            if not ids:
                break
            await work.cases.purge_content(ids, now)
            await work.outbox.delete_for_cases(ids)
            for case_id in ids:
                # The ledger search's keyed hashes of the text go with the text.
                await work.search.forget(case_id)
                await work.audit.add(
                    now,
                    Role.SYSTEM,
                    "case.purged",
                    case_id=case_id,
                    detail={"rule": "cases_years", "years": policy.cases_years},
                )
            await work.commit()
        result.cases += len(ids)
        if len(ids) < batch:
            break
    for status, before in _outbox_cutoffs(policy, now):
        while True:
            async with uow() as work:
                deleted = await work.outbox.purge_finished(status, before, OUTBOX_BATCH)
                await work.commit()
            result.outbox += deleted
            if deleted < OUTBOX_BATCH:
                break
    if result.cases or result.outbox:
        log.info("retention: %s case(s) purged, %s outbox row(s)", result.cases, result.outbox)
    return result


@dataclass(frozen=True)
class Forecast:
    """One kind of data: its rule, and how much of it is due now, within 30 days and
    within a year (cumulative; None where the pass does not count it).

    ``kind`` and ``rule`` are in English (logs); ``kind_id``, ``rule_id`` and
    ``rule_params`` are their message ids and fields, for a UI in any language (the
    English catalog says the same words)."""

    kind: str
    rule: str
    now: int | None = None
    days_30: int | None = None
    year: int | None = None
    _: KW_ONLY
    kind_id: str = ""
    rule_id: str = ""
    rule_params: Mapping[str, object] = field(default_factory=dict)


# (kind, its id, rule, its id, the rule's fields): purged by the scheduler's housekeeping.
_HOUSEKEEPING: tuple[tuple[str, str, str, str, dict[str, object]], ...] = (
    (
        "drafts (unsent petitions)",
        N_("cli.retention.kind_drafts"),
        "dropped after XINFANG_DRAFT_TTL_HOURS of silence",
        N_("cli.retention.rule_drafts"),
        {"env": "XINFANG_DRAFT_TTL_HOURS"},
    ),
    (
        "processed update ids",
        N_("cli.retention.kind_processed"),
        "1 day",
        N_("cli.retention.rule_processed"),
        {},
    ),
    (
        "web sessions",
        N_("cli.retention.kind_sessions"),
        "at their expiry (XINFANG_WEB_SESSION_HOURS)",
        N_("cli.retention.rule_sessions"),
        {"env": "XINFANG_WEB_SESSION_HOURS"},
    ),
    (
        "rate-limit counters",
        N_("cli.retention.kind_rate"),
        "after their window (15 minutes at most)",
        N_("cli.retention.rule_rate"),
        {},
    ),
    (
        "push addresses",
        N_("cli.retention.kind_push"),
        "after closing and the follow-up (XINFANG_FOLLOWUP_DAYS + 14 days)",
        N_("cli.retention.rule_push"),
        {"env": "XINFANG_FOLLOWUP_DAYS"},
    ),
    (
        "audit trail",
        N_("cli.retention.kind_audit"),
        "kept for ever (its hash chain is never cut)",
        N_("cli.retention.rule_audit"),
        {},
    ),
)


async def forecast(
    uow: UnitOfWorkFactory, policy: RetentionSettings, now: datetime
) -> list[Forecast]:
    """What the purge pass will destroy: now, within 30 days, within a year."""
    horizons = (now, now + timedelta(days=30), now + timedelta(days=365))
    rows: list[Forecast] = []
    cases = ("closed cases' content and evidence", N_("cli.retention.kind_cases"))
    async with uow() as work:
        if policy.cases_years > 0:
            counts = []
            for at in horizons:
                cutoff = _cases_cutoff(policy, at)
                assert cutoff is not None
                counts.append(await work.cases.count_due_for_purge(cutoff))
            setting = "XINFANG_RETAIN_CASES_YEARS"
            rows.append(
                Forecast(
                    cases[0],
                    f"{policy.cases_years} years after closing ({setting})",
                    *counts,
                    kind_id=cases[1],
                    rule_id=N_("cli.retention.rule_cases"),
                    rule_params={"years": policy.cases_years, "env": setting},
                )
            )
        else:
            setting = "XINFANG_RETAIN_CASES_YEARS=0"
            rows.append(
                Forecast(
                    cases[0],
                    f"kept for ever ({setting})",
                    kind_id=cases[1],
                    rule_id=N_("cli.retention.rule_cases_forever"),
                    rule_params={"env": setting},
                )
            )
        for label, label_id, statuses, days, setting in (
            (
                "delivered outbox rows",
                N_("cli.retention.kind_delivered"),
                DELIVERED,
                policy.outbox_days,
                "XINFANG_RETAIN_OUTBOX_DAYS",
            ),
            (
                "failed outbox rows",
                N_("cli.retention.kind_failed"),
                ("failed",),
                policy.failed_outbox_days,
                "XINFANG_RETAIN_FAILED_OUTBOX_DAYS",
            ),
        ):
            counts = []
            for at in horizons:
                before = at - timedelta(days=days)
                counts.append(sum([await work.outbox.count_finished(s, before) for s in statuses]))
            rows.append(
                Forecast(
                    label,
                    f"{days} days after last due ({setting})",
                    *counts,
                    kind_id=label_id,
                    rule_id=N_("cli.retention.rule_outbox"),
                    rule_params={"days": days, "env": setting},
                )
            )
    rows.extend(
        Forecast(kind, rule, kind_id=kind_id, rule_id=rule_id, rule_params=params)
        for kind, kind_id, rule, rule_id, params in _HOUSEKEEPING
    )
    return rows
