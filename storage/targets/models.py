"""Tables of targets (目标, docs/targets.md): a target per period per node of the tree, the region coefficients
regional managers set, every adjustment with its evidence, the weekly health lights and recorded actions.

Amounts are integers in fen (BigInteger): the cascade's sums are exact and stay exact in storage.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Float, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, Id

NodeKey = String(160)  # a city's key is "大区/城市"


class TargetRow(Base):
    """One node's target for one period: org | region | city | store (a customer) | rep (a userid)."""

    __tablename__ = "targets"
    target_id: Mapped[str] = mapped_column(String(192), primary_key=True)  # "<period>|<level>|<key>"
    period: Mapped[str] = mapped_column(String(8))  # 2026-05 | 2026Q2 | 2026
    level: Mapped[str] = mapped_column(String(8))
    node_key: Mapped[str] = mapped_column(NodeKey)
    parent_id: Mapped[str | None] = mapped_column(String(192))
    name: Mapped[str] = mapped_column(String(128))
    # the target now (after adjustments) and as cascaded or imported (the committed figure, kept)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    committed_fen: Mapped[int] = mapped_column(BigInteger)
    baseline_fen: Mapped[int | None] = mapped_column(BigInteger)
    development_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # a rep's new-customer target
    factors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rationale: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16))  # cascade | import
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_targets_period_level_key", "period", "level", "node_key", unique=True),)


class RegionCoefficientRow(Base):
    """A regional manager's calibration of a region for a period (竞争, 动销 …), with the reason."""

    __tablename__ = "target_coefficients"
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    region: Mapped[str] = mapped_column(String(64), primary_key=True)
    coefficient: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    reason: Mapped[str] = mapped_column(String(256))
    set_by: Mapped[str] = mapped_column(Id)
    set_at: Mapped[datetime] = mapped_column()


class TargetAdjustmentRow(Base):
    """A store target moved within the bound by a supervisor or regional manager, with evidence and reason."""

    __tablename__ = "target_adjustments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    target_id: Mapped[str] = mapped_column(String(192), index=True)
    period: Mapped[str] = mapped_column(String(8))
    before_fen: Mapped[int] = mapped_column(BigInteger)
    after_fen: Mapped[int] = mapped_column(BigInteger)
    pct: Mapped[float] = mapped_column(Float)  # against the committed figure
    reason: Mapped[str] = mapped_column(String(256))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"kind": image|file|link, "ref": …, "name": …}
    by_userid: Mapped[str] = mapped_column(Id)
    at: Mapped[datetime] = mapped_column()


class TargetHealthRow(Base):
    """A weekly health check of one node's attainment, pro-rated to the elapsed time."""

    __tablename__ = "target_health"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(8))
    level: Mapped[str] = mapped_column(String(8))
    node_key: Mapped[str] = mapped_column(NodeKey)
    checked_on: Mapped[date] = mapped_column(Date)
    target_fen: Mapped[int] = mapped_column(BigInteger)
    sales_fen: Mapped[int] = mapped_column(BigInteger)
    pace: Mapped[float | None] = mapped_column(Float)  # attainment ÷ elapsed share
    light: Mapped[str] = mapped_column(String(8))  # green | yellow | red
    at: Mapped[datetime] = mapped_column()

    __table_args__ = (
        Index("ix_target_health_node", "period", "level", "node_key", "checked_on", unique=True),
    )


class TargetActionRow(Base):
    """An action recorded against a rep's target (the answer to a health light): who, what, when."""

    __tablename__ = "target_actions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(8))
    rep_userid: Mapped[str] = mapped_column(Id, index=True)
    text: Mapped[str] = mapped_column(String(512))
    by_userid: Mapped[str] = mapped_column(Id)
    at: Mapped[datetime] = mapped_column()
