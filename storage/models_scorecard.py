"""Tables of the customer scorecard: the current score per customer, and every tier change.

Import this module before `Base.metadata.create_all` / Alembic autogenerate so the tables are known
(storage/schema.py and storage/migrations/env.py import it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, Id


class CustomerScoreRow(Base):
    """The latest nightly score of an active customer (core/scorecard.py says how it is computed)."""

    __tablename__ = "customer_scores"
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(8), index=True)  # red | yellow | blue
    components: Mapped[dict[str, Any]] = mapped_column(JSON)  # {key: {"points": float|None, "detail": str}}
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    rules_version: Mapped[str] = mapped_column(String(128))
    computed_at: Mapped[datetime] = mapped_column()
    tier_since: Mapped[datetime] = mapped_column()


class ScoreChangeRow(Base):
    """A customer's tier changed (red / yellow / blue), why, and where it was routed."""

    __tablename__ = "score_changes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    owner_userid: Mapped[str] = mapped_column(Id, index=True)  # the owner when it changed
    at: Mapped[datetime] = mapped_column()
    old_score: Mapped[float | None] = mapped_column(Float)
    new_score: Mapped[float] = mapped_column(Float)
    old_tier: Mapped[str | None] = mapped_column(String(8))
    new_tier: Mapped[str] = mapped_column(String(8))
    moved: Mapped[str | None] = mapped_column(String(32))  # the component that moved most
    explanation: Mapped[str] = mapped_column(String(512))
    routed: Mapped[str] = mapped_column(String(16))  # red_alert | weekly_review | suggest
    action: Mapped[str | None] = mapped_column(String(32))  # what a manager chose on the card
    acted_by: Mapped[str | None] = mapped_column(Id)
    acted_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_score_changes_tier_at", "new_tier", "at"),)
