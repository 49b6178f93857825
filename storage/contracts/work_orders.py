"""Hand-off work orders: one per (contract, team), created once however often the signing event arrives."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.contracts.handoff import SLA_HOURS, TEAMS
from storage import audit
from storage.contracts.models import WorkOrderRow
from storage.models import ContractRow


def lock_contract(session: Session, contract_no: str) -> ContractRow | None:
    """The contract, locked on PostgreSQL so two signing events for it run one after the other."""
    q = select(ContractRow).where(ContractRow.contract_no == contract_no)
    if session.get_bind().dialect.name == "postgresql":
        # read again under the lock: a row loaded earlier in this session may predate the other signing
        q = q.with_for_update().execution_options(populate_existing=True)
    return session.scalars(q).first()


def open_three(
    session: Session,
    contract_no: str,
    *,
    now: datetime,
    items: dict[str, list[str]],
    depts: dict[str, str | None],
    actor: str,
    reason: str | None,
) -> list[WorkOrderRow]:
    """The three work orders of a signed contract that did not exist yet (created now, audited); the ones
    already there are left alone and not returned."""
    rows: list[dict[str, Any]] = [
        dict(
            contract_no=contract_no,
            team=team,
            dept_id=depts.get(team),
            status="open",
            items=list(items.get(team, [])),
            sla_hours=SLA_HOURS[team],
            due_at=now + timedelta(hours=SLA_HOURS[team]),
            created_at=now,
            escalated=0,
        )
        for team in TEAMS
    ]
    ins = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(WorkOrderRow)
    created_ids: list[int] = []
    for values in rows:  # one statement each, so RETURNING says which were new
        stmt = ins.values(**values).on_conflict_do_nothing(index_elements=["contract_no", "team"])
        got = session.execute(stmt.returning(WorkOrderRow.id)).first()
        if got is not None:
            created_ids.append(int(got[0]))
    if not created_ids:
        return []
    created = list(
        session.scalars(
            select(WorkOrderRow).where(WorkOrderRow.id.in_(created_ids)).order_by(WorkOrderRow.id)
        )
    )
    for wo in created:
        audit.record(
            session,
            at=now,
            actor=actor,
            action="create",
            entity="work_order",
            entity_id=str(wo.id),
            after=audit.snapshot(wo),
            reason=reason,
        )
    return created


def of_contract(session: Session, contract_no: str) -> list[WorkOrderRow]:
    order = {t: i for i, t in enumerate(TEAMS)}
    rows = list(session.scalars(select(WorkOrderRow).where(WorkOrderRow.contract_no == contract_no)))
    return sorted(rows, key=lambda w: order.get(w.team, 99))


def lock(session: Session, work_order_id: int) -> WorkOrderRow | None:
    q = select(WorkOrderRow).where(WorkOrderRow.id == work_order_id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update().execution_options(populate_existing=True)
    return session.scalars(q).first()
