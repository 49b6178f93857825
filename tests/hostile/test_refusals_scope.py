"""Refusals say nothing about people or places outside the asker's scope (issue 14 item 6): a person, a city or
a region that exists outside the asker's scope gets exactly the answer one that does not exist gets (the typed
word aside), in `ask` and in chat; a duplicate found while onboarding a customer outside the scope is named
without its name, owner or id."""

from __future__ import annotations

import pytest

from bot.wecom.render import INVISIBLE
from core.licence import uscc_check_char
from nlq.answer import ask
from nlq.suggest import refusal_suggestion
from storage.models import CustomerRow, UserRow
from tests.support.factories import FAR, org
from tests.support.harness import Harness

# (exists outside rep01's and sup01's scope, does not exist): each pair the same length and kind of word
PAIRS = [
    ("王小明", "王大明"),  # a person's name
    ("rep09", "rep99"),  # a userid
    ("汕尾", "汕头"),  # a city only the data knows (not one of the common city names)
    ("粤东区", "粤西区"),  # a region only the data knows
]
QUESTIONS = ["{}的客户数", "{}的客户有哪些", "{}本月拜访完整率"]


def _outsider(session) -> None:  # noqa: ANN001
    """rep09 under a supervisor of another line, with a customer in a city and region nobody else has."""
    session.add(UserRow(userid="sup09", name="孙主管", role="supervisor", manager_userid="rm_east"))
    session.flush()
    session.add(
        UserRow(
            userid="rep09", name="王小明", role="rep", manager_userid="sup09", region="粤东区", city="汕尾"
        )
    )
    session.flush()
    session.add(
        CustomerRow(
            customer_id="C900",
            name="汕尾海鲜批发",
            owner_userid="rep09",
            region="粤东区",
            city="汕尾",
            lat=22.78,
            lng=115.37,
            license_no=_licence("91441500MA5XXXXX0"),
        )
    )


def _licence(body17: str) -> str:
    return body17 + uscc_check_char(body17)


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
        _outsider(s)
        s.commit()
    return h


def _seen(answer: dict, word: str) -> dict:
    """The answer with the typed word masked; the suggestion is a function of the question's text alone
    (nlq/suggest.py refusal_suggestion), checked as such."""
    if answer["kind"] == "refusal":
        assert answer["suggestion"] == refusal_suggestion(answer["question"])
    skip = ("question", "suggestion")
    return {
        k: (v.replace(word, "＊") if isinstance(v, str) else v) for k, v in answer.items() if k not in skip
    }


def _plain(text: str) -> str:
    """A chat text without the invisible character a repeated text gets (bot/wecom/render.py) and without the
    suggested questions (a function of the question's text)."""
    for ch in INVISIBLE:
        text = text.replace(ch, "")
    return text.split("\n可以这样问")[0]


@pytest.mark.parametrize("asker", ["rep01", "sup01"])
def test_ask_answers_an_outside_name_exactly_as_a_missing_one(h, clock, asker):
    for exists, missing in PAIRS:
        for question in QUESTIONS:
            with h.session_factory() as s:
                a = ask(s, asker=asker, question=question.format(exists), now=clock.now())
            with h.session_factory() as s:
                b = ask(s, asker=asker, question=question.format(missing), now=clock.now())
            assert _seen(a, exists) == _seen(b, missing), (asker, question, exists)
            text = str(a)
            assert "王小明" not in text.replace(exists, "") and "rep09" not in text.replace(exists, "")
            assert "孙主管" not in text and "汕尾海鲜批发" not in text


def test_the_director_still_gets_the_names(h, clock):
    with h.session_factory() as s:
        a = ask(s, asker="director", question="王小明的客户数", now=clock.now())
    assert a["kind"] == "figure" and a["value"] == 1 and "rep09" in a["understood"]


def test_in_chat_an_outside_person_or_city_reads_as_a_missing_one(h):
    for exists, missing in PAIRS:
        for who in ("rep01", "sup01"):
            before = len(h.texts(who))
            h.peer.text(who, f"{exists}的客户数")
            h.tick()
            h.peer.text(who, f"{missing}的客户数")
            h.tick()
            got = h.texts(who)[before:]
            assert len(got) == 2, got
            assert _plain(got[0]).replace(exists, "＊") == _plain(got[1]).replace(missing, "＊"), (who, got)
            assert "孙主管" not in got[0] and "汕尾海鲜批发" not in got[0]


def test_onboarding_a_duplicate_outside_the_scope_names_no_customer_and_no_owner(h):
    rep = "rep01"
    h.peer.location_report(rep, FAR[0] + 0.05, FAR[1], precision=20)
    h.peer.text(rep, "新建客户")
    h.peer.text(rep, "海鲜批发部")
    h.peer.text(rep, _licence("91441500MA5XXXXX0"))  # the licence of rep09's customer
    h.tick()
    card = h.cards(rep)[-1]
    shown = str(card)
    assert "已登记" in card["main_title"]["title"]
    assert "汕尾海鲜批发" not in shown and "rep09" not in shown and "王小明" not in shown
    assert "C900" not in shown  # not even its id on a button
    h.peer.card_click(rep, card["task_id"], "cust:use:C900")  # a forged click on the id
    h.peer.card_click(rep, card["task_id"], "cust:use:C999")  # and on one that does not exist
    h.tick()
    a, b = h.texts(rep)[-2:]
    assert _plain(a) == _plain(b) and "rep09" not in a


def test_visit_by_name_of_an_outside_customer_reads_as_a_missing_one(h):
    h.peer.text("rep01", "拜访 汕尾海鲜批发")  # rep09's customer
    h.tick()
    h.peer.text("rep01", "拜访 汕头海鲜批发")  # nobody's
    h.tick()
    a, b = h.texts("rep01")[-2:]
    assert _plain(a).replace("汕尾", "＊") == _plain(b).replace("汕头", "＊")
    assert "rep09" not in a and "王小明" not in a
