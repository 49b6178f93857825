"""What the fake WeCom remembers: plain records, read by tests and by the chat page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Now = Callable[[], datetime]


def as_now(clock: Any) -> Now:
    """A time source from `None` (system UTC), a callable returning an aware datetime, or a
    `core.clock.Clock`-like object with `.now()`."""
    if clock is None:
        return lambda: datetime.now(UTC)
    source = clock.now if callable(getattr(clock, "now", None)) else clock
    if not callable(source):
        raise TypeError("clock must be a callable returning an aware datetime, or have .now()")

    def now() -> datetime:
        at = source()
        if at.tzinfo is None:
            raise ValueError("the emulator clock must return an aware datetime")
        return at

    return now


@dataclass(frozen=True)
class ApiCall:
    """One request to `/cgi-bin/…`, whatever its outcome."""

    path: str  # without the /cgi-bin/ prefix, e.g. "message/send"
    query: dict[str, str]
    body: Any  # parsed JSON, the uploaded file's bytes, raw bytes, or None (GET)
    at: datetime
    method: str = "GET"
    status: int = 200  # HTTP status answered
    errcode: int | None = None  # None when the answer was not JSON (media bytes, HTTP 502)
    fault: str | None = None  # the injected fault, if any
    response: dict[str, Any] | None = None


@dataclass
class Delivery:
    """A message/send body that reached one member's chat. Cards change through update_template_card."""

    seq: int
    userid: str
    body: dict[str, Any]
    at: datetime
    msgid: str
    response_code: str | None = None
    card_update: dict[str, Any] | None = None  # the last update_template_card body applied to it
    updated_at: datetime | None = None
    revision: int = 0

    @property
    def msgtype(self) -> str:
        return str(self.body.get("msgtype", ""))

    @property
    def task_id(self) -> str | None:
        card = self.body.get("template_card") or {}
        return card.get("task_id")

    def current_card(self) -> dict[str, Any] | None:
        """The card as the member sees it now: the original, a replaced card, or greyed buttons."""
        card = self.body.get("template_card")
        if card is None:
            return None
        update = self.card_update or {}
        if "template_card" in update:
            replaced = dict(update["template_card"])
            if replaced.get("replace_text"):  # a final card: its buttons greyed out under this word
                replaced["replaced_button"] = str(replaced["replace_text"])
            return replaced
        shown = dict(card)
        if "button" in update:
            shown["replaced_button"] = str(update["button"].get("replace_name", ""))
        return shown


@dataclass(frozen=True)
class Dropped:
    """A message WeCom accepted (errcode 0) but did not deliver: the per-member limit."""

    userid: str
    body: dict[str, Any]
    at: datetime
    msgid: str
    reason: str  # "rate_limit_minute" | "rate_limit_hour"
    seq: int = 0


@dataclass(frozen=True)
class Suppressed:
    """A message/send with enable_duplicate_check=1 identical to one sent within the interval."""

    body: dict[str, Any]
    at: datetime
    original_msgid: str


@dataclass(frozen=True)
class Media:
    media_id: str
    data: bytes
    content_type: str
    filename: str
    kind: str  # image | voice | video | file
    created_at: datetime


@dataclass
class ResponseCode:
    """A single-use code for update_template_card (from a send response or a click event)."""

    code: str
    task_id: str
    userids: tuple[str, ...]
    source: str  # "send" | "click"
    issued_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True)
class ScheduleOp:
    op: str  # add | update | del
    schedule_id: str
    body: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class InjectedFault:
    path: str
    mode: str
    at: datetime


@dataclass
class Callback:
    """One callback the peer posted to the assistant (what a member did in WeCom)."""

    seq: int
    userid: str
    kind: str  # text | image | voice | location | location_report | enter_agent | menu_click | card_click
    fields: dict[str, Any]
    plaintext: str
    at: datetime
    status: int | None = None  # HTTP status of the assistant's answer; None until answered
    error: str | None = None  # transport failure (assistant down, timeout)
    attempts: int = 1
