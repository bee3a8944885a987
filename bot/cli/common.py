"""What every ``xinfang`` command shares: settings, logging, and errors shown as one line."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from bot.settings import Settings, load_settings

__all__ = ["CliError", "config_of", "json_formatter", "setup_logging"]


class CliError(Exception):
    """A command cannot go on; the message is shown as is (exit status 2)."""


def config_of(args: argparse.Namespace) -> Settings:
    """The configuration, read once per command (environment over --config)."""
    return load_settings(config_file=args.config)


def setup_logging(level: str, fmt: str = "plain") -> None:
    """Plain log lines, or one JSON object per line (``fmt="json"``); libraries that log
    request URLs (with tokens) only from WARNING."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(json_formatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level, logging.INFO), handlers=[handler])
    # Request URLs of these libraries contain the bot token; keep them out of INFO logs.
    for noisy in ("httpx", "httpcore", "telegram.ext", "aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def json_formatter() -> logging.Formatter:
    """A formatter writing each record as one JSON object: time (ISO 8601, UTC), level,
    logger, message, and for an exception its type and traceback (python-json-logger)."""
    from pythonjsonlogger.json import JsonFormatter

    class _Formatter(JsonFormatter):
        def add_fields(
            self, log_data: dict[str, Any], record: logging.LogRecord, message: dict[str, Any]
        ) -> None:
            super().add_fields(log_data, record, message)
            if record.exc_info and record.exc_info[0] is not None:
                log_data["exc_type"] = record.exc_info[0].__name__

    return _Formatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger", "exc_info": "traceback"},
        timestamp="time",
        json_ensure_ascii=False,  # 汉字 as they are, not \uXXXX
    )
