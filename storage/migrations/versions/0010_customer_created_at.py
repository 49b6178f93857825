"""customers.created_at: when the customer came into the assistant

A customer imported without a 建档日期 was stale the moment it arrived, and one created by 新建客户 carried only a
day. created_at holds the moment (新建客户) or the import that created the row when the file gave no date; the
stale scan never calls a customer stale before it is `stale_after` old. The upgrade fills it, for customers
without created_on, from the audit row that recorded their creation (import or create).

Revision ID: 0010_customer_created_at
Revises: 0009_visit_location_grade
"""
import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = '0010_customer_created_at'
down_revision = '0009_visit_location_grade'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('customers', sa.Column('created_at', UTCDateTime(), nullable=True))
    op.get_bind().exec_driver_sql(
        "UPDATE customers SET created_at = (SELECT min(a.at) FROM audit a WHERE a.entity = 'customer'"
        " AND a.entity_id = customers.customer_id AND a.action IN ('import', 'create'))"
        " WHERE created_on IS NULL"
    )


def downgrade() -> None:
    op.drop_column('customers', 'created_at')  # SQLite ≥ 3.35 drops a column in place
