"""outbox: index (status, dedupe_key), so pending replies are claimed without scanning an alert storm

Revision ID: 0004_outbox_status_key
Revises: 0003_capacity_indexes
"""
from alembic import op

revision = '0004_outbox_status_key'
down_revision = '0003_capacity_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_status_key', 'outbox', ['status', 'dedupe_key'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_status_key', table_name='outbox')
