"""Which admin chats hear about a case when the group has units (issue 13, item 3).

A unit may have its own Telegram admin group and WeCom app group chat
(``XINFANG_UNIT_CHATS``) and its own leaders' chat (``XINFANG_UNIT_LEADERS_CHATS``). A
message about a case goes to the chats of every unit that covers the case's unit (the unit
and its ancestors); the single admin chat of each channel (``TELEGRAM_ADMIN_CHAT_ID``,
the WeCom officers, the web page) is the root unit's. Officers on WeCom have no group:
each gets the messages of the cases in their own scope (bot/wecom/sender.py), so no
configuration can widen what a WeCom officer receives.

An officer acting in a unit's chat acts with the scope of that chat at most: whatever a
command or button shows is read by everyone in the group, so a case the chat does not
cover is refused there, whoever asks (:func:`narrow_to_chat`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from handlers.ports import Officer
from petitions.units import Unit, UnitTree

__all__ = [
    "AdminRoute",
    "UnitChat",
    "admin_routes",
    "chat_scope",
    "covering_units",
    "digest_routes",
    "leaders_targets",
    "narrow_to_chat",
]


@dataclass(frozen=True)
class UnitChat:
    """One unit's chat on one channel, as configured."""

    unit: str  # the unit's code (petitions.units.valid_code)
    channel: str  # telegram | wecom
    # Telegram: the group's chat id. WeCom: an app group chat id (admin chats) or officer
    # userids ``a|b`` (leaders' chats, as XINFANG_LEADERS_CHAT).
    target: str = ""

    def __repr__(self) -> str:  # chat ids stay out of logs and tracebacks
        return f"UnitChat(unit={self.unit!r}, channel={self.channel!r})"


@dataclass(frozen=True)
class AdminRoute:
    """Where one admin message goes: a channel's own admin audience (``chat`` None: the
    root's chat, the WeCom officers in scope, the web page) or a unit's chat."""

    channel: str
    chat: str | None
    unit_id: int | None = None  # whose chat (None: the root's)

    def __repr__(self) -> str:
        return f"AdminRoute(channel={self.channel!r}, unit_id={self.unit_id!r})"


class _Routing(Protocol):
    """The part of HandlerConfig routing reads (kept apart to avoid an import cycle)."""

    @property
    def admin_channels(self) -> tuple[str, ...]: ...
    @property
    def unit_chats(self) -> tuple[UnitChat, ...]: ...
    @property
    def unit_leaders_chats(self) -> tuple[UnitChat, ...]: ...
    @property
    def leaders_chats(self) -> tuple[tuple[str, str], ...]: ...


def covering_units(tree: UnitTree, unit_id: int | None) -> list[Unit]:
    """The units whose offices cover a case of this unit, nearest first; the root alone for
    a case without a (known) unit."""
    chain = tree.ancestors(unit_id) if unit_id is not None else []
    if chain:
        return chain
    return [tree.root] if tree.root is not None else []


def _is_root(tree: UnitTree, unit: Unit) -> bool:
    return unit.parent_id is None or tree.get(unit.parent_id) is None


def admin_routes(config: _Routing, tree: UnitTree, unit_id: int | None) -> list[AdminRoute]:
    """The chats a message about a case of ``unit_id`` goes to: every channel's own admin
    audience (the root's) and the configured chats of the units covering it."""
    routes = [AdminRoute(channel, None) for channel in config.admin_channels]
    if config.unit_chats:
        covering = {u.code: u for u in covering_units(tree, unit_id)}
        for chat in config.unit_chats:
            unit = covering.get(chat.unit)
            if unit is None:
                continue
            owner = None if _is_root(tree, unit) else unit.id
            route = AdminRoute(chat.channel, chat.target, owner)
            if route not in routes:
                routes.append(route)
    return routes


def digest_routes(
    config: _Routing, tree: UnitTree, officers: Iterable[Officer]
) -> dict[int | None, list[AdminRoute]]:
    """Every admin chat grouped by the unit whose cases its digest lists (None: the root,
    all cases). WeCom officers of a unit below the root get that unit's digest (WeCom has
    no group: the route is the channel's own audience, narrowed by the row's unit)."""
    out: dict[int | None, list[AdminRoute]] = {
        None: [AdminRoute(channel, None) for channel in config.admin_channels]
    }
    for chat in config.unit_chats:
        unit = tree.by_code(chat.unit)
        if unit is None:
            continue
        owner = None if _is_root(tree, unit) else unit.id
        route = AdminRoute(chat.channel, chat.target, owner)
        if route not in out.setdefault(owner, []):
            out[owner].append(route)
    if "wecom" in config.admin_channels:
        for officer in officers:
            unit = tree.get(officer.unit_id)
            if not officer.active or unit is None or _is_root(tree, unit):
                continue
            route = AdminRoute("wecom", None, unit.id)
            if route not in out.setdefault(unit.id, []):
                out[unit.id].append(route)
    return {unit: routes for unit, routes in out.items() if routes}


def leaders_targets(
    config: _Routing, tree: UnitTree, unit_id: int | None
) -> list[tuple[str, str]]:
    """The leaders' chats of a unit: on each channel, those of the nearest unit at or above
    it that has one (the root's include XINFANG_LEADERS_CHAT); empty when none is set."""
    out: list[tuple[str, str]] = []
    done: set[str] = set()
    chain = covering_units(tree, unit_id)
    for unit in chain:
        level = [
            (c.channel, c.target)
            for c in config.unit_leaders_chats
            if c.unit == unit.code and c.channel not in done
        ]
        if _is_root(tree, unit):
            level += [(ch, chat) for ch, chat in config.leaders_chats if ch not in done]
        for item in level:
            if item not in out:
                out.append(item)
        done |= {channel for channel, _chat in level}
    if not chain:  # no unit tree: the one leaders' chat, as before units
        out.extend(config.leaders_chats)
    return out


def chat_scope(
    config: _Routing, tree: UnitTree, channel: str, chat_id: str
) -> frozenset[int] | None:
    """The units an admin chat covers: None for the root's (every case), a unit's subtree
    for a unit's chat, nothing for a chat configured for a code the tree does not have."""
    for chat in config.unit_chats:
        if chat.channel == channel and chat.target == chat_id:
            unit = tree.by_code(chat.unit)
            if unit is None:
                return frozenset()
            return None if _is_root(tree, unit) else tree.subtree(unit.id)
    return None


def narrow_to_chat(officer: Officer, scope: frozenset[int] | None) -> Officer:
    """The officer as they may act in a chat covering ``scope``: their own scope, no wider
    than the chat's (everyone in the group reads what the bot answers there)."""
    if scope is None:
        return officer
    narrowed = scope if officer.scope is None else officer.scope & scope
    return replace(officer, scope=narrowed)
