"""Petition categories and where each one is routed."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Category", "DISCIPLINE_CATEGORIES"]


class Category(StrEnum):
    """What a petition is about; the value is the stable code stored in the database."""

    PAY = "pay"  # 薪酬福利
    LABOR = "labor"  # 劳动关系
    INSURANCE = "insurance"  # 社会保险
    SAFETY = "safety"  # 劳动保护与安全
    RESTRUCTURING = "restructuring"  # 改制与安置
    CONDUCT = "conduct"  # 干部作风
    DISCIPLINE = "discipline"  # 违纪违法举报 → 纪检
    SUGGESTION = "suggestion"  # 意见建议
    OTHER = "other"  # 其他

    @property
    def routes_to_discipline(self) -> bool:
        """Reports of violations go to the discipline inspection (纪检) role, not officers."""
        return self in DISCIPLINE_CATEGORIES


DISCIPLINE_CATEGORIES = frozenset({Category.DISCIPLINE})
