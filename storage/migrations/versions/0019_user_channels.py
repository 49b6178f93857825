"""users.email, users.mobile: where alerts go besides WeCom (red-tier scorecard alerts by email and SMS)

Both optional and importable (docs/import-format.md, users sheet: 邮箱, 手机). Existing people have neither,
so nothing is sent by email or SMS until they are imported.

Revision ID: 0019_user_channels
Revises: 0014_leads
"""
import sqlalchemy as sa
from alembic import op

revision = '0019_user_channels'
down_revision = '0014_leads'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('email', sa.String(length=254), nullable=True))
    op.add_column('users', sa.Column('mobile', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('mobile')
        batch.drop_column('email')
