"""``xinfang warnings scan``: the early warning's clusters (possible group petitions) and
spikes, printed with the case numbers they link — never an identity (issue 16,
docs/early-warning.md)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bot.cli.common import config_of, t
from i18n import N_

__all__ = ["register"]

# The steps the index and the scan report progress of (bot/warnings.py, handlers/warnings.py).
_STEPS = {
    "read": N_("cli.warnings.step_read"),
    "indexed": N_("cli.warnings.step_indexed"),
    "linked": N_("cli.warnings.step_linked"),
    "clusters": N_("cli.warnings.step_clusters"),
}


def register(sub: Any) -> None:
    """Add ``warnings`` and its actions."""
    group = sub.add_parser(
        "warnings",
        help=t("cli.warnings.help"),
        description=t(
            "cli.warnings.description",
            env="XINFANG_WARNINGS_DAYS",
            scan="scan",
            stderr="stderr",
            days="--days",
            alert="--alert",
            doc="docs/early-warning.md",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = group.add_subparsers(
        dest="warnings_cmd", required=True, metavar=t("cli.main.metavar_action")
    )
    scan = actions.add_parser("scan", help=t("cli.warnings.scan_help"))
    scan.add_argument(
        "--days", type=int, default=None, metavar="N", help=t("cli.warnings.days_help")
    )
    scan.add_argument("--alert", action="store_true", help=t("cli.warnings.alert_help"))
    scan.add_argument("--lang", choices=("zh_CN", "en"), help=t("cli.warnings.lang_help"))
    scan.set_defaults(handler=_scan)


async def _scan(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from handlers.warnings import scan, warning_lines
    from petitions.roles import Role

    if args.days is not None and not 1 <= args.days <= 365:
        print(t("cli.warnings.bad_days", prog="xinfang", days="--days"), file=sys.stderr)
        return 2
    settings = config_of(args)
    container = await build_container(settings, migrate=False)
    locale = args.lang or settings.default_locale
    started = time.monotonic()

    def tr(key: str, **params: Any) -> str:
        return container.translator.t(key, locale, **params)

    def progress(step: str, count: int) -> None:
        # Counts only: what a long scan is doing, never what it reads.
        elapsed = time.monotonic() - started
        seconds = f"{elapsed:.1f}"
        print(
            t(
                "cli.warnings.progress",
                step=t(_STEPS[step]) if step in _STEPS else step,
                count=f"{count:,}",
                seconds=seconds,
            ),
            file=sys.stderr,
            flush=True,
        )

    try:
        index = container.warnings
        assert index is not None
        index.progress = progress
        print(t("cli.warnings.building"), file=sys.stderr, flush=True)
        await index.wait()
        index.progress = None
        print(t("cli.warnings.scanning"), file=sys.stderr, flush=True)
        now = utc_now()
        found = await scan(container.services, now, days=args.days, alert=args.alert,
                           progress=progress)  # fmt: skip
        async with container.uow() as uow:
            await uow.audit.add(
                now,
                Role.SYSTEM,
                "warnings.scan",
                channel="cli",
                detail={
                    "days": args.days,
                    "alert": bool(args.alert),
                    "clusters": len(found.clusters),
                    "spikes": len(found.spikes),
                },
            )
            await uow.commit()
    finally:
        await container.close()
    lines = warning_lines(tr, found.clusters, found.spikes)
    print("\n".join(lines))
    if args.alert:
        print(
            tr(
                "cli.warnings.alerts_queued",
                clusters=found.alerted_clusters,
                spikes=found.alerted_spikes,
            )
        )
    print(
        t(
            "cli.warnings.summary",
            petitions=f"{found.petitions:,}",
            indexed=f"{len(index):,}",
            seconds=f"{time.monotonic() - started:.1f}",
        ),
        file=sys.stderr,
    )
    return 0
