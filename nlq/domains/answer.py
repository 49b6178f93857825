"""Answer a QuerySpec of the newer domains (entities targets, leads, handoffs, finance) inside the asker's scope.

Every statement carries the scope (core/org.py Scope): targets through storage.targets.attainment (only the
stores whose owner the scope sees count), leads by their owner (the public pool, which everyone may claim from,
only when the question names it; org-wide roles see every lead), work orders and contracts by their customer's
owner (and, for work orders, the asker's own departments), reconciliation through
storage.contracts.queries.month_difference / instalments_due. The answer is the same `ask --json` object as
every other: `understood` (in words, every period concrete), the scope line, the figure or rows, and one next
action (docs/nlq-semantics.md § How nlq/ implements this page, "Targets, leads, hand-offs and finance").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from core.clock import SHANGHAI
from core.org import OrgTree, Scope, scope_of
from nlq.domains.read import month_of, target_period
from nlq.parse import Refused
from nlq.spec import LeadFilter, Period, QuerySpec
from nlq.timewords import Window, resolve
from nlq.vocab import Vocab
from storage.contracts.departments import kinds_of
from storage.contracts.models import InstalmentRow, WorkOrderRow
from storage.contracts.queries import instalments_due, month_difference
from storage.leads.models import LeadRow, LeadSopStepRow
from storage.leads.store import OPEN_STAGES
from storage.models import ContractRow, CustomerRow
from storage.targets.attainment import AttainmentRow, attainment
from storage.targets.models import TargetHealthRow

THIS_MONTH = Period(kind="this_month")
LIGHT_WORDS = {"green": "绿灯", "yellow": "黄灯", "red": "红灯"}
TEAM_WORDS = {"delivery": "交付", "finance": "财务", "after_sales": "售后"}
GRADES = ("A+", "A", "B", "C", "未评级")
POOL_WORDS = {"hand": "在负责人手里的", "nurture": "培育池里的", "public": "公海里的"}
VIEW_WORDS = {"esigned": "电子签章完成", "matching": "流水匹配中", "received": "已到账"}
STAGE_WORDS = {
    "new": "新线索",
    "contacted": "已联系",
    "proposal": "已出方案",
    "converted": "已转化",
    "lost": "已输单",
}


def _yuan(fen: int) -> float:
    return float((Decimal(fen) / 100).quantize(Decimal("0.01")))


def _money(v: Any) -> float:
    return float(Decimal(v or 0).quantize(Decimal("0.01")))


# --- understood ---------------------------------------------------------------------------------------
def describe_domain(spec: QuerySpec, *, vocab: Vocab, now: datetime) -> str:
    who = _who(spec, vocab)
    if spec.entity == "targets":
        key = target_period(spec.period or THIS_MONTH, now)
        when = resolve(spec.period or THIS_MONTH, now).label + (
            "（未指定周期，按本月）" if spec.period is None else ""
        )
        if spec.figure == "red_light":
            return f"{when}目标健康灯为红灯的业务员（最近一次每周检查，周期{key}）"
        fig = {
            "target": "销售目标（门店目标合计，个人另加开发目标）",
            "attainment": "目标达成率（销售额÷目标）",
            "gap": "目标缺口（目标−销售额，不低于0）",
        }[spec.figure]
        by = f"各{GROUP_WORDS[spec.group_by]}的" if spec.group_by else ""
        return f"{when}{who}{by}{fig}，目标周期{key}"
    if spec.entity == "leads":
        return _lead_words(spec, vocab, now, who)
    if spec.entity == "handoffs":
        h = spec.handoff
        team = TEAM_WORDS[h.team] + "" if h and h.team else "交付、财务、售后"
        state = (
            "曾超过时限（已通知部门负责人）的"
            if h and h.breached
            else "超过时限仍无人认领、完成或受阻的"
            if h and h.overdue
            else "还没完成的"
        )
        by = "，按部门分组" if spec.group_by else ""
        head = "数量" if spec.figure == "count" else "清单"
        return f"{who}{state}{team}交接工单{head}{by}（截至现在）"
    if spec.figure == "difference":
        month = month_of(spec.period or THIS_MONTH, now)
        note = "（未指定月份，按本月）" if spec.period is None else ""
        return (
            f"{month:%Y年%m月}{note}{who}对账差异：销售口径（当月到期的分期应回款）− 财务口径"
            "（匹配到这些分期、当月到账的银行流水）"
        )
    if spec.figure == "due":
        w = resolve(spec.period or THIS_MONTH, now)
        note = "（未指定时间，按本月）" if spec.period is None else ""
        return f"{w.label}{note}{who}计划回款：到期日在这段时间的分期金额合计（按付款条件计算）"
    head = "数量" if spec.figure == "count" else "清单"
    return f"{who}财务口径为「{VIEW_WORDS[spec.finance_view or 'matching']}」的合同{head}（截至现在）"


GROUP_WORDS = {"region": "大区", "city": "城市", "rep": "业务员", "team": "主管团队"}


def _who(spec: QuerySpec, vocab: Vocab) -> str:
    c = spec.customer
    bits = []
    if c.owners:
        bits.append("、".join(vocab.person_label(u) for u in c.owners))
    if c.under:
        bits.append("、".join(vocab.person_label(u) for u in c.under) + "团队")
    bits += list(c.regions) + list(c.cities)
    return "、".join(bits) + ("的" if bits else "")


def _lead_words(spec: QuerySpec, vocab: Vocab, now: datetime, who: str) -> str:
    f = spec.leads
    conds = []
    if f is not None:
        if f.grades:
            conds.append("、".join(f.grades) + "级")
        if f.sources:
            conds.append("来源为" + "、".join(f.sources))
        if f.pool:
            conds.append(POOL_WORDS[f.pool])
        if f.quiet_hours:
            conds.append(f"超过{f.quiet_hours}小时没有有效跟进的")
        if f.sop_overdue:
            conds.append("跟进步骤（黄金4小时等）已超时未完成的")
        if f.stage:
            conds.append(f"阶段为「{STAGE_WORDS[f.stage]}」的")
    cond = "、".join(conds)
    by = {
        None: "",
        "rep": "，按负责人分组",
        "region": "，按线索的大区分组",
        "grade": "，按等级分组",
        "source": "，按来源分组",
    }[spec.group_by]
    if spec.figure in ("new_count", "conversion_rate", "activation_rate"):
        when = resolve(spec.period, now).label + "创建的" if spec.period else "全部时间创建的"
        if spec.figure == "new_count":
            return f"{who}{when}{cond}新增线索数{by}"
        if spec.figure == "activation_rate":
            return f"{who}{when}{cond}线索的激活率（有过有效跟进的÷全部）{by}"
        return f"{who}{when}{cond}线索的转化率（已转化为客户÷全部）{by}"
    head = "数量" if spec.figure == "count" else "清单"
    which = "线索" if f is not None and f.stage else "跟进中的线索（新线索、已联系、已出方案）"
    return f"{who}{cond}{which}{head}{by}（截至现在）"


def domain_alternatives(spec: QuerySpec, *, vocab: Vocab, now: datetime) -> list[dict[str, Any]]:
    """The other reading of an ambiguous question: a target question without a period is read as this month
    (the quarter offered); 新线索数 without a period counts every lead created (the leads still in the stage
    新线索 offered)."""
    if spec.period is not None:
        return []
    if spec.entity == "targets":
        alt = spec.model_copy(update={"period": Period(kind="this_quarter")})
    elif spec.entity == "leads" and spec.figure == "new_count":
        f = spec.leads or LeadFilter()
        alt = spec.model_copy(update={"figure": "count", "leads": f.model_copy(update={"stage": "new"})})
    else:
        return []
    return [{"understood": describe_domain(alt, vocab=vocab, now=now), "spec": alt.model_dump(mode="json")}]


# --- the answer -----------------------------------------------------------------------------------------
def answer_domain(
    session: Session, spec: QuerySpec, scope: Scope, *, vocab: Vocab, now: datetime, cap: int
) -> dict[str, Any]:
    """The answer's kind-specific fields: value / numerator / denominator, rows, understood_more, reason,
    suggestion and action."""
    run = {"targets": _targets, "leads": _leads, "handoffs": _handoffs, "finance": _finance}[spec.entity]
    return run(session, spec, scope, vocab=vocab, now=now, cap=cap)


def _narrow(scope: Scope, spec: QuerySpec, tree: OrgTree) -> Scope:
    """The scope narrowed to the people the question names (X, X团队), never wider than the asker's."""
    c = spec.customer
    named: set[str] = set(c.owners)
    for boss in c.under:
        named |= set(scope_of(tree, boss).owners or ())
    if not c.owners and not c.under:
        return scope
    owners = frozenset(named if scope.owners is None else named & scope.owners)
    return replace(scope, owners=owners)


