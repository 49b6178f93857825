"""ask(): a question → the Answer dict (the `ask --json` object); render_chat(): that answer as a chat reply."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core.clock import SHANGHAI
from core.org import Scope, UnknownAsker, scope_of
from nlq.compile import DEFAULT_CAP, Plan, compile_spec
from nlq.describe import describe
from nlq.guard import refusal_reason
from nlq.parse import Refused, parse
from nlq.readonly import DEFAULT_TIMEOUT_S, QueryTimeout, is_timeout, read_only
from nlq.spec import Answer, QuerySpec
from nlq.suggest import refusal_suggestion, suggest
from nlq.validate import out_of_scope, resolve_names
from nlq.vocab import Vocab, load_vocab

__all__ = ["ask", "render_chat", "UnknownAsker"]


def ask(
    session: Session,
    *,
    asker: str,
    question: str,
    now: datetime,
    llm: Any = None,
    vocab: Vocab | None = None,
    cap: int = DEFAULT_CAP,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Answer one question inside the asker's scope. Read-only; rolls back. Raises UnknownAsker.

    llm: a LangChain chat model (see nlq.llm); None answers with the offline parser only.
    vocab: the organisation's words, if the caller has them loaded (a batch); else read here.
    """
    with read_only(session, timeout_s):
        vocab = vocab or load_vocab(session)
        if asker not in vocab.users:
            raise UnknownAsker(asker)
        scope = scope_of(vocab.tree, asker)
        base = {"question": question, "asked_by": asker, "scope": scope.words}
        try:
            spec = read_question(question, now=now, vocab=vocab, asker=asker, llm=llm)
        except Refused as r:
            return _refusal(base, r.reason, question)
        understood = describe(spec, vocab=vocab, now=now)
        why = out_of_scope(session, spec, scope, vocab)
        if why:
            return Answer(**base, understood=understood, kind=spec.kind, reason=why).model_dump()
        try:
            return _answer(session, spec, scope, base, understood, now=now, cap=cap)
        except QueryTimeout:
            return _refusal(
                base,
                "这个问题算得太久，已停止。请缩小范围（时间、大区、业务员）再问。",
                question,
                understood=understood,
            )


def read_question(question: str, *, now: datetime, vocab: Vocab, asker: str, llm: Any = None) -> QuerySpec:
    """The LLM's reading if one is configured and it gives a valid spec; else the offline parser's."""
    if llm is not None:
        why = refusal_reason(question)
        if why:
            raise Refused(why)
        from nlq.llm import spec_from_model  # the only LangChain import, loaded only when used

        spec = spec_from_model(llm, question)
        if spec is not None:
            try:
                return resolve_names(spec, vocab)
            except Refused:
                pass  # a name the model made up: the offline parser decides
    return resolve_names(parse(question, now=now, vocab=vocab, asker=asker), vocab)


def _refusal(
    base: dict[str, Any], reason: str, question: str, understood: str = "没能理解这个问题"
) -> dict[str, Any]:
    return Answer(
        **base, understood=understood, kind="refusal", reason=reason, suggestion=refusal_suggestion(question)
    ).model_dump()


def _answer(
    session: Session,
    spec: QuerySpec,
    scope: Scope,
    base: dict[str, Any],
    understood: str,
    *,
    now: datetime,
    cap: int,
) -> dict[str, Any]:
    plan = compile_spec(spec, owners=scope.owners, now=now, dialect=session.get_bind().dialect.name, cap=cap)
    result = _run(session, plan.stmt).all()
    out: dict[str, Any] = {**base, "understood": understood, "kind": plan.kind}
    if plan.kind == "list":
        rows = [_list_row(r, plan, spec) for r in result[:cap]]
        if len(result) > cap:
            total = result[0].total if plan.count is None else _run(session, plan.count).scalar_one()
            out["understood"] += f"（共{total}个，只列出前{cap}个）"
        out["rows"] = rows
    elif plan.kind == "groups":
        out["rows"] = [_group_row(r, plan) for r in result[:cap]]
    else:
        row = result[0]
        if plan.rate:
            num, den = _number(row.num, plan), _number(row.den, plan)
            out.update(value=(num / den) if den else None, numerator=num, denominator=den)
        else:
            out["value"] = _number(row.value, plan)
    answer = Answer(**out).model_dump()
    answer["suggestion"], answer["action"] = suggest(spec, answer)
    return answer


def _run(session: Session, stmt: Any) -> Any:
    try:
        return session.execute(stmt)
    except OperationalError as exc:  # past the statement timeout: ask() answers with a refusal
        if is_timeout(exc):
            raise QueryTimeout(str(exc.orig)) from exc
        raise


