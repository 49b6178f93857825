"""covering indexes for the questions at 100,000 customers / 1,000,000 visits (issue 19's bench)

- visits (checked_in_at, customer_id, rep_userid, location_grade, photo_count, tag_count, visit_id): a period's
  visit figures (拜访数, 拜访完整率, 跑了多少家店, 签到 per person, the visits a tag ranking joins) read from the index
  alone instead of one heap page per visit (a month's visits lie on ~26,000 pages). It replaces the
  single-column ix_visits_checked_in_at, a prefix of it.
- customers (owner_userid, region, city): the regions and cities of a scope's customers (the words a question
  is read with) and the scope's "any customer at all" probe from the index alone. It replaces
  ix_customers_owner_userid, a prefix of it.
- visit_tags.checked_in_at, the visit's time, kept by triggers like visit_tags.customer_id
  (storage/triggers/visit_tags.py TIMES), indexed (checked_in_at, tag, customer_id): a period's tags (本月需求标签前3)
  without joining a month of visits to every tag row. The upgrade fills it from the rows already there.

Revision ID: 0027_nlq_covering_indexes
Revises: 0025_lead_score_points
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime
from storage.triggers import visit_tags as visit_tag_triggers

revision = "0027_nlq_covering_indexes"
down_revision = "0026_order_months"
branch_labels = None
depends_on = None

VISITS_TIME = [
    "checked_in_at",
    "customer_id",
    "rep_userid",
    "location_grade",
    "photo_count",
    "tag_count",
    "visit_id",
]
CUSTOMERS_OWNER = ["owner_userid", "region", "city"]


def upgrade() -> None:
    op.create_index("ix_visits_time_figures", "visits", VISITS_TIME, unique=False)
    op.drop_index("ix_visits_checked_in_at", table_name="visits")
    op.create_index("ix_customers_owner_place", "customers", CUSTOMERS_OWNER, unique=False)
    op.drop_index("ix_customers_owner_userid", table_name="customers")
    with op.batch_alter_table("visit_tags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checked_in_at", UTCDateTime(timezone=True), nullable=True))
    conn = op.get_bind()
    conn.exec_driver_sql(visit_tag_triggers.TIMES_BACKFILL[conn.dialect.name])
    visit_tag_triggers.install_times(conn)
    op.create_index("ix_visit_tags_time_tag", "visit_tags", ["checked_in_at", "tag", "customer_id"], unique=False)


def downgrade() -> None:
    conn = op.get_bind()
    for sql in visit_tag_triggers.TIMES_DROP[conn.dialect.name]:
        conn.exec_driver_sql(sql)
    op.drop_index("ix_visit_tags_time_tag", table_name="visit_tags")
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:  # the table is rebuilt: migration 0006's triggers go first and come back after
        for sql in visit_tag_triggers.DROP["sqlite"]:
            conn.exec_driver_sql(sql)
    with op.batch_alter_table("visit_tags", schema=None) as batch_op:
        batch_op.drop_column("checked_in_at")
    if sqlite:
        visit_tag_triggers.install(conn)
    op.create_index("ix_customers_owner_userid", "customers", ["owner_userid"], unique=False)
    op.drop_index("ix_customers_owner_place", table_name="customers")
    op.create_index("ix_visits_checked_in_at", "visits", ["checked_in_at"], unique=False)
    op.drop_index("ix_visits_time_figures", table_name="visits")
