"""The handovers table: one row per person whose book waits for (or went to) a successor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, Id


class HandoverRow(Base):
    """A hand-over: opened when `from_userid` left (reason "left") or moved ("moved"); `decider` chooses the
    successor on a card until `due_at`, then the policy's fallback applies. pending → done (or cancelled: the
    person came back before anything moved)."""

    __tablename__ = "handovers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    from_userid: Mapped[str] = mapped_column(Id, index=True)
    reason: Mapped[str] = mapped_column(String(16))  # left | moved
    decider: Mapped[str | None] = mapped_column(Id)  # the manager who chooses (None: nobody above)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending|done|cancelled
    opened_at: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime] = mapped_column()  # the fallback applies after this
    # what the person owned when it opened (counts per kind) and, for a move, where from: {"manager", "region"}
    book: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    successor: Mapped[str | None] = mapped_column(Id)
    decided_by: Mapped[str | None] = mapped_column(String(64))  # a userid, or system:handover (the fallback)
    done_at: Mapped[datetime | None] = mapped_column()
    moved: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # counts moved per kind
    # WeCom's own transfer (客户联系): {"mode", "customers": [{"external_userid", "errcode", "status"}]}
    wecom: Mapped[dict[str, Any] | None] = mapped_column(JSON)
