"""The employee's answers to pushes: satisfaction with an answer (满意 / 基本满意 / 不满意,
a comment, a review request) and the follow-up after closing (回头望: solved? retaliation?).

The buttons carry a random token (``fb:<token>:<choice>``, ``fu:<token>:<choice>``) that
storage keeps only as a blind index: it works from the chat the push went to, needs no
tracking code, and cannot be guessed for another case.
"""

from __future__ import annotations

from datetime import datetime

from handlers.inbound import Button, Reply
from handlers.labels import ERRORS
from handlers.notify import notify_admins, queue_admins, queue_leaders
from handlers.ports import Feedback, UnitOfWork
from handlers.text import clean_text
from handlers.turn import Turn
from handlers.views import RATING, followup_buttons
from petitions.case import Case
from petitions.categories import Category
from petitions.codes import generate_button_token, generate_tracking_code
from petitions.codes import normalize_tracking_code as _normalize
from petitions.deadlines import deadline_for
from petitions.errors import InvalidTransition, ReviewWindowClosed
from petitions.lifecycle import Action, Fields, apply
from petitions.roles import Role
from petitions.states import CaseState

__all__ = [
    "FOLLOW_UP",
    "RETALIATION_PRIORITY",
    "SATISFACTION",
    "handle_feedback",
    "open_question",
    "request_review",
]

SATISFACTION = "satisfaction"
FOLLOW_UP = "follow_up"
RETALIATION_PRIORITY = 2  # above every ordinary case (0)
_RATINGS = {"s": "satisfied", "b": "basic", "u": "unsatisfied"}


async def open_question(uow: UnitOfWork, case: Case, kind: str, now: datetime) -> str:
    """Record a new question for the case's employee; return the token for its buttons."""
    assert case.id is not None
    token = generate_button_token()
    await uow.feedback.open(case.id, kind, token, now)
    return token


def _split(payload: str) -> tuple[str, str, str]:
    prefix, _, rest = payload.partition(":")
    token, _, choice = rest.partition(":")
    return prefix, token, choice


async def handle_feedback(turn: Turn) -> list[Reply]:
    """Handle a satisfaction or follow-up button, or the comment / review reason typed
    after one."""
    t, inbound = turn.t, turn.inbound
    if inbound.button and inbound.button.startswith(("fb:", "fu:")):
        prefix, token, choice = _split(inbound.button)
    else:
        prefix, token, choice = "fb", str(turn.draft.get("token") or ""), ""
    feedback = await turn.uow.feedback.by_token(token) if token else None
    if feedback is None:
        await turn.end()
        return [Reply(t("error.stale"))]
    case = await turn.uow.cases.get(feedback.case_id, for_update=True)
    if case is None:
        await turn.end()
        return [Reply(t("error.stale"))]
    if prefix == "fu":
        return await _follow_up(turn, feedback, case, token, choice)
    if inbound.button is None:
        if turn.step == "fb.comment":
            return await _comment(turn, feedback, case)
        if turn.step == "fb.review":
            return await _review_reason(turn, case)
    return await _satisfaction(turn, feedback, case, token, choice)


def _after_rating_buttons(turn: Turn, case: Case, token: str, rating: str) -> list[Reply]:
    t = turn.t
    comment = (Button(t("button.fb_comment"), f"fb:{token}:c"),)
    if rating != "unsatisfied":
        return [Reply(t("feedback.thanks"), (comment,))]
    if case.state is CaseState.RESPONDED and case.deadline_at and turn.stamp <= case.deadline_at:
        review = (Button(t("button.request_review"), f"fb:{token}:r"),)
        text = t("feedback.unsatisfied", date=turn.date(case.deadline_at))
        return [Reply(text, (review, comment))]
    return [Reply(t("feedback.unsatisfied_no_review"), (comment,))]


