"""Fixtures for the health metrics, scorecard, brief and dashboard tests.

- `eval_factory` (session, per backend): the nlq evaluation dataset (tests/nlq/dataset.py), read-only,
  so figures can be compared with `ask` on the same data;
- `small_org` (per test, per backend): a tiny hand-made organisation whose figures are computed by hand
  in the tests.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

import storage.models_scorecard  # noqa: F401 - the scorecard tables join Base.metadata before create_all
from core.clock import SHANGHAI
from storage.db import make_engine, make_session_factory
from storage.models import (
    CustomerRow,
    InteractionRow,
    OpportunityRow,
    UserRow,
    VisitRow,
    VisitTagRow,
)
from storage.schema import create_all
from tests.nlq import conftest as nlq_fixtures
from tests.nlq.dataset import NOW, insert_dataset

# the nlq evaluation dataset and its database on every backend, shared rather than defined twice
dataset = nlq_fixtures.dataset
domains = nlq_fixtures.domains
eval_factory = nlq_fixtures.eval_factory


@pytest.fixture(scope="module")
def eval_sqlite(dataset, tmp_path_factory):
    """The evaluation dataset on SQLite only (for the browser test, which runs a server over it)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('dash')}/eval.db"
    engine = make_engine(url)
    create_all(engine)
    factory = make_session_factory(engine)
    with factory() as s:
        insert_dataset(s, dataset)
    yield factory
    engine.dispose()


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)


# now: Monday 2026-11-23 09:00 Shanghai. 本周 = 11-23.., 上周 = 11-16..11-22, 本月 = 11-01..11-30
SMALL_NOW = NOW
ORG = [  # userid, name, role, manager, region
    ("dir", "周总", "sales_director", None, None),
    ("rm1", "吴经理", "regional_manager", "dir", "华东"),
    ("sup1", "王主管", "supervisor", "rm1", "华东"),
    ("rep1", "张三", "rep", "sup1", "华东"),
    ("rep2", "李四", "rep", "sup1", "华东"),
    ("rep3", "赵六", "rep", "rm1", "华东"),  # directly under the regional manager: his own team
    ("rep4", "钱七", "rep", "sup1", "华东"),  # owns nothing
]


def seed_small_org(factory) -> None:  # noqa: ANN001
    """Customers (owner, region, status, nps):
    c1 rep1 华东 active 80 · c2 rep1 华东 lost (lost_on 11-10) · c3 rep2 华南 active no NPS ·
    c4 rep3 华东 active never touched · c5 rep2 no region active, only an interaction 31 days ago.
    Visits: v1 c1 by rep1 本周, complete · v2 c1 by rep1 本周, no location · v3 c3 by rep2 上周, 2 photos
    · v4 c3 by rep1 上周, complete · v5 c2 by rep1 上月 (10-20), complete.
    Opportunities: c1 quoted (11-05), c1 lost (11-06), c3 won (10-10), c3 need_confirmed (11-20)."""
    with factory() as s:
        for userid, name, role, manager, region in ORG:
            s.add(UserRow(userid=userid, name=name, role=role, manager_userid=manager, region=region))
        cs = [
            ("c1", "rep1", "华东", "active", 80, None),
            ("c2", "rep1", "华东", "lost", 60, date(2026, 11, 10)),
            ("c3", "rep2", "华南", "active", None, None),
            ("c4", "rep3", "华东", "active", 50, None),
            ("c5", "rep2", None, "active", 90, None),
        ]
        for cid, owner, region, status, nps, lost_on in cs:
            s.add(
                CustomerRow(
                    customer_id=cid,
                    name=f"客户{cid}",
                    owner_userid=owner,
                    region=region,
                    status=status,
                    nps=nps,
                    lost_on=lost_on,
                    created_on=date(2026, 1, 1),
                )
            )
        s.flush()
        visits = [
            ("v1", "c1", "rep1", at(2026, 11, 23, 8), True, 3, ("价格异议",)),
            ("v2", "c1", "rep1", at(2026, 11, 23, 8, 30), False, 4, ("库存不足",)),
            ("v3", "c3", "rep2", at(2026, 11, 18), True, 2, ("价格异议",)),
            ("v4", "c3", "rep1", at(2026, 11, 20), True, 5, ("新品兴趣", "价格异议")),
            ("v5", "c2", "rep1", at(2026, 10, 20), True, 3, ("账期协商",)),
        ]
        for vid, cid, rep, when, located, photos, tags in visits:
            s.add(
                VisitRow(
                    visit_id=vid,
                    customer_id=cid,
                    rep_userid=rep,
                    checked_in_at=when,
                    lat=31.2 if located else None,
                    lng=121.4 if located else None,
                    photo_count=photos,
                )
            )
            s.flush()
            for t in tags:
                s.add(VisitTagRow(visit_id=vid, tag=t))
        s.add(
            InteractionRow(
                interaction_id="i1",
                customer_id="c5",
                rep_userid="rep2",
                at=SMALL_NOW - timedelta(days=31),
                channel="call",
            )
        )
        for oid, cid, stage, day in (
            ("o1", "c1", "quoted", date(2026, 11, 5)),
            ("o2", "c1", "lost", date(2026, 11, 6)),
            ("o3", "c3", "won", date(2026, 10, 10)),
            ("o4", "c3", "need_confirmed", date(2026, 11, 20)),
        ):
            s.add(OpportunityRow(opportunity_id=oid, customer_id=cid, stage=stage, entered_on=day))
        s.commit()


@pytest.fixture
def small_org(session_factory):
    seed_small_org(session_factory)
    return session_factory
