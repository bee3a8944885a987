"""``xinfang retention show | run [--dry-run]``: what is destroyed when, and a purge now.

Counts only: no case number, text or recipient is printed. The scheduler inside
``xinfang run`` purges on every pass; ``run`` is for an operator who wants it at once
(after lowering a period, say) or wants to see what a pass would do.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import cli_locale, config_of, t
from i18n import N_

__all__ = ["register"]

# bot/retention.py names each kind of data and its rule in English; the table is shown in
# the CLI's language from these ids, keyed by that English name (a kind missing here is
# shown as bot/retention.py names it).
_KINDS = {
    "closed cases' content and evidence": N_("cli.retention.kind_cases"),
    "delivered outbox rows": N_("cli.retention.kind_delivered"),
    "failed outbox rows": N_("cli.retention.kind_failed"),
    "drafts (unsent petitions)": N_("cli.retention.kind_drafts"),
    "processed update ids": N_("cli.retention.kind_processed"),
    "web sessions": N_("cli.retention.kind_sessions"),
    "rate-limit counters": N_("cli.retention.kind_rate"),
    "push addresses": N_("cli.retention.kind_push"),
    "audit trail": N_("cli.retention.kind_audit"),
}


def register(sub: Any) -> None:
    """Add ``retention`` and its actions."""
    ret = sub.add_parser(
        "retention",
        help=t("cli.retention.help"),
        description=t("cli.retention.description", doc="docs/retention.md"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rsub = ret.add_subparsers(
        dest="retention_cmd", required=True, metavar=t("cli.main.metavar_action")
    )
    rsub.add_parser("show", help=t("cli.retention.show_help"))
    run = rsub.add_parser("run", help=t("cli.retention.run_help"))
    run.add_argument("--dry-run", action="store_true", help=t("cli.retention.dry_run_help"))
    ret.set_defaults(handler=_retention)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _rules(policy: Any) -> dict[str, str]:
    """Each kind's rule in the CLI's language, from the same settings bot/retention.py
    reads."""
    years = policy.cases_years
    if years > 0:
        cases = t("cli.retention.rule_cases", years=years, env="XINFANG_RETAIN_CASES_YEARS")
    else:
        cases = t("cli.retention.rule_cases_forever", env="XINFANG_RETAIN_CASES_YEARS=0")
    return {
        "closed cases' content and evidence": cases,
        "delivered outbox rows": t(
            "cli.retention.rule_outbox", days=policy.outbox_days, env="XINFANG_RETAIN_OUTBOX_DAYS"
        ),
        "failed outbox rows": t(
            "cli.retention.rule_outbox",
            days=policy.failed_outbox_days,
            env="XINFANG_RETAIN_FAILED_OUTBOX_DAYS",
        ),
        "drafts (unsent petitions)": t("cli.retention.rule_drafts", env="XINFANG_DRAFT_TTL_HOURS"),
        "processed update ids": t("cli.retention.rule_processed"),
        "web sessions": t("cli.retention.rule_sessions", env="XINFANG_WEB_SESSION_HOURS"),
        "rate-limit counters": t("cli.retention.rule_rate"),
        "push addresses": t("cli.retention.rule_push", env="XINFANG_FOLLOWUP_DAYS"),
        "audit trail": t("cli.retention.rule_audit"),
    }


def _kind(kind: str) -> str:
    key = _KINDS.get(kind)
    return t(key) if key and cli_locale() != "en" else kind


async def _retention(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from bot.retention import forecast, purge_due

    settings = config_of(args)
    container = await build_container(settings, migrate=False)
    try:
        now = utc_now()
        policy = settings.retention
        rows = await forecast(container.uow, policy, now)
        if args.retention_cmd == "run" and not args.dry_run:
            result = await purge_due(container.uow, policy, now)
            print(t("cli.retention.purged", cases=result.cases, outbox=result.outbox))
            return 0
        if args.retention_cmd == "run":
            due = [r for r in rows if r.now is not None]
            for r in due:
                print(t("cli.retention.would_purge", count=r.now, kind=_kind(r.kind)))
            return 0
        async with container.uow() as uow:
            purged = await uow.cases.count_purged()
        print(t("cli.retention.columns"))
        # English as bot/retention.py words it; another language from the catalogs.
        rules = _rules(policy) if cli_locale() != "en" else {}
        for r in rows:
            rule = rules.get(r.kind, r.rule)
            counts = f"{_count(r.now)}\t{_count(r.days_30)}\t{_count(r.year)}"
            print(f"{_kind(r.kind)}\t{rule}\t{counts}")
        print(t("cli.retention.purged_so_far", count=purged))
        return 0
    finally:
        await container.close()
