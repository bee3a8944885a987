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
from handlers.services import HandlerConfig
from handlers.text import clean_text
from handlers.turn import Turn
from handlers.views import RATING, finalized_text, followup_buttons, review_unit_line
from i18n import N_
from petitions.case import Case
from petitions.categories import Category
from petitions.codes import generate_button_token, generate_tracking_code
from petitions.codes import normalize_tracking_code as _normalize
from petitions.deadlines import deadline_for
from petitions.errors import InvalidTransition, ReviewWindowClosed
from petitions.lifecycle import Action, Fields, apply, review_level
from petitions.roles import Role
from petitions.states import CaseState
from petitions.units import UnitTree

__all__ = [
    "FOLLOW_UP",
    "RETALIATION_PRIORITY",
    "SATISFACTION",
    "handle_feedback",
    "open_question",
    "request_review",
    "requested_text",
    "review_texts",
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


# The employee's request of the next ladder step, by the state the case stands in: the
# action, the button, the question asking the reason, the confirmation, and what the
# rating "unsatisfied" says while the step may be asked.
_NEXT_STEP: dict[CaseState, tuple[Action, str, str, str, str]] = {
    CaseState.RESPONDED: (
        Action.REQUEST_REVIEW,
        N_("button.request_review"),
        N_("track.ask_review_reason"),
        N_("track.review_requested"),
        N_("feedback.unsatisfied"),
    ),
    CaseState.REVIEWED: (
        Action.REQUEST_RECHECK,
        N_("button.request_recheck"),
        N_("track.ask_recheck_reason"),
        N_("track.recheck_requested"),
        N_("feedback.unsatisfied_recheck"),
    ),
}


def review_texts(state: CaseState) -> tuple[str, str]:
    """The message ids asking the reason for, and confirming, the ladder step the employee
    may ask for from this state (复查 after the answer, 复核 after the 复查)."""
    _, _, ask, done, _ = _NEXT_STEP.get(state, _NEXT_STEP[CaseState.RESPONDED])
    return ask, done


def _after_rating_buttons(turn: Turn, case: Case, token: str, rating: str) -> list[Reply]:
    t = turn.t
    comment = (Button(t("button.fb_comment"), f"fb:{token}:c"),)
    if rating != "unsatisfied":
        return [Reply(t("feedback.thanks"), (comment,))]
    step = _NEXT_STEP.get(case.state)
    if step is not None and case.deadline_at and turn.stamp <= case.deadline_at:
        _, button, _, _, said = step
        review = (Button(t(button), f"fb:{token}:r"),)
        text = t(said, date=turn.date(case.deadline_at))
        return [Reply(text, (review, comment))]
    if case.state is CaseState.FINALIZED:
        # After the 复核 there is no step left to offer: say so, and what remains.
        return [Reply(finalized_text(t), (comment,))]
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
        if case.state not in _NEXT_STEP:
            return [Reply(t(ERRORS["invalid_transition"]))]
        await turn.goto("fb.review", {"token": token})
        back = (Button(t("button.back"), f"fb:{token}:x"),)
        return [Reply(t(review_texts(case.state)[0]), (back,))]
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
        return [Reply(t(review_texts(case.state)[0]))]
    try:
        await request_review(turn, case, reason)
    except (InvalidTransition, ReviewWindowClosed) as error:
        await turn.end()
        return [Reply(t(ERRORS[error.code]))]
    await turn.end()
    return [Reply(requested_text(turn, case))]


def requested_text(turn: Turn, case: Case) -> str:
    """The confirmation of a 复查 / 复核 request just made: by when, and by which unit."""
    recheck = case.state is CaseState.RECHECK_REQUESTED
    done = _NEXT_STEP[CaseState.REVIEWED if recheck else CaseState.RESPONDED][3]
    text = turn.t(done, date=turn.date(case.deadline_at))
    deciding = review_unit_line(turn.t, case.state, case.review_unit_name)
    return f"{text}\n{deciding}" if deciding else text


def _deciding_unit(tree: UnitTree, case: Case, action: Action) -> int | None:
    # 复查 by the handling unit's parent, 复核 by its grandparent; the root decides the
    # steps above itself. A case without a unit (no unit tree) stays with the one office.
    if case.unit_id is None:
        return None
    unit = tree.above(case.unit_id, review_level(action))
    return unit.id if unit is not None else None


async def request_review(turn: Turn, case: Case, reason: str) -> None:
    """Ask for the next step up the ladder: 复查 of an answered case (decided by the parent
    unit), or 复核 of a reviewed one (by the parent's parent). The deciding unit's office
    owns it from now on, with the step's own deadline; the admin chats and the leaders are
    told."""
    assert case.id is not None
    # From any other state the domain refuses the request (InvalidTransition).
    action = _NEXT_STEP.get(case.state, _NEXT_STEP[CaseState.RESPONDED])[0]
    tree = await turn.uow.units.tree()
    deciding = _deciding_unit(tree, case, action)
    record = apply(
        case,
        action,
        Role.EMPLOYEE,
        Fields(reason=reason, unit_id=deciding),
        turn.stamp,
        turn.services.config.policy,
    )
    case.review_unit_name = (tree.path_name(deciding) or None) if deciding is not None else None
    previous = case.owner_officer_id
    # Nobody of the deciding office owns it until one of them takes it (/take).
    case.owner_officer_id = None
    await turn.uow.cases.save(case)
    assigned: dict[str, object] = {"owner": "leaders", "previous_owner": previous}
    step: dict[str, str] = {"step": "recheck" if action is Action.REQUEST_RECHECK else "review"}
    if action is Action.REQUEST_RECHECK:
        assigned["step"] = "recheck"
    if case.review_unit_name:
        assigned["unit"] = case.review_unit_name
        step["review_unit"] = case.review_unit_name
    await turn.uow.cases.add_event(case.id, "assigned", turn.stamp, Role.SYSTEM, detail=assigned)
    detail = {"reason": reason}
    if case.review_unit_name:
        detail["review_unit"] = case.review_unit_name
    await turn.uow.cases.add_event(
        case.id,
        "transition",
        turn.stamp,
        Role.EMPLOYEE,
        from_state=record.from_state,
        to_state=case.state,
        detail=detail,
    )
    audit = {"review_unit": deciding} if deciding is not None else None
    await turn.uow.audit.add(
        turn.stamp, Role.EMPLOYEE, f"case.{action.value}", case_id=case.id, detail=audit
    )
    await notify_admins(turn, case, "review_requested", step)
    if _leaders_have_chats(turn.services.config):
        await queue_leaders(
            turn.uow, turn.services.config, case.id, "review_requested", step, turn.stamp
        )


def _leaders_have_chats(cfg: HandlerConfig) -> bool:
    """Whether leaders have chats of their own (the group's or a unit's): alerts that may
    name the original owner go there, not to the admin chats."""
    return bool(cfg.leaders_chats or cfg.unit_leaders_chats)


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
    if _leaders_have_chats(cfg):
        source = {"source": original.number}
        await queue_leaders(uow, cfg, case.id, "retaliation", source, turn.stamp)
    else:
        # The admin chat may include the original owner: it is told that a report came in,
        # never which case it came from.
        await queue_admins(uow, cfg, case.id, "retaliation", {"leaders": True}, turn.stamp)
    return case, code
