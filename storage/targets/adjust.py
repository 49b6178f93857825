"""A store's target moved within the bound, with its evidence and reason: the adjustment row and the target's
audit (before → after) in the caller's transaction. The rep's target follows (it is always the sum of their
stores + development); the city, region and organisation keep their committed figure (storage/targets/tree.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.targets.adjust import adjusted, within_bound
from core.targets.periods import parse_period, period_of
from storage.audit import record, snapshot
from storage.models import CustomerRow
from storage.targets.common import as_int, target_id
from storage.targets.models import TargetAdjustmentRow, TargetRow


class Refused(ValueError):
    """The adjustment is not allowed; the message is Chinese."""


@dataclass(frozen=True)
class Outcome:
    store: str
    store_name: str
    period: str
    before_fen: int
    after_fen: int
    committed_fen: int
    rep: str
    rep_fen: int  # the rep's target after (stores + development)
    city_committed_fen: int | None
    city_live_fen: int | None


def find_store(session: Session, word: str) -> list[CustomerRow]:
    """A store by its id, else by its exact name."""
    row = session.get(CustomerRow, word)
    if row is not None:
        return [row]
    return list(session.scalars(select(CustomerRow).where(CustomerRow.name == word).limit(5)))


def target_of(session: Session, customer_id: str, period: str | None, today: date) -> TargetRow | None:
    """The store's target for the period typed, else for the current quarter, month or year (that order)."""
    keys: list[str]
    if period is not None:
        keys = [parse_period(period).key]
    else:
        keys = [period_of(k, today).key for k in ("quarter", "month", "year")]
    for key in keys:
        row = session.get(TargetRow, target_id(key, "store", customer_id))
        if row is not None:
            return row
    return None


def adjust(
    session: Session,
    *,
    target: TargetRow,
    pct: Fraction,
    limit_pct: Fraction,
    reason: str,
    evidence: dict[str, Any],
    by: str,
    now: datetime,
    source: str,
) -> Outcome:
    if not reason.strip():
        raise Refused("请写明调整理由")
    if not evidence:
        raise Refused("调整目标需要证据（照片、文件或链接）")
    after = adjusted(target.committed_fen, pct)
    if not within_bound(pct, limit_pct):
        raise Refused(
            f"超出调整上限：门店目标在周期内最多上下浮动±{float(limit_pct):g}%（以原定目标为准），"
            f"本次为{float(pct):+.2f}%"
        )
    before = snapshot(target)
    before_fen = target.amount_fen
    target.amount_fen = after
    session.add(
        TargetAdjustmentRow(
            target_id=target.target_id,
            period=target.period,
            before_fen=before_fen,
            after_fen=after,
            pct=float(pct),
            reason=reason.strip()[:256],
            evidence=evidence,
            by_userid=by,
            at=now,
        )
    )
    session.flush()
    record(
        session,
        at=now,
        actor=by,
        action="adjust",
        entity="target",
        entity_id=target.target_id,
        before=before,
        after=snapshot(target),
        reason=f"{source} {reason.strip()}"[:256],
    )
    customer = session.get(CustomerRow, target.node_key)
    owner = customer.owner_userid if customer else ""
    return Outcome(
        store=target.node_key,
        store_name=customer.name if customer else target.node_key,
        period=target.period,
        before_fen=before_fen,
        after_fen=after,
        committed_fen=target.committed_fen,
        rep=owner,
        rep_fen=rep_target(session, target.period, owner),
        city_committed_fen=_committed(session, target.parent_id),
        city_live_fen=_live(session, target.period, target.parent_id),
    )


def rep_target(session: Session, period: str, userid: str) -> int:
    stores = session.scalar(
        select(func.sum(TargetRow.amount_fen))
        .join(CustomerRow, CustomerRow.customer_id == TargetRow.node_key)
        .where(TargetRow.period == period, TargetRow.level == "store", CustomerRow.owner_userid == userid)
    )
    dev = session.scalar(
        select(TargetRow.development_fen).where(TargetRow.target_id == target_id(period, "rep", userid))
    )
    return as_int(stores) + as_int(dev)


def _committed(session: Session, tid: str | None) -> int | None:
    row = session.get(TargetRow, tid) if tid else None
    return row.committed_fen if row else None


def _live(session: Session, period: str, parent: str | None) -> int | None:
    if not parent:
        return None
    return as_int(
        session.scalar(
            select(func.sum(TargetRow.amount_fen)).where(
                TargetRow.period == period, TargetRow.parent_id == parent
            )
        )
    )
