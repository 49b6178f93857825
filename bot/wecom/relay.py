"""The outbox relay: send each outbox row through the WeCom API, exactly once as far as people can see.

- The payload is rendered once and stored on the row; every retry sends those bytes, and
  `enable_duplicate_check` makes WeCom drop a repeat of a send whose answer we lost. A genuinely repeated
  message (帮助 asked twice) differs from the earlier one by invisible characters (`_unrepeat`), so WeCom
  delivers it and the person sees the same words.
- What a failure does depends on its class (bot/wecom/client.py `WECOM_ERRORS`):
  - transient (network, HTTP 5xx, -1, 45009): back off exponentially (1 s … 10 min); after 30 minutes
    (inside WeCom's duplicate-check window) the row is parked `dead`;
  - configuration (60020 untrusted IP, a rejected Secret, 48002, 60011, or 81013 for several people in a row):
    sending stops for everyone (`wecom_pause`), every row stays pending and is not charged an attempt,
    /readyz turns red with the errcode and the console step that fixes it, the log says so once; a probe
    (a fresh token and agent/get, then one row) runs every 5 s backing off to 60 s, and sending resumes by
    itself when it passes — the admins then get one message saying what happened;
  - one recipient refused (81013 while others are reached): that person's rows wait 10 minutes and are
    tried again (for 24 hours, then parked); the admins are told once a day per person;
  - an answer we cannot read (a JSON list, no errcode, bad gzip) or an error of our own for that row: at
    most MAX_STRIKES (3) attempts, backing off, then parked;
  - any other errcode (a bad request): parked at once.
  A parked (`dead`) row alerts every admin with a row of its own; it never holds back anything else. A row
  leaves the outbox only as `sent`, `merged` (into a digest that is itself a row) or `dead`.
- Claims are 15-second leases renewed by a heartbeat while the round runs (storage/leases.py): the rows
  of a relay killed mid-round are sent by another within seconds.
- Each recipient gets at most RATE_LIMIT messages a minute (WeCom silently drops beyond 30): the excess
  is merged into one digest message, so nothing is dropped.
- Lanes (storage/outbox.py LANE_*): a round claims replies to what someone just said first, then dialog
  follow-ups, then alerts, reminders and digests; within a lane each recipient's rows keep their order. A
  round is small (`batch`, 50 rows), so a reply queued while a storm is being sent waits for one round at
  most. Replies and follow-ups take the per-person budget first and are never merged into a digest.
- Email and SMS rows (kinds `email`, `sms`; recipient `email:<userid>` / `sms:<userid>`) are handed to
  bot/channels (`Channels.send`); their failures are WeComErrors of class TRANSIENT, REQUEST or UNEXPECTED
  only, so they are retried, parked and told to the admins exactly as above and never pause WeCom.
- Nothing of a round blocks the event loop: the claim (and the rate limit) commits in a thread, the rows
  are rendered after it in a thread and their payloads stored before anything is sent, and every database
  write of the send path (sent, failed, held, paused) runs in a thread too. The loop only awaits sends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.channels import CHANNEL_KINDS, Channels
from bot.wecom import render as cards
from bot.wecom.client import UNEXPECTED, ErrorClass, WeComClient, WeComError, kind_of
from core.clock import ORG_ZONE, Clock
from handlers import texts
from handlers.handover.flow import TRANSFER_KIND, record_transfer
from handlers.messages import Card, CardUpdate, Image, Markdown, Reply, Text
from storage import outbox
from storage.db import writer_session
from storage.leases import LEASE, Heartbeat
from storage.models import OutboxRow, PromiseRow, UserRow, WeComPauseRow

log = logging.getLogger("assistant.sender")

RATE_LIMIT = 20  # per recipient per minute; WeCom drops silently above 30
ALERT_LIMIT = 15  # of which alerts may use this many: replies to what someone just said always find room
RATE_WINDOW = timedelta(seconds=60)
GIVE_UP_AFTER = timedelta(minutes=30)
DUPLICATE_WINDOW = timedelta(seconds=cards.DUPLICATE_CHECK["duplicate_check_interval"])
MAX_BACKOFF = timedelta(minutes=10)
MESSAGE_KINDS = ("text", "markdown", "card", "image")  # count toward the per-recipient limit
DIGEST_MAX_ITEMS = 40
HOURLY_LIMIT = (
    900  # per recipient per hour; WeCom drops silently above 1,000 (20/min alone would allow 1,200)
)
HOUR = timedelta(hours=1)
SEND_CONCURRENCY = 8
ROUND_ROWS = 50  # rows a round claims: a new reply waits at most one round (≈ 50 sends / 8 at once)
CLAIM_LEASE = LEASE  # 15 s, renewed every 5 s while the round runs
MAX_STRIKES = 3  # sends that met an answer we could not read (or rows that raised): then parked
PROBE_FIRST = timedelta(seconds=5)  # a paused relay probes WeCom this soon, doubling up to PROBE_MAX
PROBE_MAX = timedelta(seconds=60)
RECIPIENT_RETRY = timedelta(minutes=10)  # a person outside the app's visible range: tried again this often
RECIPIENT_GIVE_UP = timedelta(hours=24)
APP_WIDE_REFUSALS = 3  # 81013 for this many different people with no success between: the app's range
# rows that are themselves alerts to admins: a failure of one never raises another
ALERT_PREFIXES = ("dead:", "alert:")
CALENDAR_KINDS = ("schedule_add", "schedule_update", "schedule_del")


@dataclass
class Relay:
    session_factory: sessionmaker[Session]
    client: WeComClient
    clock: Clock
    agent_id: int
    file_root: Path | None = None
    batch: int = ROUND_ROWS  # rows claimed per round: small, so a reply never waits behind a long round
    concurrency: int = SEND_CONCURRENCY
    channels: Channels = dataclasses.field(default_factory=Channels)  # email and SMS rows (bot/channels)

    def __post_init__(self) -> None:
        self.owner = uuid.uuid4().hex[:12]
        self._interrupted = False  # a round failed after claiming: release our claims before the next one
        self._halt: WeComError | None = None  # a configuration error met this round: send nothing more
        self._canary = False  # this round is a paused relay's probe: one row
        self._refused: set[str] = set()  # people answered 81013 since the last successful send
        self._active = 0  # rounds in progress (at most one per lane family: Runtime.tick)
        # messages of rounds in progress, per recipient: the other round's budget counts them
        self._in_flight: Counter[str] = Counter()
        self._budget_lock = threading.Lock()

    async def run_once(self, lanes: tuple[int, ...] = outbox.LANES, *, look: bool = True) -> int:
        """Claim due rows (lane by lane), apply the rate limit (merging the excess), render, send. Returns
        rows handled. Every database step runs in a thread: the loop only awaits the sends.

        `lanes`: only these. Two rounds may run at once, one of outbox.INTERACTIVE and one of the bulk lane
        (bot/bootstrap.py `Runtime.tick`): each lane's rounds follow one another, so each recipient's rows
        keep their order within a lane, and the per-person budget counts the other round's sends in flight.
        Only a round that includes the bulk lane probes a paused WeCom.

        `look=False` (the caller's previous round claimed rows): claim without looking first whether anything
        is due or sending is paused. A pause this relay meets ends its round with nothing claimed (the next
        round looks); one another process started after this relay's last look costs one round of refused
        sends, which extend that pause."""
        now = self.clock.now()
        if self._interrupted and not self._active:
            await asyncio.to_thread(self._release_own_claims, now)
        pause = await asyncio.to_thread(self._look, now, lanes) if look else None
        if pause is False:
            return 0
        if pause is not None:
            if outbox.LANE_BULK not in lanes or self._active:
                return 0
            if now < pause.next_probe_at or not await self._probe(pause.errcode):
                return 0
            lanes = outbox.LANES  # the canary is the first row of every lane: a reply if one waits
        if not self._active:
            self._halt, self._canary = None, pause is not None
        elif self._halt is not None:
            return 0
        self._active += 1
        try:
            return await self._round(now, lanes)
        finally:
            self._active -= 1

    async def _round(self, now: datetime, lanes: tuple[int, ...]) -> int:
        self._interrupted = True  # until the round ends well: its claims are given back before the next
        claimed, rows, planned = await asyncio.to_thread(self._claim_round, now, lanes)
        sent: list[tuple[int, dict]] = []
        try:
            with Heartbeat(self._renew_leases):
                jobs, broken = await asyncio.to_thread(self._prepare_all, rows)
                for row_id, exc in broken:
                    await asyncio.to_thread(self._failed, row_id, _our_error(exc))
                await self._send_lanes(_lanes(jobs), sent)
        finally:
            try:
                if sent:  # one transaction for the round's plain messages (a crash before it: the same bytes
                    # are resent after the lease and WeCom's duplicate check drops them)
                    await asyncio.to_thread(self._record_sent, sent)
            finally:
                with self._budget_lock:
                    self._in_flight.subtract(planned)
                    self._in_flight = +self._in_flight  # drop the people with nothing in flight
        if self._halt is not None:  # rows the lanes did not reach go back, due as soon as sending resumes
            if self._active == 1:
                await asyncio.to_thread(self._release_own_claims, now, quiet=True)
        elif self._canary:
            await asyncio.to_thread(self._resume)
        if self._active == 1:
            self._interrupted = False
        return claimed if self._halt is None else 0

    def _look(self, now: datetime, lanes: tuple[int, ...]) -> WeComPauseRow | None | bool:
        """The pause if any; False when nothing is due (an idle tick must not take the write lock)."""
        with self.session_factory() as s:
            paused, due = outbox.paused_or_due(s, now=now, lanes=lanes)
            if not paused:
                return None if due else False
            return outbox.current_pause(s)

    def _claim_round(self, now: datetime, lanes: tuple[int, ...]) -> tuple[int, list[OutboxRow], Counter]:
        """Claim one round's rows and apply the rate limit, in one short transaction (no rendering in it).
        Returns (rows claimed, the rows to send now in claim order, messages planned per recipient: in flight
        until the round ends)."""
        with self._budget_lock, writer_session(self.session_factory) as s:
            rows = outbox.claim(
                s,
                now=now,
                limit=1 if self._canary else self.batch,
                lease=CLAIM_LEASE,
                owner=self.owner,
                lanes=lanes,
            )
            to_send = set(self._apply_rate_limit(s, rows, now))
            s.commit()
            chosen = [r for r in rows if r.id in to_send]
            planned = Counter(r.recipient for r in chosen if r.kind in MESSAGE_KINDS)
            self._in_flight.update(planned)
        return len(rows), chosen, planned

    def _prepare_all(self, rows: list[OutboxRow]) -> tuple[list[_Job], list[tuple[int, Exception]]]:
        """Render what the round sends as is (text, markdown, cards), after the claim committed; the payloads
        are stored in one short write before anything is sent, so every retry sends those bytes. Returns the
        jobs and the rows that could not be rendered (each its own problem)."""
        jobs: list[_Job] = []
        broken: list[tuple[int, Exception]] = []
        stored: list[dict] = []
        taken: dict[str, set[str]] = defaultdict(set)  # payloads of this round, per recipient
        with self.session_factory() as s:
            for row in rows:
                payload = row.payload
                if payload is None and row.kind in FAST_KINDS:
                    try:
                        payload = self._render(s, row, taken=taken[row.recipient])
                    except SQLAlchemyError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - a row we cannot render is that row's problem
                        broken.append((row.id, exc))
                        continue
                    if payload is not None:
                        stored.append({"rid": row.id, "pl": payload})
                if row.kind in FAST_KINDS and payload is not None:
                    taken[row.recipient].add(payload)
                jobs.append(
                    _Job(row.id, row.kind, row.recipient, payload if row.kind in FAST_KINDS else None)
                )
        if stored:
            with writer_session(self.session_factory) as s:
                s.connection().execute(_STORE_PAYLOAD, stored)
                s.commit()
        return jobs, broken

    def _renew_leases(self) -> None:
        with writer_session(self.session_factory) as s:
            outbox.renew_leases(s, owner=self.owner, until=self.clock.now() + CLAIM_LEASE)
            s.commit()

    # -- the pause (configuration errors) ----------------------------------------------------------------
    async def _probe(self, errcode: int) -> bool:
        """Is WeCom taking the app's calls again? A fresh token and agent/get; a configuration error (or no
        answer at all) books the next probe. A pause for the visible range (81013) is proved by its canary."""
        try:
            await self.client.probe()
        except WeComError as exc:
            if exc.cls is not ErrorClass.REQUEST:
                failure = exc if exc.cls is ErrorClass.CONFIG else WeComError(errcode, str(exc))
                await asyncio.to_thread(self._extend_pause, failure)
                return False
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            await asyncio.to_thread(self._extend_pause, WeComError(errcode, type(exc).__name__))
            return False
        return True

    def _extend_pause(self, exc: WeComError) -> None:
        now = self.clock.now()
        with writer_session(self.session_factory) as s:
            pause = outbox.current_pause(s)
            wait = min(PROBE_MAX, PROBE_FIRST * 2 ** (pause.probes if pause else 0))
            probes = outbox.extend_pause(s, next_probe_at=now + wait, errcode=exc.errcode, errmsg=str(exc))
            s.commit()
        log.warning(
            "WeCom still refuses the app (errcode %s), probe %s; next in %ss", exc.errcode, probes, wait
        )

    def _start_pause(self, exc: WeComError) -> None:
        """Stop sending for everyone. Logged once per pause (by the relay that started it); /readyz shows it."""
        self._halt = exc
        now = self.clock.now()
        with writer_session(self.session_factory) as s:
            started = outbox.start_pause(
                s, errcode=exc.errcode, errmsg=str(exc), now=now, next_probe_at=now + PROBE_FIRST
            )
            s.commit()
        if started:
            log.critical(
                "WeCom refuses the app: sending paused for everyone, nothing is lost. errcode %s (%s). Fix: %s",
                exc.errcode,
                exc.kind.reason,
                exc.kind.fix,
                extra={"errcode": exc.errcode, "errmsg": exc.errmsg},
            )
        elif self._canary:
            self._extend_pause(exc)

    def _resume(self) -> None:
        """The probe and its canary passed: sending resumes; the admins hear once what happened."""
        now = self.clock.now()
        with writer_session(self.session_factory) as s:
            pause = outbox.end_pause(s)
            if pause is not None:
                kind = kind_of(pause.errcode)
                text = texts.ADMIN_WECOM_RESUMED.format(
                    since=pause.since.astimezone(ORG_ZONE).strftime("%m-%d %H:%M"),
                    errcode=pause.errcode,
                    reason=kind.reason,
                    minutes=max(1, round((now - pause.since).total_seconds() / 60)),
                    fix=kind.fix,
                )
                self._to_admins(s, text, key=f"alert:resumed:{pause.since.isoformat()}", now=now)
            s.commit()
        if pause is not None:
            log.warning("WeCom takes the app's calls again (was errcode %s): sending resumed", pause.errcode)

    async def _send_lanes(self, lanes: list[list[_Job]], sent: list[tuple[int, dict]]) -> None:
        """Up to `concurrency` recipients at once (a real WeCom round trip is 30–100 ms); each recipient's
        rows in order, replies' lanes first. Plain messages' results are collected into `sent`. A row that
        fails, whatever the reason, is recorded and its lane goes on; a configuration error stops every lane
        (their rows go back pending). Only a database error breaks the round."""
        gate = asyncio.Semaphore(self.concurrency)

        async def lane(jobs: list[_Job]) -> None:
            async with gate:
                for job in jobs:
                    if self._halt is not None:
                        return
                    if job.payload is None:  # images, card updates, calendar calls
                        if await self._send_one(job) is ErrorClass.RECIPIENT:
                            return  # the person's other rows wait with this one (_hold_recipient)
                        continue
                    try:
                        result = await self.client.send_raw(job.payload)
                    except WeComError as exc:
                        if await self._fail(job, exc) is ErrorClass.RECIPIENT:
                            return
                    except (httpx.TransportError, httpx.TimeoutException) as exc:
                        await self._fail(job, WeComError(-1, type(exc).__name__, transient=True))
                    else:
                        self._refused.clear()
                        sent.append((job.row_id, result))

        results = await asyncio.gather(*(lane(jobs) for jobs in lanes), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    def _record_sent(self, sent: list[tuple[int, dict]]) -> None:
        now = self.clock.now()
        params = []
        for row_id, result in sent:
            bad = result.get("invaliduser") or result.get("unlicenseduser")
            params.append(
                {
                    "rid": row_id,
                    "err": f"invaliduser={bad}" if bad else None,
                    "rc": result.get("response_code") or None,
                }
            )
        with writer_session(self.session_factory) as s:
            s.connection().execute(_MARK_SENT.values(sent_at=now), params)
            s.commit()

    def _release_own_claims(self, now: datetime, *, quiet: bool = False) -> None:
        """After a round broke off (say the database went away mid-send), put the rows this relay still
        holds back to pending at once instead of waiting out the lease. A row whose send reached WeCom
        is resent with the same stored bytes, which WeCom's duplicate check drops. (`quiet`: a round
        stopped by a configuration error gives back the rows it did not reach.)"""
        with writer_session(self.session_factory) as s:
            n = s.execute(
                update(OutboxRow)
                .where(OutboxRow.status == "sending", OutboxRow.claimed_by == self.owner)
                .values(status="pending", lease_until=None, next_try_at=now)
            ).rowcount
            s.commit()
        self._interrupted = False
        if n and not quiet:
            log.warning("released %d outbox rows this relay held when its last round broke off", n)

    async def drain(self, max_rounds: int = 2000) -> int:
        total = 0
        for _ in range(max_rounds):
            n = await self.run_once()
            total += n
            if n == 0:
                break
        return total

    # -- rate limit and digests --------------------------------------------------------------------
    def _apply_rate_limit(self, s: Session, rows: list[OutboxRow], now: datetime) -> list[int]:
        """Per recipient: answers to what they just said go first and are never merged; alerts may use
        at most ALERT_LIMIT of the RATE_LIMIT (so a reply always finds room), the excess merged into a
        digest; whatever has no room waits for the window to move. Writes are set-based (Core UPDATEs):
        a storm of alerts passes through here thousands at a time."""
        by_recipient: dict[str, list[OutboxRow]] = defaultdict(list)
        send: list[int] = []
        for r in rows:
            if r.kind in MESSAGE_KINDS:
                by_recipient[r.recipient].append(r)
            else:
                send.append(r.id)
        recent_by = _recent_sends(s, list(by_recipient), now)
        for recipient, n in self._in_flight.items():  # another round's sends, not recorded yet
            if n > 0 and recipient in by_recipient:
                recent_by[recipient] = recent_by.get(recipient, []) + [now] * n
        waiting: dict[datetime, list[int]] = defaultdict(list)
        for recipient, due in by_recipient.items():
            last_hour = recent_by.get(recipient, [])
            recent = [t for t in last_hour if t > now - RATE_WINDOW]
            if len(last_hour) >= HOURLY_LIMIT:
                window_moves = min(last_hour) + HOUR + timedelta(seconds=1)
            else:
                window_moves = (min(recent) if recent else now) + RATE_WINDOW + timedelta(seconds=1)
            budget = min(RATE_LIMIT - len(recent), HOURLY_LIMIT - len(last_hour))
            replies = [r for r in due if outbox.is_interactive(r)]  # in lane order: replies, follow-ups
            alerts = [r for r in due if not outbox.is_interactive(r)]
            now_replies, later = replies[: max(0, budget)], replies[max(0, budget) :]
            send.extend(r.id for r in now_replies)
            alert_budget = min(budget - len(now_replies), ALERT_LIMIT - len(recent))
            direct, merge, wait = _plan(alerts, alert_budget)
            send.extend(r.id for r in direct)
            waiting[window_moves].extend(r.id for r in later + wait)
            self._merge(s, recipient, merge, now)
        for at, ids in waiting.items():
            _set(s, ids, status="pending", lease_until=None, next_try_at=at)
        return send

    def _merge(self, s: Session, recipient: str, rows: list[OutboxRow], now: datetime) -> None:
        """Merge rows into as few digest messages as fit WeCom's 2048-byte limit; each digest is a row."""
        for chunk, lines in _digest_chunks(rows):
            body = f"**{texts.DIGEST_TITLE.format(count=len(chunk))}**\n" + "\n".join(lines)
            key = f"digest:{chunk[0].id}:{chunk[-1].id}"
            digest_id = outbox.enqueue_id(
                s, recipient=recipient, message=Markdown(content=body).to_dict(), dedupe_key=key, now=now
            )
            if digest_id is None:  # already made by an earlier attempt that did not commit its merge
                digest_id = s.scalar(select(OutboxRow.id).where(OutboxRow.dedupe_key == key))
            _set(s, [r.id for r in chunk], status="merged", merged_into=digest_id, lease_until=None)

    # -- sending -------------------------------------------------------------------------------------
    def _render(self, s: Session, row: OutboxRow, *, taken: set[str] | None = None) -> str | None:
        """The row's payload. `taken`: payloads already given to this recipient in this round (not stored yet)."""
        reply = Reply.from_dict(row.message)
        if isinstance(reply, CardUpdate):
            return cards.dumps(cards.render_update(reply, userid=row.recipient, agent_id=self.agent_id))
        if isinstance(reply, Image):
            return None  # needs a media_id first; rendered after the upload
        payload = cards.dumps(
            cards.render_send(reply, touser=row.recipient, agent_id=self.agent_id, outbox_id=row.id)
        )
        if isinstance(reply, Text | Markdown) or (isinstance(reply, Card) and not reply.buttons):
            # WeCom's duplicate check would swallow a second, legitimately identical message within its
            # window (帮助 asked twice, two photos refused for the same reason): the repeat carries the first
            # invisible mark (cards.invisible_mark) that no recent row to this person carries. WeCom
            # compares the request's bytes, so it delivers it; the person sees the same words. A retry of
            # one row resends its stored payload unchanged, so retries stay deduplicated.
            base, n = payload, 1
            conn = s.connection()
            while (taken is not None and payload in taken) or (
                conn.execute(
                    _SAME_PAYLOAD,
                    {
                        "who": row.recipient,
                        "rid": row.id,
                        "pl": payload,
                        "since": row.created_at - DUPLICATE_WINDOW,
                    },
                ).first()
                is not None
            ):
                n += 1
                field = (
                    "text" if isinstance(reply, Text) else "markdown"
                )  # a card without buttons is markdown
                body = json.loads(base)
                mark = cards.invisible_mark(n - 1)
                content = cards.clip(body[field]["content"], cards.MESSAGE_LIMIT - len(mark.encode()))
                body[field]["content"] = content + mark
                payload = cards.dumps(body)
        return payload

    async def _send_one(self, job: _Job) -> ErrorClass | None:
        """Send a row that needs more than its stored payload; returns the class of a failure (None: sent)."""
        row_id = job.row_id
        loaded = await asyncio.to_thread(self._load_for_send, row_id)
        if loaded is None or isinstance(loaded, ErrorClass):
            return loaded
        kind, message, payload, recipient = loaded
        try:
            result = await self._call(kind, message, payload, recipient, row_id)
        except WeComError as exc:
            return await self._fail(job, exc)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            return await self._fail(job, WeComError(-1, type(exc).__name__, transient=True))
        except SQLAlchemyError:
            raise
        except Exception as exc:  # noqa: BLE001 - a row that raises (a missing file, a bad message) is its own
            return await asyncio.to_thread(self._failed, row_id, _our_error(exc))
        self._refused.clear()
        await asyncio.to_thread(self._sent, row_id, result)
        return None

    def _load_for_send(self, row_id: int) -> tuple[str, dict, str | None, str] | ErrorClass | None:
        """(kind, message, payload, recipient) of a row still ours to send, rendered (and stored) if needed;
        None when it is not ours any more; the failure's class when it cannot be rendered."""
        with self.session_factory() as s:  # a plain read: most rows were rendered at their first send
            row = s.get(OutboxRow, row_id)
            if row is None or row.status != "sending":
                return None
            kind, message, payload, recipient = row.kind, dict(row.message), row.payload, row.recipient
        if payload is not None or kind not in MESSAGE_KINDS + ("card_update",):
            return kind, message, payload, recipient
        # Rendering stores the payload: a writer's transaction (SQLite: BEGIN IMMEDIATE, in the process's
        # writer queue). A read transaction that wrote later could find its snapshot overtaken by another
        # writer's commit and fail at once with "database is locked" (SQLITE_BUSY_SNAPSHOT: no busy wait).
        with writer_session(self.session_factory) as s:
            row = s.get(OutboxRow, row_id)
            if row is None or row.status != "sending":
                return None
            kind, message, payload, recipient = row.kind, dict(row.message), row.payload, row.recipient
            if payload is None and kind in MESSAGE_KINDS + ("card_update",):
                try:
                    payload = self._render(s, row)
                except SQLAlchemyError:
                    raise
                except Exception as exc:  # noqa: BLE001 - this row cannot be rendered: its problem only
                    s.rollback()
                    return self._failed(row_id, _our_error(exc))
                if payload is not None:
                    row.payload = payload
                    s.commit()
        return kind, message, payload, recipient

    async def _call(self, kind: str, message: dict, payload: str | None, recipient: str, row_id: int) -> dict:
        if kind == "card_update":
            try:
                return await self.client.update_template_card(payload or "")
            except WeComError as exc:
                if exc.errcode == 60140:  # response_code already used or expired: the card is settled
                    return {"errcode": 0, "note": "60140"}
                raise
        if kind == "image":
            if payload is None:
                path = Path(message["path"])
                if self.file_root is not None and not path.is_absolute():
                    path = self.file_root / path
                data = await asyncio.to_thread(path.read_bytes)
                media_id = await self.client.media_upload(
                    kind="image", filename=path.name, data=data, content_type="image/png"
                )
                body = {
                    "touser": recipient,
                    "agentid": self.agent_id,
                    "msgtype": "image",
                    "image": {"media_id": media_id},
                    **cards.DUPLICATE_CHECK,
                }
                payload = cards.dumps(body)
                await asyncio.to_thread(self._store_payload, row_id, payload)
            return await self.client.send_raw(payload)
        if kind in MESSAGE_KINDS:
            return await self.client.send_raw(payload or "")
        if kind in CHANNEL_KINDS:  # email, SMS: raises ChannelError (TRANSIENT, REQUEST or UNEXPECTED)
            return await self.channels.send(kind, message, row_id)
        if kind == "schedule_add":
            sid = await self.client.schedule_add(message["schedule"])
            return {"schedule_id": sid, "promise_id": message.get("promise_id")}
        if kind == "schedule_update":
            await self.client.schedule_update(message["schedule"])
            return {}
        if kind == "schedule_del":
            await self.client.schedule_delete(message["schedule_id"])
            return {}
        if kind == TRANSFER_KIND:  # a hand-over's 在职/离职继承 (docs/handover.md): answers recorded in _sent
            customers = await self.client.transfer_customers(
                str(message["mode"]), str(message["handover_userid"]), str(message["takeover_userid"])
            )
            return {
                "handover": {"id": message["handover_id"], "mode": message["mode"], "customers": customers}
            }
        raise ValueError(f"unknown outbox kind {kind}")

    def _store_payload(self, row_id: int, payload: str) -> None:
        with writer_session(self.session_factory) as s:
            s.get(OutboxRow, row_id).payload = payload
            s.commit()

    def _sent(self, row_id: int, result: dict) -> None:
        now = self.clock.now()
        # the write lock up front: a read-then-write transaction on SQLite fails at once (SQLITE_BUSY) when
        # another lane committed in between (email and SMS rows are recorded here beside other lanes' writes)
        with writer_session(self.session_factory) as s:
            row = s.get(OutboxRow, row_id)
            row.status, row.sent_at, row.lease_until = "sent", now, None
            bad = result.get("invaliduser") or result.get("unlicenseduser")
            if bad:  # a 200 that reached nobody is a partial failure
                row.last_error = f"invaliduser={bad}"
            if result.get("response_code"):
                row.response_code = result["response_code"]
            if result.get("schedule_id") and result.get("promise_id"):
                promise = s.get(PromiseRow, int(result["promise_id"]))
                if promise is not None:
                    promise.schedule_id = result["schedule_id"]
            if isinstance(result.get("handover"), dict):
                answer = result["handover"]
                record_transfer(s, int(answer["id"]), {k: answer[k] for k in ("mode", "customers")}, now)
            s.commit()

    async def _fail(self, job: _Job, exc: WeComError) -> ErrorClass:
        """A lane's failed send: classified on the loop, so a configuration error stops every lane at once;
        recorded in a thread."""
        cls = self._class_of(exc, job.recipient, job.kind)
        if cls is ErrorClass.CONFIG:
            self._halt = exc
        return await asyncio.to_thread(self._failed, job.row_id, exc, cls)

    def _class_of(self, exc: WeComError, recipient: str, kind: str) -> ErrorClass:
        """The class applied to a failed send of `kind` to `recipient` (counts 81013 refusals: call once)."""
        cls = exc.cls
        if self._calendar_off(exc, kind):  # the 日程 permission is off: calendar rows wait, messages go on
            cls = ErrorClass.REQUEST
        if kind == TRANSFER_KIND and cls is ErrorClass.CONFIG and exc.errcode in (48002, 60011):
            cls = (
                ErrorClass.REQUEST
            )  # 客户联系 not granted: this transfer is parked (admin alerted), nothing paused
        if cls is ErrorClass.RECIPIENT and (self._canary or self._app_wide(recipient)):
            cls = ErrorClass.CONFIG  # refused for everyone: the app's visible range, not this person
        return cls

    @staticmethod
    def _calendar_off(exc: WeComError, kind: str) -> bool:
        return exc.cls is ErrorClass.CONFIG and exc.errcode == 48002 and kind in CALENDAR_KINDS

    def _failed(self, row_id: int, exc: WeComError, cls: ErrorClass | None = None) -> ErrorClass:
        """Record a failed send by the class of its error (module docstring); returns the class applied.
        `cls`: already classified (`_fail`)."""
        with self.session_factory() as s:
            found = s.execute(
                select(OutboxRow.recipient, OutboxRow.kind).where(OutboxRow.id == row_id)
            ).first()
        recipient, kind = (found[0], found[1]) if found is not None else ("", "")
        calendar_off = self._calendar_off(exc, kind)
        if cls is None:
            cls = self._class_of(exc, recipient, kind)
        if cls is ErrorClass.CONFIG:
            self._keep_for_later(row_id, exc)
            self._start_pause(exc)
            return cls
        now = self.clock.now()
        with writer_session(self.session_factory) as s:
            row = s.get(OutboxRow, row_id)
            if row is None or row.status != "sending" or row.claimed_by != self.owner:
                return cls  # our lease ran out and another relay took the row
            row.attempts += 1
            row.last_error = str(exc)[:500]
            row.lease_until = None
            backoff = min(MAX_BACKOFF, timedelta(seconds=2 ** (row.attempts - 1)))
            if cls is ErrorClass.UNEXPECTED:
                row.strikes += 1
                dead = row.strikes >= MAX_STRIKES
            elif cls is ErrorClass.TRANSIENT:
                dead = now - row.created_at > GIVE_UP_AFTER
            elif cls is ErrorClass.RECIPIENT:
                dead = now - row.created_at > RECIPIENT_GIVE_UP
                backoff = RECIPIENT_RETRY
                self._hold_recipient(s, row, exc, now)
            elif calendar_off:
                dead = now - row.created_at > RECIPIENT_GIVE_UP
                backoff = RECIPIENT_RETRY
                if not dead:
                    day = now.astimezone(ORG_ZONE).date().isoformat()
                    text = texts.ADMIN_CALENDAR_OFF.format(errcode=exc.errcode, fix=exc.kind.fix)
                    self._to_admins(s, text, key=f"alert:calendar:{day}", now=now)
            else:
                dead = True
            if dead:
                row.status = "dead"
                log.error("outbox %s dead after %s attempts: %s", row_id, row.attempts, exc)
                self._alert_admins(s, row, exc, now)
            else:
                row.status = "pending"
                row.next_try_at = now + backoff
            s.commit()
        return cls

    def _app_wide(self, recipient: str) -> bool:
        """81013 for APP_WIDE_REFUSALS different people with no successful send between: the app's visible
        range is wrong (or empty), not one person's place in it."""
        self._refused.add(recipient)
        return len(self._refused) >= APP_WIDE_REFUSALS

    def _keep_for_later(self, row_id: int, exc: WeComError) -> None:
        """A row refused for the app's configuration: pending again, due at once, not charged an attempt."""
        with writer_session(self.session_factory) as s:
            s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == row_id,
                    OutboxRow.status == "sending",
                    OutboxRow.claimed_by == self.owner,
                )
                .values(
                    status="pending",
                    lease_until=None,
                    next_try_at=self.clock.now(),
                    last_error=str(exc)[:500],
                )
            )
            s.commit()

    def _hold_recipient(self, s: Session, row: OutboxRow, exc: WeComError, now: datetime) -> None:
        """One person outside the app's visible range: their other pending rows wait with this one (each
        would meet the same refusal), and the admins hear about it once a day per person."""
        waiting = (OutboxRow.status == "pending") & (OutboxRow.next_try_at < now + RECIPIENT_RETRY)
        ours = (OutboxRow.status == "sending") & (OutboxRow.claimed_by == self.owner)  # later in this lane
        s.execute(
            update(OutboxRow)
            .where(OutboxRow.recipient == row.recipient, OutboxRow.id != row.id, waiting | ours)
            .values(status="pending", lease_until=None, next_try_at=now + RECIPIENT_RETRY),
            execution_options={"synchronize_session": False},
        )
        if row.dedupe_key.startswith(ALERT_PREFIXES):
            return  # never alert about an alert (an admin outside the range: the log says it)
        log.error(
            "WeCom refuses %s for %s (errcode %s): held, retried every 10 minutes",
            row.recipient,
            row.id,
            exc.errcode,
        )
        text = texts.ADMIN_RECIPIENT_HIDDEN.format(
            recipient=row.recipient, reason=exc.kind.reason, errcode=exc.errcode, fix=exc.kind.fix
        )
        day = now.astimezone(ORG_ZONE).date().isoformat()
        self._to_admins(s, text, key=f"alert:hidden:{row.recipient}:{day}", now=now, skip=row.recipient)

    def _alert_admins(self, s: Session, row: OutboxRow, exc: WeComError, now: datetime) -> None:
        if row.dedupe_key.startswith(ALERT_PREFIXES):
            return  # never alert about an alert (the log has it)
        text = texts.ADMIN_DEAD_LETTER.format(
            recipient=row.recipient,
            reason=exc.kind.reason,
            error=row.last_error or "",
            fix=(exc.kind.fix + "。") if exc.kind.fix else texts.ADMIN_DEAD_FIX_DEFAULT,
        )
        self._to_admins(s, text, key=f"dead:{row.id}", now=now)

    @staticmethod
    def _to_admins(s: Session, text: str, *, key: str, now: datetime, skip: str | None = None) -> None:
        """One alert row per admin (`key:<admin>`): sent like any other row, so the failing one never
        holds it back."""
        for admin in s.scalars(select(UserRow.userid).where(UserRow.role == "admin")):
            if admin == skip:
                continue
            outbox.enqueue(
                s,
                recipient=admin,
                message={"kind": "text", "content": text},
                dedupe_key=f"{key}:{admin}",
                now=now,
            )


