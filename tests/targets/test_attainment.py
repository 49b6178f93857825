"""Attainment (storage/targets/attainment.py) equals an independent computation from the fixture's raw rows, for
every level and for viewers of every scope, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime

import pytest

from core.org import scope_of
from core.targets.periods import parse_period
from storage.people import whole_tree
from storage.targets.attainment import attainment
from storage.targets.plan import apply, preview
from tests.support.db import import_texts
from tests.targets import fixture as fx

NOW = datetime(2026, 3, 25, 2, 0, tzinfo=UTC)
Q2 = parse_period("2026Q2")


@pytest.fixture
def planned(session_factory, tmp_path):
    import_texts(session_factory, tmp_path / "in", NOW, fx.csv_files())
    with session_factory() as s:
        apply(s, preview(s, Q2, 12_000_000_000, today=NOW.date()), by="director", now=NOW)
        from storage.targets.models import TargetRow

        s.get(TargetRow, "2026Q2|rep|rep04").development_fen = 2_000_000  # a development target
        s.commit()
    return session_factory


def independent(store_targets, dev, owners, level, today):
    """The same figures from the fixture's rows, without SQL."""
    place = {
        c: (r or "未分区", f"{r or '未分区'}/{ci or '未分城市'}", o, n) for c, n, r, ci, o, _ in fx.STORES
    }

    def key(cid):
        region, city, owner, _ = place[cid]
        return {"org": "org", "region": region, "city": city, "rep": owner, "store": cid}[level]

    seen = {c for c in place if owners is None or place[c][2] in owners}
    targets, sales = defaultdict(int), defaultdict(int)
    for cid, t in store_targets.items():
        if cid in seen:
            targets[key(cid)] += t
    for _, cid, d, a in fx.orders():
        if cid in seen and Q2.start <= d <= today:
            sales[key(cid)] += fx.fen(a)
    if level == "rep":
        for u, d in dev.items():
            if owners is None or u in owners:
                targets[u] += d
    return {k: (targets.get(k, 0), sales.get(k, 0)) for k in set(targets) | set(sales)}


@pytest.mark.parametrize("viewer", ["director", "rm_east", "sup02", "rep01", "rep04"])
def test_attainment_matches_an_independent_computation(planned, viewer):
    today = fx.TODAY
    with planned() as s:
        from sqlalchemy import select

        from storage.targets.models import TargetRow

        trows = s.scalars(select(TargetRow).where(TargetRow.period == "2026Q2")).all()
        store_targets = {r.node_key: r.amount_fen for r in trows if r.level == "store"}
        dev = {r.node_key: r.development_fen for r in trows if r.level == "rep"}
        scope = scope_of(whole_tree(s), viewer)
        for level in ("org", "region", "city", "store", "rep"):
            got = attainment(s, scope, "2026Q2", level, today=today)
            want = independent(store_targets, dev, scope.owners, level, today)
            assert {r.key: (r.target_fen, r.sales_fen) for r in got} == want, (viewer, level)
            elapsed = ((today - Q2.start).days + 1) / 91
            for r in got:
                assert r.elapsed == elapsed
                assert r.gap_fen == max(0, r.target_fen - r.sales_fen)
                if r.target_fen:
                    assert r.attainment == r.sales_fen / r.target_fen
                    assert r.pace == pytest.approx(r.attainment / elapsed)
    if viewer == "director":
        assert {r.key for r in got} == {"rep01", "rep02", "rep03", "rep04"}
        assert next(r for r in got if r.key == "rep04").target_fen == 2_000_000
    if viewer == "rep04":  # owns no store: only the development target, no sales
        assert [(r.key, r.target_fen, r.sales_fen) for r in got] == [("rep04", 2_000_000, 0)]


def test_before_and_after_the_period(planned):
    with planned() as s:
        scope = scope_of(whole_tree(s), "director")
        (before,) = attainment(s, scope, Q2, "org", today=date(2026, 3, 31))
        assert (before.sales_fen, before.elapsed, before.pace) == (0, 0.0, None)
        (after,) = attainment(s, scope, Q2, "org", today=date(2026, 9, 1))
        assert after.elapsed == 1.0
        assert after.sales_fen == sum(
            fx.fen(a) for _, c, d, a in fx.orders() if Q2.start <= d < Q2.end
        )  # a lost store's orders still count: sales are sales
        assert attainment(s, scope, Q2, "org", today=date(2026, 5, 1))[0].elapsed == 31 / 91
