"""The customer scorecard: the pure mapping (core/scorecard.py), feature extraction in SQL, the nightly
recompute with audited tier changes, the routing of changes, and the buttons on a blue-tier card."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.scorecard import CustomerFeatures, ScoreRules, explain, score, tier_of
from handlers.context import Ctx
from handlers.messages import Button, Card, CardClick, CardUpdate, Text
from handlers.sop.scorecard import fire_scorecard_nightly, on_score_action, route_changes
from storage import scorecard as R
from storage.models import (
    AuditRow,
    ContractRow,
    CustomerNoteRow,
    CustomerRow,
    InteractionRow,
    OrderRow,
    PaymentRow,
    TicketRow,
    UserRow,
    VisitRow,
    VisitTagRow,
)
from storage.models_scorecard import CustomerScoreRow, ScoreChangeRow
from tests.nlq.dataset import NOW

TODAY = date(2026, 11, 23)  # NOW's local date


# --- the pure mapping -----------------------------------------------------------------------------------


def test_components_map_to_0_100():
    f = CustomerFeatures(
        "c",
        orders=1,
        visits=3,
        interest_visits=0,
        contracts_due=4,
        contracts_on_time=3,
        tickets_judged=4,
        tickets_on_time=3,
        days_since_touch=37,
    )
    card = score(f)
    pts = {c.key: c.points for c in card.components}
    assert pts["order_frequency"] == pytest.approx(
        100 / 3
    )  # 1 of the 3 orders a quarter that give full marks
    assert pts["new_product_interest"] == 0
    assert pts["payment_on_time"] == 75
    assert pts["response_speed"] == pytest.approx(0.7 * 75 + 0.3 * 50)  # contact: 37 days is halfway 14..60
    expected = 0.30 * 100 / 3 + 0.25 * 0 + 0.25 * 75 + 0.20 * (0.7 * 75 + 0.3 * 50)
    assert card.score == round(expected, 1) and card.tier == "red"


def test_missing_payment_data_is_left_out_and_weights_renormalised():
    f = CustomerFeatures("c", orders=3, visits=2, interest_visits=1, days_since_touch=2)
    card = score(f)
    assert card.component("payment_on_time").points is None
    assert card.score == 100.0 and card.tier == "blue"
    never = score(CustomerFeatures("n"))
    assert never.score == 0.0 and never.tier == "red"
    assert never.component("response_speed").detail.endswith("从未跟进")


def test_tier_boundaries():
    assert [tier_of(s) for s in (0, 59.9, 60, 70, 80, 80.1, 100)] == [
        "red",
        "red",
        "yellow",
        "yellow",
        "yellow",
        "blue",
        "blue",
    ]


def test_explanation_names_the_component_that_moved():
    before = score(CustomerFeatures("c", orders=3, interest_visits=1, visits=2, days_since_touch=3))
    after = score(CustomerFeatures("c", orders=0, interest_visits=1, visits=2, days_since_touch=3))
    key, text = explain(before.to_json(), after, before_score=before.score)
    assert key == "order_frequency"
    assert (
        text.startswith("总分100.0→60.0；变化最大：下单频次100分→0分") and "拉低总分40.0分" in text
    )  # 0.30 of 0.75
    key, text = explain(None, after)
    assert key == "order_frequency" and text.startswith("首次评分60.0分；最弱一项：下单频次0分")


def test_rules_from_config():
    rules = ScoreRules.from_config({"weights": {"response_speed": 0.5}, "orders_target": 6})
    assert rules.weights["response_speed"] == 0.5 and rules.weights["order_frequency"] == 0.30
    assert rules.orders_target == 6
    for bad in (
        {"nope": 1},
        {"weights": {"x": 1}},
        {"weights": {"order_frequency": -1}},
        {"red_below": 90, "blue_above": 80},
    ):
        with pytest.raises(ValueError):
            ScoreRules.from_config(bad)


# --- features in SQL -------------------------------------------------------------------------------------


def _org(factory) -> None:  # noqa: ANN001
    with factory() as s:
        for u, role, mgr in (
            ("dir", "sales_director", None),
            ("rm1", "regional_manager", "dir"),
            ("sup1", "supervisor", "rm1"),
            ("rep1", "rep", "sup1"),
            ("sup2", "supervisor", "rm1"),
            ("rep2", "rep", "sup2"),
        ):
            s.add(UserRow(userid=u, name=f"名{u}", role=role, manager_userid=mgr))
        for cid, owner, status in (
            ("k1", "rep1", "active"),
            ("k2", "rep1", "active"),
            ("k3", "rep1", "lost"),
        ):
            s.add(CustomerRow(customer_id=cid, name=f"客户{cid}", owner_userid=owner, status=status))
        s.commit()


def _visit(s, vid: str, cid: str, at, tags=()) -> None:  # noqa: ANN001
    s.add(VisitRow(visit_id=vid, customer_id=cid, rep_userid="rep1", checked_in_at=at, photo_count=3))
    s.flush()
    for t in tags:
        s.add(VisitTagRow(visit_id=vid, tag=t))


def _seed_features(factory) -> None:  # noqa: ANN001
    with factory() as s:
        for oid, day in (
            ("o1", TODAY),
            ("o2", TODAY - timedelta(days=89)),
            ("o3", TODAY - timedelta(days=90)),
        ):
            s.add(OrderRow(order_id=oid, customer_id="k1", ordered_on=day, amount=Decimal("10")))
        _visit(s, "v1", "k1", NOW - timedelta(days=3), ("新品兴趣", "价格异议"))
        _visit(s, "v2", "k1", NOW - timedelta(days=20))
        _visit(s, "v3", "k1", NOW - timedelta(days=91), ("新品兴趣",))
        s.add(
            InteractionRow(interaction_id="i1", customer_id="k1", at=NOW - timedelta(days=1), channel="call")
        )
        due = TODAY - timedelta(days=10)
        for no, amount, due_on in (
            ("HT_1", "100", due),
            ("HTX1", "50", TODAY - timedelta(days=5)),
            ("HT-TODAY", "10", TODAY),
            ("HT-OLD", "10", TODAY - timedelta(days=400)),
        ):
            s.add(
                ContractRow(
                    contract_no=no,
                    customer_id="k1",
                    signed_on=TODAY - timedelta(days=500),
                    amount=Decimal(amount),
                    due_on=due_on,
                )
            )
        for txn, memo, amount, paid_on in (
            ("p1", "付HT_1", "60", due - timedelta(days=1)),
            ("p2", "HT_1尾款", "40", due),
            ("p3", "货款HTX1", "50", TODAY - timedelta(days=4)),
        ):  # a day late
            s.add(PaymentRow(txn_id=txn, memo=memo, amount=Decimal(amount), paid_on=paid_on))
        for tid, opened, responded, sla in (
            ("t1", NOW - timedelta(days=10), NOW - timedelta(days=10) + timedelta(hours=2), 24),  # on time
            ("t2", NOW - timedelta(days=5), NOW - timedelta(days=5) + timedelta(hours=30), 24),  # late
            ("t3", NOW - timedelta(hours=1), None, 4),  # pending: not judged yet
            ("t4", NOW - timedelta(hours=30), None, 24),  # unanswered past the SLA
            ("t5", NOW - timedelta(days=200), None, 24),
        ):  # too old
            s.add(
                TicketRow(
                    ticket_id=tid, customer_id="k1", opened_at=opened, responded_at=responded, sla_hours=sla
                )
            )
        s.commit()


def test_features_in_sql(session_factory):
    _org(session_factory)
    _seed_features(session_factory)
    with session_factory() as s:
        feats = R.extract_features(s, now=NOW, rules=ScoreRules())
    assert set(feats) == {"k1", "k2"}  # k3 is lost
    k1 = feats["k1"]
    assert (k1.orders, k1.visits, k1.interest_visits) == (2, 2, 1)
    assert (k1.contracts_due, k1.contracts_on_time) == (2, 1)
    assert (k1.tickets_judged, k1.tickets_on_time) == (3, 1)
    assert k1.days_since_touch == pytest.approx(1.0)
    assert feats["k2"] == CustomerFeatures("k2")


def test_matched_numbers_is_a_substring_match():
    assert R.matched_numbers("付HT_1和HT_10", {4: {"HT_1"}, 5: {"HT_10"}}) == {"HT_1", "HT_10"}
    assert R.matched_numbers("HTx1", {4: {"HT_1"}}) == set()  # '_' is an ordinary character


# --- recompute, tier changes, routing ------------------------------------------------------------------------


def _ctx(s, now, user=None):  # noqa: ANN001, ANN202
    return Ctx(
        session=s, now=now, user=user, userid=user.userid if user else "system:scorecard", source="test"
    )


def test_recompute_baseline_then_audited_changes_and_routing(session_factory):
    _org(session_factory)
    _seed_features(session_factory)
    with session_factory() as s:
        first = R.recompute(s, now=NOW)
        s.commit()
    assert (first.scored, first.baseline, first.changes) == (2, 2, [])
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(CustomerScoreRow)) == 2
        assert s.get(CustomerScoreRow, "k2").tier == "red"
        baseline = s.scalars(select(AuditRow).where(AuditRow.entity == "customer_scores")).all()
        assert len(baseline) == 1 and baseline[0].after["count"] == 2
        # k2 becomes a model customer; k1 loses its orders
        for n in range(3):
            s.add(OrderRow(order_id=f"n{n}", customer_id="k2", ordered_on=TODAY, amount=Decimal("1")))
        _visit(s, "v9", "k2", NOW - timedelta(hours=2), ("新品兴趣",))
        s.execute(OrderRow.__table__.delete().where(OrderRow.customer_id == "k1"))
        s.commit()
    later = NOW + timedelta(hours=1)
    with session_factory() as s:
        before_k1 = s.get(CustomerScoreRow, "k1")
        k1_old_tier = before_k1.tier
        ctx = _ctx(s, later)
        result = R.recompute(s, now=later, reason="test")
        route_changes(ctx, result.changes)
        s.commit()
    changes = {c.customer_id: c for c in result.changes}
    assert (
        changes["k2"].old_tier == "red"
        and changes["k2"].new_tier == "blue"
        and changes["k2"].routed == "suggest"
    )
    with session_factory() as s:
        rows = s.scalars(select(ScoreChangeRow).order_by(ScoreChangeRow.id)).all()
        assert {r.customer_id for r in rows} == set(changes)
        audits = s.scalars(select(AuditRow).where(AuditRow.entity == "customer_score")).all()
        assert {a.entity_id for a in audits} == set(changes)
        k2 = next(a for a in audits if a.entity_id == "k2")
        assert k2.before["tier"] == "red" and k2.after["tier"] == "blue" and k2.reason == "test"
    blue_cards = [(to, r) for to, r in ctx.outgoing if isinstance(r, Card) and r.buttons]
    assert len(blue_cards) == 1 and blue_cards[0][0] == "sup1"
    card = blue_cards[0][1]
    assert card.title == "优质客户：客户k2" and [b.text for b in card.buttons] == [
        "优先排产",
        "专属客服",
        "暂不需要",
    ]
    # k1: 68.2 yellow (orders 2 → 66.7) → 48.2 red (orders 0; interest 100, payment 50, response 53.3)
    assert (changes["k1"].old_tier, changes["k1"].new_tier, k1_old_tier) == ("yellow", "red", "yellow")
    assert (changes["k1"].old_score, changes["k1"].new_score) == (68.2, 48.2)
    assert changes["k1"].moved == "order_frequency"
    red = [(to, r) for to, r in ctx.outgoing if isinstance(r, Card) and not r.buttons]
    assert (
        len(red) == 1
        and red[0][0] == "rm1"
        and "客户k1（名rep1）68→48分：下单频次67分→0分" in red[0][1].description
    )


def test_red_goes_to_the_regional_manager_and_yellow_sends_nothing(session_factory):
    _org(session_factory)
    with session_factory() as s:
        ctx = _ctx(s, NOW)
        mk = lambda cid, new: R.TierChange(  # noqa: E731
            1,
            cid,
            f"客户{cid}",
            "rep1",
            "yellow",
            new,
            70.0,
            50.0,
            "order_frequency",
            "总分70.0→50.0；变化最大：下单频次100分→0分（近90天下单0次），拉低总分30.0分",
            R.ROUTES[new],
        )
        route_changes(ctx, [mk("k1", "red"), mk("k2", "yellow")])
    assert len(ctx.outgoing) == 1
    to, card = ctx.outgoing[0]
    assert to == "rm1" and card.title == "客户评分预警：1位客户降为红色"
    assert "客户k1（名rep1）70→50分：下单频次100分→0分" in card.description


def test_nightly_timer_firing(session_factory):
    from storage.models import TimerRow

    _org(session_factory)
    _seed_features(session_factory)
    with session_factory() as s:
        ctx = _ctx(s, NOW)
        status, outcome = fire_scorecard_nightly(ctx, TimerRow(payload={}))
        s.commit()
        assert status == "done" and outcome.startswith("scored 2 (baseline 2), 0 tier changes")
        nxt = s.scalars(select(TimerRow).where(TimerRow.kind == "scorecard_nightly")).one()
        assert nxt.business_key == "scorecard_nightly:2026-11-24"


def _blue_change(factory) -> int:  # noqa: ANN001
    with factory() as s:
        ch = ScoreChangeRow(
            customer_id="k1",
            owner_userid="rep1",
            at=NOW,
            old_score=70,
            new_score=85,
            old_tier="yellow",
            new_tier="blue",
            moved="order_frequency",
            explanation="x",
            routed="suggest",
        )
        s.add(ch)
        s.commit()
        return ch.id


def test_blue_card_buttons(session_factory):
    _org(session_factory)
    cid = _blue_change(session_factory)
    click = CardClick(sender="sup1", at=0, key=f"score:prio:{cid}", task_id="t", response_code="rc1")
    with session_factory() as s:
        ctx = _ctx(s, NOW, s.get(UserRow, "sup1"))
        on_score_action(ctx, click)
        s.commit()
    kinds = [(to, type(r)) for to, r in ctx.outgoing]
    assert ("sup1", CardUpdate) in kinds and ("rep1", Text) in kinds
    assert next(r for _, r in ctx.outgoing if isinstance(r, CardUpdate)).replace_name == "已安排优先排产"
    with session_factory() as s:
        ch = s.get(ScoreChangeRow, cid)
        assert (ch.action, ch.acted_by) == ("prio", "sup1")
        note = s.scalars(select(CustomerNoteRow)).one()
        assert note.kind == "score_action" and "优先排产" in note.text
        assert (
            s.scalars(select(AuditRow).where(AuditRow.entity == "score_change")).one().after["action"]
            == "prio"
        )
        again = _ctx(s, NOW, s.get(UserRow, "sup1"))
        on_score_action(again, CardClick(sender="sup1", at=0, key=f"score:vip:{cid}", task_id="t"))
        assert "已由名sup1处理" in again.outgoing[-1][1].content
        stranger = _ctx(s, NOW, s.get(UserRow, "sup2"))
        on_score_action(stranger, CardClick(sender="sup2", at=0, key=f"score:vip:{cid}", task_id="t"))
        assert stranger.outgoing[-1][1].content.startswith("你不在该客户的管理范围内")


def test_button_keys_fit_wecom():
    b = Button("优先排产", "score:prio:123456789012")
    assert len(b.key) <= 64
