"""How the bulk passes write on PostgreSQL (docs/bench.md § Leads, migration 0028): a re-score after a score
card change rewrites every lead on its own page without new index entries (a HOT update: score, grade and
points are in no index, `leads` keeps half of each page free); the planner settings the pass needs do not
outlive it; the dormancy sweep and the public pool's reads find their rows through the partial indexes; the
migrations build the same table options and predicates as the models."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from core.clock import SHANGHAI
from core.leads.policy import LeadPolicy
from storage.db import make_engine, make_session_factory, writer_session
from storage.leads import pool, scoring, store
from storage.leads.models import LeadRow
from storage.schema import upgrade
from tests.conftest import BACKENDS, _fresh_pg_url

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)


pytestmark = pytest.mark.skipif("postgres" not in BACKENDS, reason="how PostgreSQL writes: PostgreSQL only")


@pytest.fixture
def pg(request):
    url = _fresh_pg_url(request.getfixturevalue("pg_server"), request.getfixturevalue("_pg_schema_template"))
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_sf(pg):
    return make_session_factory(pg)


def _scored_leads(sf, n: int = 60) -> None:
    with writer_session(sf) as s:
        for i in range(n):
            lead = LeadRow(
                lead_id=f"W{i:04d}",
                company=f"公司{i}",
                source=("展会", "官网", None)[i % 3],
                credit_grade=("A", "B", None)[i % 3],
                inquiries=i % 4,
                downloads=i % 3,
                contact_role=("总经理", "采购总监", None)[i % 3],
                industry=("机械制造", "化工", None)[i % 3],
                pain_words=[],
                created_at=NOW,
                quiet_since=NOW - timedelta(days=i % 20),
                owner_userid=("rep1", "rep2", None)[i % 3],
                pool=None if i % 3 < 2 else "public",
                stage="new",
                stage_since=NOW,
                sop_gen=0,
            )
            store.apply_score(lead, LeadPolicy(), NOW)  # as the chat and the import write them
            s.add(lead)
        s.commit()


def _new_card() -> LeadPolicy:
    p = LeadPolicy()
    weights = {"source": 25.0, "downloads": 5.0}  # every lead's source points change
    return dataclasses.replace(
        p, dimensions=tuple(dataclasses.replace(d, weight=weights.get(d.key, d.weight)) for d in p.dimensions)
    )


def _setting(s, name: str) -> str:
    return s.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar_one()


def test_a_card_change_rescores_every_lead_in_place(pg, pg_sf):
    _scored_leads(pg_sf)
    with writer_session(pg_sf) as s:
        s.execute(text("SET LOCAL work_mem = '5MB'"))
        before = (_setting(s, "work_mem"), _setting(s, "enable_mergejoin"))
        changed = scoring.rescore_bulk(s, policy=_new_card(), now=NOW, actor="system:leads", reason="card")
        updated, hot = s.execute(
            text(
                "SELECT pg_stat_get_xact_tuples_updated('leads'::regclass),"
                " pg_stat_get_xact_tuples_hot_updated('leads'::regclass)"
            )
        ).one()
        assert (_setting(s, "work_mem"), _setting(s, "enable_mergejoin")) == before == ("5MB", "on")
        s.commit()
    assert changed == updated == 60
    assert hot == 60  # each new version on its own page, no index entry


def _plan(s, sql: str, params: dict) -> str:
    return "\n".join(r[0] for r in s.execute(text("EXPLAIN (COSTS OFF) " + sql), params))


def test_the_sweep_and_the_public_pool_read_their_partial_indexes(pg, pg_sf):
    _scored_leads(pg_sf)
    with writer_session(pg_sf) as s:
        s.execute(text("SET LOCAL enable_seqscan = off"))
        s.execute(text("DROP INDEX ix_leads_owner_userid"))  # rolled back: the sweep could use it too
        for pools in ("pool IS NULL", "pool = 'nurture'"):
            due = pool._DUE.format(pools=pools)
            sql = f"SELECT lead_id FROM leads WHERE {due} ORDER BY quiet_since, lead_id LIMIT 5"
            assert "ix_leads_pool_quiet" in _plan(s, sql, {"before": NOW}), pools
        public = _plan(s, "SELECT count(*) FROM leads WHERE pool = :p", {"p": "public"})
        assert "ix_leads_public" in public
        s.rollback()
    with writer_session(pg_sf) as s:  # what a move leaves in each index
        moved = pool.sweep(s, now=NOW, policy=LeadPolicy(), actor="system:leads", reason="scan")
        s.commit()
        assert {m.pool for m in moved} == {"nurture", "public"}
        held = s.execute(text("SELECT count(*) FROM leads WHERE pool IS DISTINCT FROM 'public'")).scalar_one()
        in_public = s.execute(text("SELECT count(*) FROM leads WHERE pool = 'public'")).scalar_one()
        assert held + in_public == 60 and in_public > 20


def test_the_migrations_build_the_write_options_of_the_models(pg, request):
    migrated = make_engine(_fresh_pg_url(request.getfixturevalue("pg_server")))
    try:
        upgrade(migrated)
        got = {}
        for e in (pg, migrated):
            with e.connect() as c:
                options = c.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'leads'")).scalar()
                defs = c.execute(
                    text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'leads' ORDER BY 1")
                ).all()
                got[e is pg] = (options, [(n, d.split(" USING ", 1)[1]) for n, d in defs])
        assert got[True] == got[False]
        options, defs = got[True]
        assert options == ["fillfactor=50"]
        where = {n: d.split(" WHERE ", 1)[1] if " WHERE " in d else None for n, d in defs}
        assert where["ix_leads_owner_userid"] == "(owner_userid IS NOT NULL)"
        assert where["ix_leads_customer_id"] == "(customer_id IS NOT NULL)"
        assert "nurture" in where["ix_leads_pool_quiet"] and "proposal" in where["ix_leads_pool_quiet"]
        assert where["ix_leads_public"] == "((pool)::text = 'public'::text)"
        assert where["leads_pkey"] is None
    finally:
        migrated.dispose()
