"""The WeCom address book's mirror: departments and members as the contacts sync last saw them
(docs/contacts-sync.md). Nothing existing changes: users keep their rows until a sync runs.

Revision ID: 0020_contact_sync
Revises: 0021_web_sessions (was 0018_contract_handoff; re-chained after main merged 0022)
"""
import sqlalchemy as sa
from alembic import op

revision = '0020_contact_sync'
down_revision = '0021_web_sessions'
branch_labels = None
depends_on = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'wecom_departments',
        sa.Column('dept_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('synced_at', _UTC, nullable=False),
        sa.PrimaryKeyConstraint('dept_id'),
    )
    op.create_table(
        'wecom_members',
        sa.Column('userid', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('departments', sa.JSON(), nullable=False),
        sa.Column('leader_in', sa.JSON(), nullable=False),
        sa.Column('main_department', sa.Integer(), nullable=True),
        sa.Column('direct_leaders', sa.JSON(), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('role_by_sync', sa.String(length=32), nullable=True),
        sa.Column('synced_at', _UTC, nullable=False),
        sa.PrimaryKeyConstraint('userid'),
    )


def downgrade() -> None:
    op.drop_table('wecom_members')
    op.drop_table('wecom_departments')
