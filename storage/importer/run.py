"""`python main.py import PATH...`: the organisation and its history from CSV/XLSX (docs/import-format.md).

One run is one transaction: every file is read and checked, rows are upserted by their ids in batches
(existing rows preloaded per batch, never one SELECT per row), each created or changed row gets an
audit row, and any error rolls the whole run back and raises ImportFailed naming file, row and column.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Numeric, String, any_, delete, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from core.clock import as_utc
from core.leads.score import LeadFacts, score
from core.visits import grade_location
from storage.audit import jsonable
from storage.db import writer_session
from storage.importer.files import Source, discover
from storage.importer.tables import (
    BY_NAME,
    LOAD_ORDER,
    CellError,
    column_lookup,
    header_key,
)
from storage.leads import store as lead_store
from storage.models import AuditRow, UserRow, UTCDateTime, VisitTagRow

BATCH_ROWS = 5000
MAX_ERRORS = 20
PROGRESS_MIN_ROWS = 20_000
COORD_SYSTEMS = ("gcj02", "wgs84")


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportIssue:
    """One thing wrong with the input, where the user can find it (row 1 is the header)."""

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" 第{self.row}行"
        if self.column:
            where += f" {self.column} 列"
        return f"{where}：{self.reason}"


class ImportFailed(Exception):
    """The run changed nothing. `issues` lists what is wrong (at most MAX_ERRORS of them)."""

    def __init__(self, issues: list[ImportIssue], *, truncated: bool = False):
        self.issues = list(issues)
        self.truncated = truncated
        count = f"至少{len(issues)}处错误（只列出前{len(issues)}处）" if truncated else f"{len(issues)}处错误"
        lines = [f"导入失败，数据库未做任何更改。发现{count}："] + [str(i) for i in issues]
        super().__init__("\n".join(lines))


@dataclass
class TableCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass
class ImportSummary:
    tables: dict[str, TableCounts] = field(default_factory=dict)  # in load order
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def format_summary(summary: ImportSummary) -> str:
    """The summary in Chinese, for the CLI."""
    lines = [f"导入完成（{len(summary.files)}个文件/工作表）："]
    if not summary.tables:
        lines.append("  没有可导入的数据")
    for name, c in summary.tables.items():
        label = BY_NAME[name].label
        lines.append(f"  {label}（{name}）：新增 {c.created}，更新 {c.updated}，未变 {c.unchanged}")
    if summary.warnings:
        lines.append(f"警告（{len(summary.warnings)}条）：")
        lines += [f"  - {w}" for w in summary.warnings]
    return "\n".join(lines)


# --- the run ----------------------------------------------------------------------------------


class _TooManyErrors(Exception):
    pass


@dataclass
class _Layout:
    """A source's header, read once: which cell holds which column."""

    # (cell index, column key, parser, required, default, header as written)
    cells: list[tuple[int, str, Any, bool, Any, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # column key → header as written
    refs: list[tuple[str, str, str]] = field(default_factory=list)  # (column key, referenced table, header)


def import_paths(
    session_factory: sessionmaker[Session],
    paths: list[Path],
    *,
    now: datetime,
    actor: str = "system:import",
    progress: bool = True,
    coord_system: str = "gcj02",
    on_payments_loaded: Callable[[Session], None] | None = None,
    on_imported: Callable[[Session, ImportSummary, datetime], None] | None = None,
) -> ImportSummary:
    """Import every table found in the paths in one transaction and return what changed.

    Tables load in the order users, customers, visits, interactions, orders, opportunities,
    contracts, payments, tickets. `on_payments_loaded(session)` runs inside the transaction after
    payments when the run held payments or contracts (the SOP engine matches them there).
    `on_imported(session, summary, now)` runs inside the transaction once every table is loaded (the SOP
    engine holds what is already due for one catch-up digest; bot/bootstrap.py on_imported).
    Raises ImportFailed (nothing changed) when any file, row or cell is wrong.
    """
    if coord_system not in COORD_SYSTEMS:
        raise ValueError(f"coord_system must be one of {COORD_SYSTEMS}, not {coord_system!r}")
    problems: list[tuple[str, str]] = []
    summary = ImportSummary()
    sources = discover([Path(p) for p in paths], problems, summary.warnings)
    if problems:
        raise ImportFailed([ImportIssue(file, None, None, reason) for file, reason in problems])
    summary.files = [s.label for s in sources]

    session = writer_session(session_factory)
    try:
        run = _Run(
            session, summary, now=as_utc(now), actor=actor, coord_system=coord_system, progress=progress
        )
        try:
            for name in LOAD_ORDER:
                table_sources = [s for s in sources if s.table.name == name]
                for src in table_sources:
                    run.load(src)
                if name == "users" and table_sources:
                    run.check_managers()
                if (
                    name == "payments"
                    and on_payments_loaded is not None
                    and not run.issues
                    and any(s.table.name in ("contracts", "payments") for s in sources)
                ):
                    on_payments_loaded(session)
        except _TooManyErrors:
            raise ImportFailed(run.issues, truncated=True) from None
        if run.issues:
            raise ImportFailed(run.issues)
        if on_imported is not None:
            on_imported(session, summary, run.now)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    return summary


class _Run:
    def __init__(
        self,
        session: Session,
        summary: ImportSummary,
        *,
        now: datetime,
        actor: str,
        coord_system: str,
        progress: bool,
    ):
        self.session = session
        self.summary = summary
        self.now = now
        self.actor = actor
        self.coord_system = coord_system
        self.progress = progress
        self.issues: list[ImportIssue] = []
        self._known: dict[str, set[str]] = {}  # ids in the DB or in this run, for references
        self._seen: dict[str, dict[str, int]] = {}  # table → id → source no << 32 | row
        self._labels: list[str] = []  # source no → label
        self._managers: list[tuple[Source, int, str, str, str]] = []  # (src, row, header, userid, manager)
        self._lead_policy: Any = None  # the score card, read at the first lead

    # -- issues and references --

    def issue(self, src: Source | None, row: int | None, column: str | None, reason: str) -> None:
        self.issues.append(ImportIssue(src.label if src else "", row, column, reason))
        if len(self.issues) >= MAX_ERRORS:
            raise _TooManyErrors

    def known(self, table: str) -> set[str]:
        if table not in self._known:
            pk = BY_NAME[table].model.__table__.c[BY_NAME[table].pk]
            self._known[table] = set(self.session.scalars(select(pk)))
        return self._known[table]

    # -- one source --

    def load(self, src: Source) -> None:
        table = src.table
        self.summary.tables.setdefault(table.name, TableCounts())  # in load order, even when empty
        source_no = len(self._labels)
        self._labels.append(src.label)
        estimate, rows = src.read()
        bar = tqdm(
            total=estimate,
            desc=f"导入 {src.label}",
            unit="行",
            file=sys.stderr,
            leave=False,
            disable=not (self.progress and estimate and estimate >= PROGRESS_MIN_ROWS),
        )
        rownum = 0
        with closing(rows), bar:
            try:
                layout = None
                batch: list[dict[str, Any]] = []
                for rownum, cells in rows:
                    if _blank(cells):
                        continue
                    if layout is None:
                        layout = self._header(src, rownum, cells)
                        if layout is None:
                            return
                        continue
                    rec = self._parse(src, source_no, rownum, cells, layout)
                    if rec is not None:
                        batch.append(rec)
                    if len(batch) >= BATCH_ROWS:
                        self._flush(src, batch)
                        bar.update(len(batch))
                        batch = []
                if layout is None:
                    self.issue(src, None, None, "文件是空的（第一行应为表头）")
                self._flush(src, batch)
                bar.update(len(batch))
            except UnicodeDecodeError:
                self.issue(src, None, None, "不是UTF-8编码（在Excel中请另存为「CSV UTF-8（逗号分隔）」）")
            except csv.Error as e:
                self.issue(src, rownum + 1, None, f"CSV格式错误（{e}）")

    def _header(self, src: Source, rownum: int, cells: Any) -> _Layout | None:
        """Where each known column sits in the rows, or None when the header is unusable."""
        lookup = column_lookup(src.table)
        layout = _Layout()
        unknown: list[str] = []
        ok = True
        for i, cell in enumerate(cells):
            key = header_key(cell)
            if not key:
                continue
            shown = str(cell).replace("\ufeff", "").strip()
            col = lookup.get(key)
            if col is None:
                unknown.append(f"“{shown}”")
            elif col.key in layout.headers:
                self.issue(src, rownum, shown, f"与“{layout.headers[col.key]}”是同一列，不能重复")
                ok = False
            else:
                layout.headers[col.key] = shown
                layout.cells.append((i, col.key, col.parse, col.required, col.default, shown))
                if col.ref is not None:
                    layout.refs.append((col.key, col.ref, shown))
        for col in src.table.columns:
            if col.required and col.key not in layout.headers:
                self.issue(src, rownum, None, f"缺少必填列 {col.key}（{col.alias}）")
                ok = False
        if unknown:
            self.summary.warnings.append(f"{src.label}：已忽略未识别的列 {'、'.join(unknown)}")
        return layout if ok else None

    def _parse(
        self, src: Source, source_no: int, rownum: int, cells: Any, layout: _Layout
    ) -> dict[str, Any] | None:
        """The row's values by column key, or None (after reporting) when something is wrong."""
        table = src.table
        rec: dict[str, Any] = {}
        bad = False
        n = len(cells)
        for i, key, parse, required, default, shown in layout.cells:
            value = cells[i] if i < n else None
            if value.__class__ is str:
                value = value.strip() or None
            if value is None:
                if required:
                    self.issue(src, rownum, shown, "必填，不能为空")
                    bad = True
                rec[key] = default() if callable(default) else default
                continue
            try:
                rec[key] = parse(value)
            except CellError as e:
                self.issue(src, rownum, shown, str(e))
                bad = True
                rec[key] = None

        if table.compose is not None:
            table.compose(rec)
        pk = rec[table.pk]
        if pk is not None:
            seen = self._seen.setdefault(table.name, {})
            first = seen.get(pk)
            if first is not None:
                first_no, first_row = divmod(first, 1 << 32)
                where = f"第{first_row}行"
                if first_no != source_no:
                    where = f"{self._labels[first_no]} {where}"
                self.issue(src, rownum, layout.headers[table.pk], f"编号“{pk}”重复，已在{where}出现")
                bad = True
            else:
                seen[pk] = (source_no << 32) | rownum
            if table.name in ("users", "customers"):
                self.known(table.name).add(pk)

        for key, ref, shown in layout.refs:
            value = rec[key]
            if value is None:
                continue
            if ref == table.name:  # a manager may come later in the same run: checked at the end
                self._managers.append((src, rownum, shown, pk, value))
                continue
            for one in value if isinstance(value, list) else (value,):  # a `;`-joined column: each one
                if one not in self.known(ref):
                    where = "人员" if ref == "users" else "客户"
                    self.issue(
                        src, rownum, shown, f"{where}“{one}”不存在（数据库和本次导入的{where}表中都没有）"
                    )
                    bad = True

        if not bad and table.check is not None:
            for key, reason in table.check(rec):
                self.issue(src, rownum, layout.headers.get(key, key), reason)
                bad = True
        return None if bad else rec

    def check_managers(self) -> None:
        """Every manager exists, and the reporting tree has no loop."""
        users = self.known("users")
        for src, rownum, shown, _userid, manager in self._managers:
            if manager not in users:
                self.issue(src, rownum, shown, f"人员“{manager}”不存在（数据库和本次导入的人员表中都没有）")
        if self.issues or not self._managers:
            return
        parent = dict(self.session.execute(select(UserRow.userid, UserRow.manager_userid)).all())
        reported: set[frozenset[str]] = set()
        for src, rownum, shown, userid, _manager in self._managers:
            chain = [userid]
            at = parent.get(userid)
            while at is not None and at not in chain and len(chain) <= len(parent):
                chain.append(at)
                at = parent.get(at)
            if at == userid and frozenset(chain) not in reported:
                reported.add(frozenset(chain))
                self.issue(src, rownum, shown, f"上级关系形成循环：{' → '.join(chain + [userid])}")

    # -- writing a batch --

    def _flush(self, src: Source, batch: list[dict[str, Any]]) -> None:
        if self.issues or not batch:
            return  # the run will roll back: nothing to write
        table = src.table
        t = table.model.__table__
        pkcol = t.c[table.pk]
        counts = self.summary.tables[table.name]
        is_visit = table.name == "visits"
        pks = [rec[table.pk] for rec in batch]
        found = self.session.execute(select(t).where(_among(self.session, pkcol, pks))).mappings()
        old_rows = {row[table.pk]: row for row in found}
        old_tags: dict[str, list[str]] = {}
        if is_visit and old_rows:
            vt = VisitTagRow.__table__
            q = select(vt.c.visit_id, vt.c.tag).where(_among(self.session, vt.c.visit_id, list(old_rows)))
            for vid, tag in self.session.execute(q):
                old_tags.setdefault(vid, []).append(tag)

        # a new row: the imported columns (defaults where the file has none) and what import sets;
        # its audit snapshot also names every other column (None), like storage.audit.snapshot
        blank = {c.key: c.empty_value() for c in table.columns if c.stored}
        blank.update(table.on_create)
        blank.update({k: None for k in _DERIVED.get(table.name, ())})
        blank.update({k: None for k in _ON_CREATE_ONLY.get(table.name, ())})
        unset = {c.key: None for c in t.columns if c.key not in blank}
        convert = _json_converters(t)
        reason = f"import:{src.path.name}"[:256]
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        tag_rows: list[dict[str, str]] = []
        retagged: list[str] = []

        transient = [c.key for c in table.columns if not c.stored and c.key != "tags"]
        stamp = {"set_by": self.actor, "set_at": self.now} if table.stamped else {}
        for rec in batch:
            pk = rec[table.pk]
            tags = rec.pop("tags", None) if is_visit else None
            for k in transient:
                rec.pop(k, None)
            old = old_rows.get(pk)
            if old is None:
                row = {**blank, **rec, **stamp}
                self._derive(table.name, row)
                if table.name == "customers" and row.get("created_on") is None:
                    row["created_at"] = self.now  # no 建档日期: it came into the assistant with this import
                inserts.append(row)
                after = {**unset, **row}
                for k in convert:
                    after[k] = jsonable(after[k])
                if is_visit:
                    after["tags"] = sorted(tags or [])
                    tag_rows += [{"visit_id": pk, "tag": tag} for tag in tags or []]
                audits.append(self._audit(table.name, pk, None, after, reason))
                counts.created += 1
                continue
            changes = {k: v for k, v in rec.items() if old[k] != v}
            if table.name == "contracts" and "amount" in changes and old["amount_verified_at"] is not None:
                # finance verified it: the amount changes only through finance (storage/contracts/changes.py)
                row_no = self._seen.get(table.name, {}).get(pk, 0) % (1 << 32) or None
                self.issue(
                    src,
                    row_no,
                    table.column("amount").alias,
                    "金额已由财务核实，不能通过导入修改（请向财务提出修改申请）",
                )
                continue
            if "lat" in changes or "lng" in changes or (table.name == "leads" and changes):
                derived = {**old, **rec}
                self._derive(table.name, derived)
                changes.update({k: derived[k] for k in _DERIVED.get(table.name, ()) if derived[k] != old[k]})
            tags_changed = tags is not None and sorted(tags) != sorted(old_tags.get(pk, []))
            if not changes and not tags_changed:
                counts.unchanged += 1
                continue
            if changes:
                changes.update(stamp)
            before = {k: jsonable(v) for k, v in old.items()}
            if is_visit:
                before["tags"] = sorted(old_tags.get(pk, []))
            after = {**before, **{k: jsonable(v) for k, v in changes.items()}}
            if tags_changed:
                after["tags"] = sorted(tags)
                retagged.append(pk)
                tag_rows += [{"visit_id": pk, "tag": tag} for tag in tags]
            if changes:
                updates.append({table.pk: pk, **changes})
            audits.append(self._audit(table.name, pk, before, after, reason))
            counts.updated += 1

        bulk_insert(self.session, t, inserts)
        if updates:
            self.session.execute(update(table.model), updates)  # ORM bulk UPDATE by primary key
        if retagged:
            gone = delete(VisitTagRow).where(_among(self.session, VisitTagRow.visit_id, retagged))
            self.session.execute(gone)
        bulk_insert(self.session, VisitTagRow.__table__, tag_rows)
        bulk_insert(self.session, AuditRow.__table__, audits)

    def _derive(self, table: str, row: dict[str, Any]) -> None:
        """Columns that follow from others: where a location came from, in which datum, how it is graded (an
        imported location has no distance to the store: unmeasured, core/visits.py)."""
        has_location = row.get("lat") is not None and row.get("lng") is not None
        if table == "customers":
            row["coord_system"] = self.coord_system if has_location else None
        elif table == "visits":
            row["location_source"] = "import" if has_location else None
            row["location_grade"] = grade_location(source=row["location_source"], distance_m=None)
        elif table == "leads":
            self._derive_lead(row)

    def _derive_lead(self, row: dict[str, Any]) -> None:
        """A lead's score, grade and explanation (the organisation's score card), its pool (no owner: the
        public pool) and, for a new row, its clocks: the dormancy clock starts at the latest effective
        interaction, else the first contact, else now (docs/import-format.md § leads)."""
        if self._lead_policy is None:
            self._lead_policy = lead_store.load_policy(self.session)
        old_detail = row.get("score_detail")
        card = score(
            LeadFacts(
                source=row.get("source"),
                credit_grade=row.get("credit_grade"),
                inquiries=int(row.get("inquiries") or 0),
                contact_role=row.get("contact_role"),
                industry=row.get("industry"),
                downloads=int(row.get("downloads") or 0),
            ),
            self._lead_policy,
        )
        row["score"], row["grade"] = float(card.score), card.grade
        row["score_detail"] = card.detail()
        owner = row.get("owner_userid")
        if row.get("created_at") is None:  # a new row
            row["created_at"] = row["stage_since"] = row["scored_at"] = self.now
            row["quiet_since"] = row.get("last_effective_at") or row.get("first_contact_at") or self.now
            row["sop_gen"] = 0
            row["pool"], row["pool_since"] = (None, None) if owner else ("public", self.now)
        else:
            if row["score_detail"] != old_detail:
                row["scored_at"] = self.now
            pool = row.get("pool")
            if owner is None and pool != "public":
                row["pool"], row["pool_since"] = "public", self.now
            elif owner is not None and pool == "public":
                row["pool"], row["pool_since"], row["quiet_since"] = None, None, self.now
            last = row.get("last_effective_at")
            if last is not None and last > row["quiet_since"]:
                row["quiet_since"] = last

    def _audit(
        self, entity: str, entity_id: str, before: dict[str, Any] | None, after: dict[str, Any], reason: str
    ) -> dict[str, Any]:
        return {
            "at": self.now,
            "actor": self.actor,
            "action": "import",
            "entity": entity,
            "entity_id": entity_id,
            "before": before,
            "after": after,
            "reason": reason,
        }


_DERIVED = {
    "customers": ("coord_system",),
    "visits": ("location_source", "location_grade"),
    "leads": ("score", "grade", "score_detail", "scored_at", "pool", "pool_since", "quiet_since"),
}
_ON_CREATE_ONLY = {  # set when the row is created, never recomputed
    "customers": ("created_at",),
    "leads": ("created_at", "stage_since", "sop_gen"),
}


def _among(session: Session, column: Any, values: list[str]) -> Any:
    """`column IN (values)`; on PostgreSQL one array parameter instead of thousands."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(values, type_=ARRAY(String)))
    return column.in_(values)


def bulk_insert(session: Session, t: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        session.execute(t.insert(), rows)
        return
    keys = list(rows[0])
    quote = conn.dialect.identifier_preparer.quote
    json_keys = {k for k in keys if isinstance(t.c[k].type, JSON)}
    sql = f"COPY {quote(t.name)} ({', '.join(quote(k) for k in keys)}) FROM STDIN"
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(sql) as copy:
        if json_keys:
            dumps = json.dumps
            for r in rows:
                copy.write_row([dumps(r[k]) if k in json_keys else r[k] for k in keys])
        else:
            for r in rows:
                copy.write_row([r[k] for k in keys])


def _json_converters(t: Any) -> tuple[str, ...]:
    """Columns whose values are not JSON as they are (times, dates, amounts)."""
    return tuple(c.key for c in t.columns if isinstance(c.type, UTCDateTime | Date | Numeric | DateTime))


def _blank(cells: Any) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)
