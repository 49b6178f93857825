"""Where imported rows come from: CSV files, XLSX sheets, and folders holding them (docs/import-format.md).

A CSV file is named after its table (customers.csv or 客户.csv); a workbook's sheets are named after
theirs. Rows are yielded with the row number the user sees in the sheet (the header is row 1).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.importer.tables import BY_NAME, LOAD_ORDER, Table, table_for_name


@dataclass(frozen=True)
class Source:
    """One table's rows: a CSV file, or one sheet of a workbook."""

    path: Path
    table: Table
    sheet: str | None = None

    @property
    def label(self) -> str:
        return self.path.name if self.sheet is None else f"{self.path.name} 工作表「{self.sheet}」"

    def read(self) -> tuple[int | None, Iterator[tuple[int, Any]]]:
        """(estimated row count or None, iterator of (row number, cells))."""
        if self.sheet is None:
            return _csv_estimate(self.path), _csv_rows(self.path)
        return _xlsx_rows(self.path, self.sheet)


def _csv_estimate(path: Path) -> int | None:
    if path.stat().st_size < 1_000_000:
        return None  # small: no progress bar, no need to count
    count = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        yield from enumerate(csv.reader(f), start=1)


def _xlsx_rows(path: Path, sheet: str) -> tuple[int | None, Iterator[tuple[int, tuple[Any, ...]]]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    ws = wb[sheet]

    def rows() -> Iterator[tuple[int, tuple[Any, ...]]]:
        try:
            yield from enumerate(ws.iter_rows(min_row=1, values_only=True), start=1)
        finally:
            wb.close()

    return ws.max_row, rows()


def discover(paths: list[Path], problems: list[tuple[str, str]], warnings: list[str]) -> list[Source]:
    """The sources named by the paths (files, or folders holding them), in the order given.

    A path that cannot be imported adds (file name, reason) to problems; a file in a folder that is
    not for import adds a warning.
    """
    sources: list[Source] = []
    done: set[Path] = set()

    def add_file(path: Path, *, explicit: bool) -> None:
        if path.resolve() in done:
            return
        done.add(path.resolve())
        suffix = path.suffix.lower()
        if suffix == ".csv":
            table = table_for_name(path.stem)
            if table is not None:
                sources.append(Source(path, table))
            elif explicit:
                problems.append((path.name, _NAME_HINT))
            else:
                warnings.append(f"{path.name}：文件名不是可识别的表名，已跳过（{_NAME_HINT}）")
        elif suffix == ".xlsx":
            add_workbook(path)
        elif suffix in (".xls", ".et"):
            problems.append((path.name, "不支持旧版Excel格式，请在Excel中另存为.xlsx"))
        elif explicit:
            problems.append((path.name, "只支持CSV（.csv）和Excel（.xlsx）文件"))
        else:
            warnings.append(f"{path.name}：不是CSV或XLSX文件，已跳过")

    def add_workbook(path: Path) -> None:
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable workbook is the user's file problem
            problems.append((path.name, f"无法读取Excel文件（{type(e).__name__}）"))
            return
        try:
            found = 0
            for name in wb.sheetnames:
                table = table_for_name(name)
                if table is None:
                    warnings.append(f"{path.name}：工作表「{name}」不是可识别的表名，已跳过")
                else:
                    sources.append(Source(path, table, name))
                    found += 1
            if not found:
                problems.append((path.name, "没有以表名命名的工作表（" + _NAME_HINT + "）"))
        finally:
            wb.close()

    for raw in paths:
        path = Path(raw)
        if not path.exists():
            problems.append((path.name or str(path), f"文件或文件夹不存在：{path}"))
        elif path.is_dir():
            children = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "~$")))
            before = len(sources)
            for child in children:
                add_file(child, explicit=False)
            if len(sources) == before and not problems:
                warnings.append(f"{path.name}：文件夹中没有可导入的文件")
        else:
            add_file(path, explicit=True)
    return sources


_NAME_HINT = "应以表名命名，如 customers.csv 或 客户.csv；可用的表名：" + "、".join(
    f"{BY_NAME[n].name}/{BY_NAME[n].label}" for n in LOAD_ORDER
)
