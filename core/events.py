"""Domain events: what happened, in the past tense. A handler emits one (`ctx.emit(...)`); the subscribers
listed in handlers/routes.py SUBSCRIBERS react inside the same unit of work, so the reaction commits with the
change that caused it, or not at all."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DomainEvent:
    pass


@dataclass(frozen=True)
class VisitCompleted(DomainEvent):
    """A visit reached location + 3 valid photos + a tag (or got new promises while complete)."""

    visit_id: str


@dataclass(frozen=True)
class TagRemoved(DomainEvent):
    """A tag came off a visit (the rep's 删除 button, or 撤销)."""

    visit_id: str
    tag: str


@dataclass(frozen=True)
class PromiseCancelled(DomainEvent):
    """A promise or follow-up was cancelled by the rep (删除 or 撤销)."""

    promise_id: int


@dataclass(frozen=True)
class TagRestored(DomainEvent):
    """A removed tag was put back on a visit (撤销 of its 删除): what removing it withdrew may start again."""

    visit_id: str
    tag: str


@dataclass(frozen=True)
class PromiseRestored(DomainEvent):
    """A cancelled promise or follow-up came back (撤销 of its 删除, or of the line that replaced it), as the
    open promise `promise_id` (a new row with the removed one's text and due time)."""

    promise_id: int
