"""customers.last_visit_at and customers.last_touch_at, kept by triggers

Follow-up questions at 100,000 customers / 1,000,000 visits (最久没跟进的10个客户, 超过72小时未更新,
客户信息鲜度, 超过30天没跟进) probed visits and interactions once per customer. Each customer now carries
its latest visit and its latest touch (visit or interaction); database triggers keep both exact on every
write path (storage/triggers/touches.py). The upgrade fills both from the rows already there.

Revision ID: 0008_customer_last_touch
Revises: 0007_orders_customer_category
"""
import sqlalchemy as sa
from alembic import op

from storage.triggers import touches as touch_triggers
from storage.models import UTCDateTime

revision = '0008_customer_last_touch'
down_revision = '0007_orders_customer_category'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE on both databases (no batch copy of customers, which visits and others reference)
    op.add_column('customers', sa.Column('last_visit_at', UTCDateTime(), nullable=True))
    op.add_column('customers', sa.Column('last_touch_at', UTCDateTime(), nullable=True))
    conn = op.get_bind()
    for sql in touch_triggers.BACKFILL[conn.dialect.name]:
        conn.exec_driver_sql(sql)
    touch_triggers.install(conn)


def downgrade() -> None:
    conn = op.get_bind()
    for sql in touch_triggers.DROP[conn.dialect.name]:
        conn.exec_driver_sql(sql)
    op.drop_column('customers', 'last_touch_at')  # SQLite ≥ 3.35 drops a column in place
    op.drop_column('customers', 'last_visit_at')