@dataclass(frozen=True)
class _Job:
    row_id: int
    kind: str
    recipient: str
    payload: str | None  # set for text, markdown and cards: sent as is; None: _send_one does the rest


FAST_KINDS = ("text", "markdown", "card")
_MARK_SENT = (
    update(OutboxRow)
    .where(OutboxRow.id == bindparam("rid"), OutboxRow.status == "sending")
    .values(
        status="sent",
        lease_until=None,
        last_error=func.coalesce(bindparam("err"), OutboxRow.last_error),
        response_code=func.coalesce(bindparam("rc"), OutboxRow.response_code),
    )
)


_SAME_PAYLOAD = (  # a recent row to the same person with the same bytes (built once: one compiled statement)
    select(OutboxRow.__table__.c.id)
    .where(
        OutboxRow.__table__.c.recipient == bindparam("who"),
        OutboxRow.__table__.c.id != bindparam("rid"),
        OutboxRow.__table__.c.payload == bindparam("pl"),
        OutboxRow.__table__.c.created_at > bindparam("since", type_=OutboxRow.__table__.c.created_at.type),
    )
    .limit(1)
)


_STORE_PAYLOAD = (  # a round's rendered payloads, stored before they are sent (only on rows still ours)
    update(OutboxRow)
    .where(OutboxRow.id == bindparam("rid"), OutboxRow.status == "sending", OutboxRow.payload.is_(None))
    .values(payload=bindparam("pl"))
)


