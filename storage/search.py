"""Search over petition text without decrypting every case: blind-indexed tokens.

When a petition is stored (and when the employee adds information) its text is cut into
tokens: every two adjacent CJK characters (a bigram; a lone CJK character as itself) and
every run of Latin letters or digits (a word), after NFKC normalisation and case folding.
Each distinct token of a case becomes one row ``(HMAC(pepper, "search:" + token), case
id)``; the text itself stays encrypted in the case. A query is cut the same way: the cases
holding every token of the query are the candidates (the rarest token is read first, every
other one is one index probe per candidate). A bigram match is necessary, not sufficient
("工资发" holds "工资" and "资发" without holding "工资发放"), so up to
:data:`CONFIRM_LIMIT` candidates are decrypted and the query confirmed as a substring; past
that the token match is the answer, and the page says the result is approximate.

What the table reveals to someone who reads it without the keyring (docs/privacy.md):
which cases share a token (not which token), how many distinct tokens each case has (about
the length of its text), and how common each hashed token is; never a token's text, its
position or its order. Latin words match as whole words: "wage" does not find "wages".
"""

from __future__ import annotations

import builtins
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from petitions.retention import destroyed_at
from storage.models import CaseMessageRow, CaseRow, SearchTokenRow
from storage.vault import Vault, aad

__all__ = [
    "CONFIRM_LIMIT",
    "MAX_QUERY",
    "MAX_QUERY_TOKENS",
    "SqlSearch",
    "holding",
    "matching",
    "normalize",
    "query_terms",
    "text_tokens",
]

# Candidates decrypted to confirm a query; a few hundred decryptions take milliseconds.
CONFIRM_LIMIT = 500
MAX_QUERY = 100  # characters of a query
MAX_QUERY_TOKENS = 16  # the rarest ones are enough to narrow any query down
_RARITY_CAP = 10_000  # a token's postings are counted up to this many
_MAX_WORD = 40  # a longer run of letters or digits is indexed by its first 40
_BATCH = 1000
# The petitioner's own text: the description and the information they add later.
_INDEXED_KINDS = ("employee",)
_SPACES = re.compile(r"\s+")


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xAC00 <= code <= 0xD7AF  # hangul syllables
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x20000 <= code <= 0x3FFFF  # extensions B and later
    )


def normalize(text: str) -> str:
    """NFKC, case folded, runs of white space as one space: what tokens and matches use."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _segments(text: str) -> Iterable[tuple[bool, str]]:
    """Runs of CJK characters (True) and of other letters or digits (False)."""
    kind: bool | None = None
    run: list[str] = []
    for char in text:
        cjk = _is_cjk(char)
        here = cjk if (cjk or char.isalnum()) else None
        if here != kind and run:
            assert kind is not None
            yield kind, "".join(run)
            run = []
        kind = here
        if here is not None:
            run.append(char)
    if run and kind is not None:
        yield kind, "".join(run)


def text_tokens(text: str) -> set[str]:
    """The tokens a text is indexed under: CJK bigrams (a lone CJK character as itself)
    and words of Latin letters or digits."""
    found: set[str] = set()
    for cjk, run in _segments(normalize(text)):
        if not cjk:
            found.add(run[:_MAX_WORD])
        elif len(run) == 1:
            found.add(run)
        else:
            found.update(run[i : i + 2] for i in range(len(run) - 1))
    return found


def _query_tokens(term: str) -> set[str]:
    # Every token here is certainly a token of any text holding the term: a lone CJK
    # character of the query may sit inside a longer run of the text (indexed only as
    # bigrams), so it is left to the confirmation.
    found: set[str] = set()
    for cjk, run in _segments(term):
        if not cjk:
            found.add(run[:_MAX_WORD])
        elif len(run) > 1:
            found.update(run[i : i + 2] for i in range(len(run) - 1))
    return found


def query_terms(query: str) -> list[str]:
    """The normalised terms of a query (split at white space); every one must match."""
    return [term for term in normalize(query[:MAX_QUERY]).split(" ") if term]


def matching(tokens: Sequence[int]) -> Any:
    """A SELECT of the ids of the cases holding every one of these hashed tokens: the
    first token's postings, each probed for the others (so put the rarest first)."""
    first = aliased(SearchTokenRow, name="st0")
    stmt = select(first.case_id).where(first.token == tokens[0])
    for n, token in enumerate(tokens[1:], start=1):
        other = aliased(SearchTokenRow, name=f"st{n}")
        stmt = stmt.where(
            select(other.case_id)
            .where(other.token == token, other.case_id == first.case_id)
            .correlate(first)
            .exists()
        )
    return stmt


