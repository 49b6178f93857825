"""leads: partial indexes (a lead's move to a pool writes fewer index entries) and fillfactor 50 on PostgreSQL
(a re-score rewrites a lead on its own page: a HOT update) — issue 17's bench, docs/bench.md § Leads

Revision ID: 0028_lead_write_indexes
Revises: 0025_lead_score_points
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_lead_write_indexes"
down_revision = "0027_nlq_covering_indexes"
branch_labels = None
depends_on = None

_POOL_QUIET = "(pool IS NULL OR pool = 'nurture') AND stage IN ('new', 'contacted', 'proposal')"
_PARTIAL = (  # name, columns, predicate, partial on SQLite too (storage/leads/models.py _where)
    ("ix_leads_owner_userid", ["owner_userid"], "owner_userid IS NOT NULL", True),
    ("ix_leads_customer_id", ["customer_id"], "customer_id IS NOT NULL", True),
    ("ix_leads_pool_quiet", ["pool", "quiet_since"], _POOL_QUIET, False),
)


def _where(condition: str, sqlite: bool = True) -> dict:
    return {
        "postgresql_where": sa.text(condition),
        **({"sqlite_where": sa.text(condition)} if sqlite else {}),
    }


def upgrade() -> None:
    for name, cols, where, sqlite in _PARTIAL:
        op.drop_index(name, table_name="leads")
        op.create_index(name, "leads", cols, unique=False, **_where(where, sqlite))
    op.create_index("ix_leads_public", "leads", ["quiet_since"], unique=False, **_where("pool = 'public'"))
    if op.get_bind().dialect.name == "postgresql":
        # new pages (and every page after the next rewrite: VACUUM FULL, CLUSTER) keep half free
        op.execute("ALTER TABLE leads SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE leads RESET (fillfactor)")
    op.drop_index("ix_leads_public", table_name="leads")
    for name, cols, *_ in _PARTIAL:
        op.drop_index(name, table_name="leads")
        op.create_index(name, "leads", cols, unique=False)
