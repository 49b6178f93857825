"""users.active: a person can be deactivated (by import, or by an admin in chat)

A deactivated person gets no answer in chat, and their calendar feed and dashboard links stop working at once
(each request checks the flag). Existing people stay active.

Revision ID: 0012_user_active
Revises: 0011_wecom_pause
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_user_active'
down_revision = '0011_wecom_pause'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('active')
