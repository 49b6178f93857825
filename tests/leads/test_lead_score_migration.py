"""Migration 0025: a lead scored before it (the explanation stored in words) keeps its points per dimension in
the compact form, and the card shown from it is the same. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import insert

from core.leads.policy import LeadPolicy
from storage.leads import store
from storage.leads.models import LeadRow
from storage.schema import alembic_config

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
OLD = [  # what leads.score_detail held before 0025
    {"key": "source", "label": "来源", "value": "展会", "matched": "展会", "points": 16.0, "max": 20},
    {"key": "credit_grade", "label": "信用等级", "value": "A", "matched": "A", "points": 15.0, "max": 15},
    {"key": "inquiries", "label": "询价频次", "value": "2次", "matched": "≥2次", "points": 14.0, "max": 20},
    {
        "key": "contact_role",
        "label": "联系人角色",
        "value": "采购总监",
        "matched": "总监",
        "points": 16.0,
        "max": 20,
    },
    {
        "key": "industry",
        "label": "行业指数",
        "value": "机械制造",
        "matched": "机械",
        "points": 15.0,
        "max": 15,
    },
    {"key": "downloads", "label": "资料下载", "value": "1次", "matched": "≥1次", "points": 5.0, "max": 10},
]


def _migrate(engine, target: str, *, down: bool = False) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, target)


def test_old_explanations_become_points(engine, session_factory):
    _migrate(engine, "0023_handover", down=True)
    with engine.begin() as conn:
        conn.execute(
            insert(LeadRow.__table__).values(
                lead_id="L1",
                company="甲公司",
                source="展会",
                credit_grade="A",
                inquiries=2,
                contact_role="采购总监",
                industry="机械制造",
                downloads=1,
                pain_words=[],
                created_at=NOW,
                quiet_since=NOW,
                stage="new",
                stage_since=NOW,
                sop_gen=0,
                score=81.0,
                grade="A",
                score_detail=OLD,
            )
        )
    _migrate(engine, "head")
    with session_factory() as s:
        lead = s.get(LeadRow, "L1")
        card = store.card_of(lead, LeadPolicy())
        assert (
            lead.score_detail
            == card.detail()
            == {
                "source": 16.0,
                "credit_grade": 15.0,
                "inquiries": 14.0,
                "contact_role": 16.0,
                "industry": 15.0,
                "downloads": 5.0,
            }
        )
        assert card.explanation().splitlines()[3] == "联系人角色（采购总监）：16/20分"
        # the row already holds what the card gives: a re-score writes nothing
        assert store.apply_score(lead, LeadPolicy(), NOW) == ("A", "A") and not s.dirty
