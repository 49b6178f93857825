"""covering indexes for the questions at 100,000 customers / 1,000,000 visits (issue 19's bench)

- visits (checked_in_at, customer_id, rep_userid, location_grade, photo_count, tag_count, visit_id): a period's
  visit figures (拜访数, 拜访完整率, 跑了多少家店, 签到 per person, the visits a tag ranking joins) read from the index
  alone instead of one heap page per visit (a month's visits lie on ~26,000 pages). It replaces the
  single-column ix_visits_checked_in_at, a prefix of it.
- customers (owner_userid, region, city): the regions and cities of a scope's customers (the words a question
  is read with) and the scope's "any customer at all" probe from the index alone. It replaces
  ix_customers_owner_userid, a prefix of it.

Revision ID: 0027_nlq_covering_indexes
Revises: 0025_lead_score_points
"""

from alembic import op

revision = "0027_nlq_covering_indexes"
down_revision = "0025_lead_score_points"
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


def downgrade() -> None:
    op.create_index("ix_customers_owner_userid", "customers", ["owner_userid"], unique=False)
    op.drop_index("ix_customers_owner_place", table_name="customers")
    op.create_index("ix_visits_checked_in_at", "visits", ["checked_in_at"], unique=False)
    op.drop_index("ix_visits_time_figures", table_name="visits")
