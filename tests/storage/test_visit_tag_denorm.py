"""visit_tags.customer_id and visits.tag_count stay exact on every write path (the triggers of
storage/triggers/visit_tags.py), on SQLite and PostgreSQL: the chat dialog and its undo, visit_repo, plain ORM
and Core writes, a visit moving to another customer, deleting a visit, the import and a re-import, and the
migration's backfill of a database that already has tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import delete, func, insert, or_, select

from storage import visits as visit_repo
from storage.db import make_session_factory
from storage.models import VisitRow, VisitTagRow
from tests.support.db import engine_at_revision, import_texts, migrate
from tests.support.factories import org
from tests.support.harness import Harness

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def drift(session_factory) -> tuple[list, list]:
    """(visits whose tag_count is not their number of tag rows, tag rows whose customer or time is not the
    visit's)."""
    n = (
        select(func.count())
        .select_from(VisitTagRow)
        .where(VisitTagRow.visit_id == VisitRow.visit_id)
        .correlate(VisitRow)
        .scalar_subquery()
    )
    with session_factory() as s:
        counts = s.execute(
            select(VisitRow.visit_id, VisitRow.tag_count, n).where(VisitRow.tag_count != n)
        ).all()
        customers = s.execute(
            select(VisitTagRow.visit_id, VisitTagRow.tag, VisitTagRow.customer_id, VisitTagRow.checked_in_at)
            .join(VisitRow, VisitRow.visit_id == VisitTagRow.visit_id)
            .where(
                or_(
                    VisitTagRow.customer_id.is_(None),
                    VisitTagRow.customer_id != VisitRow.customer_id,
                    VisitTagRow.checked_in_at.is_(None),
                    VisitTagRow.checked_in_at != VisitRow.checked_in_at,
                )
            )
        ).all()
    return counts, customers


def state(session_factory, visit_id: str) -> tuple[int, dict[str, str | None]]:
    with session_factory() as s:
        count = s.scalar(select(VisitRow.tag_count).where(VisitRow.visit_id == visit_id))
        tags = dict(
            s.execute(
                select(VisitTagRow.tag, VisitTagRow.customer_id).where(VisitTagRow.visit_id == visit_id)
            ).all()
        )
    return count, tags


def visit(s, visit_id: str, customer_id: str = "C001") -> VisitRow:
    v = VisitRow(
        visit_id=visit_id, customer_id=customer_id, rep_userid="rep01", checked_in_at=NOW, photo_count=3
    )
    s.add(v)
    s.flush()
    return v


def test_visit_repo_orm_core_move_and_delete(session_factory):
    with session_factory() as s:
        org(s, touched_at=NOW)
        v = visit(s, "V1")
        assert v.tag_count == 0
        assert visit_repo.add_tags(s, v, ["价格异议", "库存不足"], now=NOW, actor="rep01", why="t") == [
            "价格异议",
            "库存不足",
        ]
        assert v.tag_count == 2  # the loaded visit reads the stored count again
        visit_repo.add_tags(s, v, ["价格异议"], now=NOW, actor="rep01", why="t")  # already there: nothing
        s.commit()
    assert state(session_factory, "V1") == (2, {"价格异议": "C001", "库存不足": "C001"})

    with session_factory() as s:
        v = s.get(VisitRow, "V1")
        assert v.tag_count == 2
        assert visit_repo.remove_tag(s, "V1", "库存不足", now=NOW, actor="rep01", why="undo")
        assert v.tag_count == 1
        assert not visit_repo.remove_tag(s, "V1", "库存不足", now=NOW, actor="rep01", why="undo")
        s.commit()
    assert state(session_factory, "V1") == (1, {"价格异议": "C001"})

    with session_factory() as s:  # fixtures and hand-written writes: a wrong customer given is corrected
        visit(s, "V2", "C002")
        s.add(VisitTagRow(visit_id="V2", tag="新品兴趣"))
        s.flush()
        s.execute(
            insert(VisitTagRow),
            [
                {"visit_id": "V2", "tag": "账期协商", "customer_id": "C004"},
                {"visit_id": "V1", "tag": "陈列问题"},
            ],
        )
        s.commit()
    assert state(session_factory, "V2") == (2, {"新品兴趣": "C002", "账期协商": "C002"})
    assert state(session_factory, "V1") == (2, {"价格异议": "C001", "陈列问题": "C001"})

    with session_factory() as s:  # a visit moved to another customer takes its tags along
        s.get(VisitRow, "V1").customer_id = "C003"
        s.commit()
    assert state(session_factory, "V1") == (2, {"价格异议": "C003", "陈列问题": "C003"})
    assert drift(session_factory) == ([], [])

    with session_factory() as s:  # and a visit's time corrected: its tags carry the new time (0027)
        s.get(VisitRow, "V1").checked_in_at = NOW - timedelta(days=3)
        s.commit()
    with session_factory() as s:
        assert set(s.scalars(select(VisitTagRow.checked_in_at).where(VisitTagRow.visit_id == "V1"))) == {
            NOW - timedelta(days=3)
        }
    assert drift(session_factory) == ([], [])

    with session_factory() as s:  # a tag renamed, then every tag of one visit deleted in one statement
        s.execute(
            sa.update(VisitTagRow)
            .where(VisitTagRow.visit_id == "V1", VisitTagRow.tag == "陈列问题")
            .values(visit_id="V2")
        )
        s.commit()
    assert state(session_factory, "V1") == (1, {"价格异议": "C003"})
    assert state(session_factory, "V2") == (3, {"新品兴趣": "C002", "账期协商": "C002", "陈列问题": "C002"})
    with session_factory() as s:
        s.execute(delete(VisitTagRow).where(VisitTagRow.visit_id == "V2"))
        s.commit()
    assert state(session_factory, "V2") == (0, {})

    with session_factory() as s:  # deleting a visit takes its tags (ON DELETE CASCADE) and leaves no drift
        s.execute(delete(VisitTagRow).where(VisitTagRow.visit_id == "V1"))
        s.execute(delete(VisitRow).where(VisitRow.visit_id == "V1"))
        s.commit()
    assert drift(session_factory) == ([], [])


def test_chat_tags_then_undo(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    h.peer.text("rep01", "拜访 味源超市")
    h.peer.text("rep01", "价格异议 库存不足")
    h.tick()
    with h.session_factory() as s:
        vid = s.scalar(select(VisitRow.visit_id).where(VisitRow.rep_userid == "rep01"))
    assert state(h.session_factory, vid) == (2, {"价格异议": "C001", "库存不足": "C001"})
    h.peer.text("rep01", "撤销")
    h.tick()
    assert state(h.session_factory, vid) == (0, {})
    assert drift(h.session_factory) == ([], [])


USERS = "userid,name,role,manager_userid\nrep01,张伟,rep,\nrep02,李娜,rep,\n"
CUSTOMERS = "customer_id,name,owner_userid\nC001,味源超市,rep01\nC002,鲜丰社区生鲜,rep01\nC003,好邻居,rep02\n"
VISITS = (
    "visit_id,customer_id,rep_userid,checked_in_at,lat,lng,photo_count,tags\n"
    "V001,C001,rep01,2026-05-01T09:30:00,31.2,121.4,3,价格异议;库存不足\n"
    "V002,C002,rep01,2026-05-02T10:00:00,,,,\n"
    "V003,C003,rep02,2026-05-03T10:00:00,,,1,新品兴趣\n"
)
# V001: moved to C002 and one tag fewer; V002: tagged now; V003: untouched
VISITS_AGAIN = (
    "visit_id,customer_id,rep_userid,checked_in_at,lat,lng,photo_count,tags\n"
    "V001,C002,rep01,2026-05-01T09:30:00,31.2,121.4,3,库存不足\n"
    "V002,C002,rep01,2026-05-02T10:00:00,,,,账期协商;陈列问题;价格异议\n"
    "V003,C003,rep02,2026-05-03T10:00:00,,,1,新品兴趣\n"
)


def test_import_and_reimport(session_factory, clock, tmp_path):
    folder = tmp_path / "import"
    import_texts(
        session_factory,
        folder,
        clock.now(),
        {"users.csv": USERS, "customers.csv": CUSTOMERS, "visits.csv": VISITS},
    )
    assert state(session_factory, "V001") == (2, {"价格异议": "C001", "库存不足": "C001"})
    assert state(session_factory, "V002") == (0, {})
    assert state(session_factory, "V003") == (1, {"新品兴趣": "C003"})

    import_texts(session_factory, folder, clock.now(), {"visits.csv": VISITS_AGAIN})
    assert state(session_factory, "V001") == (1, {"库存不足": "C002"})
    assert state(session_factory, "V002") == (3, {"账期协商": "C002", "陈列问题": "C002", "价格异议": "C002"})
    assert state(session_factory, "V003") == (1, {"新品兴趣": "C003"})
    assert drift(session_factory) == ([], [])


def test_migration_fills_both_columns(db_url, tmp_path, request):
    """A database at 0005 with visits and tags: 0006 fills both columns and installs the triggers."""
    engine = engine_at_revision(db_url, tmp_path, request, "0005_payment_matches")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO users (userid, name, role) VALUES ('rep01', 'r', 'rep')")
        conn.exec_driver_sql(
            "INSERT INTO customers (customer_id, name, owner_userid, status, categories, decision_roles) "
            "VALUES ('C1', 'a', 'rep01', 'active', '[]', '[]'), ('C2', 'b', 'rep01', 'active', '[]', '[]')"
        )
        conn.execute(
            sa.text(
                "INSERT INTO visits (visit_id, customer_id, rep_userid, checked_in_at, photo_count, "
                "source, status) VALUES (:v, :c, 'rep01', :t, 0, 'import', 'closed')"
            ),
            [
                {"v": "V1", "c": "C1", "t": "2026-05-01 00:00:00"},
                {"v": "V2", "c": "C2", "t": "2026-05-01 00:00:00"},
                {"v": "V3", "c": "C2", "t": "2026-05-01 00:00:00"},
            ],
        )
        conn.exec_driver_sql(
            "INSERT INTO visit_tags (visit_id, tag) VALUES ('V1', '价格异议'), ('V1', '库存不足'), "
            "('V2', '新品兴趣')"
        )
    migrate(engine, "head")
    factory = make_session_factory(engine)
    try:
        assert state(factory, "V1") == (2, {"价格异议": "C1", "库存不足": "C1"})
        assert state(factory, "V2") == (1, {"新品兴趣": "C2"})
        assert state(factory, "V3") == (0, {})
        with factory() as s:  # the triggers are there
            s.add(VisitTagRow(visit_id="V3", tag="价格异议"))
            s.commit()
        assert state(factory, "V3") == (1, {"价格异议": "C2"})
        assert drift(factory) == ([], [])
        migrate(engine, "0005_payment_matches", down=True)  # and the downgrade takes everything away again
        columns = {c["name"] for c in sa.inspect(engine).get_columns("visits")}
        assert "tag_count" not in columns
    finally:
        engine.dispose()