# targets
def _targets(
    session: Session, spec: QuerySpec, scope: Scope, *, vocab: Vocab, now: datetime, cap: int
) -> dict[str, Any]:
    today = now.astimezone(SHANGHAI).date()
    key = target_period(spec.period or THIS_MONTH, now)
    if spec.figure == "red_light":
        return _red_reps(session, scope, vocab, key)
    c = spec.customer
    tree = vocab.tree
    if spec.group_by is not None:
        if spec.group_by in ("rep", "team") and (c.regions or c.cities):
            raise Refused("按业务员或团队看目标时，不能再限定大区或城市（个人目标含其全部门店）。")
        level = "rep" if spec.group_by == "team" else spec.group_by
        rows = attainment(session, _narrow(scope, spec, tree), key, level, today=today)
        if level == "city" and c.regions:
            rows = [r for r in rows if r.key.split("/", 1)[0] in c.regions]
        if c.cities and level in ("region", "city"):
            rows = [r for r in rows if r.key.split("/", 1)[-1] in c.cities]
        groups = _group_rows(rows, spec, vocab, tree)
        lights = _lights(session, key, level if level != "team" else "rep")
        out_rows = []
        for g in groups:
            row = _target_row(g["key"], g["name"], g["target"], g["sales"], g["elapsed"], spec.figure)
            if spec.group_by != "team" and g["node"] in lights:
                row["light"] = LIGHT_WORDS.get(lights[g["node"]], lights[g["node"]])
            out_rows.append(row)
        out_rows = _ranked(out_rows, spec)
        return {
            "rows": out_rows,
            "suggestion": _target_suggestion(spec, out_rows),
        }
    if c.owners or c.under:
        level, keys = "rep", set(c.owners)
        rows = attainment(session, _narrow(scope, spec, tree), key, "rep", today=today)
        if c.under:
            keys = {r.key for r in rows}
    elif c.cities:
        level = "city"
        rows = [
            r
            for r in attainment(session, scope, key, "city", today=today)
            if r.key.split("/", 1)[-1] in c.cities
        ]
        keys = {r.key for r in rows}
    elif c.regions:
        level = "region"
        rows = [r for r in attainment(session, scope, key, "region", today=today) if r.key in c.regions]
        keys = {r.key for r in rows}
    elif scope.role == "rep":  # a rep's own target: their stores plus their development target
        level, keys = "rep", {scope.asker}
        rows = attainment(session, scope, key, "rep", today=today)
    else:
        level, keys = "org", {"org"}
        rows = attainment(session, scope, key, "org", today=today)
    picked = [r for r in rows if r.key in keys]
    target, sales = sum(r.target_fen for r in picked), sum(r.sales_fen for r in picked)
    elapsed = rows[0].elapsed if rows else _elapsed(key, today)
    fig = _target_row("", "", target, sales, elapsed, spec.figure)
    more = f"；目标¥{_yuan(target):,.2f}，已完成销售额¥{_yuan(sales):,.2f}，时间进度{elapsed:.0%}"
    if fig.get("pace") is not None:
        more += f"，进度比（达成率÷时间进度）{fig['pace']:.2f}"
    if len(picked) == 1:
        light = _lights(session, key, level).get(picked[0].key)
        if light:
            more += f"，最近一次健康检查：{LIGHT_WORDS.get(light, light)}"
    out: dict[str, Any] = {"value": fig["value"], "understood_more": more}
    if spec.figure == "attainment":
        out.update(numerator=_yuan(sales), denominator=_yuan(target))
    if target == 0:
        out["reason"] = "这个范围在该周期还没有设定目标（目标为0），达成率为空。"
    out["suggestion"] = (
        "看一下你名下本月下单最少的门店，先去补单（例如「本月下单金额低于3000的客户」）。"
        if scope.role == "rep"
        else _target_suggestion(spec, [])
    )
    return out


