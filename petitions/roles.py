"""Who acts on a case."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role", "STAFF_ROLES"]


class Role(StrEnum):
    """The role an actor holds; officers' roles come from the officers table."""

    EMPLOYEE = "employee"
    OFFICER = "officer"  # 信访专员
    LEADER = "leader"  # 领导
    CUSTODIAN = "custodian"  # holds the key that can reveal identities
    DISCIPLINE = "discipline"  # 纪检
    SYSTEM = "system"  # the scheduler


STAFF_ROLES = frozenset({Role.OFFICER, Role.LEADER, Role.CUSTODIAN, Role.DISCIPLINE})
