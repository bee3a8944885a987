"""Builders for domain objects in tests: sensible defaults, override what the test is about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from petitions.case import Case
from petitions.categories import Category

__all__ = ["CREATED_AT", "make_case"]

# A fixed, timezone-aware moment so that deadlines in tests are exact.
CREATED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def make_case(**overrides: Any) -> Case:
    """Return a registered, anonymous case; keyword arguments replace any Case field."""
    values: dict[str, Any] = {
        "category": Category.PAY,
        "description": "工资拖欠三个月未发放",
        "channel": "telegram",
        "anonymous": True,
        "locale": "zh_CN",
        "created_at": CREATED_AT,
    }
    values.update(overrides)
    return Case(**values)