def _elapsed(key: str, today: date) -> float:
    from core.targets.periods import parse_period

    return parse_period(key).elapsed_share(today)


def _group_rows(
    rows: list[AttainmentRow], spec: QuerySpec, vocab: Vocab, tree: OrgTree
) -> list[dict[str, Any]]:
    from nlq.answer import team_of

    merged: dict[str, dict[str, Any]] = {}
    for r in rows:
        if spec.group_by == "team":
            k = team_of(tree, r.key)
            name = f"{vocab.person_label(k)}团队"
        elif spec.group_by == "city":
            k, name = r.key.split("/", 1)[-1], r.key.split("/", 1)[-1]
        elif spec.group_by == "rep":
            k, name = r.key, vocab.person_label(r.key)
        else:
            k, name = r.key, r.name
        g = merged.setdefault(
            k, {"key": k, "name": name, "target": 0, "sales": 0, "elapsed": r.elapsed, "node": r.key}
        )
        g["target"] += r.target_fen
        g["sales"] += r.sales_fen
    return [merged[k] for k in sorted(merged)]


def _target_row(key: str, name: str, target: int, sales: int, elapsed: float, figure: str) -> dict[str, Any]:
    att = sales / target if target > 0 else None
    row: dict[str, Any] = {"key": key, "name": name}
    value: Any = {"target": _yuan(target), "gap": _yuan(max(0, target - sales)), "attainment": att}[figure]
    row["value"] = value
    if figure == "attainment":
        row.update(numerator=_yuan(sales), denominator=_yuan(target))
    row.update(
        target=_yuan(target),
        sales=_yuan(sales),
        gap=_yuan(max(0, target - sales)),
        elapsed=round(elapsed, 4),
        pace=round(att / elapsed, 4) if att is not None and elapsed > 0 else None,
    )
    return row


