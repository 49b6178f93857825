"""The set-based paths give what the row-by-row ones give: scoring every lead in SQL equals core/leads/score.py
lead by lead (a changed score card re-scores and audits only what changed), and the dormancy sweep moves in
bulk with one audit row per lead. SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.clock import SHANGHAI
from core.leads.policy import LeadPolicy
from core.leads.score import LeadFacts, score
from storage.db import writer_session
from storage.leads import pool, scoring, store
from storage.leads.models import LeadRow
from storage.models import AuditRow
from tests.conftest import BACKENDS
from tests.sop.conftest import seed_org

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
SOURCES = ("转介绍", "展会", "官网", "陌拜", "某论坛", None, "", "  展会  ")
CREDITS = ("A", "B", "C", "D", None)
ROLES = ("总经理", "采购总监", "经理", "工程师", "实习生", None, "副总经理")
INDUSTRIES = ("机械制造", "汽车配件", "化工", "食品", "五金", None, "纺织印染")


# PostgreSQL runs both statement shapes: RETURNING old.* (18 and later) and the older one; SQLite has one
SHAPES = [
    pytest.param(backend, shape, id=f"{backend}-{shape}")
    for backend in BACKENDS
    for shape in ("as-is", "before-18")
    if shape == "as-is" or backend == "postgres"
]
by_shape = pytest.mark.parametrize(("db_url", "shape"), SHAPES, indirect=["db_url"])


@pytest.fixture
def server(shape, engine, monkeypatch):
    if shape == "before-18":
        monkeypatch.setattr(engine.dialect, "server_version_info", (16, 4))
    return shape


def _leads(sf, n: int = 120) -> list[str]:
    rng = random.Random(5)
    ids = []
    with writer_session(sf) as s:
        for i in range(n):
            lead = LeadRow(
                lead_id=f"S{i:04d}",
                company=f"公司{i}",
                source=rng.choice(SOURCES),
                credit_grade=rng.choice(CREDITS),
                inquiries=rng.choice((0, 1, 2, 3, 7)),
                downloads=rng.choice((0, 1, 2, 5)),
                contact_role=rng.choice(ROLES),
                industry=rng.choice(INDUSTRIES),
                pain_words=[],
                created_at=NOW,
                quiet_since=NOW - timedelta(hours=rng.choice((1, 80, 400))),
                owner_userid=rng.choice(("rep1", "rep2", "rep3")),
                stage="new",
                stage_since=NOW,
                sop_gen=0,
            )
            if i % 3 == 0:  # scored by the row-by-row path already
                store.apply_score(lead, LeadPolicy(), NOW)
            s.add(lead)
            ids.append(lead.lead_id)
        s.commit()
    return ids


def _expected(lead: LeadRow, policy: LeadPolicy):
    facts = LeadFacts(
        lead.source, lead.credit_grade, lead.inquiries, lead.contact_role, lead.industry, lead.downloads
    )
    return score(facts, policy)


@by_shape
def test_scoring_in_sql_equals_scoring_in_python(session_factory, server):
    seed_org(session_factory)
    _leads(session_factory)
    with writer_session(session_factory) as s:
        changed = scoring.rescore_bulk(s, policy=LeadPolicy(), now=NOW, actor="system:leads", reason="test")
        s.commit()
    assert changed == 80  # the 40 already scored by Python are equal and untouched
    with session_factory() as s:
        for lead in s.scalars(select(LeadRow)):
            card = _expected(lead, LeadPolicy())
            assert (lead.score, lead.grade) == (card.score, card.grade), lead.lead_id
            assert lead.score_detail == card.detail(), lead.lead_id
        assert s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.reason == "test")) == 80
    with writer_session(session_factory) as s:  # nothing changed: nothing written
        assert (
            scoring.rescore_bulk(s, policy=LeadPolicy(), now=NOW, actor="system:leads", reason="again") == 0
        )
        s.commit()
    heavier = LeadPolicy.from_config(
        {
            "dimensions": [
                {
                    "key": "source",
                    "label": "来源",
                    "weight": 40,
                    "table": {"展会": 1, "官网": 0.55},
                    "unknown": 0.1,
                },
                {"key": "inquiries", "label": "询价", "weight": 35, "steps": {"1": 0.33, "3": 1}},
                {"key": "contact_role", "label": "角色", "weight": 25, "table": {"总": 1, "经理": 0.45}},
            ],
            "grades": {"A+": 80, "A": 60, "B": 40},
        }
    )
    with writer_session(session_factory) as s:
        changed = scoring.rescore_bulk(s, policy=heavier, now=NOW, actor="system:leads", reason="new card")
        s.commit()
    assert changed == 120
    with session_factory() as s:
        for lead in s.scalars(select(LeadRow)):
            card = _expected(lead, heavier)
            assert (lead.score, lead.grade) == (card.score, card.grade)
            assert lead.score_detail == card.detail()
        a = s.scalars(
            select(AuditRow).where(AuditRow.reason == "new card", AuditRow.entity_id == "S0001")
        ).one()
        assert set(a.before) == {"score", "grade"} and a.after["score"] == s.get(LeadRow, "S0001").score


@by_shape
def test_the_bulk_sweep_moves_and_audits_each_lead(session_factory, server):
    seed_org(session_factory)
    _leads(session_factory)
    with session_factory() as s:
        quiet = {i: q for i, q in s.execute(select(LeadRow.lead_id, LeadRow.quiet_since))}
    with writer_session(session_factory) as s:
        moved = pool.sweep(s, now=NOW, policy=LeadPolicy(), actor="system:leads", reason="scan", limit=30)
        assert len(moved) == 30
        moved += pool.sweep(s, now=NOW, policy=LeadPolicy(), actor="system:leads", reason="scan")
        s.commit()
    want_public = {i for i, q in quiet.items() if q < NOW - timedelta(days=15)}
    want_nurture = {i for i, q in quiet.items() if NOW - timedelta(days=15) <= q < NOW - timedelta(hours=72)}
    assert {m.lead_id for m in moved if m.pool == "public"} == want_public
    assert {m.lead_id for m in moved if m.pool == "nurture"} == want_nurture
    with session_factory() as s:
        for lead in s.scalars(select(LeadRow)):
            if lead.lead_id in want_public:
                assert (lead.pool, lead.owner_userid, lead.pool_since) == ("public", None, NOW)
            elif lead.lead_id in want_nurture:
                assert lead.pool == "nurture" and lead.owner_userid is not None
            else:
                assert lead.pool is None
        audits = s.scalars(select(AuditRow).where(AuditRow.reason == "scan")).all()
        assert sorted(a.entity_id for a in audits) == sorted(want_public | want_nurture)
        assert all(a.before["pool"] is None and a.after["pool"] in ("public", "nurture") for a in audits)
