"""「调整目标 C001 +5% 竞品促销 [链接]」: a supervisor or regional manager moves a store's target within ±5% of
its committed figure (the limit is the SOP policy's `target_adjust_limit_pct`), with evidence sent in chat — a
photo, a file or a link — and a reason. Out of bounds is refused with the limit. Every change is audited with
before and after (storage/targets/adjust.py); the reply says how it rolls up (docs/targets.md § Adjustments).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from core.clock import ORG_ZONE
from core.org import scope_of
from core.roles import SEE_TREE
from core.targets.adjust import adjusted, parse_command, percent_words, within_bound
from core.targets.periods import BadPeriod
from core.targets.split import yuan
from handlers.context import Ctx
from handlers.dialog import DialogState
from handlers.messages import FileIn, ImageIn, Inbound, Text, text_of
from handlers.sop.policy import policy_of
from storage.people import name_of, whole_tree
from storage.targets.adjust import Refused, adjust, find_store, target_of
from storage.targets.models import TargetRow

ONLY_MANAGERS = "只有销售主管或区域经理可以调整其团队门店的目标。"
USAGE = (
    "请这样写：调整目标 客户编号或名称 +5% 理由（可附链接；可写周期，如 2026Q2）。\n"
    "例如：调整目标 C001 -3% 竞品开业分流 https://…"
)
NO_STORE = "没有找到门店「{word}」。"
MANY = "有多家门店叫「{word}」，请改用客户编号：{ids}"
NOT_MINE = "门店「{name}」不在你的团队范围内，不能调整。"
NO_TARGET = "门店「{name}」在{period}还没有目标（先由总监分解并确认）。"
NO_REASON = "请写明调整理由，例如：调整目标 {store} {pct} 竞品促销。"
ASK_EVIDENCE = "将把「{name}」{period}的目标从{before}调整为{after}（{pct}）。\n请发送证据：照片、文件或链接（发送“取消”放弃）。"
ABANDONED = "未收到证据，这次目标调整已放弃（需要时请重新发送「调整目标 …」）。"
CANCELLED = "已取消这次目标调整。"
BAD_PHOTO = "这张照片无法作为证据（{reason}），请重新发送。"
DONE = (
    "已调整「{name}」（{store}）{period}目标：{before} → {after}（{pct}，原定{committed}）。\n"
    "理由：{reason}；证据：{evidence}。\n"
    "汇总：业务员{rep}的目标随之变为{rep_fen}；{city}原定目标{city_committed}保持不变，"
    "其门店目标合计现为{city_live}（调整{city_delta}）。"
)
TO_REP = "你负责的门店「{name}」{period}目标已由{who}调整：{before} → {after}（{pct}）。理由：{reason}"
EVIDENCE_WORDS = {"image": "照片", "file": "文件", "link": "链接"}


def on_adjust(ctx: Ctx, event: Inbound) -> None:
    if ctx.user is None or ctx.user.role not in SEE_TREE:
        ctx.reply(Text(content=ONLY_MANAGERS))
        return
    cmd = parse_command(text_of(event) or "")
    if cmd is None:
        ctx.reply(Text(content=USAGE))
        return
    found = find_store(ctx.session, cmd.store)
    if not found:
        ctx.reply(Text(content=NO_STORE.format(word=cmd.store)))
        return
    if len(found) > 1:
        ctx.reply(Text(content=MANY.format(word=cmd.store, ids="、".join(c.customer_id for c in found))))
        return
    store = found[0]
    if not scope_of(whole_tree(ctx.session), ctx.userid).sees_owner(store.owner_userid):
        ctx.reply(Text(content=NOT_MINE.format(name=store.name)))
        return
    today = ctx.now.astimezone(ORG_ZONE).date()
    try:
        target = target_of(ctx.session, store.customer_id, cmd.period, today)
    except BadPeriod as e:
        ctx.reply(Text(content=str(e)))
        return
    if target is None:
        ctx.reply(Text(content=NO_TARGET.format(name=store.name, period=cmd.period or "本季度、本月和本年")))
        return
    limit = Fraction(str(policy_of(ctx).target_adjust_limit_pct))
    after = adjusted(target.committed_fen, cmd.pct)
    if not within_bound(cmd.pct, limit):
        ctx.reply(Text(content=_refused_words(limit, cmd.pct)))
        return
    if not cmd.reason:
        ctx.reply(Text(content=NO_REASON.format(store=store.customer_id, pct=percent_words(cmd.pct))))
        return
    draft = {"target_id": target.target_id, "pct": str(cmd.pct), "reason": cmd.reason}
    if cmd.link:
        _finish(ctx, draft, {"kind": "link", "ref": cmd.link[:512]})
        return
    ctx.set_state(DialogState.TARGET_EVIDENCE, {"draft": draft})
    ctx.reply(
        Text(
            content=ASK_EVIDENCE.format(
                name=store.name,
                period=target.period,
                before=yuan(target.amount_fen),
                after=yuan(after),
                pct=percent_words(cmd.pct),
            )
        )
    )


def on_evidence(ctx: Ctx, event: Inbound) -> bool | None:
    """The dialog state after 调整目标 without a link: a photo, a file or a link completes it."""
    draft = (ctx.state_data or {}).get("draft")
    if not draft:
        ctx.set_state(DialogState.IDLE)
        return False
    evidence: dict[str, Any] | None = None
    if isinstance(event, ImageIn):
        got = ctx.prefetched or {"ok": False, "reason": "照片下载失败"}
        if not got.get("ok"):
            ctx.reply(Text(content=BAD_PHOTO.format(reason=got.get("reason", "无法读取"))))
            return None
        evidence = {
            "kind": "image",
            "ref": event.media_id,
            "path": got.get("path"),
            "phash": got.get("phash"),
        }
    elif isinstance(event, FileIn):
        evidence = {"kind": "file", "ref": event.media_id, "name": event.title}
    else:
        said = (text_of(event) or "").strip()
        if said in ("取消", "算了", "不调了"):
            ctx.set_state(DialogState.IDLE)
            ctx.reply(Text(content=CANCELLED))
            return None
        cmd_link = [w for w in said.split() if w.startswith(("http://", "https://"))]
        if not cmd_link:  # something else: the draft is dropped and the text handled as usual
            ctx.set_state(DialogState.IDLE)
            ctx.reply(Text(content=ABANDONED))
            return False
        evidence = {"kind": "link", "ref": cmd_link[0][:512]}
    ctx.set_state(DialogState.IDLE)
    _finish(ctx, draft, evidence)
    return None


def _refused_words(limit: Fraction, pct: Fraction) -> str:
    return (
        f"超出调整上限：门店目标在周期内最多上下浮动±{float(limit):g}%（以原定目标为准），"
        f"本次为{percent_words(pct)}，未调整。"
    )


def _finish(ctx: Ctx, draft: dict[str, Any], evidence: dict[str, Any]) -> None:
    target = ctx.session.get(TargetRow, draft["target_id"])
    if target is None:
        ctx.reply(Text(content="这个目标已不存在（可能已重新分解），未调整。"))
        return
    pct = Fraction(draft["pct"])
    limit = Fraction(str(policy_of(ctx).target_adjust_limit_pct))
    try:
        out = adjust(
            ctx.session,
            target=target,
            pct=pct,
            limit_pct=limit,
            reason=draft["reason"],
            evidence=evidence,
            by=ctx.userid,
            now=ctx.now,
            source=ctx.source,
        )
    except Refused as e:
        ctx.reply(Text(content=str(e)))
        return
    city = target.parent_id.split("|")[-1].split("/")[-1] if target.parent_id else "所在城市"
    live, committed = out.city_live_fen or 0, out.city_committed_fen or 0
    ctx.reply(
        Text(
            content=DONE.format(
                name=out.store_name,
                store=out.store,
                period=out.period,
                before=yuan(out.before_fen),
                after=yuan(out.after_fen),
                pct=percent_words(pct),
                committed=yuan(out.committed_fen),
                reason=draft["reason"],
                evidence=EVIDENCE_WORDS.get(evidence["kind"], evidence["kind"]),
                rep=name_of(ctx.session, out.rep) or out.rep,
                rep_fen=yuan(out.rep_fen),
                city=city,
                city_committed=yuan(committed),
                city_live=yuan(live),
                city_delta=yuan(live - committed),
            )
        )
    )
    if out.rep and out.rep != ctx.userid:
        ctx.send(
            out.rep,
            Text(
                content=TO_REP.format(
                    name=out.store_name,
                    period=out.period,
                    who=name_of(ctx.session, ctx.userid),
                    before=yuan(out.before_fen),
                    after=yuan(out.after_fen),
                    pct=percent_words(pct),
                    reason=draft["reason"],
                )
            ),
        )
