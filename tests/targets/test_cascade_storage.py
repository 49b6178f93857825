"""Targets on real storage: the `targets` sheet of the import format, the cascade through the CLI (preview,
then --apply), every level summing exactly to its parent in the database, baselines equal to a hand computation
from the fixture's orders, `targets show`, all audited; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

import main
from storage.importer.run import ImportFailed
from storage.models import AuditRow
from storage.targets.models import TargetRow
from tests.support.db import import_texts
from tests.targets import fixture as fx

NOW = datetime(2026, 3, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def org(session_factory, tmp_path):
    import_texts(session_factory, tmp_path / "in", NOW, fx.csv_files())
    return session_factory


def cli(monkeypatch, capsys, db_url, *argv) -> tuple[int, str, str]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    rc = main.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def rows(session_factory, period="2026Q2") -> dict[str, TargetRow]:
    with session_factory() as s:
        return {r.target_id: r for r in s.scalars(select(TargetRow).where(TargetRow.period == period))}


def test_targets_sheet_imports_with_audit(session_factory, tmp_path):
    import_texts(session_factory, tmp_path / "a", NOW, fx.csv_files())
    sheet = """周期,层级,大区,城市,客户编号,账号,目标金额,基数,开发目标,依据
2026Q2,集团,,,,,"120,000,000",,,董事会
2026q2,大区,华东,,,,70000000,,,
2026Q2,城市,华东,上海,,,40000000.005,,,
2026Q2,门店,华东,上海,C01,,100000,80000,,去年同期×1.25
2026Q2,个人,,,,rep04,0,,50000,新开发区
"""
    import_texts(session_factory, tmp_path / "b", NOW, {"目标.csv": sheet})
    got = rows(session_factory)
    assert sorted(got) == [
        "2026Q2|city|华东/上海",
        "2026Q2|org|org",
        "2026Q2|region|华东",
        "2026Q2|rep|rep04",
        "2026Q2|store|C01",
    ]
    store = got["2026Q2|store|C01"]
    assert (store.amount_fen, store.committed_fen, store.baseline_fen, store.parent_id, store.source) == (
        10_000_000,
        10_000_000,
        8_000_000,
        "2026Q2|city|华东/上海",
        "import",
    )
    assert got["2026Q2|city|华东/上海"].amount_fen == 4_000_000_001  # rounded half up to the fen
    assert got["2026Q2|rep|rep04"].development_fen == 5_000_000
    assert got["2026Q2|org|org"].rationale == "董事会"
    with session_factory() as s:
        audits = s.scalars(select(AuditRow).where(AuditRow.entity == "targets")).all()
    assert len(audits) == 5 and all(a.action == "import" and a.before is None for a in audits)

    import_texts(
        session_factory, tmp_path / "c", NOW, {"targets.csv": sheet.replace("100000,80000", "110000,80000")}
    )
    with session_factory() as s:
        audits = s.scalars(select(AuditRow).where(AuditRow.entity == "targets")).all()
        changed = [a for a in audits if a.before]
    assert [(a.entity_id, a.before["amount_fen"], a.after["amount_fen"]) for a in changed] == [
        ("2026Q2|store|C01", 10_000_000, 11_000_000)
    ]

    bad = """周期,层级,大区,城市,客户编号,账号,目标金额,开发目标
