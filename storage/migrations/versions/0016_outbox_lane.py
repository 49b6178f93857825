"""outbox.lane: priority lanes, so a person's own conversation is sent before alerts and digests

0 = the reply to the person's own message or click, 1 = a dialog follow-up (a message an event causes for
someone else: the approval card to the supervisor, the decision to the rep), 2 = alerts, SOP reminders,
digests, briefs, calendar calls. The relay claims by lane first (storage/outbox.py `claim`), through the
(status, lane, next_try_at, id) index, which replaces (status, dedupe_key) (0004: the `in:` key range was
the old way to find replies first). Rows still waiting get their lane from their dedupe key: an answer of the
worker (`in:…`) becomes lane 0, everything else lane 2.

Revision ID: 0016_outbox_lane
Revises: 0015_approval_request_cards
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_outbox_lane"
down_revision = "0015_approval_request_cards"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("lane", sa.SmallInteger(), server_default="2", nullable=False))
    op.execute("UPDATE outbox SET lane = 0 WHERE status IN ('pending', 'sending') AND dedupe_key LIKE 'in:%'")
    op.create_index("ix_outbox_lane_due", "outbox", ["status", "lane", "next_try_at", "id"], unique=False)
    op.drop_index("ix_outbox_status_key", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_status_key", "outbox", ["status", "dedupe_key"], unique=False)
    op.drop_index("ix_outbox_lane_due", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lane")
