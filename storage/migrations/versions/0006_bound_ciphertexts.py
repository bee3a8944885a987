"""bound ciphertexts and push-address choice: every ciphertext is bound to its table, row
and field; a case keeps its push address only when the employee chose pushes, until an
erase time; evidence that could not be cleaned waits for the employee's choice

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 17:30:00.000000

The data step re-encrypts every ciphertext from the column-bound associated data of
0001–0005 to the row-bound one (storage.vault.aad). It needs the keyring: ``xinfang
migrate`` and the service pass the vault in the Alembic config's attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import context, op

if TYPE_CHECKING:
    from storage.rotation import EncryptedColumn
    from storage.vault import Vault

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: batch mode would copy and drop the cases table, and with foreign
    # keys on, the drop cascades into every table that points at it (see 0004).
    op.add_column(
        "cases",
        sa.Column("contact_mode", sa.String(length=10), nullable=False, server_default="push"),
    )
    op.add_column("cases", sa.Column("contact_erase_at", sa.DateTime(timezone=True)))
    op.create_index(op.f("ix_cases_contact_erase_at"), "cases", ["contact_erase_at"])
    op.add_column(
        "attachments",
        sa.Column("status", sa.String(length=10), nullable=False, server_default="ok"),
    )
    _rebind(op.get_bind())


def _rebind(bind: sa.engine.Connection, *, back: bool = False) -> None:
    from storage.rotation import ENCRYPTED_COLUMNS

    vault = context.config.attributes.get("vault")
    for spec in ENCRYPTED_COLUMNS:
        table = spec.model.__table__
        col = table.c[spec.column]
        keys = [table.c[k] for k in spec.keys]
        pk = table.c[list(table.primary_key.columns)[0].name]
        last: object = None
        while True:
            stmt = sa.select(pk, col, *keys).where(col.is_not(None)).order_by(pk).limit(500)
            if last is not None:
                stmt = stmt.where(pk > last)
            rows = bind.execute(stmt).all()
            if not rows:
                break
            if vault is None:
                raise RuntimeError(
                    "migration 0006 re-encrypts existing data and needs the keyring: "
                    "run `xinfang migrate` (or start the service) with XINFANG_KEYRING_FILE set"
                )
            for row_id, blob, *key in rows:
                last = row_id
                new = _rewrap(vault, spec, bytes(blob), tuple(key), back=back)
                bind.execute(sa.update(table).where(pk == row_id).values({spec.column: new}))


def _rewrap(
    vault: Vault, spec: EncryptedColumn, blob: bytes, key: tuple[Any, ...], *, back: bool
) -> bytes:
    old, new = spec.legacy, spec.bind(key)
    if back:
        old, new = new, old
    if spec.column == "identity_ct":
        # Before: the JSON of sealed fields, unwrapped. Now: wrapped, bound to the case.
        return vault.decrypt(blob, old) if back else vault.encrypt(blob, new)
    if spec.kind == "delivery":
        return vault.seal_contact(vault.open_contact(blob, old), new)
    return vault.encrypt(vault.decrypt(blob, old), new)


def downgrade() -> None:
    _rebind(op.get_bind(), back=True)
    op.drop_column("attachments", "status")
    op.drop_index(op.f("ix_cases_contact_erase_at"), table_name="cases")
    op.drop_column("cases", "contact_erase_at")
    op.drop_column("cases", "contact_mode")
