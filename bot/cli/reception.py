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

from bot.cli.common import CliError, config_of, t
from i18n import N_
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

_EXAMPLES = (
    'xinfang reception add --leader 3 --at "2027-01-15 09:00" --minutes 60 '
    "      --place 三楼会议室 --capacity 3",
    'xinfang reception add --leader 3 --at "1月20日 14:30" --minutes 45 --online \\\n'
    '      --place "腾讯会议 123-456-789" --capacity 5',
    "xinfang reception list",
)
_ERRORS = {
    "starts_at": N_("cli.reception.bad_at"),
    "minutes": N_("cli.reception.bad_minutes"),
    "capacity": N_("cli.reception.bad_capacity"),
    "place": N_("cli.reception.bad_place"),
}


def _epilog() -> str:
    return t("cli.reception.epilog", add=_EXAMPLES[0], online=_EXAMPLES[1], list=_EXAMPLES[2])


def _error(field: object) -> str:
    key = _ERRORS.get(str(field))
    if key is None:
        return t("cli.reception.bad_slot")
    return t(
        key,
        at="--at",
        minutes="--minutes",
        capacity="--capacity",
        place="--place",
        online="--online",
        min=MIN_MINUTES,
        max_minutes=MAX_MINUTES,
        max_capacity=MAX_CAPACITY,
        max_place=MAX_PLACE,
    )


def register(sub: Any) -> None:
    """Add ``reception`` and its actions."""
    raw = argparse.RawDescriptionHelpFormatter
    rec = sub.add_parser(
        "reception",
        help=t("cli.reception.help"),
        description=t("cli.reception.description", slots="/slots"),
        epilog=_epilog(),
        formatter_class=raw,
    )
    rsub = rec.add_subparsers(
        dest="reception_cmd", required=True, metavar=t("cli.main.metavar_action")
    )
    add = rsub.add_parser(
        "add",
        help=t("cli.reception.add_help"),
        description=t(
            "cli.reception.add_description", role="leader", command="xinfang officers list"
        ),
        epilog=_epilog(),
        formatter_class=raw,
    )
    add.add_argument(
        "--leader", type=int, required=True, metavar="ID", help=t("cli.reception.leader_help")
    )
    add.add_argument(
        "--at",
        required=True,
        metavar=t("cli.metavar.time"),
        help=t("cli.reception.at_help", iso='"2027-01-15 09:00"', zh='"1月15日 9:00"'),
    )
    add.add_argument(
        "--minutes",
        type=int,
        required=True,
        metavar=t("cli.metavar.minutes"),
        help=t("cli.reception.minutes_help"),
    )
    add.add_argument(
        "--place",
        required=True,
        metavar=t("cli.metavar.place"),
        help=t("cli.reception.place_help", online="--online"),
    )
    add.add_argument("--online", action="store_true", help=t("cli.reception.online_help"))
    add.add_argument(
        "--capacity",
        type=int,
        required=True,
        metavar=t("cli.metavar.capacity"),
        help=t("cli.reception.capacity_help"),
    )
    lst = rsub.add_parser(
        "list",
        help=t("cli.reception.list_help"),
        epilog=t("cli.units.example", example="xinfang reception list"),
        formatter_class=raw,
    )
    lst.add_argument(
        "--days",
        type=int,
        default=0,
        metavar=t("cli.metavar.days"),
        help=t("cli.reception.days_help"),
    )
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
        raise CliError(
            t("cli.reception.no_leader", id=args.leader, command="xinfang officers list")
        )
    starts_at = parse_when(args.at, now)
    if starts_at is None:
        raise CliError(
            t("cli.reception.bad_time", at="--at", iso='"2027-01-15 09:00"', zh='"1月15日 9:00"')
        )
    place, online = parse_place(args.place)
    draft = SlotDraft(starts_at, args.minutes, place, online or args.online, args.capacity)
    try:
        check_slot(draft, now)
    except InvalidField as wrong:
        raise CliError(_error(wrong.params.get("field"))) from None
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
    print(t("cli.reception.published", slot=slot.id, leader=leader.id))
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
            t(
                "cli.reception.slot_line",
                id=f"{s.id:>5}",
                when=when,
                minutes=f"{s.minutes:>3}",
                where=where,
                leader=s.leader_officer_id,
                name=s.leader_name or "",
                unit=unit,
                booked=s.booked,
                capacity=s.capacity,
            )
        )
    return out


async def _list(uow: Any, args: argparse.Namespace) -> int:
    from bot.container import utc_now

    since = utc_now() - timedelta(days=max(args.days, 0))
    slots = await uow.reception.all_slots(since)
    if not slots:
        print(t("cli.reception.none", add="xinfang reception add", slots="/slots 新增"))
        return 0
    for line in slot_lines(slots):
        print(line)
    return 0