def holding(tokens: Sequence[Any], case_id: Any) -> Any:
    """A condition on a case's id column: the case holds every one of these hashed tokens,
    checked per case (one index probe of search_tokens' key per token).

    A search with many candidates (past CONFIRM_LIMIT) pages through cases in the list's
    order; checking each case as it is read stops with the page. As a join (``id IN
    matching(...)``) PostgreSQL read every posting of a common token and every case of
    each state's range to find 21 (0.6 s at 1,000,000 cases); ``OFFSET 0`` keeps each
    EXISTS a per-row check (PostgreSQL does not turn such a subquery into a join)."""
    conditions = []
    for n, token in enumerate(tokens):
        posting = aliased(SearchTokenRow, name=f"st{n}")
        conditions.append(
            select(posting.case_id)
            .where(posting.token == token, posting.case_id == case_id)
            .offset(0)
            .exists()
        )
    return and_(*conditions)


def _message_aad(message_id: int, case_id: int) -> str:
    return aad("case_messages", f"{message_id}.{case_id}", "body")


class SqlSearch:
    """The token table: index a case's text, forget a case, plan and confirm queries."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._s = session
        self._v = vault

    def token_hash(self, token: str) -> int:
        """A token's keyed hash: HMAC's first 64 bits, as a signed 64-bit integer."""
        return int(self._v.blind_index("search", token)[:16], 16) - (1 << 63)

    def _insert(self) -> Any:
        table = SearchTokenRow.__table__
        if self._s.get_bind().dialect.name == "postgresql":
            return pg_insert(table).on_conflict_do_nothing()
        return sqlite_insert(table).on_conflict_do_nothing()

    async def index(self, case_id: int, text: str) -> None:
        """Add the tokens of a text stored with a case (its description, added information)."""
        hashes = sorted({self.token_hash(tok) for tok in text_tokens(text)})
        for i in range(0, len(hashes), _BATCH):
            rows = [{"token": h, "case_id": case_id} for h in hashes[i : i + _BATCH]]
            await self._s.execute(self._insert(), rows)

    async def forget(self, case_id: int) -> None:
        """Delete a case's tokens (its content was purged, or is indexed again)."""
        await self._s.execute(delete(SearchTokenRow).where(SearchTokenRow.case_id == case_id))

    async def plan(self, query: str) -> tuple[int, ...]:
        """The hashed tokens a query requires, rarest first (at most MAX_QUERY_TOKENS);
        empty when the query has none (a single CJK character, punctuation only)."""
        words: set[str] = set()
        for term in query_terms(query):
            words |= _query_tokens(term)
        counted = []
        for token in {self.token_hash(w) for w in words}:
            postings = (
                select(SearchTokenRow.case_id)
                .where(SearchTokenRow.token == token)
                .limit(_RARITY_CAP)
                .subquery()
            )
            count = (await self._s.execute(select(func.count()).select_from(postings))).scalar()
            counted.append((int(count or 0), token))
        counted.sort()
        return tuple(token for _count, token in counted[:MAX_QUERY_TOKENS])

    async def texts(self, case_ids: Sequence[int]) -> dict[int, builtins.list[str]]:
        """The indexed texts of these cases, decrypted (description, then added info);
        a case whose content was purged has none."""
        ids = builtins.list(case_ids)
        found: dict[int, builtins.list[str]] = {}
        if not ids:
            return found
        cases = await self._s.execute(
            select(CaseRow.id, CaseRow.description_ct).where(CaseRow.id.in_(ids))
        )
        for case_id, ct in cases:
            description = self._v.decrypt_text(ct, aad("cases", case_id, "description"))
            if destroyed_at(description) is None:
                found[case_id] = [description]
        messages = await self._s.execute(
            select(CaseMessageRow.id, CaseMessageRow.case_id, CaseMessageRow.body_ct)
            .where(CaseMessageRow.case_id.in_(ids), CaseMessageRow.kind.in_(_INDEXED_KINDS))
            .order_by(CaseMessageRow.id)
        )
        for message_id, case_id, ct in messages:
            if case_id in found:
                found[case_id].append(self._v.decrypt_text(ct, _message_aad(message_id, case_id)))
        return found

    async def confirm(self, case_ids: Sequence[int], query: str) -> set[int]:
        """Those of the candidates whose text holds every term of the query."""
        terms = query_terms(query)
        confirmed = set()
        for case_id, parts in (await self.texts(case_ids)).items():
            text = normalize("\n".join(parts))
            if terms and all(term in text for term in terms):
                confirmed.add(case_id)
        return confirmed

    async def reindex(self, after_id: int, limit: int) -> builtins.list[int]:
        """Index the cases after ``after_id`` (up to ``limit``, by id) from scratch; return
        their ids (the backfill of ``xinfang search reindex``)."""
        stmt = select(CaseRow.id).where(CaseRow.id > after_id).order_by(CaseRow.id).limit(limit)
        ids = builtins.list((await self._s.execute(stmt)).scalars().all())
        if not ids:
            return ids
        await self._s.execute(delete(SearchTokenRow).where(SearchTokenRow.case_id.in_(ids)))
        for case_id, parts in (await self.texts(ids)).items():
            await self.index(case_id, "\n".join(parts))
        return ids

    async def count_cases(self) -> int:
        """How many cases there are (the backfill's progress total)."""
        return int((await self._s.execute(select(func.count()).select_from(CaseRow))).scalar_one())