async def _satisfaction(
    turn: Turn, feedback: Feedback, case: Case, token: str, choice: str
) -> list[Reply]:
    t = turn.t
    assert case.id is not None
    if choice in _RATINGS:
        if feedback.rating is not None:
            return [Reply(t("feedback.already_rated", rating=t(RATING[feedback.rating])))]
        rating = _RATINGS[choice]
        feedback.rating = rating
        feedback.answered_at = turn.stamp
        await turn.uow.feedback.save(feedback)
        await turn.uow.cases.add_event(
            case.id, "rated", turn.stamp, Role.EMPLOYEE, detail={"rating": rating}
        )
        await turn.uow.audit.add(
            turn.stamp, Role.EMPLOYEE, "case.rate", case_id=case.id, detail={"rating": rating}
        )
        if rating == "unsatisfied":
            await notify_admins(turn, case, "rated", {"rating": rating})
        return _after_rating_buttons(turn, case, token, rating)
    if choice == "c":
        await turn.goto("fb.comment", {"token": token})
        skip = (Button(t("button.fb_skip"), f"fb:{token}:x"),)
        return [Reply(t("feedback.ask_comment"), (skip,))]
    if choice == "r":
        if case.state is not CaseState.RESPONDED:
            return [Reply(t(ERRORS["invalid_transition"]))]
        await turn.goto("fb.review", {"token": token})
        back = (Button(t("button.back"), f"fb:{token}:x"),)
        return [Reply(t("track.ask_review_reason"), (back,))]
    if choice == "x":
        await turn.end()
        return [Reply(t("feedback.done"))]
    return [Reply(t("error.stale"))]


async def _comment(turn: Turn, feedback: Feedback, case: Case) -> list[Reply]:
    t, cfg = turn.t, turn.services.config
    assert case.id is not None
    body = clean_text(turn.inbound.text or "")
    if not body:
        return [Reply(t("feedback.ask_comment"))]
    if len(body) > cfg.max_message:
        return [Reply(t("intake.too_long", length=len(body), max=cfg.max_message))]
    feedback.comment = body
    feedback.answered_at = feedback.answered_at or turn.stamp
    await turn.uow.feedback.save(feedback)
    await turn.uow.cases.add_message(case.id, "feedback", body, turn.stamp, None)
    await turn.uow.audit.add(turn.stamp, Role.EMPLOYEE, "case.feedback_comment", case_id=case.id)
    await notify_admins(turn, case, "feedback_comment", {})
    await turn.end()
    return [Reply(t("feedback.comment_saved"))]


async def _review_reason(turn: Turn, case: Case) -> list[Reply]:
    t = turn.t
    reason = clean_text(turn.inbound.text or "")
    if not reason:
        return [Reply(t("track.ask_review_reason"))]
    try:
        await request_review(turn, case, reason)
    except (InvalidTransition, ReviewWindowClosed) as error:
        await turn.end()
        return [Reply(t(ERRORS[error.code]))]
    await turn.end()
    return [Reply(t("track.review_requested", date=turn.date(case.deadline_at)))]


async def request_review(turn: Turn, case: Case, reason: str) -> None:
    """Reopen an answered case for review (复查): the leaders own it from now on, with the
    review's own deadline; the admin chats and the leaders are told."""
    assert case.id is not None
    record = apply(
        case,
        Action.REQUEST_REVIEW,
        Role.EMPLOYEE,
        Fields(reason=reason),
        turn.stamp,
        turn.services.config.policy,
    )
    previous = case.owner_officer_id
    case.owner_officer_id = None  # a leader takes it with /take; until then the leaders own it
    await turn.uow.cases.save(case)
    await turn.uow.cases.add_event(
        case.id,
        "assigned",
        turn.stamp,
        Role.SYSTEM,
        detail={"owner": "leaders", "previous_owner": previous},
    )
    await turn.uow.cases.add_event(
        case.id,
        "transition",
        turn.stamp,
        Role.EMPLOYEE,
        from_state=record.from_state,
        to_state=case.state,
        detail={"reason": reason},
    )
    await turn.uow.audit.add(turn.stamp, Role.EMPLOYEE, "case.request_review", case_id=case.id)
    await notify_admins(turn, case, "review_requested", {})
    if turn.services.config.leaders_chats:
        await queue_leaders(
            turn.uow, turn.services.config, case.id, "review_requested", {}, turn.stamp
        )


