"""Plain functions that put a small, readable organisation into a database."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from storage.models import CustomerRow, InteractionRow, UserRow

# 味源超市 and its neighbour 100 m east; 鲜丰 2 km away (Shanghai, Jing'an)
WEIYUAN = (31.2304, 121.4737)
NEIGHBOUR = (31.2304, 121.4748)
FAR = (31.2484, 121.4737)


def org(session: Session, *, touched_at: datetime | None = None) -> None:
    """director → rm_east → sup01 → rep01, rep02; finance; admin. Customers were last contacted by phone
    at `touched_at` (default: now), so no stale-customer alert interferes with a dialog test."""
    session.add_all(
        [
            UserRow(userid="director", name="周总", role="sales_director"),
            UserRow(userid="admin", name="管理员", role="admin"),
            UserRow(userid="finance", name="钱总监", role="finance_director", manager_userid="director"),
            UserRow(
                userid="rm_east",
                name="吴经理",
                role="regional_manager",
                manager_userid="director",
                region="华东",
            ),
            UserRow(
                userid="sup01",
                name="郑主管",
                role="supervisor",
                manager_userid="rm_east",
                region="华东",
                city="上海",
            ),
            UserRow(
                userid="rep01", name="张伟", role="rep", manager_userid="sup01", region="华东", city="上海"
            ),
            UserRow(
                userid="rep02", name="李娜", role="rep", manager_userid="sup01", region="华东", city="上海"
            ),
        ]
    )
    session.flush()
    session.add_all(
        [
            CustomerRow(
                customer_id="C001",
                name="味源超市",
                owner_userid="rep01",
                lat=WEIYUAN[0],
                lng=WEIYUAN[1],
                region="华东",
                city="上海",
                channel="连锁商超",
                license_no="91310106MA1FY5QX2K",
            ),
            CustomerRow(
                customer_id="C002",
                name="好邻居便利店",
                owner_userid="rep01",
                lat=NEIGHBOUR[0],
                lng=NEIGHBOUR[1],
                region="华东",
                city="上海",
                channel="便利店",
            ),
            CustomerRow(
                customer_id="C003",
                name="鲜丰社区生鲜",
                owner_userid="rep01",
                lat=FAR[0],
                lng=FAR[1],
                region="华东",
                city="上海",
                channel="社区生鲜",
            ),
            CustomerRow(
                customer_id="C004",
                name="味源超市二店",
                owner_userid="rep02",
                lat=FAR[0],
                lng=FAR[1] + 0.01,
                region="华东",
                city="上海",
                channel="连锁商超",
            ),
        ]
    )
    session.flush()
    at = touched_at or datetime.now(UTC)
    session.add_all(
        [
            InteractionRow(
                interaction_id=f"I-{cid}", customer_id=cid, rep_userid="rep01", at=at, channel="call"
            )
            for cid in ("C001", "C002", "C003", "C004")
        ]
    )
    session.commit()


def queued_texts(session: Session, n: int, *, prefix: str, now: datetime, content: str = "帮助") -> list[str]:
    """`n` stored text callbacks from `n` distinct senders `{prefix}00000`… (as the callback stores them);
    the caller commits. Returns the senders."""
    from storage import inbox

    senders = [f"{prefix}{i:05d}" for i in range(n)]
    for i, sender in enumerate(senders):
        inbox.put(
            session,
            dedupe_key=f"msg:{prefix}{i}",
            sender=sender,
            kind="text",
            now=now,
            event={
                "type": "text",
                "sender": sender,
                "at": int(now.timestamp()),
                "content": content,
                "msg_id": f"{prefix}{i}",
            },
        )
    return senders
