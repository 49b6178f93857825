"""The address book from WeCom into the reporting tree (docs/contacts-sync.md).

- A full sync: an admin's 「同步通讯录」 (or `python main.py sync-contacts`, or the nightly `contact_sync` timer
  when CONTACTS_SYNC is on) puts a ContactSyncRequest into the inbox; the worker's prefetch reads WeCom before
  the transaction (bot/wecom/contacts.py); `on_sync_request` replaces the mirror and applies the plan
  (core/contacts/mapping.py), then tells whoever asked (the admins, for the nightly run) what changed.
- change_contact events (`on_contact_change`): create/update/delete of a member or a department change the
  mirror, and the tree is recomputed from the whole mirror (a moved department re-places everyone below it).
- A member who left (delete_user, or status disabled / left, or missing from a full sync within its guard) goes
  through the one deactivation path, handlers/people_admin.py `set_active`: their scope ends at once. `leave` is
  the hook where the hand-over of their book belongs (issue 18 item 4); nothing is handed over here.
- A refusal by WeCom (trusted IP, visible range, contact-sync secret, …) changes nothing: the admin reads the
  console step that lifts it (handlers/contacts/texts.py), and so does the log.
Every change to users is audited with before and after (storage/contacts/apply.py, storage/audit.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.contacts.book import WITHHELD_CANDIDATES, AddressBook, Department, Member
from core.contacts.mapping import DEFAULT_RULES, Plan, RoleRule, plan
from core.roles import Role
from handlers import people_admin
from handlers.contacts import texts as T
from handlers.context import Ctx
from handlers.handover import flow as handover
from handlers.messages import ContactChange, ContactSyncRequest, Inbound, Text
from handlers.recurring import book_org_run, next_daily
from handlers.sop.policy import FireResult
from storage import inbox
from storage.contacts import mirror
from storage.contacts.apply import ACTOR, Applied, apply_plan, current_users
from storage.models import TimerRow, UserRow

log = logging.getLogger("assistant.contacts")
KIND = "contact_sync"  # the nightly full reconciliation
RUN_AT = time(2, 30)  # local time, before the scorecard and the briefs read the tree
COMMAND = r"^\s*(同步通讯录|通讯录同步)\s*$"
SYSTEM = "sys"  # the sender of WeCom's own events and of the nightly request


@dataclass
class Outcome:
    book: AddressBook
    plan: Plan
    applied: Applied = field(default_factory=Applied)
    deactivated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.applied.created or self.applied.updated or self.deactivated)


def rules_of(deps: Any) -> tuple[RoleRule, ...]:
    return tuple(getattr(deps, "contact_role_rules", ()) or ()) or DEFAULT_RULES


# -- the one way a member leaves -------------------------------------------------------------------------------
def leave(session: Session, userid: str, *, now: datetime, reason: str) -> bool:
    """A member left WeCom: deactivated through the existing path (people_admin.set_active), so their scope ends
    at once and the hand-over of their book opens in the same transaction (docs/handover.md)."""
    person = session.get(UserRow, userid)
    if person is None:
        return False
    return people_admin.set_active(session, person, False, at=now, actor=ACTOR, reason=reason)


# -- applying ---------------------------------------------------------------------------------------------------
def full_sync(
    session: Session, book: AddressBook, *, now: datetime, rules: tuple[RoleRule, ...], reason: str
) -> Outcome:
    """The mirror becomes `book`; users follow it (audited); who left is deactivated (within the guard)."""
    synced = mirror.synced_userids(session)
    p = plan(book, current_users(session), rules, synced=synced, full=True)
    mirror.replace_all(session, book, now, keep=p.held_back)
    session.flush()
    return _apply(session, book, p, now=now, reason=reason)


def recompute(session: Session, *, now: datetime, rules: tuple[RoleRule, ...], reason: str) -> Outcome:
    """The tree from the whole mirror, after an incremental change (nobody is missing from an increment)."""
    book = mirror.load_book(session)
    return _apply(session, book, plan(book, current_users(session), rules), now=now, reason=reason)


def _apply(session: Session, book: AddressBook, p: Plan, *, now: datetime, reason: str) -> Outcome:
    out = Outcome(book, p, apply_plan(session, p, at=now, reason=reason))
    out.deactivated = [u for u in p.deactivate if leave(session, u, now=now, reason=reason)]
    if (
        out.applied.moved
    ):  # a rep whose manager changed: their old manager hands their book over (docs/handover.md)
        handover.opened_from_audit(session, now, entity="user", reason_like=reason, actor=ACTOR)
    return out


def summary(session: Session, out: Outcome) -> str:
    names = _names(session)
    lines = [
        T.SUMMARY.format(
            depts=len(out.book.departments),
            members=sum(1 for m in out.book.members if not m.gone),
            created=len(out.applied.created),
            updated=len(out.applied.updated),
            moved=len(out.applied.moved),
            deactivated=len(out.deactivated),
        )
    ]
    if out.applied.created:
        lines.append(T.SUMMARY_NEW.format(names=_list(names, out.applied.created)))
    if out.deactivated:
        lines.append(T.SUMMARY_GONE.format(names=_list(names, out.deactivated)))
    if out.plan.held_back:
        lines.append(T.HELD_BACK.format(n=len(out.plan.held_back), names=_list(names, out.plan.held_back)))
    if out.plan.inactive_here:
        lines.append(T.INACTIVE_HERE.format(names=_list(names, out.plan.inactive_here)))
    if out.book.withheld:
        lines.append(T.withheld([f for f in WITHHELD_CANDIDATES if f in out.book.withheld]))
    lines.append(T.KEPT)
    return "\n".join(lines)


def _names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(UserRow.userid, UserRow.name)).all())


def _list(names: dict[str, str], userids: Any, limit: int = 10) -> str:
    shown = [f"{names.get(u, u)}（{u}）" for u in list(userids)[:limit]]
    more = len(list(userids)) - limit
    return "、".join(shown) + (f" 等{len(list(userids))}人" if more > 0 else "")


def _admins(ctx: Ctx) -> list[str]:
    return list(
        ctx.session.scalars(
            select(UserRow.userid).where(UserRow.role == Role.ADMIN.value, UserRow.active.is_(True))
        )
    )


def _tell(ctx: Ctx, text: str, *, asker: str | None) -> None:
    """To whoever asked (an admin), else to every active admin."""
    for who in [asker] if asker and asker != SYSTEM else _admins(ctx):
        ctx.send(who, Text(content=text))


def _tree_changed(ctx: Ctx) -> None:
    cache = ctx.deps.vocab_cache
    if cache is not None and hasattr(cache, "invalidate"):
        cache.invalidate()  # the next question reads the new tree (a new member is scoped at once)


# -- a full sync: asked for, then run with what the prefetch read ----------------------------------------------
def request_sync(ctx: Ctx, *, asker: str, reason: str) -> bool:
    """Queue a full sync as an inbox event (the read happens in the worker's prefetch, outside a transaction)."""
    event = ContactSyncRequest(sender=asker, at=int(ctx.now.timestamp()), reason=reason)
    return inbox.put(
        ctx.session,
        dedupe_key=f"contact_sync:{ctx.source}",
        sender=asker,
        kind=event.type,
        event=event.to_dict(),
        now=ctx.now,
    )


def on_sync_command(ctx: Ctx, event: Inbound) -> object:
    """「同步通讯录」: an admin runs the full sync now."""
    if ctx.user is None or ctx.user.role != Role.ADMIN.value:
        ctx.reply(Text(content=T.ONLY_ADMIN))
        return None
    request_sync(ctx, asker=ctx.userid, reason=ctx.source)
    ctx.reply(Text(content=T.STARTED))
    return None


def on_sync_request(ctx: Ctx, event: Inbound) -> object:
    assert isinstance(event, ContactSyncRequest)
    got = ctx.prefetched or {}
    asker = event.sender
    if "error" in got:
        text = T.refused(got["error"])
        log.warning("contacts sync refused (errcode %s): %s", got["error"].get("errcode"), text)
        _tell(ctx, text, asker=asker)
        return None
    if "book" not in got:
        _tell(ctx, T.NOT_WIRED, asker=asker)
        return None
    out = full_sync(
        ctx.session,
        AddressBook.from_dict(got["book"]),
        now=ctx.now,
        rules=rules_of(ctx.deps),
        reason=ctx.source,
    )
    _tree_changed(ctx)
    text = summary(ctx.session, out)
    log.info("contacts sync: %s", text.splitlines()[0])
    if asker != SYSTEM or out.changed or out.plan.held_back:  # the nightly run is quiet when nothing changed
        _tell(ctx, text, asker=asker)
    return None


# -- the nightly reconciliation -------------------------------------------------------------------------------
def schedule_next(ctx: Ctx, *, after: datetime) -> TimerRow:
    day, at = next_daily(ctx, after, RUN_AT)
    return book_org_run(ctx, kind=KIND, day=day, at=at, actor=ACTOR)


def fire_nightly(ctx: Ctx, timer: TimerRow) -> FireResult:
    schedule_next(ctx, after=ctx.now)
    if not ctx.deps.contacts_nightly:
        return "done", "CONTACTS_SYNC off"
    request_sync(ctx, asker=SYSTEM, reason=ctx.source)
    return "done", "full sync requested"


# -- change_contact --------------------------------------------------------------------------------------------
def _from_event(base: Member, event: ContactChange) -> Member:
    changed: dict[str, Any] = {}
    for name in event.present:
        if name == "name" and event.name:
            changed["name"] = event.name
        elif name == "departments":
            changed["departments"] = tuple(event.departments)
            if "leader_in" not in event.present:  # still a leader only where they still are
                changed["leader_in"] = tuple(d for d in base.leader_in if d in event.departments)
        elif name == "leader_in":
            changed["leader_in"] = tuple(event.leader_in)
        elif name == "main_department":
            changed["main_department"] = event.main_department or None
        elif name == "direct_leaders":
            changed["direct_leaders"] = tuple(event.direct_leaders)
        elif name == "status" and event.status:
            changed["status"] = event.status
    return base.merged(changed)


def on_contact_change(ctx: Ctx, event: Inbound) -> object:
    assert isinstance(event, ContactChange)
    kind, s, now = event.change_type, ctx.session, ctx.now
    got = ctx.prefetched or {}
    if kind in ("create_party", "update_party"):
        base = mirror.get_department(s, event.party_id) or Department(event.party_id)
        mirror.put_department(
            s,
            Department(
                event.party_id,
                event.party_name or base.name,
                event.parent_id or base.parent_id,
                event.party_order or base.order,
            ),
            now,
        )
    elif kind == "delete_party":
        mirror.remove_department(s, event.party_id)
    elif kind in ("create_user", "update_user"):
        if "member" in got:
            member = Member.from_dict(got["member"])
        else:
            member = _from_event(mirror.get_member(s, event.userid) or Member(event.userid), event)
            if "member_error" in got:
                what, fix = T.restriction(got["member_error"])
                text = T.MEMBER_PARTIAL.format(userid=event.userid, reason=f"{what}。{fix}")
                log.warning("contacts: %s", text)
                for admin in _admins(ctx):
                    ctx.send(admin, Text(content=text))
        mirror.put_member(s, member, now)
        if event.new_userid and event.new_userid != event.userid:
            for admin in _admins(ctx):
                ctx.send(admin, Text(content=T.RENAMED.format(old=event.userid, new=event.new_userid)))
    elif kind == "delete_user":
        mirror.remove_member(s, event.userid)
        s.flush()
        leave(s, event.userid, now=now, reason=ctx.source)
    else:
        log.info("contacts: change_contact %s ignored", kind)
        return None
    s.flush()
    out = recompute(s, now=now, rules=rules_of(ctx.deps), reason=ctx.source)
    _tree_changed(ctx)
    log.info(
        "contacts: %s applied (created %d, updated %d, deactivated %d)",
        kind,
        len(out.applied.created),
        len(out.applied.updated),
        len(out.deactivated) + (kind == "delete_user"),
    )
    return None