def _ranked(rows: list[dict[str, Any]], spec: QuerySpec) -> list[dict[str, Any]]:
    if spec.ranking is None:
        return rows
    desc = spec.ranking.descending
    known = sorted(
        (r for r in rows if r["value"] is not None),
        key=lambda r: (-r["value"] if desc else r["value"], str(r["key"])),
    )
    out = known + [r for r in rows if r["value"] is None]
    return out[: spec.limit] if spec.limit else out


def _lights(session: Session, key: str, level: str) -> dict[str, str]:
    """The light of each node at its latest weekly check of the period (storage.targets.health writes them)."""
    latest = (
        select(TargetHealthRow.node_key, func.max(TargetHealthRow.checked_on).label("d"))
        .where(TargetHealthRow.period == key, TargetHealthRow.level == level)
        .group_by(TargetHealthRow.node_key)
        .subquery()
    )
    q = (
        select(TargetHealthRow.node_key, TargetHealthRow.light)
        .join(
            latest,
            and_(
                latest.c.node_key == TargetHealthRow.node_key,
                latest.c.d == TargetHealthRow.checked_on,
            ),
        )
        .where(TargetHealthRow.period == key, TargetHealthRow.level == level)
    )
    return dict(session.execute(q).all())


def _red_reps(session: Session, scope: Scope, vocab: Vocab, key: str) -> dict[str, Any]:
    reps = [u for u, p in vocab.users.items() if p.role == "rep" and scope.sees_owner(u)]
    lights = _lights(session, key, "rep")
    rows = [
        {"userid": u, "name": vocab.users[u].name, "light": "红灯"}
        for u in sorted(reps)
        if lights.get(u) == "red"
    ]
    n = len(rows)
    return {
        "rows": rows,
        "suggestion": (
            f"给这{n}位业务员发目标诊断卡，并请其主管在48小时内记录行动（「目标行动 …」）。" if n else None
        ),
    }


