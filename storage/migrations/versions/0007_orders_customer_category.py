"""orders: index (customer_id, category, ordered_on) for per-customer category questions

Revision ID: 0007_orders_customer_category
Revises: 0006_visit_tag_denorm
"""
from alembic import op

revision = '0007_orders_customer_category'
down_revision = '0006_visit_tag_denorm'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_orders_customer_category_on', 'orders', ['customer_id', 'category', 'ordered_on'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_orders_customer_category_on', table_name='orders')
