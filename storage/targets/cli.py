"""`python main.py targets cascade|show|coefficient` (README § Commands, docs/targets.md)."""

from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

from core.clock import ORG_ZONE, FixedClock, SystemClock, parse_time
from core.targets.periods import BadPeriod, parse_period
from core.targets.split import share, yuan
from storage.db import make_engine, make_session_factory, writer_session
from storage.schema import upgrade
from storage.targets.plan import NothingToSplit, apply, plan_json, preview, set_coefficient
from storage.targets.tree import load_tree, tree_json, tree_text


def _fail(msg: str) -> int:
    print(msg, file=sys.stderr)
    return 2


def _yuan_to_fen(text: str) -> int:
    d = Decimal(text.replace(",", "").replace("¥", "").removesuffix("元"))
    if not d.is_finite() or d < 0:
        raise InvalidOperation
    return int((d * 100).to_integral_value())


def run_targets(args: Any, url: str) -> int:
    try:
        period = parse_period(args.period)
    except BadPeriod as e:
        return _fail(str(e))
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    if args.targets_command == "show":
        with factory() as s:
            tree = load_tree(s, period.key)
        if tree is None:
            return _fail(
                f"{period.label}（{period.key}）还没有目标：先运行 targets cascade --apply 或导入目标表"
            )
        print(
            json.dumps(tree_json(tree), ensure_ascii=False, indent=2)
            if args.json
            else tree_text(tree, depth=args.depth)
        )
        return 0
    if args.targets_command == "coefficient":
        try:
            value = Decimal(args.value)
        except InvalidOperation:
            return _fail(f"区域系数应为数字，实际为“{args.value}”")
        try:
            with writer_session(factory) as s:
                set_coefficient(
                    s,
                    period=period.key,
                    region=args.region,
                    value=value,
                    reason=args.reason,
                    by=args.as_user,
                    now=SystemClock().now(),
                )
                s.commit()
        except ValueError as e:
            return _fail(str(e))
        print(f"{period.key} {args.region} 区域系数 {value}（{args.reason}）已设定")
        return 0
    # cascade
    try:
        amount = _yuan_to_fen(args.amount)
    except (InvalidOperation, ValueError):
        return _fail(f"--amount 应为金额（元），实际为“{args.amount}”")
    clock = FixedClock(parse_time(args.now)) if args.now else SystemClock()
    now = clock.now()
    with writer_session(factory) as s:
        try:
            plan = preview(s, period, amount, today=now.astimezone(ORG_ZONE).date())
        except NothingToSplit as e:
            return _fail(str(e))
        problems = plan.check()
        if problems:  # never: the split is exact by construction; refuse rather than write a leaking tree
            return _fail("分解合计不一致：" + "；".join(problems[:5]))
        written = 0
        if args.apply:
            written = apply(s, plan, by=args.as_user, now=now)
            s.commit()
    if args.json:
        out = plan_json(plan)
        out["applied"] = bool(args.apply)
        out["written"] = written
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(preview_text(plan))
    print(
        f"已写入 {written} 个目标（每个都有审计记录）"
        if args.apply
        else "这是预览：确认无误后加 --apply 写入"
    )
    return 0


def preview_text(plan: Any) -> str:
    """The director's preview: the organisation, each region with its rationale, its cities; the checks."""
    org = plan.org
    lines = [
        f"{plan.period.label}（{plan.period.key}）目标分解预览",
        f"集团：{yuan(org.target_fen)} | {org.rationale}",
    ]
    cities_fen = 0
    for rid in org.children:
        r = plan.node(rid)
        lines.append(
            f"  大区 {r.name}：{yuan(r.target_fen)}（{share(r.target_fen, org.target_fen)}） | {r.rationale}"
        )
        for cid in r.children:
            c = plan.node(cid)
            cities_fen += c.target_fen
            lines.append(f"    城市 {c.name}：{yuan(c.target_fen)} | {c.rationale}")
    reps = plan.of_level("rep")
    dev = sum(n.development_fen for n in reps)
    lines.append(
        f"门店 {plan.store_count} 家，合计{yuan(sum(plan.store_fen.values()))}；个人 {len(reps)} 人，"
        f"合计{yuan(sum(n.target_fen for n in reps))}（含新客开发目标{yuan(dev)}）"
    )
    lines.append("核对：每一级之和都等于上级目标（精确到分）")
    return "\n".join(lines)