def _target_suggestion(spec: QuerySpec, rows: list[dict[str, Any]]) -> str:
    if spec.group_by and rows:
        worst = min((r for r in rows if r.get("pace") is not None), key=lambda r: r["pace"], default=None)
        if worst is not None:
            return f"「{worst['name']}」进度最落后（进度比{worst['pace']:.2f}），先看它缺口最大的门店。"
    return "按业务员看一下目标缺口，找出进度落后的人（例如「本月每个业务员的目标缺口」）。"


# leads
def _lead_base(spec: QuerySpec, scope: Scope, tree: OrgTree, now: datetime) -> list[Any]:
    f = spec.leads
    public = f is not None and f.pool == "public"
    conds: list[Any] = []
    if scope.owners is not None:
        mine = LeadRow.owner_userid.in_(sorted(scope.owners))
        conds.append(or_(mine, LeadRow.pool == "public") if public else mine)
    c = spec.customer
    if c.owners or c.under:
        named = _narrow(scope, spec, tree).owners or frozenset()
        conds.append(LeadRow.owner_userid.in_(sorted(named)))
    if c.regions:
        conds.append(LeadRow.region.in_(c.regions))
    if f is not None:
        if f.grades:
            conds.append(LeadRow.grade.in_(f.grades))
        if f.pool == "hand":
            conds += [LeadRow.pool.is_(None), LeadRow.owner_userid.is_not(None)]
        elif f.pool is not None:
            conds.append(LeadRow.pool == f.pool)
        if f.sources:
            conds.append(LeadRow.source.in_(f.sources))
    if spec.figure in ("new_count", "conversion_rate", "activation_rate"):
        if spec.period is not None:
            w = resolve(spec.period, now)
            conds += [
                LeadRow.created_at >= w.start,
                LeadRow.created_at <= w.end if w.end_inclusive else LeadRow.created_at < w.end,
            ]
        return conds
    conds.append(LeadRow.stage == f.stage if f is not None and f.stage else LeadRow.stage.in_(OPEN_STAGES))
    if f is not None and f.quiet_hours:
        conds += [
            LeadRow.owner_userid.is_not(None),
            LeadRow.quiet_since < now - timedelta(hours=f.quiet_hours),
        ]
    if f is not None and f.sop_overdue:
        step = [
            LeadSopStepRow.lead_id == LeadRow.lead_id,
            LeadSopStepRow.owner_userid == LeadRow.owner_userid,  # still the owner's lead
            LeadSopStepRow.status.in_(("open", "late")),
            LeadSopStepRow.due_at < now,
        ]
        if scope.owners is not None:
            step.append(LeadSopStepRow.owner_userid.in_(sorted(scope.owners)))
        conds.append(exists().where(*step))
    return conds


