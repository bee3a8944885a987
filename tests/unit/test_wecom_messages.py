"""Parsing decrypted WeCom XML into WeComInbound."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bot.wecom.crypto import ParseXmlError
from bot.wecom.messages import WeComInbound, parse_inbound
from tests.fakes.wecom_api import (
    CORP_ID,
    event_xml,
    file_xml,
    image_xml,
    template_card_event_xml,
    text_xml,
)


def test_official_text_vector_parses_into_fields() -> None:
    vectors = json.loads((Path(__file__).parents[1] / "data" / "wecom_vectors.json").read_text())
    xml = next(v for v in vectors if v["name"] == "A2_decrypt_msg")["expected_plaintext"]
    msg = parse_inbound(xml)
    assert msg == WeComInbound(
        to_user="ww1436e0e65a779aee",
        from_user="ChenJiaShun",
        create_time=1476422779,
        msg_type="text",
        agent_id=1000002,
        msg_id="1456453720",
        content="你好",
    )
    assert msg.dedup_key == "msg:1456453720"
    assert not msg.is_event


def test_text_message_keeps_cdata_content_verbatim() -> None:
    msg = parse_inbound(text_xml("a]]>b <not a tag> & 合规", msg_id="42"))
    assert msg.content == "a]]>b <not a tag> & 合规"
    assert msg.msg_id == "42"


def test_empty_text_content_is_an_empty_string() -> None:
    assert parse_inbound(text_xml("")).content == ""


def test_image_message_carries_media_id_and_pic_url() -> None:
    msg = parse_inbound(image_xml("MEDIA1", "https://example.invalid/x.jpg"))
    assert (msg.msg_type, msg.media_id, msg.pic_url) == (
        "image",
        "MEDIA1",
        "https://example.invalid/x.jpg",
    )


def test_file_message_carries_the_file_name() -> None:
    msg = parse_inbound(file_xml("MEDIA2", "证据.pdf"))
    assert (msg.msg_type, msg.media_id, msg.file_name) == ("file", "MEDIA2", "证据.pdf")


def test_enter_agent_event_is_keyed_by_sender_time_and_event() -> None:
    msg = parse_inbound(event_xml("enter_agent", from_user="WangWu", create_time=1700000123))
    assert msg.is_event and msg.event == "enter_agent" and msg.msg_id is None
    assert msg.dedup_key == "evt:WangWu:1700000123:enter_agent:"


def test_template_card_event_exposes_button_task_and_response_code() -> None:
    msg = parse_inbound(
        template_card_event_xml("accept", "case-17", response_code="RC9", from_user="LiSi")
    )
    assert (msg.event, msg.event_key, msg.task_id, msg.card_type, msg.response_code) == (
        "template_card_event",
        "accept",
        "case-17",
        "button_interaction",
        "RC9",
    )
    assert msg.dedup_key == "evt:LiSi:1700000000:template_card_event:accept"


def test_distinct_button_presses_have_distinct_dedup_keys() -> None:
    a = parse_inbound(template_card_event_xml("accept", "t1"))
    b = parse_inbound(template_card_event_xml("reject", "t1"))
    assert a.dedup_key != b.dedup_key


def test_inbound_is_immutable() -> None:
    msg = parse_inbound(text_xml("hi"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.content = "changed"  # type: ignore[misc]


def test_repr_hides_content_and_user_ids() -> None:
    text = repr(parse_inbound(text_xml("机密内容", from_user="ZhaoLiu")))
    assert "机密内容" not in text and "ZhaoLiu" not in text and CORP_ID not in text


@pytest.mark.parametrize(
    "xml",
    [
        "<xml><FromUserName>a</FromUserName><CreateTime>1</CreateTime></xml>",
        "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
        "<CreateTime>soon</CreateTime><MsgType>text</MsgType></xml>",
        "<notxml><ToUserName>a</ToUserName></notxml>",
        "<xml><ToUserName>a</ToUserName>",
        '<!DOCTYPE xml [<!ENTITY e "x">]><xml><ToUserName>&e;</ToUserName></xml>',
    ],
    ids=["missing-fields", "non-numeric-time", "wrong-root", "truncated", "entity"],
)
def test_malformed_inner_xml_is_a_parse_error(xml: str) -> None:
    with pytest.raises(ParseXmlError):
        parse_inbound(xml)
