"""order_months: each customer's orders per calendar month, kept by triggers on orders

The cascade's history at 500,000 stores aggregated every order before the cutoff per customer (a hash table of
500,000 groups of numeric sums: half of the preview). The baseline windows are whole months, so the cascade on
PostgreSQL now reads this roll-up in customer order through its covering index (docs/targets.md § The monthly
roll-up of orders). Database triggers keep it exact on every write path (storage/triggers/order_months.py);
the upgrade fills it from the orders already there.

Revision ID: 0026_order_months
Revises: 0025_lead_score_points
"""

import sqlalchemy as sa
from alembic import op

from storage.triggers import order_months as order_month_triggers

revision = "0026_order_months"
down_revision = "0025_lead_score_points"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_months",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("sales_fen", sa.BigInteger(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "month"),
    )
    op.create_index(
        "ix_order_months_cover",
        "order_months",
        ["customer_id", "month"],
        postgresql_include=["sales_fen", "orders"],
    )
    conn = op.get_bind()
    for sql in order_month_triggers.BACKFILL[conn.dialect.name]:
        conn.exec_driver_sql(sql)
    order_month_triggers.install(conn)


def downgrade() -> None:
    conn = op.get_bind()
    for sql in order_month_triggers.DROP[conn.dialect.name]:
        conn.exec_driver_sql(sql)
    op.drop_index("ix_order_months_cover", table_name="order_months")
    op.drop_table("order_months")
