"""Everything the database holds, decrypted with the keyring: what an operator who has the
server's keys (not the custodian's) can read. Privacy tests search it for identifiers."""

from __future__ import annotations

from sqlalchemy import select, text

from bot.container import Container
from storage.rotation import ALL_ENCRYPTED_COLUMNS

__all__ = ["decrypted_database", "raw_database"]


async def decrypted_database(container: Container) -> list[bytes]:
    """Every ciphertext in every encrypted column, opened with the server's keyring."""
    vault = container.vault
    found: list[bytes] = []
    async with container.uow() as uow:
        for spec in ALL_ENCRYPTED_COLUMNS:
            model = spec.model
            col = getattr(model, spec.column)
            keys = [getattr(model, k) for k in spec.keys]
            rows = (await uow.session.execute(select(col, *keys).where(col.is_not(None)))).all()
            for blob, *key in rows:
                bound = spec.bind(tuple(key))
                if spec.kind == "delivery":
                    opened = repr(vault.open_contact(bytes(blob), bound)).encode()
                else:
                    opened = vault.decrypt(bytes(blob), bound)
                found.append(opened)
    return found


async def raw_database(container: Container) -> list[str]:
    """Every value of every column of every table, as text (ciphertexts stay ciphertext)."""
    values: list[str] = []
    async with container.uow() as uow:
        tables = [
            name
            for (name,) in (
                await uow.session.execute(
                    text(
                        "SELECT name FROM sqlite_master WHERE type='table'"
                        if uow.session.get_bind().dialect.name == "sqlite"
                        else "SELECT tablename FROM pg_tables WHERE schemaname='public'"
                    )
                )
            ).all()
        ]
        for table in tables:
            for row in (await uow.session.execute(text(f'SELECT * FROM "{table}"'))).all():
                values.extend(str(v) for v in row if v is not None)
    return values
