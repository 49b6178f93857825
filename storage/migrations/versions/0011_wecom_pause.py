"""wecom_pause (sending paused for everyone on a WeCom configuration error) and outbox.strikes

A configuration error (60020 untrusted IP, a rejected Secret, 48002 …) no longer kills each message on its first
try: the relay keeps every row pending, records the pause in `wecom_pause` (read by every relay and by
/readyz) and probes until WeCom answers again. `outbox.strikes` counts attempts that ended in an answer the
client could not read or an error of our own: at most 3, then the row is parked.

Revision ID: 0011_wecom_pause
Revises: 0010_customer_created_at
"""
import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0011_wecom_pause'
down_revision = '0010_customer_created_at'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'wecom_pause',
        sa.Column('scope', sa.String(length=32), nullable=False),
        sa.Column('errcode', sa.Integer(), nullable=False),
        sa.Column('errmsg', sa.Text(), nullable=False),
        sa.Column('since', UTCDateTime(timezone=True), nullable=False),
        sa.Column('next_probe_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('probes', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('scope'),
    )
    op.add_column('outbox', sa.Column('strikes', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('outbox', 'strikes')  # SQLite ≥ 3.35 drops a column in place
    op.drop_table('wecom_pause')
