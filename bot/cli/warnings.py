"""``xinfang warnings scan``: the early warning's clusters (possible group petitions) and
spikes, printed with the case numbers they link — never an identity (issue 16,
docs/early-warning.md)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bot.cli.common import config_of

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``warnings`` and its actions."""
    group = sub.add_parser(
        "warnings",
        help="early warning (四早): clusters of similar petitions and unusual rises",
        description="The early warning compares the petitions of the last XINFANG_WARNINGS_DAYS\n"
        "days (default 90) in memory. `scan` builds that index (progress on stderr), finds\n"
        "the clusters of the last --days days (default 14: at least 5 similar petitions in\n"
        "one unit or its subtree) and this week's spikes, and prints them with case\n"
        "numbers; nothing identifies a petitioner. The service runs the same scan daily\n"
        "and alerts leaders; --alert makes this scan alert what was not alerted before.\n"
        "See docs/early-warning.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = group.add_subparsers(dest="warnings_cmd", required=True, metavar="ACTION")
    scan = actions.add_parser("scan", help="find and print the current clusters and spikes")
    scan.add_argument(
        "--days", type=int, default=None, metavar="N", help="cluster window in days (14)"
    )
    scan.add_argument(
        "--alert",
        action="store_true",
        help="queue the alerts of new clusters and spikes to leaders (as the daily scan)",
    )
    scan.add_argument("--lang", choices=("zh_CN", "en"), help="language of the output")
    scan.set_defaults(handler=_scan)


async def _scan(args: argparse.Namespace) -> int:
    from bot.container import build_container, utc_now
    from handlers.warnings import scan, warning_lines
    from petitions.roles import Role

    if args.days is not None and not 1 <= args.days <= 365:
        print("xinfang: --days is a number of days from 1 to 365", file=sys.stderr)
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
        print(f"  {step}: {count:,} ({elapsed:.1f} s)", file=sys.stderr, flush=True)

    try:
        index = container.warnings
        assert index is not None
        index.progress = progress
        print("building the similarity index…", file=sys.stderr, flush=True)
        await index.wait()
        index.progress = None
        print("scanning…", file=sys.stderr, flush=True)
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
            f"alerts queued: {found.alerted_clusters} cluster(s), {found.alerted_spikes} spike(s)"
        )
    print(
        f"{found.petitions:,} petitions scanned, {len(index):,} indexed, "
        f"{time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0
