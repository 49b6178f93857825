"""Dialog tests: a rep says → the bot replies, through the emulator, on real storage."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import BytesIO

import pytest
from PIL import Image
from sqlalchemy import select

from bot.photos import make_sample_jpeg
from core.clock import SHANGHAI, local
from handlers import texts
from storage.models import CustomerRow, PhotoRow, PromiseRow, VisitRow, VisitTagRow
from tests.support.factories import FAR, NEIGHBOUR, WEIYUAN, org
from tests.support.harness import Harness


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    harness = Harness(db_url, tmp_path, redis_server, clock)
    with harness.session_factory() as s:
        org(s, touched_at=clock.now())
    return harness


def photo(seed: int, *, taken: datetime | None = None, size=(1600, 1200)) -> bytes:
    """A distinct shelf-like photo; with EXIF capture time when `taken` is given."""
    data = make_sample_jpeg(*size, seed=seed, noise=0.05)
    if taken is None:
        return data
    im = Image.open(BytesIO(data))
    exif = Image.Exif()
    exif[0x8769] = {0x9003: local(taken).strftime("%Y:%m:%d %H:%M:%S")}
    out = BytesIO()
    im.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def visit_of(h, rep="rep01") -> VisitRow:
    with h.session_factory() as s:
        return s.scalars(
            select(VisitRow).where(VisitRow.rep_userid == rep).order_by(VisitRow.checked_in_at.desc())
        ).first()


def test_complete_visit_in_three_messages(h, clock):
    rep = "rep01"
    h.peer.location_report(rep, WEIYUAN[0] + 0.0003, WEIYUAN[1], precision=30)  # ~33 m away, GPS
    h.tick()
    assert "已签到「味源超市」" in h.texts(rep)[-1]
    for seed in (1, 2, 3):
        h.peer.image(rep, photo(seed, taken=clock.now() - timedelta(minutes=2)))
    h.tick()
    h.peer.text(rep, "价格异议 库存不足，承诺周五前送样品，15天后回访")
    h.tick()
    visit = visit_of(h)
    assert visit.completed_at is not None and visit.customer_id == "C001"
    assert visit.location_source == "gps" and visit.photo_count == 3
    with h.session_factory() as s:
        tags = set(s.scalars(select(VisitTagRow.tag).where(VisitTagRow.visit_id == visit.visit_id)))
        promises = {
            p.kind: p for p in s.scalars(select(PromiseRow).where(PromiseRow.visit_id == visit.visit_id))
        }
    assert tags == {"价格异议", "库存不足"}
    assert local(promises["promise"].due_at).date() == datetime(2026, 11, 27).date()  # that Friday
    assert "送样品" in promises["promise"].text
    assert local(promises["follow_up"].due_at).date() == (local(clock.now()) + timedelta(days=15)).date()
    summary = [t for t in h.texts(rep) if "✅ 拜访完成：味源超市" in t]
    assert len(summary) == 1 and "价格异议" in summary[0] and "3张" in summary[0]
    # the visit's promise and follow-up went to the rep's WeCom calendar; the approval to the supervisor
    assert len(h.wecom.calls_to("oa/schedule/add")) == 2
    assert any("价格异议" in t for t in h.texts("sup01"))


def test_each_missing_piece_prompted_once(h, clock):
    rep = "rep01"
    h.peer.text(rep, "拜访 味源超市")
    h.tick()
    assert h.texts(rep)[-1] == texts.CHECKED_IN_NO_LOCATION.format(name="味源超市")
    h.peer.text(rep, "库存不足")
    h.tick()
    expected = texts.MISSING_PROMPT.format(missing="签到位置、货架照片（还差3张）")
    assert h.texts(rep)[-1] == expected
    h.peer.text(rep, "嫌贵")  # another tag: the same still-missing pieces are not asked again
    h.tick()
    assert h.texts(rep).count(expected) == 1
    clock.advance(minutes=31)  # after the quiet time, one reminder again
    h.peer.text(rep, "要账期")
    h.tick()
    assert h.texts(rep).count(expected) == 2


def test_ambiguous_checkin_resolved_by_a_card(h, clock):
    rep = "rep01"
    midway = ((WEIYUAN[0] + NEIGHBOUR[0]) / 2, (WEIYUAN[1] + NEIGHBOUR[1]) / 2)
    h.peer.location(rep, *midway, label="静安区")  # picked on the map, both within 300 m
    h.tick()
    card = h.cards(rep)[-1]
    keys = [b["key"] for b in card["button_list"]]
    assert keys == ["visit:pick:C001", "visit:pick:C002"] or keys == ["visit:pick:C002", "visit:pick:C001"]
    h.peer.card_click(rep, card["task_id"], "visit:pick:C002")
    h.tick()
    visit = visit_of(h)
    assert visit.customer_id == "C002" and visit.location_source == "map" and visit.lat is not None
    assert visit.location_grade == "map_within"
    # an honest map pick within the tolerance says nothing suspicious (no 「可信度较低」)
    assert (
        h.texts(rep)[-1].startswith("已签到「好邻居便利店」（距门店约") and "可信度" not in h.texts(rep)[-1]
    )
    assert h.wecom.card_to(rep, card["task_id"])["button_list"]  # the card was updated in place
    assert any(c.path.endswith("update_template_card") for c in h.wecom.calls)


def test_no_customer_nearby_offers_nearest_and_new(h):
    # a location the rep sends (a map pick) near no customer offers the nearest ones and 新建客户; an automatic
    # GPS report there only gets a short hint (tests/dialogs/test_checkin_evidence.py)
    h.peer.location("rep01", FAR[0] + 0.05, FAR[1], label="远处")
    h.tick()
    card = h.cards("rep01")[-1]
    assert card["button_list"][-1]["key"] == "cust:new"
    assert "米内没有你的客户" in card["main_title"]["title"]


def test_text_only_checkin_fuzzy(h):
    h.peer.text("rep01", "拜访 味源")
    h.tick()
    # not the exact name: a card asks first. 味源超市 is rep01's; 味源超市二店 belongs to rep02, never offered
    card = h.cards("rep01")[-1]
    assert [b["key"] for b in card["button_list"]] == ["visit:name:C001"]
    assert visit_of(h) is None
    h.peer.card_click("rep01", card["task_id"], "visit:name:C001")
    h.tick()
    assert visit_of(h).customer_id == "C001"
    h.peer.text("rep02", "拜访 好邻居")
    h.tick()
    assert h.texts("rep02")[-1] == texts.NO_SUCH_CUSTOMER.format(query="好邻居")


def test_recycled_and_old_photos_flagged(h, clock):
    rep = "rep01"
    h.peer.location_report(rep, *WEIYUAN, precision=10)
    fresh = photo(11, taken=clock.now() - timedelta(minutes=1))
    h.peer.image(rep, fresh)
    h.tick()
    clock.advance(days=1)
    h.peer.location_report(rep, *NEIGHBOUR, precision=10)  # next day, another store, same photo again
    h.peer.image(rep, fresh)
    h.peer.image(rep, photo(12, taken=clock.now() - timedelta(days=3)))  # taken three days ago
    h.tick()
    with h.session_factory() as s:
        verdicts = [p.verdict for p in s.scalars(select(PhotoRow).order_by(PhotoRow.id))]
    assert verdicts == ["ok", "duplicate", "off_site"]
    said = h.texts(rep)
    assert any("疑似重复" in t for t in said) and any("非现场" in t for t in said)
    assert visit_of(h).photo_count == 0


def test_bomb_and_truncated_photo_refused_visit_intact(h, clock):
    rep = "rep01"
    h.peer.location_report(rep, *WEIYUAN, precision=10)
    h.peer.image(rep, photo(21, taken=clock.now()))
    h.tick()
    bomb = BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")  # 400 MP declared, a few KB on the wire
    h.peer.image(rep, bomb.getvalue(), content_type="image/png")
    h.peer.image(rep, photo(22)[:5000])  # truncated JPEG
    h.tick()
    said = h.texts(rep)
    assert sum("无法使用" in t for t in said) == 2
    visit = visit_of(h)
    assert visit.status == "open" and visit.photo_count == 1
    with h.session_factory() as s:
        assert [p.verdict for p in s.scalars(select(PhotoRow).order_by(PhotoRow.id))] == [
            "ok",
            "rejected",
            "rejected",
        ]


def test_undo_last_text(h):
    rep = "rep01"
    h.peer.text(rep, "拜访 味源超市")
    h.peer.text(rep, "嫌贵 3天内报价")
    h.tick()
    v = visit_of(h)
    h.peer.text(rep, "撤销")
    h.tick()
    assert h.texts(rep)[-1] == texts.UNDO_DONE.format(what=texts.UNDO_WHAT_TEXT)
    with h.session_factory() as s:
        assert list(s.scalars(select(VisitTagRow).where(VisitTagRow.visit_id == v.visit_id))) == []
        assert [p.status for p in s.scalars(select(PromiseRow))] == ["cancelled"]
    h.peer.text(rep, "撤销")  # the check-in itself
    h.peer.text(rep, "撤销")
    h.tick()
    assert h.texts(rep)[-1] == texts.UNDO_NOTHING


VALID_USCC = "91310000MA1K4XXX0X"


def _valid_uscc(body17: str) -> str:
    from core.licence import uscc_check_char

    return body17 + uscc_check_char(body17)


def test_onboarding_with_bad_licence_then_duplicate(h):
    rep = "rep01"
    with h.session_factory() as s:
        s.get(CustomerRow, "C001").license_no = _valid_uscc("91310106MA1FY5QX2")
        s.commit()
    h.peer.location_report(rep, FAR[0] + 0.05, FAR[1], precision=20)
    h.peer.text(rep, "新建客户")
    h.tick()
    assert h.texts(rep)[-1] == texts.ONBOARD_ASK_NAME
    h.peer.text(rep, "阿里小卖部")
    h.peer.text(rep, "91310106MA1FY5QX2Z")  # wrong check character
    h.tick()
    assert h.texts(rep)[-1].startswith("营业执照号不对")
    h.peer.text(rep, _valid_uscc("91310106MA1FY5QX2"))  # the licence of 味源超市
    h.tick()
    card = h.cards(rep)[-1]
    assert "已登记为「味源超市」" in card["main_title"]["title"]
    h.peer.text(rep, _valid_uscc("91330100MA2AYX9K0"))  # a different, valid licence
    h.peer.text(rep, "饮料、零食")
    h.peer.text(rep, "采购 王芳，老板 李强")
    h.tick()
    with h.session_factory() as s:
        c = s.scalars(select(CustomerRow).where(CustomerRow.name == "阿里小卖部")).one()
        assert c.owner_userid == rep and c.categories == ["饮料", "零食"] and c.lat is not None
        assert c.decision_roles == [{"role": "采购", "name": "王芳"}, {"role": "老板", "name": "李强"}]
    assert any(t.startswith("已建档「阿里小卖部」") for t in h.texts(rep))
    assert visit_of(h).customer_id == c.customer_id


def test_onboarding_similar_name_nearby_offers_existing(h):
    rep = "rep01"
    midway = ((WEIYUAN[0] + NEIGHBOUR[0]) / 2, (WEIYUAN[1] + NEIGHBOUR[1]) / 2)
    h.peer.location(rep, *midway, label="门口")
    h.tick()  # within 300 m of two customers → pick card; the rep chooses 新建客户 instead
    h.peer.text(rep, "新建客户 味源超市")
    h.tick()
    card = h.cards(rep)[-1]
    assert "名称相近的客户「味源超市」" in card["main_title"]["title"]
    h.peer.card_click(rep, card["task_id"], "cust:use:C001")
    h.tick()
    assert visit_of(h).customer_id == "C001"
    assert SHANGHAI


def test_duplicate_lookup_finds_hashes_up_to_seven_bits_apart(h):
    from handlers.visits.photos import hash_bands
    from storage import visits as visit_repo

    base = 0x0123_4567_89AB_CDEF
    near = (
        base ^ (1 << 3) ^ (1 << 20) ^ (1 << 37) ^ (1 << 50) ^ (1 << 51) ^ (1 << 60) ^ (1 << 62)
    )  # 7 bits, every band
    far = base ^ 0x00FF_00FF_00FF_00FF
    with h.session_factory() as s:
        for i, value in enumerate((near, far)):
            hx = f"{value:016x}"
            b = hash_bands(hx)
            s.add(
                PhotoRow(
                    rep_userid="rep01",
                    media_id=f"m{i}",
                    phash=hx,
                    ph0=b[0],
                    ph1=b[1],
                    ph2=b[2],
                    ph3=b[3],
                    verdict="ok",
                    received_at=datetime(2026, 1, 1, tzinfo=SHANGHAI),
                )
            )
        s.commit()
        found = visit_repo.similar_hashes(s, hash_bands(f"{base:016x}"), exclude_media="new")
    assert f"{near:016x}" in found and f"{far:016x}" not in found


def test_checkin_from_the_menu_location_picker(h):
    from bot.wecom.crypto import WeComCrypto  # noqa: F401 - the peer encrypts; the XML is WeCom's location_select

    xml = (
        "<xml><ToUserName><![CDATA[ww_test_corp]]></ToUserName><FromUserName><![CDATA[rep01]]></FromUserName>"
        "<CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[location_select]]></Event>"
        "<EventKey><![CDATA[menu_checkin]]></EventKey><SendLocationInfo><Location_X><![CDATA[{lat}]]></Location_X>"
        "<Location_Y><![CDATA[{lng}]]></Location_Y><Scale><![CDATA[15]]></Scale><Label><![CDATA[静安区]]></Label>"
        "<Poiname><![CDATA[味源超市]]></Poiname></SendLocationInfo><AgentID>1000002</AgentID></xml>"
    )
    ts = int(h.clock.now().timestamp())
    params, body = h.peer.seal(xml.format(ts=ts, lat=WEIYUAN[0], lng=WEIYUAN[1]))
    assert h.http.post("/wecom/callback", params=params, content=body).status_code == 200
    h.peer.location("rep01", *WEIYUAN, label="静安区")  # WeCom's own location message that follows
    h.tick()
    assert visit_of(h).customer_id == "C001" and visit_of(h).location_source == "map"
    assert sum("已签到「味源超市」" in t for t in h.texts("rep01")) == 1
    assert not any("你已在" in t for t in h.texts("rep01"))


def test_voice_message_uses_wecom_recognition(h):
    h.peer.voice("rep01", "拜访味源超市")
    h.peer.voice("rep01", "缺货，三天内报价")
    h.tick()
    visit = visit_of(h)
    assert visit.customer_id == "C001"
    with h.session_factory() as s:
        assert set(s.scalars(select(VisitTagRow.tag).where(VisitTagRow.visit_id == visit.visit_id))) == {
            "库存不足"
        }
        assert [
            p.kind for p in s.scalars(select(PromiseRow).where(PromiseRow.visit_id == visit.visit_id))
        ] == ["promise"]


def test_a_visit_line_before_checking_in_is_told_to_check_in_and_a_question_is_answered(h):
    rep = "rep01"
    h.peer.text(rep, "价格异议 库存不足，承诺周五前送样品")
    h.tick()
    assert h.texts(rep)[-1] == texts.NO_OPEN_VISIT_TEXT
    h.peer.text(rep, "超过72小时未跟进的客户")  # reads like a promise (过72小时 … 跟进), and is a question
    h.tick()
    assert any(t.startswith("理解为：超过72小时没有跟进") for t in h.texts(rep))
