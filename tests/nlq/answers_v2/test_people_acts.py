"""没签到 / 签到了 is a person's own act: a rep in the asker's scope who checked in today at a customer outside
that scope (covering a colleague's store in another region) did check in, and is not listed as 没签到; nothing
about the other region's customer reaches the answer, and visit figures stay counted over the customers in
scope (docs/nlq-semantics.md § people). Found by `bench --only nlq` at 100,000 customers, where the generated
visits cross regions."""

from __future__ import annotations

from datetime import UTC, datetime

from nlq.answer import ask
from storage.models import CustomerRow, UserRow, VisitRow

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _org(session_factory) -> None:
    with session_factory() as s:
        s.add_all(
            [
                UserRow(userid="rm_e", name="王东", role="regional_manager", region="华东"),
                UserRow(userid="rm_s", name="李南", role="regional_manager", region="华南"),
                UserRow(userid="rep_a", name="张一", role="rep", manager_userid="rm_e", region="华东"),
                UserRow(userid="rep_b", name="张二", role="rep", manager_userid="rm_e", region="华东"),
                UserRow(userid="rep_c", name="陈三", role="rep", manager_userid="rm_s", region="华南"),
                CustomerRow(customer_id="E1", name="东一店", owner_userid="rep_a", region="华东"),
                CustomerRow(customer_id="S1", name="南一店", owner_userid="rep_c", region="华南"),
                # rep_a covers the southern store this morning (Shanghai 08:10); rep_c was there yesterday
                VisitRow(
                    visit_id="V1",
                    customer_id="S1",
                    rep_userid="rep_a",
                    checked_in_at=datetime(2026, 11, 23, 0, 10, tzinfo=UTC),
                ),
                VisitRow(
                    visit_id="V2",
                    customer_id="S1",
                    rep_userid="rep_c",
                    checked_in_at=datetime(2026, 11, 22, 3, 0, tzinfo=UTC),
                ),
            ]
        )
        s.commit()


def _ask(session_factory, asker: str, question: str) -> dict:
    with session_factory() as s:
        return ask(s, asker=asker, question=question, now=NOW)


def test_a_rep_who_checked_in_outside_the_scope_did_check_in(session_factory):
    _org(session_factory)
    missing = _ask(session_factory, "rm_e", "今天谁还没签到")
    assert missing["kind"] == "people"
    assert [r["userid"] for r in missing["rows"]] == ["rep_b"]
    present = _ask(session_factory, "rm_e", "今天都有谁签到了")
    assert [r["userid"] for r in present["rows"]] == ["rep_a"]
    assert "南一店" not in str(present) and "陈三" not in str(present) and "rep_c" not in str(present)


def test_the_other_region_sees_only_its_own_people(session_factory):
    _org(session_factory)
    missing = _ask(session_factory, "rm_s", "今天谁还没签到")
    assert [r["userid"] for r in missing["rows"]] == ["rep_c"]  # rep_a's visit to its store: not its person


def test_visit_figures_stay_over_the_customers_in_scope(session_factory):
    _org(session_factory)
    assert _ask(session_factory, "rm_e", "今天拜访了多少次")["value"] == 0
    assert _ask(session_factory, "rm_s", "今天拜访了多少次")["value"] == 1