2026Q5,集团,,,,,1,
2026Q2,门店,,,,,1,
2026Q2,门店,,,C99,,1,
2026Q2,大区,华南,,,,1,5
"""
    with pytest.raises(ImportFailed) as err:
        import_texts(session_factory, tmp_path / "d", NOW, {"targets.csv": bad})
    text = str(err.value)
    assert "周期应为月（2026-05）、季度（2026Q2）或年（2026）" in text
    assert "层级为store时必填" in text
    assert "客户“C99”不存在" in text
    assert "开发目标只适用于个人" in text


def test_cascade_preview_then_apply_sums_exactly(org, db_url, monkeypatch, capsys):
    args = ("targets", "cascade", "--period", "2026Q2", "--amount", "120000000", "--now", "2026-03-25T10:00")
    rc, out, _ = cli(monkeypatch, capsys, db_url, *args)
    assert rc == 0 and "目标分解预览" in out and "加 --apply 写入" in out and "大区 华东" in out
    assert rows(org) == {}  # a preview writes nothing

    rc, out, _ = cli(monkeypatch, capsys, db_url, *args, "--json", "--apply", "--as", "director")
    assert rc == 0
    plan = json.loads(out)
    assert plan["applied"] and plan["org"]["target_fen"] == 12_000_000_000
    got = rows(org)
    assert plan["written"] == len(got)
    children: dict[str, list[TargetRow]] = defaultdict(list)
    for r in got.values():
        if r.parent_id:
            children[r.parent_id].append(r)
    for tid, r in got.items():  # every level sums exactly to its parent, in fen
        if r.level in ("org", "region", "city"):
            assert children[tid], tid
            assert sum(c.amount_fen for c in children[tid]) == r.amount_fen, tid
        assert r.rationale, tid
    levels = defaultdict(int)
    for r in got.values():
        levels[r.level] += 1
    assert dict(levels) == {"org": 1, "region": 3, "city": 4, "store": 10, "rep": 4}  # C10 is lost
    assert "2026Q2|city|未分区/未分城市" in got
    owned = defaultdict(int)
    for r in got.values():
        if r.level == "store":
            owned[r.factors["owner"]] += r.amount_fen
    for u in ("rep01", "rep02", "rep03", "rep04"):
        assert got[f"2026Q2|rep|{u}"].amount_fen == owned[u]  # rep04 owns nothing: 0
    assert sum(r.amount_fen for r in got.values() if r.level == "rep") == 12_000_000_000

    # baselines by hand: March 2026 is still running on 2026-03-25, so history is 2025-09 … 2026-02
    # (six months, of which the shop existed five: its first order is 2025-10-01)
    c01 = fx.sales("C01", date(2025, 10, 1), date(2026, 3, 1))
    assert got["2026Q2|store|C01"].baseline_fen == (2 * c01 * 3 + 5) // (2 * 5)
    c09 = fx.sales("C09", date(2026, 2, 1), date(2026, 3, 1))  # first order in February: one month active
    assert got["2026Q2|store|C09"].baseline_fen == c09 * 3
    assert got["2026Q2|store|C09"].factors["new"] == 1.1
    # C06 has no orders: half the low median of 杭州's stores with history
    hz = sorted(got[f"2026Q2|store|{c}"].baseline_fen for c in ("C04", "C05"))
    assert got["2026Q2|store|C06"].baseline_fen == (hz[0] + 1) // 2
    assert "新店保底" in got["2026Q2|store|C06"].rationale

    with org() as s:
        n_audit = s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.entity == "target"))
    assert n_audit == len(got)

    rc, out, _ = cli(monkeypatch, capsys, db_url, "targets", "show", "--period", "2026Q2", "--json")
    tree = json.loads(out)
    top = tree["tree"][0]
    assert (top["level"], top["target_fen"], top["live_fen"]) == ("org", 12_000_000_000, 12_000_000_000)
    assert sum(r["target_fen"] for r in top["children"]) == top["target_fen"]
    assert {r["key"] for r in tree["reps"]} == {"rep01", "rep02", "rep03", "rep04"}
    rc, out, _ = cli(monkeypatch, capsys, db_url, "targets", "show", "--period", "2026Q2")
    assert rc == 0 and "门店 C01 味源超市" in out and "个人 rep04 吴敏：目标¥0.00" in out


def test_coefficient_moves_a_region_with_its_reason(org, db_url, monkeypatch, capsys):
    rc, _, err = cli(
        monkeypatch,
        capsys,
        db_url,
        "targets",
        "coefficient",
        "--period",
        "2026Q2",
        "--region",
        "华南",
        "--value",
        "1.6",
        "--reason",
        "竞品进入",
        "--as",
        "rm_south",
    )
    assert rc == 2 and "0.5到1.5" in err
    base = (
        "targets",
        "cascade",
        "--period",
        "2026Q2",
        "--amount",
        "1000000",
        "--now",
        "2026-03-25T10:00",
        "--json",
    )
    _, out, _ = cli(monkeypatch, capsys, db_url, *base)
    before = {r["key"]: r["target_fen"] for r in json.loads(out)["org"]["children"]}
    cli(
        monkeypatch,
        capsys,
        db_url,
        "targets",
        "coefficient",
        "--period",
        "2026Q2",
        "--region",
        "华南",
        "--value",
        "1.2",
        "--reason",
        "竞品退出，动销回升",
        "--as",
        "rm_south",
    )
    _, out, _ = cli(monkeypatch, capsys, db_url, *base)
    after = {r["key"]: r for r in json.loads(out)["org"]["children"]}
    assert after["华南"]["target_fen"] > before["华南"]
    assert sum(r["target_fen"] for r in after.values()) == 100_000_000
    assert "竞品退出，动销回升" in after["华南"]["rationale"] and "rm_south" in after["华南"]["rationale"]
    with org() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(AuditRow).where(AuditRow.entity == "target_coefficient")
            )
            == 1
        )


def test_applying_again_replaces_the_period_audited(org, db_url, monkeypatch, capsys, tmp_path):
    args = ("targets", "cascade", "--period", "2026Q2", "--amount", "1000000", "--now", "2026-03-25T10:00")
    cli(monkeypatch, capsys, db_url, *args, "--apply")
    first = rows(org)
    import_texts(  # C05 is lost since: the next cascade has no target for it
        org,
        tmp_path / "lost",
        NOW,
        {"customers.csv": "customer_id,name,owner_userid,status\nC05,钱塘批发,rep02,流失\n"},
    )
    rc, _, _ = cli(monkeypatch, capsys, db_url, *args, "--apply", "--as", "director")
    assert rc == 0
    again = rows(org)
    assert "2026Q2|store|C05" in first and "2026Q2|store|C05" not in again
    assert sum(r.amount_fen for r in again.values() if r.level == "store") == 100_000_000
    with org() as s:
        audits = s.scalars(
            select(AuditRow).where(AuditRow.entity == "target", AuditRow.actor == "director")
        ).all()
    by_action = defaultdict(list)
    for a in audits:
        by_action[a.action].append(a)
    assert [a.entity_id for a in by_action["delete"]] == ["2026Q2|store|C05"]
    assert by_action["delete"][0].before["amount_fen"] == first["2026Q2|store|C05"].amount_fen
    assert len(by_action["update"]) == len(again) and not by_action["create"]
    c04 = next(a for a in by_action["update"] if a.entity_id == "2026Q2|store|C04")
    assert c04.before["amount_fen"] == first["2026Q2|store|C04"].amount_fen
    assert c04.after["amount_fen"] == again["2026Q2|store|C04"].amount_fen != c04.before["amount_fen"]
