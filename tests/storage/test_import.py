"""The import contract (docs/import-format.md) against real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from storage.importer.run import ImportFailed, format_summary, import_paths
from storage.models import (
    AuditRow,
    ContractRow,
    CustomerRow,
    PaymentRow,
    TicketRow,
    UserRow,
    VisitRow,
    VisitTagRow,
)

USERS = """userid,name,role,manager_userid,region,city
rep01,张伟,rep,sup01,华东,上海
sup01,李娜,supervisor,rm_east,华东,上海
rm_east,王强,区域经理,,华东,
"""
# Chinese headers, Chinese enum values, a column the contract does not know
CUSTOMERS_CN = """客户编号,客户名称,营业执照号,渠道,大区,城市,纬度,经度,负责人账号,状态,流失日期,NPS,合作品类,决策链,备注2
C001,味源超市,91350100M000100Y43,连锁商超,华东,上海,31.2304,121.4737,rep01,正常,,85,饮料;零食,采购:王芳；老板:李强,大客户
C002,鲜丰社区生鲜,,社区生鲜,华东,上海,,,rep01,流失,2026-10-02,40,乳品；调味品,,
"""
VISITS = """visit_id,customer_id,rep_userid,checked_in_at,lat,lng,photo_count,tags,note
V001,C001,rep01,2026-05-01T09:30:00,31.2305,121.4738,3,价格异议;库存不足,店长在
V002,C002,rep01,2026-05-02 10:00:00+00:00,,,,,
"""
CUSTOMERS_EN = """customer_id,name,owner_userid,nps
C001,味源超市,rep01,85
C002,鲜丰社区生鲜,rep01,40
C003,老王餐馆,rep01,70
C004,好邻居便利店,rep01,
C005,宏达食品批发部,rep01,90
C006,绿叶生鲜店,rep01,55
"""


def write(folder: Path, name: str, text: str, *, bom: bool = False) -> Path:
    path = folder / name
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


def count(session_factory, model) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.fixture
def files(tmp_path):
    """A folder of its own for the files (the SQLite database lives in tmp_path)."""
    folder = tmp_path / "import"
    folder.mkdir()
    return folder


def run(session_factory, paths, clock, **kw):
    return import_paths(session_factory, list(paths), now=clock.now(), progress=False, **kw)


def test_csv_with_chinese_aliases_bom_and_unknown_column(session_factory, clock, files):
    users = write(files, "users.csv", USERS)
    customers = write(files, "客户.csv", CUSTOMERS_CN, bom=True)
    visits = write(files, "visits.csv", VISITS)
    summary = run(session_factory, [visits, customers, users], clock)  # given in any order

    assert list(summary.tables) == ["users", "customers", "visits"]  # loaded in contract order
    assert {n: (c.created, c.updated, c.unchanged) for n, c in summary.tables.items()} == {
        "users": (3, 0, 0),
        "customers": (2, 0, 0),
        "visits": (2, 0, 0),
    }
    assert summary.warnings == ["客户.csv：已忽略未识别的列 “备注2”"]
    text = format_summary(summary)
    assert "客户（customers）：新增 2，更新 0，未变 0" in text and "备注2" in text

    with session_factory() as s:
        assert s.get(UserRow, "rm_east").role == "regional_manager"
        c1, c2 = s.get(CustomerRow, "C001"), s.get(CustomerRow, "C002")
        assert (c1.nps, c1.status, c1.lat, c1.coord_system) == (85, "active", 31.2304, "gcj02")
        assert c1.categories == ["饮料", "零食"]
        assert c1.decision_roles == [{"role": "采购", "name": "王芳"}, {"role": "老板", "name": "李强"}]
        assert (c2.status, c2.lost_on, c2.lat, c2.coord_system) == ("lost", date(2026, 10, 2), None, None)
        assert c2.categories == ["乳品", "调味品"] and c2.decision_roles == []
        v1, v2 = s.get(VisitRow, "V001"), s.get(VisitRow, "V002")
        # a naive time is Asia/Shanghai; stored and read back as UTC
        assert v1.checked_in_at == datetime(2026, 5, 1, 1, 30, tzinfo=UTC)
        assert v2.checked_in_at == datetime(2026, 5, 2, 10, 0, tzinfo=UTC)
        assert (v1.photo_count, v1.location_source, v1.source) == (3, "import", "import")
        assert (v2.photo_count, v2.location_source, v2.lat) == (0, None, None)
        assert (v1.location_grade, v2.location_grade) == ("unmeasured", None)  # no distance to the store
        tags = s.scalars(
            select(VisitTagRow.tag).where(VisitTagRow.visit_id == "V001").order_by(VisitTagRow.tag)
        )
        assert list(tags) == sorted(["价格异议", "库存不足"])
        audits = s.scalars(select(AuditRow).order_by(AuditRow.id)).all()
    assert len(audits) == 7
    a = next(a for a in audits if a.entity_id == "V001")
    assert (a.action, a.actor, a.entity, a.reason) == (
        "import",
        "system:import",
        "visits",
        "import:visits.csv",
    )
    assert a.after["checked_in_at"] == "2026-05-01T01:30:00+00:00" and a.after["tags"] == sorted(
        ["价格异议", "库存不足"]
    )


def test_xlsx_workbook_sheets_named_after_tables(session_factory, clock, files):
    wb = Workbook()
    ws = wb.active
    ws.title = "人员"
    ws.append(["账号", "姓名", "角色", "上级账号"])
    ws.append(["rep01", "张伟", "业务员", "sup01"])
    ws.append(["sup01", "李娜", "销售主管", None])
    ws = wb.create_sheet("customers")
    ws.append(["customer_id", "name", "owner_userid", "nps", "created_on"])
    ws.append([1001, "味源超市", "rep01", 85.0, datetime(2024, 3, 1)])  # numbers and dates as Excel types
    ws = wb.create_sheet("拜访")
    ws.append(["拜访编号", "客户编号", "业务员账号", "签到时间", "照片数", "需求标签"])
    ws.append(["V1", 1001, "rep01", datetime(2026, 5, 1, 9, 30), 4, "新品兴趣"])
    ws.append([None, None, None, None, None, None])  # empty rows are skipped
    ws.append(["V2", "1001", "rep01", "2026-05-03T08:00:00+08:00", None, None])
    wb.create_sheet("说明").append(["本文件由ERP导出"])
    path = files / "history.xlsx"
    wb.save(path)

    summary = run(session_factory, [path], clock)
    assert {n: c.created for n, c in summary.tables.items()} == {"users": 2, "customers": 1, "visits": 2}
    assert summary.warnings == ["history.xlsx：工作表「说明」不是可识别的表名，已跳过"]
    with session_factory() as s:
        c = s.get(CustomerRow, "1001")
        assert (c.nps, c.created_on) == (85, date(2024, 3, 1))
        assert s.get(VisitRow, "V1").checked_in_at == datetime(2026, 5, 1, 1, 30, tzinfo=UTC)
        assert s.get(VisitRow, "V2").checked_in_at == datetime(2026, 5, 3, 0, 0, tzinfo=UTC)
        assert s.get(UserRow, "sup01").role == "supervisor"


def test_a_bad_row_changes_nothing_and_the_error_says_where(session_factory, clock, files):
    write(files, "users.csv", USERS)
    run(session_factory, [files / "users.csv"], clock)
    audits_before = count(session_factory, AuditRow)

    bad = CUSTOMERS_EN.replace("C006,绿叶生鲜店,rep01,55", "C006,绿叶生鲜店,rep01,abc")  # row 7 of the sheet
    write(files, "customers.csv", bad)
    write(files, "visits.csv", VISITS)
    with pytest.raises(ImportFailed) as err:
        run(session_factory, [files / "customers.csv", files / "visits.csv"], clock)
    assert 'customers.csv 第7行 nps 列：应为0-100的整数，实际为"abc"' in str(err.value)
    assert "未做任何更改" in str(err.value)
    assert [(i.file, i.row, i.column) for i in err.value.issues] == [("customers.csv", 7, "nps")]
    assert count(session_factory, CustomerRow) == 0
    assert count(session_factory, VisitRow) == 0
    assert count(session_factory, AuditRow) == audits_before


def test_errors_are_collected_with_file_row_column_and_reason(session_factory, clock, files):
    write(files, "users.csv", USERS + "rep02,赵六,店员,sup01,,\nrep03,钱七,rep,nobody,,\n")
    write(
        files,
        "customers.csv",
        (
            "customer_id,name,owner_userid,lat,lng,decision_roles,lost_on\n"
            "C1,甲店,rep01,31.2,,,\n"  # row 2: lat without lng
            "C2,乙店,ghost,,,,\n"  # row 3: unknown owner
            "C3,丙店,rep01,,,王芳,\n"  # row 4: decision role without the role
            "C1,丁店,rep01,,,,2026/10/01\n"  # row 5: duplicate id, date not ISO
            "C5,,rep01,95.5,200,,\n"  # row 6: empty name, lat out of range
        ),
    )
    write(
        files,
        "tickets.csv",
        "ticket_id,customer_id,opened_at,responded_at\nT1,C9,2026-05-01 09:00,2026-05-01 08:00\n",
    )
    with pytest.raises(ImportFailed) as err:
        run(session_factory, [files], clock)
    found = {(i.file, i.row, i.column): i.reason for i in err.value.issues}
    assert "业务员" in found[("users.csv", 5, "role")]
    assert found[("users.csv", 6, "manager_userid")].startswith("人员“nobody”不存在")
    assert found[("customers.csv", 2, "lng")] == "纬度和经度应同时填写或同时留空"
    assert found[("customers.csv", 3, "owner_userid")].startswith("人员“ghost”不存在")
    assert "角色:姓名" in found[("customers.csv", 4, "decision_roles")]
    assert found[("customers.csv", 5, "customer_id")] == "编号“C1”重复，已在第2行出现"
    assert found[("customers.csv", 5, "lost_on")] == '应为YYYY-MM-DD格式的日期，实际为"2026/10/01"'
    assert found[("customers.csv", 6, "name")] == "必填，不能为空"
    assert "-90到90" in found[("customers.csv", 6, "lat")]
    assert found[("tickets.csv", 2, "customer_id")].startswith("客户“C9”不存在")
    assert count(session_factory, UserRow) == 0


def test_header_and_file_problems(session_factory, clock, files):
    write(files, "customers.csv", "customer_id,名称\nC1,甲店\n")
    with pytest.raises(ImportFailed) as err:
        run(session_factory, [files / "customers.csv"], clock)
    reasons = [str(i) for i in err.value.issues]
    assert "customers.csv 第1行：缺少必填列 name（客户名称）" in reasons
    assert "customers.csv 第1行：缺少必填列 owner_userid（负责人账号）" in reasons

    write(files, "clients.csv", "customer_id\n")
    with pytest.raises(ImportFailed, match="clients.csv：应以表名命名"):
        run(session_factory, [files / "clients.csv"], clock)
    (files / "gbk").mkdir()
    (files / "gbk" / "users.csv").write_bytes("userid,name,role\nu1,张伟,业务员\n".encode("gbk"))
    with pytest.raises(ImportFailed, match="users.csv：不是UTF-8编码"):
        run(session_factory, [files / "gbk"], clock)


def test_reimport_changes_nothing_and_a_change_is_audited_once(session_factory, clock, files):
    write(files, "users.csv", USERS)
    write(files, "customers.csv", CUSTOMERS_EN)
    write(files, "visits.csv", VISITS)
    first = run(session_factory, [files], clock)
    assert first.tables["customers"].created == 6
    audits = count(session_factory, AuditRow)
    assert audits == 3 + 6 + 2

    again = run(session_factory, [files], clock)
    assert {n: (c.created, c.updated, c.unchanged) for n, c in again.tables.items()} == {
        "users": (0, 0, 3),
        "customers": (0, 0, 6),
        "visits": (0, 0, 2),
    }
    assert count(session_factory, AuditRow) == audits
    assert count(session_factory, CustomerRow) == 6 and count(session_factory, VisitTagRow) == 2

    write(files, "customers.csv", CUSTOMERS_EN.replace("C003,老王餐馆,rep01,70", "C003,老王餐馆,rep01,75"))
    write(files, "visits.csv", VISITS.replace("价格异议;库存不足", "库存不足;价格异议"))  # same tags
    clock.advance(hours=1)
    changed = run(session_factory, [files / "customers.csv", files / "visits.csv"], clock, actor="admin")
    assert (changed.tables["customers"].updated, changed.tables["customers"].unchanged) == (1, 5)
    assert changed.tables["visits"].unchanged == 2
    with session_factory() as s:
        assert s.get(CustomerRow, "C003").nps == 75
        new = s.scalars(select(AuditRow).order_by(AuditRow.id).offset(audits)).all()
    assert len(new) == 1
    a = new[0]
    assert (a.entity, a.entity_id, a.actor, a.reason, a.at) == (
        "customers",
        "C003",
        "admin",
        "import:customers.csv",
        clock.now(),
    )
    assert (a.before["nps"], a.after["nps"]) == (70, 75)
    assert {k for k in a.after if a.after[k] != a.before[k]} == {"nps"}


def test_partial_columns_leave_other_fields_alone_and_tags_are_replaced(session_factory, clock, files):
    write(files, "users.csv", USERS)
    write(files, "客户.csv", CUSTOMERS_CN)
    write(files, "visits.csv", VISITS)
    run(session_factory, [files], clock)
    (files / "客户.csv").unlink()
    write(files, "customers.csv", "customer_id,name,owner_userid\nC001,味源超市（旗舰店）,rep01\n")
    write(files, "visits.csv", VISITS.replace("价格异议;库存不足", "新品兴趣"))
    summary = run(session_factory, [files / "customers.csv", files / "visits.csv"], clock)
    assert summary.tables["customers"].updated == 1 and summary.tables["visits"].updated == 1
    with session_factory() as s:
        c = s.get(CustomerRow, "C001")
        assert (c.name, c.nps, c.categories) == ("味源超市（旗舰店）", 85, ["饮料", "零食"])  # absent: kept
        assert list(s.scalars(select(VisitTagRow.tag).where(VisitTagRow.visit_id == "V001"))) == ["新品兴趣"]
        a = s.scalars(
            select(AuditRow).where(AuditRow.entity_id == "V001").order_by(AuditRow.id.desc())
        ).first()
    assert (a.before["tags"], a.after["tags"]) == (sorted(["价格异议", "库存不足"]), ["新品兴趣"])


def test_folder_import_loads_in_order_and_calls_the_payments_hook(session_factory, clock, files):
    folder = files / "export"
    folder.mkdir()
    # alphabetical order would load customers and contracts before users: the contract order wins
    write(folder, "customers.csv", CUSTOMERS_EN)
    write(
        folder,
        "contracts.csv",
        'contract_no,customer_id,signed_on,amount,due_on\nHT-001,C001,2026-03-01,"12,000.5",2026-04-30\n',
    )
    write(
        folder, "银行流水.csv", "流水号,到账日期,金额,付款方,摘要\nP1,2026-04-02,¥6000,味源超市,货款 HT-001\n"
    )
    write(
        folder, "服务工单.csv", "工单编号,客户编号,创建时间,响应时间,响应时限\nT1,C001,2026-05-01 09:00,,8\n"
    )
    write(folder, "users.csv", USERS)
    write(folder, "readme.txt", "导出说明")
    seen = []

    def hook(session):
        seen.append(session.scalar(select(func.count()).select_from(PaymentRow)))

    summary = run(session_factory, [folder], clock, on_payments_loaded=hook)
    assert list(summary.tables) == ["users", "customers", "contracts", "payments", "tickets"]
    assert seen == [1]
    assert summary.warnings == ["readme.txt：不是CSV或XLSX文件，已跳过"]
    with session_factory() as s:
        assert s.get(PaymentRow, "P1").amount == Decimal("6000.00")
        t = s.get(TicketRow, "T1")
        assert (t.sla_hours, t.responded_at, t.opened_at) == (8, None, datetime(2026, 5, 1, 1, 0, tzinfo=UTC))
        assert s.get(ContractRow, "HT-001").amount == Decimal("12000.50")


def test_reporting_tree_loops_are_refused(session_factory, clock, files):
    write(
        files,
        "users.csv",
        "userid,name,role,manager_userid\na,甲,supervisor,b\nb,乙,supervisor,c\nc,丙,regional_manager,a\n",
    )
    with pytest.raises(ImportFailed, match="上级关系形成循环：a → b → c → a"):
        run(session_factory, [files / "users.csv"], clock)
    assert count(session_factory, UserRow) == 0


def test_at_most_twenty_errors_are_listed(session_factory, clock, files):
    write(files, "users.csv", "userid,name,role\n" + "".join(f"u{i},某人,boss\n" for i in range(30)))
    with pytest.raises(ImportFailed) as err:
        run(session_factory, [files / "users.csv"], clock)
    assert len(err.value.issues) == 20 and err.value.truncated
    assert str(err.value).startswith("导入失败，数据库未做任何更改。发现至少20处错误（只列出前20处）：\n")
    assert str(err.value.issues[0]).startswith("users.csv 第2行 role 列：应为 业务员、销售主管")


def test_coord_system_is_recorded(session_factory, clock, files):
    write(files, "users.csv", USERS)
    write(files, "客户.csv", CUSTOMERS_CN)
    run(session_factory, [files], clock, coord_system="wgs84")
    with session_factory() as s:
        assert s.get(CustomerRow, "C001").coord_system == "wgs84"
        assert s.get(CustomerRow, "C002").coord_system is None  # no location, no datum
