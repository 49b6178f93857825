"""handovers: a person's book waiting for (or handed to) a successor when they leave or move (docs/handover.md)

Revision ID: 0023_handover
Revises: 0020_contact_sync (re-chained after merging main; was 0018_contract_handoff)
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_handover"
down_revision = "0020_contact_sync"
branch_labels = None
depends_on = None

_UTC = sa.DateTime(timezone=True)
_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "handovers",
        sa.Column("id", _BIGID, autoincrement=True, nullable=False),
        sa.Column("from_userid", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("decider", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", _UTC, nullable=False),
        sa.Column("due_at", _UTC, nullable=False),
        sa.Column("book", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("successor", sa.String(length=64), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("done_at", _UTC, nullable=True),
        sa.Column("moved", sa.JSON(), nullable=True),
        sa.Column("wecom", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_handovers_from_userid"), "handovers", ["from_userid"], unique=False)
    op.create_index(op.f("ix_handovers_status"), "handovers", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_handovers_status"), table_name="handovers")
    op.drop_index(op.f("ix_handovers_from_userid"), table_name="handovers")
    op.drop_table("handovers")
