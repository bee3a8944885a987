"""``xinfang search reindex``: build the ledger's search tokens for the cases stored before
the search existed (or again, after a change of tokenizer), in batches, with progress.

Counts only: no case number or text is printed. New petitions and added information are
indexed as they are stored; this is needed once after upgrading (docs/officers.md).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.cli.common import config_of, t

__all__ = ["BATCH", "register"]

BATCH = 500  # cases per transaction


def register(sub: Any) -> None:
    """Add ``search`` and its actions."""
    group = sub.add_parser(
        "search",
        help=t("cli.search.help"),
        description=t("cli.search.description", reindex="reindex", doc="docs/officers.md"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = group.add_subparsers(
        dest="search_cmd", required=True, metavar=t("cli.main.metavar_action")
    )
    reindex = actions.add_parser("reindex", help=t("cli.search.reindex_help"))
    reindex.add_argument(
        "--batch",
        type=int,
        default=BATCH,
        metavar=t("cli.metavar.batch"),
        help=t("cli.search.batch_help", batch=BATCH),
    )
    group.set_defaults(handler=_search)


async def _search(args: argparse.Namespace) -> int:
    from bot.container import build_container

    settings = config_of(args)
    container = await build_container(settings, migrate=False)
    try:
        return await reindex_all(container.uow, max(1, args.batch))
    finally:
        await container.close()


async def reindex_all(uow_factory: Any, batch: int = BATCH, out: Any = None) -> int:
    """Index every case again, one batch per transaction; print progress to ``out``."""
    out = out or sys.stdout
    async with uow_factory() as uow:
        total = await uow.search.count_cases()
    done, last = 0, 0
    while True:
        async with uow_factory() as uow:
            ids = await uow.search.reindex(last, batch)
            await uow.commit()
        if not ids:
            break
        done, last = done + len(ids), ids[-1]
        percent = 100 * done // total if total else 100
        print(
            t("cli.search.progress", done=done, total=total, percent=percent),
            file=out,
            flush=True,
        )
    print(t("cli.search.done", count=done), file=out)
    return 0
