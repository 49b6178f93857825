"""indexes for the 100k-customer / 1M-visit capacity figures (questions and health metrics)

- customers.city, customers.channel, orders.category: the organisation's words (nlq.vocab) are read one
  index probe per distinct value instead of a scan of every row;
- visits (checked_in_at, customer_id), interactions (at, customer_id): the customers touched in a window
  (客户信息鲜度, 未跟进) come from the index alone.

Revision ID: 0003_capacity_indexes
Revises: 0002_scorecard
"""
from alembic import op

revision = '0003_capacity_indexes'
down_revision = '0002_scorecard'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_customers_city', 'customers', ['city']),
    ('ix_customers_channel', 'customers', ['channel']),
    ('ix_orders_category', 'orders', ['category']),
    ('ix_visits_time_customer', 'visits', ['checked_in_at', 'customer_id']),
    ('ix_interactions_time_customer', 'interactions', ['at', 'customer_id']),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
