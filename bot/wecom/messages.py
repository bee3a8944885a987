"""Typed view of a decrypted WeCom callback message."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - parsing goes through crypto.parse_xml
from dataclasses import dataclass

from bot.wecom.crypto import DEFAULT_MAX_XML, ParseXmlError, parse_xml

EVENT = "event"
TEMPLATE_CARD_EVENT = "template_card_event"
ENTER_AGENT = "enter_agent"


@dataclass(frozen=True, slots=True)
class WeComInbound:
    """One inbound WeCom message or event, as WeCom delivered it."""

    to_user: str
    from_user: str
    create_time: int
    msg_type: str
    agent_id: int | None = None
    msg_id: str | None = None
    content: str | None = None
    media_id: str | None = None
    pic_url: str | None = None
    file_name: str | None = None
    voice_format: str | None = None
    event: str | None = None
    event_key: str | None = None
    task_id: str | None = None
    card_type: str | None = None
    response_code: str | None = None

    @property
    def is_event(self) -> bool:
        """True for events (menu clicks, card buttons, enter_agent...) rather than messages."""
        return self.msg_type == EVENT

    @property
    def dedup_key(self) -> str:
        """Key identifying a delivery so WeCom's retries can be recognised."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        # Events have no MsgId; WeCom documents FromUserName + CreateTime as their identity.
        kind = self.event or self.msg_type
        return f"evt:{self.from_user}:{self.create_time}:{kind}:{self.event_key or ''}"

    def __repr__(self) -> str:
        # Keep message content and user ids out of accidental logs and tracebacks.
        return f"WeComInbound(msg_type={self.msg_type!r}, event={self.event!r})"


def _text(root: ET.Element, tag: str) -> str | None:
    value = root.findtext(tag)
    return value if value not in (None, "") else None


def _required(root: ET.Element, tag: str) -> str:
    value = _text(root, tag)
    if value is None:
        raise ParseXmlError()
    return value


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise ParseXmlError() from None


def parse_inbound(xml: str | bytes, *, max_size: int = DEFAULT_MAX_XML) -> WeComInbound:
    """Parse decrypted inner XML into a WeComInbound, raising ParseXmlError if malformed."""
    root = parse_xml(xml, max_size=max_size)
    if root.tag != "xml":
        raise ParseXmlError()
    create_time = _int(_required(root, "CreateTime")) or 0
    msg_type = _required(root, "MsgType").strip()
    event = _text(root, "Event")
    return WeComInbound(
        to_user=_required(root, "ToUserName"),
        from_user=_required(root, "FromUserName"),
        create_time=create_time,
        msg_type=msg_type,
        agent_id=_int(_text(root, "AgentID")),
        msg_id=_text(root, "MsgId"),
        content=root.findtext("Content"),
        media_id=_text(root, "MediaId"),
        pic_url=_text(root, "PicUrl"),
        file_name=_text(root, "FileName"),
        voice_format=_text(root, "Format"),
        event=event.strip() if event else None,
        event_key=_text(root, "EventKey"),
        task_id=_text(root, "TaskId"),
        card_type=_text(root, "CardType"),
        response_code=_text(root, "ResponseCode"),
    )
