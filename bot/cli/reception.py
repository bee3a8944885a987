"""``xinfang reception add | list``: leaders' reception slots (领导接访, handlers/reception.py).

An operator can publish a slot for a leader (the same rules as a leader's ``/slots 新增``
in the admin chat); every slot is audited with channel ``cli``, role ``system`` (the
operator at the terminal is no officer) and the leader it is for. ``list`` shows the
slots from today on with their bookings counted, never the cases booked.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from bot.cli.common import CliError, config_of
from petitions.errors import InvalidField
from petitions.reception import (
    MAX_CAPACITY,
    MAX_MINUTES,
    MAX_PLACE,
    MIN_MINUTES,
    SlotDraft,
    check_slot,
    parse_place,
    parse_when,
)
from petitions.roles import Role

__all__ = ["register", "slot_lines"]

_EPILOG = """\
examples:
  xinfang reception add --leader 3 --at "2027-01-15 09:00" --minutes 60 \
      --place 三楼会议室 --capacity 3
  xinfang reception add --leader 3 --at "1月20日 14:30" --minutes 45 --online \\
      --place "腾讯会议 123-456-789" --capacity 5
  xinfang reception list

Employees book a slot from a petition opened by its tracking code (预约领导接访); they see
the slots of the leaders of the petition's handling unit and of the units above it.
"""
_ERRORS = {
    "starts_at": "--at must be after now and within a year",
    "minutes": f"--minutes must be {MIN_MINUTES} to {MAX_MINUTES}",
    "capacity": f"--capacity must be 1 to {MAX_CAPACITY}",
    "place": f"--place must be 1 to {MAX_PLACE} characters (for --online: the link)",
}


def register(sub: Any) -> None:
    """Add ``reception`` and its actions."""
    raw = argparse.RawDescriptionHelpFormatter
    rec = sub.add_parser(
        "reception",
        help="leaders' reception slots (领导接访): add, list",
        description="Leaders publish reception slots; employees book them for their petition "
        "and are reminded the day before. Leaders also use /slots in the admin chat.",
        epilog=_EPILOG,
        formatter_class=raw,
    )
    rsub = rec.add_subparsers(dest="reception_cmd", required=True, metavar="ACTION")
    add = rsub.add_parser(
        "add",
        help="publish a slot for a leader",
        description="Publish a reception slot for a leader (an officer with the role leader; "
        "xinfang officers list). The slot belongs to the leader's unit: petitions handled "
        "in that unit's subtree are offered it.",
        epilog=_EPILOG,
        formatter_class=raw,
    )
    add.add_argument("--leader", type=int, required=True, metavar="ID", help="the leader's id")
    add.add_argument(
        "--at",
        required=True,
        metavar="TIME",
        help='the start, office time: "2027-01-15 09:00" or "1月15日 9:00"',
    )
    add.add_argument("--minutes", type=int, required=True, help="how long")
    add.add_argument(
        "--place",
        required=True,
        help="the room; with --online the meeting link or how to join",
    )
    add.add_argument("--online", action="store_true", help="an online reception")
    add.add_argument("--capacity", type=int, required=True, help="how many employees")
    lst = rsub.add_parser(
        "list",
        help="the slots from today on, with places booked",
        epilog="example:\n  xinfang reception list",
        formatter_class=raw,
    )
    lst.add_argument("--days", type=int, default=0, help="include slots of the past N days")
    rec.set_defaults(handler=_reception)


async def _reception(args: argparse.Namespace) -> int:
    from bot.container import build_container

    container = await build_container(config_of(args), migrate=args.reception_cmd == "add")
    try:
        async with container.uow() as uow:
            if args.reception_cmd == "add":
                return await _add(uow, args)
            return await _list(uow, args)
    finally:
        await container.close()


async def _add(uow: Any, args: argparse.Namespace) -> int:
    from bot.container import utc_now

    now = utc_now()
    leader = await uow.officers.get(args.leader)
    if leader is None or not leader.active or leader.role is not Role.LEADER:
        raise CliError(f"officer {args.leader} is no active leader (xinfang officers list)")
    starts_at = parse_when(args.at, now)
    if starts_at is None:
        raise CliError('--at: give the time like "2027-01-15 09:00" or "1月15日 9:00"')
    place, online = parse_place(args.place)
    draft = SlotDraft(starts_at, args.minutes, place, online or args.online, args.capacity)
    try:
        check_slot(draft, now)
    except InvalidField as wrong:
        raise CliError(_ERRORS.get(str(wrong.params.get("field")), "invalid slot")) from None
    slot = await uow.reception.add_slot(leader.id, leader.unit_id, draft, now)
    await uow.audit.add(
        now,
        Role.SYSTEM,
        "reception.slot_add",
        channel="cli",
        subject_officer_id=leader.id,
        detail={
            "slot": slot.id,
            "leader": leader.id,
            "starts_at": slot.starts_at.isoformat(),
            "minutes": slot.minutes,
            "capacity": slot.capacity,
            "online": slot.online,
        },
    )
    await uow.commit()
    print(f"slot {slot.id} published for leader {leader.id}:")
    for line in slot_lines([slot]):
        print(line)
    return 0


def slot_lines(slots: Any) -> list[str]:
    """Slots for the terminal: id, start (office time), minutes, leader, unit, booked."""
    from petitions.deadlines import OFFICE_ZONE

    out = []
    for s in slots:
        when = s.starts_at.astimezone(OFFICE_ZONE).strftime("%Y-%m-%d %H:%M")
        where = f"线上 {s.place}" if s.online else s.place
        unit = s.unit_name or "-"
        out.append(
            f"{s.id:>5}  {when}  {s.minutes:>3} min  {where}  "
            f"leader {s.leader_officer_id} {s.leader_name or ''}  unit {unit}  "
            f"booked {s.booked}/{s.capacity}"
        )
    return out


async def _list(uow: Any, args: argparse.Namespace) -> int:
    from bot.container import utc_now

    since = utc_now() - timedelta(days=max(args.days, 0))
    slots = await uow.reception.all_slots(since)
    if not slots:
        print("no reception slots (xinfang reception add, or /slots 新增 in the admin chat)")
        return 0
    for line in slot_lines(slots):
        print(line)
    return 0