def _number(v: Any, plan: Plan) -> int | float:
    if v is None:
        return 0
    if plan.money:
        return round(float(v), 2)
    return int(v)


def _list_row(r: Any, plan: Plan, spec: QuerySpec) -> dict[str, Any]:
    row: dict[str, Any] = {
        "customer_id": r.customer_id,
        "name": r.name,
        "owner": r.owner_userid,
        "owner_name": r.owner_name,
    }
    for i, name in enumerate(plan.fields):
        v = _jsonable(getattr(r, f"f{i}"), money=name in ("sales", "overdue_amount"))
        if name.startswith("tag_visits:"):
            row.setdefault("tag_visits", {})[spec.customer.tags[int(name.split(":")[1])].tag] = v
        else:
            row[name] = v
    return row


def _group_row(r: Any, plan: Plan) -> dict[str, Any]:
    row: dict[str, Any] = {"key": r.key}
    if r.name is not None:
        row["name"] = r.name
    if plan.rate:
        num, den = int(r.num or 0), int(r.den or 0)
        row.update(value=(num / den) if den else None, numerator=num, denominator=den)
    else:
        row["value"] = _number(r.value, plan)
    return row


def _jsonable(v: Any, *, money: bool = False) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(SHANGHAI).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal) or (money and isinstance(v, float | int)):
        return round(float(v), 2)
    return v


# --- chat -------------------------------------------------------------------------------------------

CHAT_ROWS = 5
CHAT_GROUPS = 10


def render_chat(answer: dict[str, Any]) -> str:
    """A short Chinese chat reply: how it was read, whose scope, the figure or the first rows, one next step."""
    lines = []
    if answer["kind"] == "refusal":
        lines.append(f"抱歉，{answer['reason']}")
        if answer.get("suggestion"):
            lines.append(answer["suggestion"])
        return "\n".join(lines)
    lines += [f"理解为：{answer['understood']}", f"范围：{answer['scope']}"]
    if answer.get("reason"):
        lines.append(f"没有数据：{answer['reason']}")
        return "\n".join(lines)
    rows = answer["rows"]
    if answer["kind"] == "figure":
        lines.append(f"结果：{_fmt_value(answer)}")
    elif answer["kind"] == "list":
        lines += [f"{i}. {_fmt_customer(r)}" for i, r in enumerate(rows[:CHAT_ROWS], 1)]
        more = "，以上是前5个" if len(rows) > CHAT_ROWS else ""
        lines.append(f"共{len(rows)}个{more}" if rows else "共0个：没有符合条件的客户")
    else:
        lines += [f"{r.get('name') or r['key'] or '（未填）'}：{_fmt_value(r)}" for r in rows[:CHAT_GROUPS]]
        more = f"，以上是前{CHAT_GROUPS}组" if len(rows) > CHAT_GROUPS else ""
        lines.append(f"共{len(rows)}组{more}")
    if answer.get("suggestion"):
        lines.append(f"建议：{answer['suggestion']}")
    return "\n".join(lines)


def _fmt_value(a: dict[str, Any]) -> str:
    v = a.get("value")
    if a.get("denominator") is not None:
        if v is None:
            return "无数据（分母为0）"
        return f"{v:.1%}（{a['numerator']}/{a['denominator']}）"
    if v is None:
        return "无数据"
    if isinstance(v, float):
        return f"¥{v:,.2f}"
    return str(v)


_FIELD_WORDS = {
    "nps": "NPS",
    "lost_on": "流失于",
    "last_touch_at": "最后跟进",
    "last_visit_at": "最后拜访",
    "sales": "销售额",
    "order_count": "下单",
    "visit_count": "拜访",
    "timeout_tickets": "超时工单",
    "overdue_contracts": "逾期合同",
    "overdue_amount": "逾期未回",
    "region": "大区",
    "city": "城市",
    "channel": "渠道",
}


def _fmt_customer(r: dict[str, Any]) -> str:
    bits = []
    for k, word in _FIELD_WORDS.items():
        if k in r:
            v = r[k]
            if v is None:
                v = "无"
            elif k.endswith("_at"):
                v = str(v)[:10]
            elif k in ("sales", "overdue_amount"):
                v = f"¥{v:,.2f}"
            bits.append(f"{word} {v}")
    for tag, n in (r.get("tag_visits") or {}).items():
        bits.append(f"{tag} {n}次")
    who = r.get("owner_name") or r.get("owner")
    return f"{r['name']}（{who}）" + (" · " + " · ".join(bits) if bits else "")