def _leads(
    session: Session, spec: QuerySpec, scope: Scope, *, vocab: Vocab, now: datetime, cap: int
) -> dict[str, Any]:
    conds = _lead_base(spec, scope, vocab.tree, now)
    converted = func.sum(case((LeadRow.stage == "converted", 1), else_=0))
    if spec.figure == "activation_rate":  # 激活率: at least one effective follow-up (docs/leads.md)
        converted = func.sum(case((LeadRow.last_effective_at.is_not(None), 1), else_=0))
    if spec.figure == "list":
        q = select(LeadRow).where(*conds)
        f = spec.leads
        if f is not None and (f.quiet_hours or f.sop_overdue):
            q = q.order_by(LeadRow.quiet_since, LeadRow.lead_id)
        else:
            q = q.order_by(LeadRow.score.desc().nulls_last(), LeadRow.quiet_since, LeadRow.lead_id)
        leads = list(session.scalars(q.limit(cap)))
        rows = [_lead_row(x, vocab, now) for x in leads]
        return {"rows": rows, "suggestion": _lead_suggestion(spec, rows)}
    if spec.group_by is not None:
        col = {
            "rep": LeadRow.owner_userid,
            "region": LeadRow.region,
            "grade": LeadRow.grade,
            "source": LeadRow.source,
        }[spec.group_by]
        q = select(col, func.count(), converted).where(*conds).group_by(col)
        found: dict[Any, tuple[int, int]] = {}
        for k, n, conv in session.execute(q):
            k = (k or "未评级") if spec.group_by == "grade" else k
            a, b = found.get(k, (0, 0))
            found[k] = (a + int(n), b + int(conv or 0))
        domain: list[Any] = []
        if spec.group_by == "grade":
            domain = list(GRADES)
        elif spec.group_by == "rep":
            domain = [u for u, p in vocab.users.items() if p.role == "rep" and scope.sees_owner(u)]
            if spec.customer.owners or spec.customer.under:
                domain = [u for u in domain if u in (_narrow(scope, spec, vocab.tree).owners or ())]
        rows = []
        for k in sorted({*domain, *found}, key=lambda x: (x is None, str(x))):
            n, conv = found.get(k, (0, 0))
            name = vocab.person_label(k) if spec.group_by == "rep" and k else (k or "（未填）")
            rows.append({"key": k, "name": name, **_lead_value(spec, n, conv)})
        rows = _ranked(rows, spec)
        return {"rows": rows, "suggestion": _lead_suggestion(spec, rows)}
    n, conv = session.execute(select(func.count(), converted).where(*conds)).one()
    out = _lead_value(spec, int(n), int(conv or 0))
    if spec.figure in ("conversion_rate", "activation_rate") and not n:
        out["reason"] = "这个范围和时间内没有线索（分母为0），比率为空。"
    out["suggestion"] = _lead_suggestion(spec, [])
    return out


def _lead_value(spec: QuerySpec, n: int, conv: int) -> dict[str, Any]:
    if spec.figure in ("conversion_rate", "activation_rate"):
        return {"value": conv / n if n else None, "numerator": conv, "denominator": n}
    return {"value": n}


def _lead_row(x: LeadRow, vocab: Vocab, now: datetime) -> dict[str, Any]:
    quiet = x.quiet_since
    return {
        "lead_id": x.lead_id,
        "name": x.company,
        "owner": x.owner_userid,
        "owner_name": vocab.person_label(x.owner_userid) if x.owner_userid else "公海",
        "grade": x.grade,
        "score": x.score,
        "stage": STAGE_WORDS.get(x.stage, x.stage),
        "pool": x.pool,
        "source": x.source,
        "quiet_since": quiet.isoformat() if quiet else None,
        "quiet_hours": round(
            (now - (quiet if quiet.tzinfo else quiet.replace(tzinfo=UTC))).total_seconds() / 3600, 1
        ),
    }


def _lead_suggestion(spec: QuerySpec, rows: list[dict[str, Any]]) -> str | None:
    f = spec.leads
    if rows and spec.figure == "list" and f is not None and (f.quiet_hours or f.sop_overdue):
        owners = {r["owner"] for r in rows if r["owner"]}
        return f"提醒这{len(owners)}位负责人今天跟进这{len(rows)}条线索（电话、拜访或方案才算有效跟进）。"
    if rows and spec.figure == "list" and f is not None and f.pool == "public":
        return "从公海认领合适的线索（每人有持有上限），认领后黄金4小时的跟进序列会重新开始。"
    if spec.figure == "conversion_rate":
        return "按来源看一下线索转化率，把精力放在转化高的来源（例如「各来源线索转化率」）。"
    return "看一下超时未跟进的线索，先跟进A+和A类（例如「超时未跟进的线索」）。"


