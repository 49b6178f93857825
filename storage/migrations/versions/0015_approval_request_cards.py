"""approvals: what the customer asked for (request_kind, request_value, request_phrase); approval_cards

The approval card shows the price or discount the rep's line asked for (core/price_request.py). Every approval
card sent is recorded in approval_cards (its task_id finds the outbox row and the send's response_code), so a
decided or withdrawn approval updates each card — every approver's at every step, and the rep's — to a final
state without buttons.

Revision ID: 0015_approval_request_cards
Revises: 0012_user_active
"""
import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0015_approval_request_cards'
down_revision = '0012_user_active'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.add_column('approvals', sa.Column('request_kind', sa.String(length=16), nullable=True))
    op.add_column('approvals', sa.Column('request_value', sa.String(length=16), nullable=True))
    op.add_column('approvals', sa.Column('request_phrase', sa.String(length=64), nullable=True))
    op.create_table(
        'approval_cards',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('approval_id', BigId, nullable=False),
        sa.Column('step_id', BigId, nullable=True),
        sa.Column('recipient', sa.String(length=64), nullable=False),
        sa.Column('task_id', sa.String(length=128), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('final_at', UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['approval_id'], ['approvals.id']),
        sa.ForeignKeyConstraint(['step_id'], ['approval_steps.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('task_id'),
    )
    with op.batch_alter_table('approval_cards') as batch:
        batch.create_index(batch.f('ix_approval_cards_approval_id'), ['approval_id'], unique=False)


def downgrade() -> None:
    op.drop_table('approval_cards')
    with op.batch_alter_table('approvals') as batch:
        batch.drop_column('request_phrase')
        batch.drop_column('request_value')
        batch.drop_column('request_kind')
