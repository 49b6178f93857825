from datetime import timedelta
from tests.dialogs.test_visit_dialog import h, photo, visit_of  # noqa
from tests.support.factories import WEIYUAN
from storage.models import PromiseRow, VisitRow
from sqlalchemy import select
import pytest

@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_probe(h, clock):
    rep = "rep01"
    h.peer.text(rep, "拜访 味源超市"); h.tick()
    print("A", h.texts(rep))
    h.peer.location_report(rep, WEIYUAN[0] + 0.0003, WEIYUAN[1], precision=30); h.tick()
    for seed in (1, 2, 3):
        h.peer.image(rep, photo(seed, taken=clock.now() - timedelta(minutes=2)))
    h.tick()
    h.peer.text(rep, "价格异议 要求降5%，承诺周五前送样品，15天后回访"); h.tick()
    for t in h.texts(rep): print("T:", t)
    v = visit_of(h)
    print("NOTE", v.note)
    with h.session_factory() as s:
        for p in s.scalars(select(PromiseRow)): print("P", p.kind, p.text, p.due_at)