# hand-offs
def _my_teams(session: Session, asker: str) -> list[str]:
    """The departments the asker heads or belongs to: their work orders are theirs whoever owns the customer."""
    return sorted(kinds_of(session, asker))


def _handoffs(
    session: Session, spec: QuerySpec, scope: Scope, *, vocab: Vocab, now: datetime, cap: int
) -> dict[str, Any]:
    h = spec.handoff
    conds: list[Any] = []
    if h is not None and h.breached:
        conds.append(WorkOrderRow.escalated >= 1)
    elif h is not None and h.overdue:
        conds += [WorkOrderRow.status == "open", WorkOrderRow.due_at <= now]
    else:
        conds.append(WorkOrderRow.status != "done")
    if h is not None and h.team:
        conds.append(WorkOrderRow.team == h.team)
    if scope.owners is not None:
        mine = CustomerRow.owner_userid.in_(sorted(scope.owners))
        teams = _my_teams(session, scope.asker)
        conds.append(or_(mine, WorkOrderRow.team.in_(teams)) if teams else mine)
    conds += _customer_conds(spec, scope, vocab.tree)
    base = (
        select(WorkOrderRow, CustomerRow.customer_id, CustomerRow.name, CustomerRow.owner_userid)
        .join(ContractRow, ContractRow.contract_no == WorkOrderRow.contract_no)
        .join(CustomerRow, CustomerRow.customer_id == ContractRow.customer_id)
        .where(*conds)
    )
    if spec.group_by == "department":
        counts: dict[str, int] = {}
        for wo, *_ in session.execute(base):
            counts[wo.team] = counts.get(wo.team, 0) + 1
        rows = [{"key": TEAM_WORDS[t], "name": TEAM_WORDS[t], "value": counts.get(t, 0)} for t in TEAM_WORDS]
        rows = _ranked(rows, spec)
        worst = max(rows, key=lambda r: r["value"])
        if h is not None and h.breached:
            tip = (
                f"「{worst['key']}」环节超时最多（{worst['value']}单）：看一下协作健康月报里它的受阻原因。"
                if worst["value"]
                else None
            )
        else:
            tip = (
                f"「{worst['key']}」环节积压最多（{worst['value']}单），请该部门负责人先认领。"
                if worst["value"]
                else None
            )
        return {"rows": rows, "suggestion": tip}
    if spec.figure == "count":
        n = len(session.execute(base).all())
        return {"value": n, "suggestion": _handoff_tip(n, h)}
    rows = []
    for wo, cid, name, owner in session.execute(
        base.order_by(WorkOrderRow.due_at, WorkOrderRow.id).limit(cap)
    ):
        due = wo.due_at if wo.due_at.tzinfo else wo.due_at.replace(tzinfo=UTC)
        rows.append(
            {
                "work_order_id": wo.id,
                "contract_no": wo.contract_no,
                "customer_id": cid,
                "name": name,
                "owner": owner,
                "owner_name": vocab.person_label(owner),
                "team": TEAM_WORDS.get(wo.team, wo.team),
                "status": wo.status,
                "due_at": due.isoformat(),
                "overdue_hours": round((now - due).total_seconds() / 3600, 1),
                "escalated": wo.escalated,
            }
        )
    return {"rows": rows, "suggestion": _handoff_tip(len(rows), h)}


def _handoff_tip(n: int, h: Any) -> str | None:
    if not n:
        return None
    if h is not None and h.overdue:
        return f"这{n}张工单已超过时限：请对应部门负责人认领，或标记受阻并写明原因。"
    return "看一下其中已超时的（例如「超时未响应的交付工单」）。"


