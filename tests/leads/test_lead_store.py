"""Leads as data on real SQLite and PostgreSQL: the leads and products sheets, audit, re-scoring, interactions
(effective or not), conversion keeping the history, the claim cap, the dormancy sweep, scoped reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.clock import SHANGHAI
from core.leads.policy import LeadPolicy
from core.org import scope_of
from storage import people
from storage.db import writer_session
from storage.importer.run import ImportFailed, import_paths
from storage.leads import pool, queries, store
from storage.leads.models import LeadInteractionRow, LeadRow, LeadStageRow, ProductRow
from storage.models import AuditRow, CustomerRow, InteractionRow, OpportunityRow
from tests.sop.conftest import seed_org

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
POLICY = LeadPolicy()

LEADS_CSV = """线索编号,公司名称,联系人,联系人职务,电话,行业,来源,信用等级,询价次数,资料下载次数,痛点,负责人账号,阶段,输单原因
L1,杭州华力机械,王强,采购总监,13812345678,机械制造,展会,A,2,1,产线停机;能耗超标,rep1,,
L2,宁波小厂,,,,,,,,,,,新线索,
L3,温州鞋业,李明,专员,,纺织,陌拜,C,0,0,,rep2,已输单,价格太高
"""
PRODUCTS_CSV = """产品编号,产品名称,品类,适用行业,痛点关键词,卖点,竞品对比
P1,智能变频空压机,空压机,机械;汽车,能耗;停机,节能30%,比竞品省电
P2,设备预测性维护,软件,机械;电子,停机;故障,提前72小时预警,
"""


@pytest.fixture
def org(session_factory):
    seed_org(session_factory)
    return session_factory


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _scope(sf, who):
    with sf() as s:
        return scope_of(people.whole_tree(s), who)


def _new(sf, *, owner="rep1", at=NOW, **values):
    values.setdefault("company", "测试公司")
    with writer_session(sf) as s:
        lead = store.create_lead(
            s, values=dict(values), owner=owner, now=at, actor=owner or "t", reason="test", policy=POLICY
        )
        s.commit()
        return lead.lead_id


def test_import_scores_leads_and_loads_products_with_audit(org, tmp_path):
    summary = import_paths(
        org,
        [_write(tmp_path, "线索.csv", LEADS_CSV), _write(tmp_path, "products.csv", PRODUCTS_CSV)],
        now=NOW,
        progress=False,
    )
    assert summary.tables["leads"].created == 3 and summary.tables["products"].created == 2
    with org() as s:
        l1, l2, l3 = (s.get(LeadRow, i) for i in ("L1", "L2", "L3"))
        # 展会 16 + 信用A 15 + 询价2次 14 + 采购总监 16 + 机械制造 15 + 下载1次 5 = 81 → A
        assert (l1.score, l1.grade, l1.pool, l1.owner_userid) == (81.0, "A", None, "rep1")
        assert list(l1.score_detail.values()) == [16.0, 15.0, 14.0, 16.0, 15.0, 5.0]
        assert l1.pain_words == ["产线停机", "能耗超标"] and l1.quiet_since == NOW
        # nothing known: 来源 20×0.2 + 信用 15×0.3 + 0 + 角色 20×0.2 + 行业 15×0.3 + 0 = 17 → C, no owner: public
        assert (l2.score, l2.grade, l2.pool, l2.owner_userid) == (17.0, "C", "public", None)
        assert (l3.stage, l3.lost_reason) == ("lost", "价格太高")
        assert s.get(ProductRow, "P1").industries == ["机械", "汽车"]
        audits = s.scalars(select(AuditRow.entity).where(AuditRow.action == "import")).all()
        assert sorted(audits) == ["leads"] * 3 + ["products"] * 2
    # a changed fact re-scores on the next import; an unchanged file changes nothing
    changed = LEADS_CSV.replace("A,2,1", "A,3,1")
    summary = import_paths(
        org, [_write(tmp_path, "leads.csv", changed)], now=NOW + timedelta(hours=1), progress=False
    )
    assert (summary.tables["leads"].updated, summary.tables["leads"].unchanged) == (1, 2)
    with org() as s:
        l1 = s.get(LeadRow, "L1")
        assert (l1.score, l1.grade, l1.inquiries) == (87.0, "A+", 3)
        audit = s.scalars(
            select(AuditRow)
            .where(AuditRow.entity == "leads", AuditRow.entity_id == "L1")
            .order_by(AuditRow.id)
        ).all()[-1]
        assert (audit.before["score"], audit.after["score"]) == (81.0, 87.0)


def test_import_refuses_a_bad_lead_row(org, tmp_path):
    bad = "线索编号,公司名称,信用等级,负责人账号\nL9,某公司,Z,nobody\n"
    with pytest.raises(ImportFailed) as e:
        import_paths(org, [_write(tmp_path, "leads.csv", bad)], now=NOW, progress=False)
    reasons = " ".join(i.reason for i in e.value.issues)
    assert "Z" in reasons and "nobody" in reasons


def test_score_of_a_new_lead_equals_the_hand_sum(org):
    lead_id = _new(org, source="官网", contact_role="经理", industry="食品")
    with org() as s:
        lead = s.get(LeadRow, lead_id)
        # 官网 20×0.7=14, 信用 unknown 15×0.3=4.5, 询价 0, 经理 20×0.6=12, 食品 15×0.6=9, 下载 0 → 39.5 → 40 → C
        assert list(lead.score_detail.values()) == [14.0, 4.5, 0.0, 12.0, 9.0, 0.0]
        assert (lead.score, lead.grade) == (40.0, "C")


def test_only_effective_interactions_move_the_clock_and_inquiries_rescore(org):
    lead_id = _new(org, source="官网", contact_role="经理", industry="食品")
    later = NOW + timedelta(hours=5)
    with writer_session(org) as s:
        lead = s.get(LeadRow, lead_id)
        for kind in ("mass", "sticker"):
            store.record_interaction(
                s, lead, kind=kind, rep="rep1", at=later, now=later, actor="rep1", reason="t", policy=POLICY
            )
        assert (lead.quiet_since, lead.last_effective_at, lead.stage) == (NOW, None, "new")
        rec = store.record_interaction(
            s, lead, kind="inquiry", rep="rep1", at=later, now=later, actor="rep1", reason="t", policy=POLICY
        )
        assert rec.regraded == ("C", "C") and lead.inquiries == 1 and lead.score == 48.0  # +8
        store.record_interaction(
            s, lead, kind="call", rep="rep1", at=later, now=later, actor="rep1", reason="t", policy=POLICY
        )
        assert (lead.quiet_since, lead.last_effective_at, lead.stage) == (later, later, "contacted")
        s.commit()
    with org() as s:
        kinds = s.scalars(select(LeadInteractionRow.effective).order_by(LeadInteractionRow.id)).all()
        assert kinds == [False, False, False, True]
        stays = s.execute(
            select(LeadStageRow.stage, LeadStageRow.entered_at, LeadStageRow.left_at).order_by(
                LeadStageRow.id
            )
        ).all()
        assert stays == [("new", NOW, later), ("contacted", later, None)]
        assert (
            s.scalars(select(AuditRow.entity).where(AuditRow.entity == "lead_interaction")).all()
            == ["lead_interaction"] * 4
        )


def test_conversion_keeps_the_history(org):
    lead_id = _new(org, company="杭州华力机械", contact_name="王强", contact_role="采购总监")
    t1, t2 = NOW + timedelta(hours=1), NOW + timedelta(hours=3)
    with writer_session(org) as s:
        lead = s.get(LeadRow, lead_id)
        store.record_interaction(
            s, lead, kind="call", rep="rep1", at=t1, now=t1, actor="rep1", reason="t", policy=POLICY
        )
        store.record_interaction(
            s, lead, kind="sticker", rep="rep1", at=t1, now=t1, actor="rep1", reason="t", policy=POLICY
        )
        store.record_interaction(
            s, lead, kind="proposal", rep="rep1", at=t2, now=t2, actor="rep1", reason="t", policy=POLICY
        )
        customer, opp = store.convert(s, lead, now=t2, actor="rep1", reason="t")
        s.commit()
    with org() as s:
        lead = s.get(LeadRow, lead_id)
        c = s.get(CustomerRow, lead.customer_id)
        assert (c.name, c.owner_userid, c.decision_roles) == (
            "杭州华力机械",
            "rep1",
            [{"role": "采购总监", "name": "王强"}],
        )
        assert s.get(OpportunityRow, lead.opportunity_id).stage == "need_confirmed"
        assert (lead.stage, lead.converted_at) == ("converted", t2)
        # the lead's history stays, and its effective interactions are the customer's touches
        assert (
            len(s.scalars(select(LeadInteractionRow).where(LeadInteractionRow.lead_id == lead_id)).all()) == 3
        )
        copied = s.execute(
            select(InteractionRow.at, InteractionRow.channel)
            .where(InteractionRow.customer_id == c.customer_id)
            .order_by(InteractionRow.at)
        ).all()
        assert copied == [(t1, "call"), (t2, "other")]
        assert c.last_touch_at == t2
        stages = s.scalars(
            select(LeadStageRow.stage).where(LeadStageRow.lead_id == lead_id).order_by(LeadStageRow.id)
        ).all()
        assert stages == ["new", "contacted", "proposal", "converted"]
        entities = set(s.scalars(select(AuditRow.entity).where(AuditRow.reason == "t")))
        assert {"customer", "opportunity", "interaction", "lead"} <= entities


def test_claim_within_the_cap_and_refusal_over_it(org):
    policy = LeadPolicy(claim_cap=2)
    _new(org, owner="rep1", company="甲")
    public = [_new(org, owner=None, company=f"公海{i}") for i in range(3)]
    with writer_session(org) as s:
        ok = store.claim(s, public[0], rep="rep1", now=NOW, actor="rep1", reason="t", policy=policy)
        assert ok.ok and ok.held == 1 and s.get(LeadRow, public[0]).owner_userid == "rep1"
        over = store.claim(s, public[1], rep="rep1", now=NOW, actor="rep1", reason="t", policy=policy)
        assert (over.ok, over.why, over.held, over.cap) == (False, "cap", 2, 2)
        again = store.claim(s, public[0], rep="rep2", now=NOW, actor="rep2", reason="t", policy=policy)
        assert (again.ok, again.why) == (False, "not_in_pool")
        s.commit()
    with org() as s:
        assert s.get(LeadRow, public[1]).pool == "public"
        moves = s.scalars(
            select(AuditRow).where(
                AuditRow.entity == "lead", AuditRow.entity_id == public[0], AuditRow.action == "update"
            )
        ).all()
        assert [(a.before["pool"], a.after["pool"], a.after["owner_userid"]) for a in moves] == [
            ("public", None, "rep1")
        ]


def test_dormancy_72h_with_only_ineffective_interactions_then_the_public_pool(org):
    quiet = _new(org, company="只发表情")
    busy = _new(org, company="有电话")
    at = NOW + timedelta(hours=60)
    with writer_session(org) as s:
        store.record_interaction(
            s,
            s.get(LeadRow, quiet),
            kind="sticker",
            rep="rep1",
            at=at,
            now=at,
            actor="rep1",
            reason="t",
            policy=POLICY,
        )
        store.record_interaction(
            s,
            s.get(LeadRow, quiet),
            kind="mass",
            rep="rep1",
            at=at,
            now=at,
            actor="rep1",
            reason="t",
            policy=POLICY,
        )
        store.record_interaction(
            s,
            s.get(LeadRow, busy),
            kind="call",
            rep="rep1",
            at=at,
            now=at,
            actor="rep1",
            reason="t",
            policy=POLICY,
        )
        s.commit()
    for hours, expect in ((71, []), (72.01, [(quiet, "nurture")])):
        with writer_session(org) as s:
            moved = pool.sweep(
                s, now=NOW + timedelta(hours=hours), policy=POLICY, actor="system:leads", reason="scan"
            )
            s.commit()
        assert [(m.lead_id, m.pool) for m in moved] == expect
    with org() as s:
        q = s.get(LeadRow, quiet)
        assert (q.pool, q.owner_userid, q.quiet_since) == ("nurture", "rep1", NOW)
    with writer_session(
        org
    ) as s:  # 15 days of quiet: the public pool, owner gone; the busy one only nurtured
        moved = pool.sweep(
            s, now=NOW + timedelta(days=15, minutes=1), policy=POLICY, actor="system:leads", reason="scan"
        )
        s.commit()
    assert sorted((m.lead_id, m.pool, m.owner) for m in moved) == sorted(
        [(quiet, "public", "rep1"), (busy, "nurture", "rep1")]
    )
    with org() as s:
        assert (s.get(LeadRow, quiet).pool, s.get(LeadRow, quiet).owner_userid) == ("public", None)


def test_a_nurtured_lead_comes_back_with_an_effective_interaction(org):
    lead_id = _new(org)
    with writer_session(org) as s:
        pool.sweep(s, now=NOW + timedelta(hours=73), policy=POLICY, actor="system:leads", reason="scan")
        lead = s.get(LeadRow, lead_id)
        assert lead.pool == "nurture"
        rec = store.record_interaction(
            s,
            lead,
            kind="wecom",
            rep="rep1",
            at=NOW + timedelta(hours=74),
            now=NOW + timedelta(hours=74),
            actor="rep1",
            reason="t",
            policy=POLICY,
        )
        assert rec.back_from_nurture and lead.pool is None
        s.commit()


def test_scoped_reads(org):
    a = _new(
        org,
        owner="rep1",
        company="甲",
        source="转介绍",
        credit_grade="A",
        contact_role="总经理",
        industry="机械",
        inquiries=3,
        downloads=2,
    )
    _new(org, owner="rep2", company="乙")
    _new(org, owner="rep3", company="丙")
    _new(org, owner=None, company="丁")
    rep1, sup1, director = (_scope(org, u) for u in ("rep1", "sup1", "dir"))
    with org() as s:
        assert queries.grade_mix(s, rep1) == {"A+": 1, "A": 0, "B": 0, "C": 0, "未评级": 0}
        assert queries.grade_mix(s, sup1)["C"] == 1 and queries.grade_mix(s, director)["C"] == 3
        assert queries.count_leads(s, sup1) == 2 and queries.count_leads(s, director) == 4
        assert queries.count_leads(s, rep1, pool="public") == 1
        assert queries.pool_counts(s, sup1) == {"in_hand": 2, "nurture": 0, "public": 1}
        n, rows = queries.not_followed_for(s, sup1, hours=24, now=NOW + timedelta(hours=25), grade="A+")
        assert (n, [r.lead_id for r in rows]) == (1, [a])
        assert queries.not_followed_for(s, rep1, hours=24, now=NOW + timedelta(hours=23))[0] == 0
        rate = queries.activation_rate(
            s, director, since=NOW - timedelta(days=1), until=NOW + timedelta(days=1)
        )
        assert (rate.numerator, rate.denominator) == (0, 4)
        assert [r.company for r in queries.find_for(s, rep1, "丙")] == []
        assert [r.company for r in queries.find_for(s, sup1, "乙")] == ["乙"]