async def _follow_up(
    turn: Turn, feedback: Feedback, case: Case, token: str, choice: str
) -> list[Reply]:
    t, uow, cfg = turn.t, turn.uow, turn.services.config
    assert case.id is not None
    replies: list[Reply] = []
    if choice in ("y", "n"):
        if feedback.solved is not None:
            replies.append(Reply(t("followup.already_answered")))
        else:
            feedback.solved = choice == "y"
            feedback.answered_at = turn.stamp
            await uow.feedback.save(feedback)
            await uow.cases.add_event(
                case.id, "follow_up", turn.stamp, Role.EMPLOYEE, detail={"solved": feedback.solved}
            )
            await uow.audit.add(
                turn.stamp,
                Role.EMPLOYEE,
                "case.follow_up",
                case_id=case.id,
                detail={"solved": feedback.solved},
            )
            if not feedback.solved:
                await queue_leaders(uow, cfg, case.id, "unsolved", {}, turn.stamp)
            replies.append(Reply(t("followup.solved_recorded")))
    elif choice in ("r0", "r1"):
        if feedback.retaliation is not None:
            replies.append(Reply(t("followup.already_answered")))
        else:
            feedback.retaliation = choice == "r1"
            feedback.answered_at = turn.stamp
            if feedback.retaliation:
                linked, code = await _open_retaliation_case(turn, case)
                feedback.linked_case_id = linked.id
                replies.append(
                    Reply(t("followup.retaliation_opened", number=linked.number, code=code))
                )
            else:
                await uow.audit.add(
                    turn.stamp,
                    Role.EMPLOYEE,
                    "case.follow_up",
                    case_id=case.id,
                    detail={"retaliation": False},
                )
                replies.append(Reply(t("followup.no_retaliation")))
            await uow.feedback.save(feedback)
    else:
        return [Reply(t("error.stale"))]
    if feedback.solved is None or feedback.retaliation is None:
        replies.append(
            Reply(
                t("followup.remaining"),
                followup_buttons(
                    turn.t,
                    token,
                    solved=feedback.solved is None,
                    retaliation=feedback.retaliation is None,
                ),
            )
        )
    else:
        replies.append(Reply(t("followup.thanks")))
        if case.push_updates and case.contact_erase_at is not None:
            # The follow-up was the last reason to keep the chat's address: it goes at the
            # scheduler's next pass (after any message still on its way).
            case.contact_erase_at = turn.stamp
            await uow.cases.save(case)
    return replies


async def _open_retaliation_case(turn: Turn, original: Case) -> tuple[Case, str]:
    """Open the linked high-priority report for the discipline inspection (纪检) role;
    the original case's owner is excluded from it. Returns the case and its tracking code
    (shown once to the employee, never stored)."""
    uow, cfg = turn.uow, turn.services.config
    assert original.id is not None
    description = turn.services.t(
        "followup.retaliation_description", cfg.admin_locale, number=original.number
    )
    case = Case(
        category=Category.DISCIPLINE,
        description=description,
        channel=original.channel,
        anonymous=original.anonymous,
        locale=original.locale,
        created_at=turn.stamp,
        updated_at=turn.stamp,
        priority=RETALIATION_PRIORITY,
        excluded_officer_id=original.owner_officer_id,
    )
    case.deadline_at = deadline_for(case, cfg.policy)
    code = generate_tracking_code()
    await uow.cases.add_linked(case, _normalize(code), original.id)
    assert case.id is not None
    await uow.cases.add_event(
        case.id,
        "submitted",
        turn.stamp,
        Role.EMPLOYEE,
        to_state=case.state,
        detail={"linked": original.number},
    )
    await uow.audit.add(
        turn.stamp,
        Role.EMPLOYEE,
        "case.retaliation_report",
        case_id=case.id,
        detail={"source": original.number},
    )
    await queue_admins(uow, cfg, case.id, "case_card", {}, turn.stamp)
    if cfg.leaders_chats:
        source = {"source": original.number}
        await queue_leaders(uow, cfg, case.id, "retaliation", source, turn.stamp)
    else:
        # The admin chat may include the original owner: it is told that a report came in,
        # never which case it came from.
        await queue_admins(uow, cfg, case.id, "retaliation", {"leaders": True}, turn.stamp)
    return case, code
