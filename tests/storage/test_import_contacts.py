"""The users sheet's 邮箱 and 手机 columns (docs/import-format.md): where red-tier alerts go besides WeCom."""

from __future__ import annotations

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from storage.importer.run import ImportFailed, import_paths
from storage.models import AuditRow, UserRow

USERS = """账号,姓名,角色,上级账号,大区,邮箱,手机
rm_east,王强,区域经理,,华东,wang.qiang@example.com,138 0013 8000
rep01,张伟,rep,rm_east,华东,,
"""


def _run(session_factory, paths, clock):
    return import_paths(session_factory, list(paths), now=clock.now(), progress=False)


def test_email_and_mobile_are_imported_and_a_change_is_audited(session_factory, clock, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text(USERS, encoding="utf-8")
    _run(session_factory, [path], clock)
    with session_factory() as s:
        rm = s.get(UserRow, "rm_east")
        assert (rm.email, rm.mobile) == ("wang.qiang@example.com", "13800138000")
        assert (s.get(UserRow, "rep01").email, s.get(UserRow, "rep01").mobile) == (None, None)
    path.write_text(USERS.replace("138 0013 8000", "+8613900139000"), encoding="utf-8")
    _run(session_factory, [path], clock)
    with session_factory() as s:
        assert s.get(UserRow, "rm_east").mobile == "+8613900139000"
        change = s.scalars(
            select(AuditRow)
            .where(AuditRow.entity == "users", AuditRow.entity_id == "rm_east")
            .order_by(AuditRow.id)
        ).all()[-1]
        assert change.before["mobile"] == "13800138000" and change.after["mobile"] == "+8613900139000"


def test_an_xlsx_number_cell_is_a_mobile(session_factory, clock, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "人员"
    ws.append(["账号", "姓名", "角色", "手机"])
    ws.append(["rm_east", "王强", "区域经理", 13800138000])
    wb.save(tmp_path / "org.xlsx")
    _run(session_factory, [tmp_path / "org.xlsx"], clock)
    with session_factory() as s:
        assert s.get(UserRow, "rm_east").mobile == "13800138000"


def test_a_bad_email_or_mobile_names_row_and_column(session_factory, clock, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text(
        USERS.replace("wang.qiang@example.com", "wang.qiang").replace(
            "rep01,张伟,rep,rm_east,华东,,", "rep01,张伟,rep,rm_east,华东,,12345"
        ),
        encoding="utf-8",
    )
    with pytest.raises(ImportFailed) as err:
        _run(session_factory, [path], clock)
    text = str(err.value)
    assert 'users.csv 第2行 邮箱 列：应为邮箱地址（如 name@example.com），实际为"wang.qiang"' in text
    assert 'users.csv 第3行 手机 列：应为手机号（11位，或 +国家码号码），实际为"12345"' in text
