"""XINFANG_LOG_FORMAT=json writes one JSON object per line (time, level, logger, message,
and an exception's type); plain text stays the default."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime

import pytest

from bot.cli.common import json_formatter
from bot.settings import SettingsError, load_settings


def emit(formatter: logging.Formatter, fill: object) -> list[str]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("tests.json_logs")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        assert callable(fill)
        fill(logger)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue().splitlines()


def test_every_json_log_line_parses_and_names_time_level_logger_and_message():
    def fill(log: logging.Logger) -> None:
        log.info("delivery pass works again after %d failures, %d s", 12, 70)
        log.warning("多行\n文本")

    lines = emit(json_formatter(), fill)
    assert len(lines) == 2  # a newline inside a message does not split the record
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "delivery pass works again after 12 failures, 70 s"
    assert (first["level"], first["logger"]) == ("INFO", "tests.json_logs")
    assert datetime.fromisoformat(first["time"]).utcoffset() is not None
    assert second["message"] == "多行\n文本" and "多行" in lines[1]  # 汉字 kept readable


def test_a_json_log_line_of_an_exception_names_its_type_and_keeps_the_traceback():
    def fill(log: logging.Logger) -> None:
        try:
            raise ConnectionRefusedError("database down")
        except ConnectionRefusedError:
            log.exception("delivery pass failed")

    (line,) = emit(json_formatter(), fill)
    record = json.loads(line)
    assert record["level"] == "ERROR"
    assert record["exc_type"] == "ConnectionRefusedError"
    assert "Traceback" in record["traceback"]


def test_the_log_format_is_plain_unless_json_is_asked_for(tmp_path):
    base = {"XINFANG_DATA_DIR": str(tmp_path)}
    assert load_settings(base).log_format == "plain"
    assert load_settings({**base, "XINFANG_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SettingsError, match="XINFANG_LOG_FORMAT must be plain or json"):
        load_settings({**base, "XINFANG_LOG_FORMAT": "xml"})


def test_metrics_are_off_by_default_and_the_token_is_not_shown(tmp_path):
    base = {"XINFANG_DATA_DIR": str(tmp_path)}
    settings = load_settings(base)
    assert (settings.metrics, settings.metrics_token, settings.ready_outbox_minutes) == (
        False,
        None,
        10,
    )
    on = load_settings({**base, "XINFANG_METRICS": "true", "XINFANG_METRICS_TOKEN": "s3cret"})
    assert on.metrics and on.metrics_token == "s3cret"
    assert "s3cret" not in repr(on)
