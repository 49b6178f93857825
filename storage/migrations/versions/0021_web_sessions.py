"""Web sign-in sessions through WeCom (docs/web-sign-in.md): the hashed session id, whose, until when; and
the generation of each person's calendar feed secret (重置日历订阅 revokes one person's feed URL)

Revision ID: 0021_web_sessions
Revises: 0022_external_contacts
"""
import sqlalchemy as sa
from alembic import op

revision = '0021_web_sessions'
down_revision = '0022_external_contacts'
branch_labels = None
depends_on = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'web_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('userid', sa.String(length=64), nullable=False),
        sa.Column('created_at', _UTC, nullable=False),
        sa.Column('expires_at', _UTC, nullable=False),
        sa.Column('ended_at', _UTC, nullable=True),
        sa.Column('ended_reason', sa.String(length=16), nullable=True),
        sa.Column('via', sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint('id_hash'),
    )
    op.create_index(op.f('ix_web_sessions_userid'), 'web_sessions', ['userid'], unique=False)
    op.create_index(op.f('ix_web_sessions_expires_at'), 'web_sessions', ['expires_at'], unique=False)
    op.create_table(
        'calendar_feeds',
        sa.Column('userid', sa.String(length=64), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('rotated_at', _UTC, nullable=False),
        sa.PrimaryKeyConstraint('userid'),
    )


def downgrade() -> None:
    op.drop_table('calendar_feeds')
    op.drop_index(op.f('ix_web_sessions_expires_at'), table_name='web_sessions')
    op.drop_index(op.f('ix_web_sessions_userid'), table_name='web_sessions')
    op.drop_table('web_sessions')
