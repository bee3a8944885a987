"""Retention in domain terms: when a closed case's content is due for destruction, and the
tombstone its description becomes (docs/retention.md).

A purged case keeps its row (number, category, state, dates, unit, outcome: what
statistics count); its description is replaced by an encrypted tombstone that names the
day of destruction, so every view can say "destroyed on …" without a new field on
:class:`petitions.case.Case`. The tombstone starts with a NUL character, which no text an
employee types can contain (``handlers.text.clean_text`` removes control characters).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["TOMBSTONE_PREFIX", "destroyed_at", "tombstone", "years_before"]

TOMBSTONE_PREFIX = "\x00xinfang:purged:"


def tombstone(at: datetime) -> str:
    """The description of a case whose content was destroyed at ``at``."""
    if at.tzinfo is None:
        raise ValueError("naive datetime for a tombstone")
    return TOMBSTONE_PREFIX + at.astimezone(UTC).isoformat()


def destroyed_at(description: str) -> datetime | None:
    """When the case's content was destroyed, or None for a description still there."""
    if not description.startswith(TOMBSTONE_PREFIX):
        return None
    try:
        return datetime.fromisoformat(description[len(TOMBSTONE_PREFIX) :])
    except ValueError:
        return None


def years_before(at: datetime, years: int) -> datetime:
    """The same moment ``years`` calendar years earlier (29 February becomes the 28th)."""
    try:
        return at.replace(year=at.year - years)
    except ValueError:  # 29 February in a year that has none
        return at.replace(year=at.year - years, day=28)
