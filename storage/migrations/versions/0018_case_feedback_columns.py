"""feedback on the case: the latest rating and the follow-up answers statistics count (issue 13)

Revision ID: 0018
Revises: 0017
Create Date: 2027-01-24 10:00:00.000000

Three plain columns on ``cases``, so that the statistics read no feedback row (the join
of the period's cases with their feedback was the largest part of ``/stats`` at a million
cases): ``feedback_rating``, the rating of the case's latest rated satisfaction question
(the highest feedback id); ``feedback_unsolved`` and ``feedback_retaliation``, whether a
follow-up was answered "not solved" / "retaliation". They are filled here from the
feedback rows and written from then on with every answer (``SqlFeedback.save``). No text,
no identity: the same facts the feedback rows hold.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_COLUMNS = ("feedback_rating", "feedback_unsolved", "feedback_retaliation")

# PostgreSQL: one aggregate per case over the feedback (the id of its latest rating,
# whether a follow-up was answered unsolved / with retaliation), then one join: a million
# cases in seconds.
_BACKFILL_POSTGRES = """
UPDATE cases SET
    feedback_rating = (SELECT r.rating FROM feedback r WHERE r.id = s.rated_id),
    feedback_unsolved = s.unsolved,
    feedback_retaliation = s.harmed
FROM (
    SELECT case_id,
           MAX(id) FILTER (WHERE kind = 'satisfaction' AND rating <> '') AS rated_id,
           bool_or(kind = 'follow_up' AND solved IS FALSE) AS unsolved,
           bool_or(kind = 'follow_up' AND retaliation IS TRUE) AS harmed
    FROM feedback GROUP BY case_id
) AS s
WHERE s.case_id = cases.id
"""

# SQLite (UPDATE … FROM needs 3.33): the same per case, through the feedback's case index.
_BACKFILL_SQLITE = """
UPDATE cases SET
    feedback_rating = (
        SELECT r.rating FROM feedback r
        WHERE r.case_id = cases.id AND r.kind = 'satisfaction'
          AND r.rating IS NOT NULL AND r.rating <> ''
        ORDER BY r.id DESC LIMIT 1),
    feedback_unsolved = EXISTS (
        SELECT 1 FROM feedback r
        WHERE r.case_id = cases.id AND r.kind = 'follow_up' AND r.solved = 0),
    feedback_retaliation = EXISTS (
        SELECT 1 FROM feedback r
        WHERE r.case_id = cases.id AND r.kind = 'follow_up' AND r.retaliation = 1)
WHERE cases.id IN (SELECT case_id FROM feedback)
"""


def upgrade() -> None:
    # Plain ADD COLUMN: batch mode would copy and drop the cases table, and with foreign
    # keys on, the drop cascades into every table that points at it (see 0004).
    op.add_column("cases", sa.Column("feedback_rating", sa.String(length=20), nullable=True))
    op.add_column("cases", sa.Column("feedback_unsolved", sa.Boolean(), nullable=True))
    op.add_column("cases", sa.Column("feedback_retaliation", sa.Boolean(), nullable=True))
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute(_BACKFILL_SQLITE if sqlite else _BACKFILL_POSTGRES)


def downgrade() -> None:
    # The feedback rows still hold every fact: nothing is lost.
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in reversed(_COLUMNS):
        if sqlite:
            op.execute(f"ALTER TABLE cases DROP COLUMN {name}")
        else:
            op.drop_column("cases", name)
