"""The nightly scorecard: recompute every active customer's score (a recurring timer row), and route
each tier change (every one is audited by storage.scorecard.recompute, in this transaction):

- into 红色 (red): one card per regional manager (the nearest above the owner; else the sales director)
  listing the customers and the component that moved, linked to the dashboard's red list; the seed's
  「推送至区域总监邮箱并短信提醒」: the same list by email and a short SMS to that person when the channel is
  configured and the person has an address or a mobile (docs/channels.md);
- into 黄色 (yellow): onto the supervisor's weekly review list (the Monday brief and the dashboard show
  customers that turned yellow in the last 7 days); no message at night;
- into 蓝色 (blue): a card per customer to the owner's supervisor suggesting 优先排产 / 专属客服, with
  buttons; the choice is noted on the customer, audited, and told to the owner.
A customer's first score is its baseline, not a change: no message.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time

from core.roles import ORG_WIDE
from handlers.context import Ctx
from handlers.links.dashboard import dashboard_url
from handlers.messages import (
    Button,
    Card,
    CardAction,
    CardClick,
    CardUpdate,
    Email,
    Inbound,
    Sms,
    Text,
    card_key,
    channel_recipient,
    parse_card_key,
)
from handlers.recurring import book_org_run, next_daily
from handlers.sop.policy import FireResult
from storage import audit, people
from storage import scorecard as scorecard_repo
from storage.models import CustomerNoteRow, CustomerRow, TimerRow
from storage.models_scorecard import ScoreChangeRow

KIND = "scorecard_nightly"
ACTOR = "system:scorecard"
RUN_AT = time(2, 17)  # local; off :00 and :30
RED_NAMES_SHOWN = 8
BLUE_CARDS_PER_RECIPIENT = 5

RED_TITLE = "客户评分预警：{n}位客户降为红色"
RED_DESC = "以下客户评分低于60分，请安排跟进："
RED_LINE = "{name}（{owner}）{old}→{new}分：{why}"
RED_MORE = "……另有{n}位，见看板"
RED_EMAIL_SUBJECT = "【客户评分预警】{n}位客户降为红色"
RED_EMAIL_BODY = "{name}：\n\n{desc}\n\n完整名单请在企业微信中打开「客户评分预警」消息或看板查看。\n\n（本邮件由销售助手自动发送）"
SMS_NAME_MAX = 12  # a template parameter stays short (Tencent limits variables' length)
BLUE_TITLE = "优质客户：{name}"
BLUE_DESC = "评分升至{score:.0f}分（蓝色）。建议优先排产、安排专属客服。"
BLUE_MORE = "另有{n}位客户评分升为蓝色：{names}。可在看板中查看。"
FIELD_OWNER = "负责人"
FIELD_WHY = "变化"
ACTIONS = {
    "prio": ("优先排产", "已安排优先排产"),
    "vip": ("专属客服", "已安排专属客服"),
    "skip": ("暂不需要", "暂不处理"),
}
NOTE_TEXT = "客户评分升为蓝色，{manager}安排：{action}"
TELL_OWNER = "{manager}已为客户「{name}」安排{action}，请配合跟进。"
GONE = "这条评分提醒已失效。"
NOT_YOURS = "你不在该客户的管理范围内，不能处理这条提醒。"
ALREADY = "这条提醒已由{who}处理：{action}。"


def next_run(after: datetime, ctx: Ctx) -> tuple[date, datetime]:
    return next_daily(ctx, after, RUN_AT)


def schedule_next(ctx: Ctx, *, after: datetime) -> TimerRow:
    day, at = next_run(after, ctx)
    return book_org_run(ctx, kind=KIND, day=day, at=at, actor=ACTOR)


def fire_scorecard_nightly(ctx: Ctx, timer: TimerRow) -> FireResult:
    result = scorecard_repo.recompute(ctx.session, now=ctx.now, actor=ACTOR, reason=ctx.source)
    route_changes(ctx, result.changes)
    schedule_next(ctx, after=ctx.now)
    return "done", (
        f"scored {result.scored} (baseline {result.baseline}), {len(result.changes)} tier changes, "
        f"tiers {result.tiers}"
    )


def _short(explanation: str) -> str:
    return explanation.split("；", 1)[-1].replace("变化最大：", "")


def route_changes(ctx: Ctx, changes: list[scorecard_repo.TierChange]) -> None:
    """Messages for the tier changes of one recompute (yellow ones wait for the weekly review)."""
    if not changes:
        return
    tree = people.whole_tree(ctx.session)
    owners = {c.owner_userid for c in changes}
    names = people.names(ctx.session, owners | {u for o in owners for u in tree.manager_chain(o)})
    red: dict[str, list[scorecard_repo.TierChange]] = defaultdict(list)
    blue: dict[str, list[scorecard_repo.TierChange]] = defaultdict(list)
    for c in changes:
        if c.new_tier == "red":
            target = tree.find_up(c.owner_userid, "regional_manager") or tree.approver_for(
                c.owner_userid, "sales_director"
            )
            red[target or c.owner_userid].append(c)
        elif c.new_tier == "blue":
            target = tree.find_up(c.owner_userid, "supervisor") or tree.active_manager_of(c.owner_userid)
            blue[target or c.owner_userid].append(c)
    contacts = people.contacts(ctx.session, set(red)) if ctx.deps.alert_channels and red else {}
    for recipient, items in sorted(red.items()):
        items.sort(key=lambda c: (c.new_score, c.customer_id))
        lines = [
            RED_LINE.format(
                name=c.customer_name,
                owner=names.get(c.owner_userid, c.owner_userid),
                old=f"{c.old_score:.0f}" if c.old_score is not None else "—",
                new=f"{c.new_score:.0f}",
                why=_short(c.explanation),
            )
            for c in items[:RED_NAMES_SHOWN]
        ]
        if len(items) > RED_NAMES_SHOWN:
            lines.append(RED_MORE.format(n=len(items) - RED_NAMES_SHOWN))
        ctx.send(
            recipient,
            Card(
                title=RED_TITLE.format(n=len(items)),
                description=RED_DESC + "\n" + "\n".join(lines),
                url=dashboard_url(recipient, ctx.now, ctx.deps, path="/dashboard/customers", tier="red")
                or "",
            ),
        )
        email, mobile = contacts.get(recipient, (None, None))
        if email and "email" in ctx.deps.alert_channels:
            ctx.send(
                channel_recipient("email", recipient),
                Email(
                    to=email,
                    subject=RED_EMAIL_SUBJECT.format(n=len(items)),
                    body=RED_EMAIL_BODY.format(
                        name=names.get(recipient, recipient), desc=RED_DESC + "\n" + "\n".join(lines)
                    ),
                ),
            )
        if mobile and "sms" in ctx.deps.alert_channels:
            worst = items[0]  # the lowest score
            ctx.send(
                channel_recipient("sms", recipient),
                Sms(
                    to=mobile,
                    params=[str(len(items)), worst.customer_name[:SMS_NAME_MAX], f"{worst.new_score:.0f}"],
                ),
            )
    for recipient, items in sorted(blue.items()):
        items.sort(key=lambda c: (-c.new_score, c.customer_id))
        for c in items[:BLUE_CARDS_PER_RECIPIENT]:
            ctx.send(
                recipient,
                Card(
                    title=BLUE_TITLE.format(name=c.customer_name),
                    description=BLUE_DESC.format(score=c.new_score),
                    fields=[
                        (FIELD_OWNER, names.get(c.owner_userid, c.owner_userid)),
                        (FIELD_WHY, _short(c.explanation)),
                    ],
                    buttons=[
                        Button(ACTIONS["prio"][0], card_key(CardAction.SCORE, "prio", c.change_id), 1),
                        Button(ACTIONS["vip"][0], card_key(CardAction.SCORE, "vip", c.change_id), 2),
                        Button(ACTIONS["skip"][0], card_key(CardAction.SCORE, "skip", c.change_id), 4),
                    ],
                    task_id=f"score{c.change_id}",
                ),
            )
        rest = items[BLUE_CARDS_PER_RECIPIENT:]
        if rest:
            ctx.send(
                recipient,
                Text(
                    content=BLUE_MORE.format(n=len(rest), names="、".join(c.customer_name for c in rest[:10]))
                ),
            )


def on_score_action(ctx: Ctx, event: Inbound) -> bool | None:
    """A manager's choice on a blue-tier card: 优先排产 / 专属客服 / 暂不需要."""
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key)
    if len(parts) != 2 or parts[0] not in ACTIONS or not parts[1].isdigit():
        return False
    action, change = parts[0], ctx.session.get(ScoreChangeRow, int(parts[1]))
    if change is None:
        ctx.reply(Text(content=GONE))
        return None
    tree = people.tree_above(ctx.session, change.owner_userid)
    role = ctx.user.role if ctx.user else None
    if (
        ctx.userid != change.owner_userid
        and ctx.userid not in tree.manager_chain(change.owner_userid)
        and role not in ORG_WIDE
    ):
        ctx.reply(Text(content=NOT_YOURS))
        return None
    if change.action:
        if event.response_code:
            ctx.reply(CardUpdate(response_code=event.response_code, replace_name=ACTIONS[change.action][1]))
        ctx.reply(
            Text(
                content=ALREADY.format(
                    who=people.name_of(ctx.session, change.acted_by), action=ACTIONS[change.action][0]
                )
            )
        )
        return None
    before = audit.snapshot(change)
    change.action, change.acted_by, change.acted_at = action, ctx.userid, ctx.now
    manager = ctx.user.name if ctx.user else ctx.userid
    label = ACTIONS[action][0]
    ctx.session.add(
        CustomerNoteRow(
            customer_id=change.customer_id,
            author_userid=ctx.userid,
            kind="score_action",
            text=NOTE_TEXT.format(manager=manager, action=label),
            at=ctx.now,
        )
    )
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid,
        action="update",
        entity="score_change",
        entity_id=str(change.id),
        before=before,
        after=audit.snapshot(change),
        reason=ctx.source,
    )
    if event.response_code:
        ctx.reply(CardUpdate(response_code=event.response_code, replace_name=ACTIONS[action][1]))
    if action != "skip" and change.owner_userid != ctx.userid:
        customer = ctx.session.get(CustomerRow, change.customer_id)
        ctx.send(
            change.owner_userid,
            Text(
                content=TELL_OWNER.format(
                    manager=manager, name=customer.name if customer else change.customer_id, action=label
                )
            ),
        )
    return None