def _lanes(jobs: list[_Job]) -> list[list[_Job]]:
    """Jobs grouped by recipient, each group in the given order, groups by their first job."""
    lanes: dict[str, list[_Job]] = {}
    for job in jobs:
        lanes.setdefault(job.recipient, []).append(job)
    return list(lanes.values())


def _recent_sends(s: Session, recipients: list[str], now: datetime) -> dict[str, list[datetime]]:
    """recipient → send times of the messages they got in the last hour (one query per 500)."""
    out: dict[str, list[datetime]] = defaultdict(list)
    for start in range(0, len(recipients), 500):
        for recipient, sent_at in s.execute(
            select(OutboxRow.recipient, OutboxRow.sent_at).where(
                OutboxRow.recipient.in_(recipients[start : start + 500]),
                OutboxRow.status == "sent",
                OutboxRow.kind.in_(MESSAGE_KINDS),
                OutboxRow.sent_at > now - HOUR,
            )
        ):
            out[recipient].append(sent_at)
    return out


def _set(s: Session, ids: list[int], **values: object) -> None:
    """UPDATE outbox rows by id, 500 at a time, without touching loaded objects (they are not reused)."""
    for start in range(0, len(ids), 500):
        s.execute(
            update(OutboxRow).where(OutboxRow.id.in_(ids[start : start + 500])).values(**values),
            execution_options={"synchronize_session": False},
        )


