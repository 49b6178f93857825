from datetime import UTC, datetime

from storage.models import CustomerRow, UserRow, VisitRow


def test_roundtrip_aware_utc(session_factory):
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with session_factory() as s:
        s.add(UserRow(userid="u1", name="张三", role="rep"))
        s.add(CustomerRow(customer_id="c1", name="味源超市", owner_userid="u1"))
        s.flush()
        s.add(VisitRow(visit_id="v1", customer_id="c1", rep_userid="u1", checked_in_at=at))
        s.commit()
    with session_factory() as s:
        v = s.get(VisitRow, "v1")
        assert v.checked_in_at == at and v.checked_in_at.tzinfo is not None
