"""Every ciphertext is bound to its table, row and field: moved to another row it no longer
opens (a sealed identity moved into an anonymous case cannot be revealed as that case's),
and the migration that introduced the binding re-encrypts existing data both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from bot.container import Container
from bot.disclosure import DisclosureError, open_identity_request, request_identity
from petitions.roles import Role
from storage.custody import load_private_key
from storage.migrate import current_revision, downgrade, upgrade
from storage.models import AttachmentRow, CaseEventRow, CaseMessageRow, CaseRow, OutboxRow
from storage.vault import Keyring, VaultError
from tests.helpers.chat import ChatUser
from tests.helpers.clock import FakeClock
from tests.helpers.flow import PDF, add_officer, file_petition, load_case
from tests.helpers.plaintext import decrypted_database

IDENTITY = {"name": "张实名", "staff_no": None, "unit": None, "phone": "13912345678"}


async def two_cases(container: Container) -> tuple[int, int]:
    anonymous = await file_petition(
        container, ChatUser(container.handlers, chat_id="501", sender_id="501"), files=[PDF]
    )
    named = await file_petition(
        container,
        ChatUser(container.handlers, chat_id="502", sender_id="502"),
        identity=IDENTITY,
        files=[PDF],
    )
    officer = await add_officer(container)
    for number in (anonymous.number, named.number):
        await officer.say(f"/accept {number}")
        await officer.say(f"/note {number} 内部备注")
    return anonymous.case_id, named.case_id


async def copy_column(container: Container, model, column: str, source: int, target: int) -> None:  # type: ignore[no-untyped-def]
    async with container.uow() as uow:
        col = getattr(model, column)
        value = await uow.session.scalar(select(col).where(model.id == source))
        await uow.session.execute(update(model).where(model.id == target).values({column: value}))
        await uow.commit()


async def test_a_sealed_identity_moved_into_an_anonymous_case_cannot_be_revealed_there(
    container: Container, keys: tuple[Keyring, Path], clock: FakeClock
):
    anonymous, named = await two_cases(container)
    await add_officer(container, Role.CUSTODIAN, "888", "孙保管")  # officer 2
    key = load_private_key(keys[1].read_bytes(), lambda: "")
    reason = "依据条例第三十条核实涉嫌诬告线索中反映人的身份"
    ring = container.vault.keyring
    request, _ = await request_identity(container.uow, str(named), 2, reason, "1of1", clock())
    _number, fields = await open_identity_request(container.uow, ring, request.id, [key], clock())
    assert fields["name"] == "张实名"
    await copy_column(container, CaseRow, "identity_ct", named, anonymous)
    request, _ = await request_identity(container.uow, str(anonymous), 2, reason, "1of1", clock())
    with pytest.raises(DisclosureError, match="another case"):
        await open_identity_request(container.uow, ring, request.id, [key], clock())
    async with container.uow() as uow:
        actions = [a["action"] for a in await uow.audit.list(anonymous)]
    assert "identity.open_failed" in actions and "identity.reveal" not in actions


@pytest.mark.parametrize(
    ("model", "column"),
    [
        (CaseRow, "description_ct"),
        (CaseRow, "contact_ct"),
        (CaseEventRow, "detail_ct"),
        (CaseMessageRow, "body_ct"),
        (AttachmentRow, "data_ct"),
        (AttachmentRow, "name_ct"),
        (OutboxRow, "payload_ct"),
    ],
)
async def test_a_ciphertext_copied_to_another_row_fails_to_open(
    container: Container,
    model,
    column: str,  # type: ignore[no-untyped-def]
):
    await two_cases(container)
    async with container.uow() as uow:
        col = getattr(model, column)
        ids = (await uow.session.scalars(select(model.id).where(col.is_not(None)))).all()
    source, target = ids[-1], ids[0]
    assert source != target
    await copy_column(container, model, column, source, target)
    with pytest.raises(VaultError):
        await decrypted_database(container)


async def test_the_migration_rebinds_existing_data_and_back(container: Container):
    anonymous, named = await two_cases(container)
    before = sorted(await decrypted_database(container))
    engine = container.engine
    await downgrade(engine, "0005", vault=container.vault)  # column-bound again
    assert await current_revision(engine) == "0005"
    async with engine.connect() as conn:
        blob = (
            await conn.execute(
                text("SELECT description_ct FROM cases WHERE id = :i"), {"i": named}
            )
        ).scalar_one()
    assert container.vault.decrypt(bytes(blob), "case.description")  # the old binding
    with pytest.raises(RuntimeError, match="needs the keyring"):
        await upgrade(engine)  # rows to re-encrypt, and no keys given
    await upgrade(engine, vault=container.vault)
    assert sorted(await decrypted_database(container)) == before
    case = await load_case(container, anonymous)
    assert case.description
