"""indexes for the 100k-customer / 1M-visit capacity figures (placeholder until filled)

Revision ID: 0003_capacity_indexes
Revises: 0002_scorecard
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0003_capacity_indexes'
down_revision = '0002_scorecard'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
