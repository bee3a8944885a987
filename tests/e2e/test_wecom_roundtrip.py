"""A WeCom user's message arrives encrypted and is answered through the API, end to end."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from bot.wecom.callback import MOUNT_PREFIX, create_callback_app
from bot.wecom.client import WeComClient
from bot.wecom.crypto import WeComCrypto
from bot.wecom.messages import WeComInbound
from tests.fakes.wecom_api import (
    AGENT_ID,
    CB_AES_KEY,
    CB_TOKEN,
    CORP_ID,
    SECRET,
    FakeWeComApi,
    query_string,
    signed_post,
    text_xml,
)


async def test_inbound_text_is_acknowledged_and_answered_via_message_send() -> None:
    async with FakeWeComApi() as api, aiohttp.ClientSession() as session:
        client = WeComClient(
            session, base_url=api.base_url, corp_id=CORP_ID, secret=SECRET, agent_id=AGENT_ID
        )

        async def reply(message: WeComInbound) -> None:
            await client.send_text(message.from_user, f"已收到：{message.content}")

        seen: set[str] = set()

        async def mark(key: str) -> bool:
            duplicate = key in seen
            seen.add(key)
            return duplicate

        parent = web.Application()
        parent.add_subapp(
            MOUNT_PREFIX,
            create_callback_app(
                WeComCrypto(CB_TOKEN, CB_AES_KEY, CORP_ID), on_message=reply, seen=mark
            ),
        )
        server = TestServer(parent, host="127.0.0.1", port=0)
        await server.start_server()
        try:
            params, body = signed_post(text_xml("宿舍热水坏了", from_user="ZhangSan"))
            url = URL(
                f"{server.make_url(MOUNT_PREFIX)}/callback?{query_string(params)}", encoded=True
            )
            for _ in range(2):  # WeCom retry of the same MsgId
                async with session.post(url, data=body) as resp:
                    assert (resp.status, await resp.text()) == (200, "success")
        finally:
            await server.close()
    assert api.sent == [
        {
            "touser": "ZhangSan",
            "msgtype": "text",
            "agentid": AGENT_ID,
            "text": {"content": "已收到：宿舍热水坏了"},
        }
    ]
