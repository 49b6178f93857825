"""leads.score_detail keeps the points per dimension only ({"source": 16.0, …}); the words of the explanation
are derived from the facts and the score card when shown (docs/leads.md § Score card, issue 17's bench)

Revision ID: 0025_lead_score_points
Revises: 0023_handover
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_lead_score_points"
down_revision = "0023_handover"
branch_labels = None
depends_on = None

_LEADS = sa.table("leads", sa.column("lead_id", sa.String), sa.column("score_detail", sa.JSON))
_BATCH = 5_000


def _convert(to_points: bool) -> None:
    """Rewrite every stored explanation in the other form, in batches (keyset on lead_id)."""
    conn = op.get_bind()
    last = ""
    while True:
        rows = conn.execute(
            sa.select(_LEADS.c.lead_id, _LEADS.c.score_detail)
            .where(_LEADS.c.lead_id > last, _LEADS.c.score_detail.is_not(None))
            .order_by(_LEADS.c.lead_id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        changes = []
        for lead_id, detail in rows:
            if to_points and isinstance(detail, list):
                changes.append({"k": lead_id, "d": {p["key"]: float(p["points"]) for p in detail}})
            elif not to_points and isinstance(detail, dict):  # the words are gone: key and points only
                changes.append({"k": lead_id, "d": [{"key": k, "points": v} for k, v in detail.items()]})
        if changes:
            conn.execute(
                _LEADS.update()
                .where(_LEADS.c.lead_id == sa.bindparam("k"))
                .values(score_detail=sa.bindparam("d", type_=sa.JSON)),
                changes,
            )


def upgrade() -> None:
    _convert(to_points=True)


def downgrade() -> None:
    _convert(to_points=False)
