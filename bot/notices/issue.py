"""Issuing a case's notices: the data of a notice from the push that announces it, or,
later, from the case's timeline, so the PDF the employee got and the one an officer
downloads are filled alike (docs/notices.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.notices.render import NoticeRenderer
from handlers.inbound import FileOut
from handlers.ports import CaseMessage, TimelineEntry
from petitions.case import Case
from petitions.deadlines import DeadlinePolicy, add_days, handle_deadline
from petitions.notices import NoticeData, NoticeKind, issue_date, notice_number
from petitions.states import CaseState, Outcome, Redirect

__all__ = ["DEFAULT_OFFICE_NAME", "NOTICE_STATE", "NoticeIssuer"]

DEFAULT_OFFICE_NAME = "信访办公室"
# The state a case enters with the act that issues each notice (its timeline's mark).
NOTICE_STATE: Mapping[NoticeKind, CaseState] = {
    NoticeKind.ACCEPTANCE: CaseState.ACCEPTED,
    NoticeKind.NON_ACCEPTANCE: CaseState.NOT_ACCEPTED,
    NoticeKind.EXTENSION: CaseState.EXTENDED,
    NoticeKind.ANSWER: CaseState.RESPONDED,
    NoticeKind.REVIEW: CaseState.REVIEWED,
    NoticeKind.RECHECK: CaseState.FINALIZED,
}
_ANSWERED = frozenset({NoticeKind.ANSWER, NoticeKind.REVIEW, NoticeKind.RECHECK})


@dataclass(frozen=True)
class NoticeIssuer:
    """The renderer (built once, at start), the office's name and the deadline policy."""

    renderer: NoticeRenderer
    office_name: str = DEFAULT_OFFICE_NAME
    policy: DeadlinePolicy = field(default_factory=DeadlinePolicy)

    def data(
        self, case: Case, kind: NoticeKind, decision: Mapping[str, Any], issued_at: datetime
    ) -> NoticeData:
        """A notice's data from the case and its decision (the push payload's names:
        outcome, text, reason, redirect, days, review_unit)."""
        assert case.number is not None
        outcome = decision.get("outcome")
        redirect = decision.get("redirect")
        days = decision.get("days")
        due: datetime | None = None
        # The deadline the act set, computed as the lifecycle does, so a notice rendered
        # again later (the officers' download) says what the first one said.
        if kind is NoticeKind.ACCEPTANCE and case.decided_at is not None:
            due = add_days(case.decided_at, self.policy.handle_days, self.policy)
        elif kind is NoticeKind.EXTENSION:
            due = handle_deadline(case, self.policy)
        return NoticeData(
            case_number=case.number,
            unit=(case.unit_name or "").strip() or self.office_name,
            category=case.category,
            received_on=issue_date(case.created_at),
            issued_on=issue_date(issued_at),
            anonymous=case.anonymous,
            outcome=Outcome(outcome) if outcome else None,
            text=decision.get("text") or None,
            reason=decision.get("reason") or None,
            redirect=Redirect(redirect) if redirect else None,
            extension_days=int(days) if days else None,
            due_on=issue_date(due) if due is not None else None,
            review_request_days=self.policy.review_request_days,
            # The deciding unit as the act recorded it: the case's review unit moves up
            # from the 复查's to the 复核's, and a 复查 notice rendered later keeps its own.
            review_unit=decision.get("review_unit") or None,
        )

    def pdf(self, kind: NoticeKind, data: NoticeData, locale: str | None) -> bytes:
        """The notice's PDF."""
        return self.renderer.render(kind, data, locale)

    def for_push(
        self, case: Case, payload: Mapping[str, Any], issued_at: datetime, *, with_data: bool
    ) -> FileOut | None:
        """The file a status push carries, when its payload names a notice; with empty
        data for a channel that fetches the file on demand (the web page)."""
        notice = payload.get("notice")
        if not isinstance(notice, Mapping) or case.number is None:
            return None
        kind = NoticeKind(str(notice["kind"]))
        number = notice_number(case.number, kind)
        data = b""
        if with_data:
            data = self.pdf(kind, self.data(case, kind, payload, issued_at), case.locale)
        return FileOut(kind="document", name=f"{number}.pdf", mime="application/pdf", data=data)

    def from_timeline(
        self,
        case: Case,
        kind: NoticeKind,
        events: Sequence[TimelineEntry],
        messages: Sequence[CaseMessage],
    ) -> NoticeData | None:
        """The data of a notice the case was issued, read back from its timeline; None
        when the act that issues it was not taken."""
        state = NOTICE_STATE.get(kind)
        act = next(
            (
                e
                for e in reversed(events)
                if e.kind == "transition" and state is not None and e.to_state is state
            ),
            None,
        )
        if act is None:
            return None
        decision: dict[str, Any] = dict(act.detail)
        if kind in _ANSWERED:
            # perform_act stores the formal answer's text at the act's own instant.
            text = next(
                (m.body for m in reversed(messages) if m.kind == "answer" and m.at == act.at),
                None,
            )
            decision["text"] = text
        return self.data(case, kind, decision, act.at)