def _plan(alerts: list[OutboxRow], budget: int) -> tuple[list[OutboxRow], list[OutboxRow], list[OutboxRow]]:
    """(send now, merge into a digest, wait) for one recipient's alerts within `budget` messages."""
    if budget <= 0:
        return [], [], alerts
    if len(alerts) <= budget:
        return alerts, [], []
    direct, overflow = alerts[: budget - 1], alerts[budget - 1 :]
    if all(r.dedupe_key.startswith("digest:") for r in overflow):
        direct, overflow = alerts[:budget], alerts[budget:]  # no new digest needed: use the last slot too
    digests = [r for r in overflow if r.dedupe_key.startswith("digest:")]  # never merged again: they wait
    return direct, [r for r in overflow if not r.dedupe_key.startswith("digest:")], digests


def _digest_chunks(rows: list[OutboxRow]):  # noqa: ANN202
    budget = cards.MESSAGE_LIMIT - 80  # room for the title
    chunk: list[OutboxRow] = []
    lines: list[str] = []
    size = 0
    for r in rows:
        line = cards.digest_line(r.message)
        n = len(line.encode()) + 1
        if chunk and (size + n > budget or len(chunk) >= DIGEST_MAX_ITEMS):
            yield chunk, lines
            chunk, lines, size = [], [], 0
        chunk.append(r)
        lines.append(line)
        size += n
    if chunk:
        yield chunk, lines


def _our_error(exc: Exception) -> WeComError:
    """An exception of our own while preparing or sending one row: counted like an unreadable answer."""
    log.error("outbox row raised %s: %s", type(exc).__name__, exc, exc_info=exc)
    return WeComError(UNEXPECTED, f"{type(exc).__name__}: {exc}")


def payload_of(row: OutboxRow) -> dict:
    return json.loads(row.payload) if row.payload else {}
