"""What every ``xinfang`` command shares: settings, logging, and errors shown as one line."""

from __future__ import annotations

import argparse
import logging

from bot.settings import Settings, load_settings

__all__ = ["CliError", "config_of", "setup_logging"]


class CliError(Exception):
    """A command cannot go on; the message is shown as is (exit status 2)."""


def config_of(args: argparse.Namespace) -> Settings:
    """The configuration, read once per command (environment over --config)."""
    return load_settings(config_file=args.config)


def setup_logging(level: str) -> None:
    """Plain log lines; libraries that log request URLs (with tokens) only from WARNING."""
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Request URLs of these libraries contain the bot token; keep them out of INFO logs.
    for noisy in ("httpx", "httpcore", "telegram.ext", "aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
