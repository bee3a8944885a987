"""``xinfang console``: local mode in the terminal, no bot token needed.

One person plays both sides: the employee in a private chat and an officer in the admin
chat, on the embedded database with generated keys. Buttons are shown numbered; type the
number to press one. Pushed messages (status updates to the employee, case cards to the
admin chat) are delivered by the real outbox worker and printed as they arrive.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field

from bot.channels import Delivery
from bot.container import Container
from bot.delivery import DeliveryWorker
from handlers.inbound import Button, Inbound, Reply
from petitions.roles import Role

__all__ = ["ConsoleSender", "run_console"]

EMPLOYEE_CHAT = "console-employee"
OFFICER_ACCOUNT = "console-officer"

HELP = """\
Local mode — you are the employee. Commands:
  /start /new /status CODE /cancel /lang      as an employee would type them
  :officer    switch to the admin chat as the demo leader (/ohelp lists officer commands)
  :employee   switch back to the employee's private chat
  :reply N TEXT   (officer) reply to case id N, which answers the employee
  :quit       leave (your data stays in the data directory)
Type a number to press one of the buttons shown last.
"""


@dataclass
class ConsoleSender:
    """Prints outbox deliveries instead of sending them to a platform."""

    channel: str = "console"
    printed: list[str] = field(default_factory=list)

    async def send(self, delivery: Delivery) -> None:
        """Print a pushed message."""
        where = "admin chat" if delivery.audience == "admin" else "employee's chat"
        for reply in delivery.replies:
            text = f"\n[pushed to the {where}]\n{reply.text}\n"
            self.printed.append(text)
            print(text, flush=True)


def _show(replies: list[Reply]) -> list[Button]:
    buttons: list[Button] = []
    for reply in replies:
        print(reply.text)
        for f in reply.files:
            print(f"  [file: {f.name}, {len(f.data)} bytes]")
        for row in reply.buttons:
            for b in row:
                buttons.append(b)
                print(f"  [{len(buttons)}] {b.label}")
    return buttons


async def _readline(prompt: str) -> str | None:
    line = await asyncio.to_thread(_input, prompt)
    return line


def _input(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        return None


async def run_console(container: Container) -> int:
    """Run the interactive local mode until :quit or end of input."""
    async with container.uow() as uow:
        if await uow.officers.by_account("console", OFFICER_ACCOUNT) is None:
            await uow.officers.add(
                "演示领导",
                Role.LEADER,
                container.services.clock(),
                accounts={"console": OFFICER_ACCOUNT},
            )
            await uow.commit()
    sender = ConsoleSender()
    worker = DeliveryWorker(
        container.uow,
        container.translator.t,
        {"console": sender},
        container.services.clock,
        notices=container.notices,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    print(HELP)
    as_officer = False
    buttons: list[Button] = []
    try:
        while True:
            line = await _readline("officer> " if as_officer else "employee> ")
            if line is None or line.strip() == ":quit":
                break
            line = line.strip()
            if not line:
                continue
            if line == ":officer":
                as_officer = True
                print("(admin chat; /ohelp for commands)")
                continue
            if line == ":employee":
                as_officer = False
                continue
            kwargs: dict[str, object] = {}
            if line.isdigit() and 0 < int(line) <= len(buttons):
                kwargs["button"] = buttons[int(line) - 1].payload
            elif line.startswith(":reply ") and as_officer:
                _, ref, *words = line.split(" ")
                if not ref.isdigit() or not words:
                    print("usage: :reply CASE_ID TEXT")
                    continue
                kwargs.update(text=" ".join(words), case_ref=int(ref))
            else:
                kwargs["text"] = line
            inbound = Inbound(
                channel="console",
                chat_id="admin" if as_officer else EMPLOYEE_CHAT,
                sender_id=OFFICER_ACCOUNT if as_officer else EMPLOYEE_CHAT,
                locale=None,
                in_admin_chat=as_officer,
                **kwargs,  # type: ignore[arg-type]
            )
            buttons = _show(await container.handlers.handle(inbound))
            worker.wake()
            await asyncio.sleep(0.2)  # let pushes print before the next prompt
    finally:
        stop.set()
        await task
    print("bye — data kept in", container.settings.data_dir, file=sys.stderr)
    return 0