def _customer_conds(spec: QuerySpec, scope: Scope, tree: OrgTree) -> list[Any]:
    c = spec.customer
    out: list[Any] = []
    if c.owners or c.under:
        out.append(CustomerRow.owner_userid.in_(sorted(_narrow(scope, spec, tree).owners or ())))
    if c.regions:
        out.append(CustomerRow.region.in_(c.regions))
    if c.cities:
        out.append(CustomerRow.city.in_(c.cities))
    return out


# finance
def _finance(
    session: Session, spec: QuerySpec, scope: Scope, *, vocab: Vocab, now: datetime, cap: int
) -> dict[str, Any]:
    c = spec.customer
    if spec.figure in ("difference", "due"):
        if c.regions or c.cities:
            raise Refused("对账差异和计划回款按可见范围或业务员计算，不按大区、城市筛选。")
        narrowed = _narrow(scope, spec, vocab.tree)
        if spec.figure == "difference":
            month = month_of(spec.period or THIS_MONTH, now)
            d = month_difference(session, narrowed, month)
            more = f"；销售口径应回款¥{_money(d.expected):,.2f}，财务口径已到账¥{_money(d.received):,.2f}" + (
                f"，差异率{d.rate:.1%}" if d.rate is not None else ""
            )
            if narrowed.owners is None:
                more += f"；当月还有{d.unmatched_lines}笔银行流水未匹配（¥{_money(d.unmatched_amount):,.2f}）"
            tip = (
                "看一下还在流水匹配中的合同（「哪些合同还在流水匹配中」），逐笔核对差异。"
                if d.difference
                else None
            )
            return {"value": _money(d.difference), "understood_more": more, "suggestion": tip}
        w: Window = resolve(spec.period or THIS_MONTH, now)
        lo, hi = w.date_bounds()
        due = instalments_due(session, narrowed, lo, hi + timedelta(days=1))
        total = sum((i.amount for i in due), Decimal(0))
        paid = sum((min(i.paid, i.amount) for i in due), Decimal(0))
        more = f"；共{len(due)}期，其中已回¥{_money(paid):,.2f}，未回¥{_money(total - paid):,.2f}"
        tip = "提醒负责人跟进这段时间到期未回的分期。" if total > paid else None
        return {"value": _money(total), "understood_more": more, "suggestion": tip}
    paid = (
        select(InstalmentRow.contract_no, func.coalesce(func.sum(InstalmentRow.paid), 0).label("paid"))
        .group_by(InstalmentRow.contract_no)
        .subquery()
    )
    conds: list[Any] = [ContractRow.finance_status == spec.finance_view]
    if scope.owners is not None:
        conds.append(CustomerRow.owner_userid.in_(sorted(scope.owners)))
    conds += _customer_conds(spec, scope, vocab.tree)
    q = (
        select(ContractRow, CustomerRow.name, CustomerRow.owner_userid, paid.c.paid)
        .join(CustomerRow, CustomerRow.customer_id == ContractRow.customer_id)
        .outerjoin(paid, paid.c.contract_no == ContractRow.contract_no)
        .where(*conds)
        .order_by(ContractRow.due_on, ContractRow.contract_no)
    )
    found = session.execute(q.limit(cap)).all()
    if spec.figure == "count":
        n = session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
        return {"value": int(n), "suggestion": None}
    rows = [
        {
            "contract_no": k.contract_no,
            "customer_id": k.customer_id,
            "name": name,
            "owner": owner,
            "owner_name": vocab.person_label(owner),
            "amount": _money(k.amount),
            "paid": _money(p),
            "sales_status": {"signed": "客户确认签约", "pending": "待签约"}.get(
                k.sales_status or "", "客户确认签约"
            ),
            "finance_status": VIEW_WORDS.get(k.finance_status or "", k.finance_status),
            "next_due_on": k.due_on.isoformat() if k.due_on else None,
        }
        for k, name, owner, p in found
    ]
    tip = None
    if rows and spec.finance_view == "matching":
        tip = f"这{len(rows)}份合同的分期还没全部到账：请财务核对流水，负责人跟进未付的分期。"
    return {"rows": rows, "suggestion": tip}
