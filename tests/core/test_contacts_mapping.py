"""The pure rules from WeCom's address book to the reporting tree (core/contacts/mapping.py)."""

from __future__ import annotations

import pytest

from core.contacts.book import AddressBook, Department, Member
from core.contacts.mapping import Current, parse_rules, plan

DEPTS = (Department(1, "公司", 0), Department(2, "华东大区", 1), Department(3, "上海组", 2))


def _book(*members: Member) -> AddressBook:
    return AddressBook(DEPTS, members)


def _managers(book: AddressBook, **current: Current) -> dict[str, str | None]:
    return {c.userid: c.fields.get("manager_userid") for c in plan(book, current).changes}


def test_leaders_climb_and_a_direct_leader_wins_and_a_cycle_is_cut():
    book = _book(
        Member("boss", departments=(1,), leader_in=(1,)),
        Member("rm", departments=(2,), leader_in=(2,)),
        Member("rep", departments=(3,)),  # 上海组 has no leader: 华东大区's
        Member("solo", departments=(3,), direct_leaders=("boss",)),
        Member("a", departments=(1,), direct_leaders=("b",)),
        Member("b", departments=(1,), direct_leaders=("a",)),
        Member("ghost", departments=(3,), direct_leaders=("nobody",)),
    )
    assert _managers(book) == {
        "boss": None,
        "rm": "boss",
        "rep": "rm",
        "solo": "boss",
        "a": None,  # the cycle a ↔ b is cut at its smallest member: the stored manager stays
        "b": "a",
        "ghost": "rm",  # a 直属上级 not in the address book is passed over
    }


def test_a_role_given_by_the_import_is_never_changed_and_one_given_by_the_sync_follows_the_rules():
    book = _book(Member("x", "小X", (3,), leader_in=(3,)), Member("y", "小Y", (3,), leader_in=(3,)))
    current = {
        "x": Current("x", "小X", "rep", "rm", role_by_sync=None),  # imported as rep
        "y": Current("y", "小Y", "rep", "rm", role_by_sync="rep"),  # the sync made them a rep
    }
    changes = {c.userid: c for c in plan(book, current).changes}
    assert "x" not in changes  # imported: the role stays, and nothing else differs
    assert changes["y"].fields["role"] == "supervisor" and changes["y"].role_by_sync == "supervisor"


def test_empty_fields_and_an_unknown_manager_never_erase():
    book = _book(Member("x", "", (3,)))  # no name (withheld), nobody leads anything above
    current = {"x": Current("x", "小X", "rep", "old", mobile="139", role_by_sync=None)}
    assert plan(book, current).changes == ()


def test_a_full_sync_holds_back_when_too_many_are_missing():
    synced = [f"r{i}" for i in range(10)]
    current = {u: Current(u, u, "rep", None) for u in synced}
    book = _book(*(Member(u, u, (3,)) for u in synced[:6]))  # 4 missing of 10: more than 3 and 20 %
    held = plan(book, current, synced=synced, full=True)
    assert held.deactivate == () and held.held_back == ("r6", "r7", "r8", "r9")
    few = plan(_book(*(Member(u, u, (3,)) for u in synced[:8])), current, synced=synced, full=True)
    assert few.deactivate == ("r8", "r9") and few.held_back == ()
    left = plan(
        _book(Member("r0", "r0", (3,), status=5)), current
    )  # status 退出企业: deactivated by any sync
    assert left.deactivate == ("r0",)


def test_the_admins_rules():
    rules = parse_rules(
        '[{"department": "华东大区", "leader": true, "depth": 1, "role": "regional_manager"}]'
    )
    book = _book(Member("rm", "", (2,), leader_in=(2,)), Member("sup", "", (3,), leader_in=(3,)))
    roles = {c.userid: c.fields["role"] for c in plan(book, {}, rules).changes}
    assert roles == {"rm": "regional_manager", "sup": "rep"}  # the rules replace the defaults; rep at the end
    for bad, words in (("{}", "列表"), ('[{"role": "boss"}]', "第1条"), ('[{"role": "rep", "x": 1}]', "x")):
        with pytest.raises(ValueError, match=words):
            parse_rules(bad)
