"""Case states, outcomes and redirect channels (DESIGN.md §4)."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CaseState",
    "CLOSED_STATES",
    "LADDER_STATES",
    "Outcome",
    "RECHECK_STATES",
    "REVIEW_STATES",
    "Redirect",
    "TERMINAL_STATES",
    "WITHDRAWABLE_STATES",
]


class CaseState(StrEnum):
    """Where a case stands; the value is stored in the database."""

    REGISTERED = "registered"  # 已登记
    ACCEPTED = "accepted"  # 已受理
    NOT_ACCEPTED = "not_accepted"  # 不予受理
    TRANSFERRED = "transferred"  # 转送
    IN_PROGRESS = "in_progress"  # 办理中
    EXTENDED = "extended"  # 延期
    RESPONDED = "responded"  # 已答复
    REVIEW_REQUESTED = "review_requested"  # 申请复查
    REVIEWING = "reviewing"  # 复查中
    REVIEWED = "reviewed"  # 复查完毕
    RECHECK_REQUESTED = "recheck_requested"  # 申请复核
    RECHECKING = "rechecking"  # 复核中
    # 三级终结: the 复核 opinion ended the petition channel for this matter (信访工作条例
    # art. 35); terminal like CLOSED, and followed up like it.
    FINALIZED = "finalized"  # 已终结
    CLOSED = "closed"  # 办结
    WITHDRAWN = "withdrawn"  # 撤回

    @property
    def is_terminal(self) -> bool:
        """A terminal case takes no more actions or information."""
        return self in TERMINAL_STATES


class Outcome(StrEnum):
    """How an answer decided the petition."""

    SUPPORTED = "supported"  # 支持
    EXPLAINED = "explained"  # 解释说明
    NOT_SUPPORTED = "not_supported"  # 不予支持


class Redirect(StrEnum):
    """The right channel named when a petition is not accepted."""

    ARBITRATION = "arbitration"  # 劳动人事争议仲裁
    COURT = "court"  # 人民法院
    DISCIPLINE = "discipline"  # 纪检监察
    ADMINISTRATIVE = "administrative"  # 行政复议 / 主管部门
    OTHER = "other"


TERMINAL_STATES = frozenset({CaseState.CLOSED, CaseState.FINALIZED, CaseState.WITHDRAWN})
# The case ended with a decision the employee lived with or exhausted: what follows a
# closing (回头望, satisfaction, keeping the push address for the follow-up) follows these.
CLOSED_STATES = frozenset({CaseState.CLOSED, CaseState.FINALIZED})
# The steps of the ladder above the answer: 复查 (decided by the parent unit) and 复核
# (decided by the parent's parent), each requested, under way, and decided.
REVIEW_STATES = frozenset({CaseState.REVIEW_REQUESTED, CaseState.REVIEWING, CaseState.REVIEWED})
RECHECK_STATES = frozenset(
    {CaseState.RECHECK_REQUESTED, CaseState.RECHECKING, CaseState.FINALIZED}
)
LADDER_STATES = REVIEW_STATES | RECHECK_STATES
WITHDRAWABLE_STATES = frozenset(
    {
        CaseState.REGISTERED,
        CaseState.ACCEPTED,
        CaseState.TRANSFERRED,
        CaseState.IN_PROGRESS,
        CaseState.EXTENDED,
        CaseState.RESPONDED,
        CaseState.REVIEW_REQUESTED,
        CaseState.REVIEWING,
        CaseState.REVIEWED,
        CaseState.RECHECK_REQUESTED,
        CaseState.RECHECKING,
    }
)
