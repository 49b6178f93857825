"""Helpers for the SOP engine tests: an org, customers, a Ctx in a transaction, clicks through the inbox."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import date, datetime

import pytest
from sqlalchemy import select

from handlers import dialog as conversation
from handlers import routes
from handlers.context import Ctx
from handlers.messages import CardClick, TextIn
from handlers.sop.sweep import sweep_due_timers
from handlers.worker import InboxWorker
from storage import inbox, outbox
from storage.db import writer_session
from storage.models import CustomerRow, OutboxRow, PromiseRow, TimerRow, UserRow, VisitRow, VisitTagRow

ORG = [  # userid, name, role, manager
    ("dir", "周总", "sales_director", None),
    ("rm1", "吴经理", "regional_manager", "dir"),
    ("sup1", "王主管", "supervisor", "rm1"),
    ("sup2", "郑主管", "supervisor", "rm1"),
    ("rep1", "张三", "rep", "sup1"),
    ("rep2", "李四", "rep", "sup1"),
    ("rep3", "赵六", "rep", "sup2"),
    ("fin", "钱财务", "finance_director", None),
    ("adm", "管理员", "admin", None),
]
_click_ids = itertools.count(1)


def seed_org(session_factory) -> None:
    with session_factory() as s:
        for userid, name, role, manager in ORG:
            s.add(
                UserRow(
                    userid=userid, name=name, role=role, manager_userid=manager, region="华东", city="杭州"
                )
            )
        s.commit()


def add_customer(
    session_factory,
    customer_id: str,
    owner: str,
    *,
    name: str | None = None,
    created_on: date | None = date(2026, 1, 1),
    status: str = "active",
) -> None:
    with session_factory() as s:
        s.add(
            CustomerRow(
                customer_id=customer_id,
                name=name or f"客户{customer_id}",
                owner_userid=owner,
                status=status,
                created_on=created_on,
            )
        )
        s.commit()


def add_visit(
    session_factory,
    visit_id: str,
    customer_id: str,
    rep: str,
    at: datetime,
    *,
    tags: tuple[str, ...] = (),
    note: str | None = None,
) -> None:
    with session_factory() as s:
        s.add(
            VisitRow(
                visit_id=visit_id,
                customer_id=customer_id,
                rep_userid=rep,
                checked_in_at=at,
                photo_count=3,
                note=note,
                source="chat",
                status="closed",
                completed_at=at,
            )
        )
        s.flush()
        for tag in tags:
            s.add(VisitTagRow(visit_id=visit_id, tag=tag))
        s.commit()


def add_promise(
    session_factory,
    *,
    kind: str,
    visit_id: str | None,
    customer_id: str,
    rep: str,
    text: str,
    due_at: datetime,
    created_at: datetime,
) -> int:
    with session_factory() as s:
        p = PromiseRow(
            kind=kind,
            visit_id=visit_id,
            customer_id=customer_id,
            rep_userid=rep,
            text=text,
            due_at=due_at,
            status="open",
            created_at=created_at,
        )
        s.add(p)
        s.commit()
        return p.id


@contextmanager
def unit_of_work(session_factory, clock, userid: str = "system:test", source: str = "test"):
    """A Ctx in one transaction, committed with its replies in the outbox (as the inbox worker does)."""
    with writer_session(session_factory) as s:
        ctx = Ctx(session=s, now=clock.now(), user=s.get(UserRow, userid), userid=userid, source=source)
        yield ctx
        for n, (recipient, reply) in enumerate(ctx.outgoing):
            outbox.enqueue(
                s, recipient=recipient, message=reply.to_dict(), dedupe_key=f"{source}:{n}", now=ctx.now
            )
        if ctx.state_changed:
            conversation.save(s, userid, state=ctx.state, data=ctx.state_data, now=ctx.now)
        s.commit()


def deliver(session_factory, clock, event, *, dedupe_key: str | None = None, times: int = 1) -> int:
    """Put an inbound event into the inbox (`times` identical deliveries, like WeCom's retries) and drain."""
    key = dedupe_key or f"test:{next(_click_ids)}"
    with session_factory() as s:
        for _ in range(times):
            inbox.put(
                s,
                dedupe_key=key,
                sender=event.sender,
                kind=event.type,
                event=event.to_dict(),
                now=clock.now(),
            )
            s.commit()
    worker = InboxWorker(session_factory=session_factory, clock=clock, owner="test-worker")
    handled = worker.drain()
    with session_factory() as s:
        failed = s.scalars(select(inbox.InboxRow).where(inbox.InboxRow.status != "done")).all()
        assert not failed, [(r.status, r.last_error) for r in failed]
    return handled


def click(session_factory, clock, sender: str, key: str, *, response_code: str = "rc", times: int = 1) -> int:
    event = CardClick(
        sender=sender,
        at=int(clock.now().timestamp()),
        key=key,
        task_id="t",
        response_code=response_code,
        card_type="button_interaction",
    )
    return deliver(session_factory, clock, event, times=times)


def say(session_factory, clock, sender: str, text: str) -> int:
    event = TextIn(
        sender=sender, at=int(clock.now().timestamp()), content=text, msg_id=f"m{next(_click_ids)}"
    )
    return deliver(session_factory, clock, event)


def sweep(session_factory, clock, *, owner: str = "sweeper-1", recurring: bool = False, firing=None) -> int:  # noqa: ANN001
    return sweep_due_timers(
        session_factory, clock, owner=owner, recurring=recurring, firing=firing or routes.firing()
    )


def messages(session_factory, recipient: str | None = None, *, kind: str | None = None) -> list[OutboxRow]:
    with session_factory() as s:
        q = select(OutboxRow).order_by(OutboxRow.id)
        if recipient is not None:
            q = q.where(OutboxRow.recipient == recipient)
        if kind is not None:
            q = q.where(OutboxRow.kind == kind)
        return list(s.scalars(q))


def titles(rows: list[OutboxRow]) -> list[str]:
    return [r.message.get("title") or r.message.get("content") or r.message["kind"] for r in rows]


def timers_of(session_factory, *, kind: str | None = None, status: str | None = None) -> list[TimerRow]:
    with session_factory() as s:
        q = select(TimerRow).order_by(TimerRow.due_at, TimerRow.id)
        if kind is not None:
            q = q.where(TimerRow.kind == kind)
        if status is not None:
            q = q.where(TimerRow.status == status)
        return list(s.scalars(q))


@pytest.fixture
def org(session_factory):
    seed_org(session_factory)
    return session_factory
