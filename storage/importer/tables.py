"""The import contract's tables (docs/import-format.md): columns, Chinese aliases, cell parsers, row checks.

A parser takes one cell (a str from CSV, or what openpyxl read: str, int, float, datetime) that is
not empty, and returns the stored value or raises CellError with the reason in Chinese.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from core.clock import as_utc, parse_time
from core.targets.periods import BadPeriod, parse_period
from storage.contracts.models import DepartmentRow
from storage.leads.models import LeadRow, ProductRow
from storage.models import (
    Base,
    ContractRow,
    CustomerRow,
    InteractionRow,
    OpportunityRow,
    OrderRow,
    PaymentRow,
    TicketRow,
    UserRow,
    VisitRow,
)
from storage.targets.models import TargetRow


class CellError(ValueError):
    """A cell that cannot be read; the message is the reason shown to the user."""


Parser = Callable[[Any], Any]


def shown(value: Any) -> str:
    """A cell as the user typed it, quoted for an error message."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value)
    if len(s) > 40:
        s = s[:40] + "…"
    return f'"{s}"'


def as_text(value: Any) -> str:
    """A cell's text: XLSX numbers that are whole (1001.0) read as 1001."""
    if value.__class__ is str:
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value).strip()


# --- parsers -----------------------------------------------------------------------------------


def text(max_len: int | None = None) -> Parser:
    def parse(value: Any) -> str:
        s = as_text(value)
        if max_len is not None and len(s) > max_len:
            raise CellError(f"长度不能超过{max_len}个字符，实际为{len(s)}个字符")
        if "\x00" in s:
            raise CellError("含有无法保存的空字符（\\0）")
        return s

    return parse


def integer(lo: int, hi: int | None = None) -> Parser:
    expect = f"{lo}-{hi}的整数" if hi is not None else f"不小于{lo}的整数"

    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise CellError(f"应为{expect}，实际为{shown(value)}")
        if isinstance(value, int):
            n = value
        elif isinstance(value, float) and value.is_integer():
            n = int(value)
        else:
            s = as_text(value)
            if not re.fullmatch(r"[+-]?\d+(\.0+)?", s):
                raise CellError(f"应为{expect}，实际为{shown(value)}")
            n = int(s.split(".")[0])
        if n < lo or (hi is not None and n > hi):
            raise CellError(f"应为{expect}，实际为{shown(value)}")
        return n

    return parse


def real(lo: float, hi: float, what: str) -> Parser:
    def parse(value: Any) -> float:
        try:
            x = (
                float(value)
                if isinstance(value, int | float) and not isinstance(value, bool)
                else float(as_text(value))
            )
        except ValueError:
            raise CellError(f"应为{lo:g}到{hi:g}之间的{what}，实际为{shown(value)}") from None
        if not (lo <= x <= hi):  # also rejects nan
            raise CellError(f"应为{lo:g}到{hi:g}之间的{what}，实际为{shown(value)}")
        return x

    return parse


_CENT = Decimal("0.01")
_MONEY_MAX = Decimal("999999999999.99")  # Numeric(14, 2)


def money(value: Any) -> Decimal:
    """An amount in CNY; tolerates ¥, 元 and thousands separators; rounded to the cent."""
    if isinstance(value, bool):
        raise CellError(f"应为金额（数字），实际为{shown(value)}")
    if isinstance(value, int | float):
        s = repr(value) if isinstance(value, float) else str(value)
    else:
        s = as_text(value).replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
        s = s.removesuffix("元").strip()
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise CellError(f"应为金额（数字），实际为{shown(value)}") from None
    if not d.is_finite() or abs(d) > _MONEY_MAX:
        raise CellError(f"应为金额（数字），实际为{shown(value)}")
    return d.quantize(_CENT, rounding=ROUND_HALF_UP)


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    s = as_text(value)
    if _DATE_RE.fullmatch(s):
        try:
            return date.fromisoformat(s)
        except ValueError:
            pass
    raise CellError(f"应为YYYY-MM-DD格式的日期，实际为{shown(value)}")


def moment(value: Any) -> datetime:
    """ISO 8601; without an offset it is Asia/Shanghai time. Stored aware UTC."""
    if isinstance(value, datetime):
        return as_utc(value)
    s = as_text(value)
    if _DATE_RE.match(s):
        try:
            return parse_time(s)
        except ValueError:
            pass
    raise CellError(
        f"应为ISO 8601时间（如 2026-05-01 09:30 或 2026-05-01T09:30:00+08:00），实际为{shown(value)}"
    )


def choice(values: dict[str, str]) -> Parser:
    """One of an enum: the English key or its Chinese word (values maps both to the key)."""
    lookup = {k.lower(): v for k, v in values.items()}
    words = "、".join(dict.fromkeys(k for k in values if not k.isascii()))
    keys = "/".join(dict.fromkeys(values.values()))

    def parse(value: Any) -> str:
        key = lookup.get(as_text(value).lower())
        if key is None:
            raise CellError(f"应为 {words}（或 {keys}）之一，实际为{shown(value)}")
        return key

    return parse


YES = ("yes", "y", "true", "1", "是", "在职", "启用", "正常")
NO = ("no", "n", "false", "0", "否", "离职", "停用", "已离职")


def yes_no(value: Any) -> bool:
    """在职 / 离职 (是/否, yes/no, 1/0, 启用/停用)."""
    word = as_text(value).strip().lower()
    if word in YES:
        return True
    if word in NO:
        return False
    raise CellError(f"应为 是/否（在职/离职，yes/no）之一，实际为{shown(value)}")


EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MOBILE = re.compile(r"(?:\+?86)?1\d{10}|\+[1-9]\d{6,14}")


def email(value: Any) -> str:
    """An email address (where red-tier alerts go besides WeCom)."""
    s = as_text(value).strip()
    if len(s) > 254 or not EMAIL.fullmatch(s):
        raise CellError(f"应为邮箱地址（如 name@example.com），实际为{shown(value)}")
    return s


def mobile(value: Any) -> str:
    """A mobile number: 11 digits in mainland China (+86 optional), or +<country code><number>."""
    s = re.sub(r"[\s-]", "", as_text(value))
    if not MOBILE.fullmatch(s):
        raise CellError(f"应为手机号（11位，或 +国家码号码），实际为{shown(value)}")
    return s


MULTI_SPLIT = re.compile(r"[;；]")


def split_multi(value: Any) -> list[str]:
    """A `;`/`；`-joined cell as a list: blanks dropped, duplicates dropped, order kept."""
    return list(dict.fromkeys(p.strip() for p in MULTI_SPLIT.split(as_text(value)) if p.strip()))


def many(max_len: int | None = None) -> Parser:
    def parse(value: Any) -> list[str]:
        items = split_multi(value)
        for item in items:
            if max_len is not None and len(item) > max_len:
                raise CellError(f"每一项不能超过{max_len}个字符，{shown(item)}过长")
        return items

    return parse


def decision_roles(value: Any) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for item in split_multi(value):
        m = _ROLE_NAME.fullmatch(item)
        if m is None:
            raise CellError(f'每一项应为"角色:姓名"（如 采购:王芳），实际为{shown(item)}')
        out.append({"role": m.group(1).strip(), "name": m.group(2).strip()})
    return out


_ROLE_NAME = re.compile(r"\s*([^:：]*[^:：\s])\s*[:：]\s*(\S.*?)\s*")


def period(value: Any) -> str:
    try:
        return parse_period(as_text(value)).key
    except BadPeriod as e:
        raise CellError(str(e)) from None


def fen(value: Any) -> int:
    """An amount in yuan (like `money`), stored as whole fen."""
    d = money(value)
    if d < 0:
        raise CellError(f"金额不能为负数，实际为{shown(value)}")
    return int(d * 100)


# --- enums ------------------------------------------------------------------------------------

ROLES = {
    "rep": "rep",
    "业务员": "rep",
    "supervisor": "supervisor",
    "销售主管": "supervisor",
    "regional_manager": "regional_manager",
    "区域经理": "regional_manager",
    "finance_director": "finance_director",
    "财务总监": "finance_director",
    "sales_director": "sales_director",
    "销售总监": "sales_director",
    "admin": "admin",
    "管理员": "admin",
}
SALES_STATUSES = {
    "pending": "pending",
    "待签约": "pending",
    "signed": "signed",
    "已签约": "signed",
    "签约完成": "signed",
}
DEPARTMENT_KINDS = {
    "delivery": "delivery",
    "交付": "delivery",
    "finance": "finance",
    "财务": "finance",
    "after_sales": "after_sales",
    "售后": "after_sales",
}
STATUSES = {"active": "active", "正常": "active", "lost": "lost", "流失": "lost"}
STAGES = {
    "need_confirmed": "need_confirmed",
    "需求确认": "need_confirmed",
    "quoted": "quoted",
    "方案报价": "quoted",
    "negotiating": "negotiating",
    "商务谈判": "negotiating",
    "won": "won",
    "赢单": "won",
    "lost": "lost",
    "输单": "lost",
}
INTERACTION_CHANNELS = {
    "call": "call",
    "电话": "call",
    "wecom": "wecom",
    "企业微信": "wecom",
    "企微": "wecom",
    "微信": "wecom",
    "email": "email",
    "邮件": "email",
    "邮箱": "email",
    "other": "other",
    "其他": "other",
}


TARGET_LEVELS = {
    "org": "org",
    "集团": "org",
    "总部": "org",
    "region": "region",
    "大区": "region",
    "city": "city",
    "城市": "city",
    "store": "store",
    "门店": "store",
    "客户": "store",
    "rep": "rep",
    "个人": "rep",
    "业务员": "rep",
}
LEAD_STAGES = {
    "new": "new",
    "新线索": "new",
    "contacted": "contacted",
    "已联系": "contacted",
    "proposal": "proposal",
    "已出方案": "proposal",
    "lost": "lost",
    "已输单": "lost",
    "输单": "lost",
}
CREDIT_GRADES = {"A": "A", "B": "B", "C": "C", "D": "D"}


# --- tables -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    alias: str
    parse: Parser
    required: bool = False
    default: Any = None  # stored when the cell is empty (a callable makes a fresh value)
    ref: str | None = None  # a table whose id this column names
    stored: bool = True  # False: not a column of the row itself (visit tags live in visit_tags)

    def empty_value(self) -> Any:
        return self.default() if callable(self.default) else self.default


RowCheck = Callable[[dict[str, Any]], list[tuple[str, str]]]  # → [(column key, reason)]


@dataclass(frozen=True)
class Table:
    name: str
    label: str  # Chinese name, also accepted as the file or sheet name
    model: type[Base]
    columns: tuple[Column, ...]
    check: RowCheck | None = None
    on_create: dict[str, Any] = field(default_factory=dict)  # stored on insert, never compared
    # fills the id and the derived columns from the cells read (a table whose id is not a column of the file)
    compose: Callable[[dict[str, Any]], None] | None = None
    stamped: bool = False  # set_by / set_at: the importer and the import time, on insert and on change

    @property
    def pk(self) -> str:
        return self.columns[0].key

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)


def _licence(value: Any) -> str:
    return text(32)(value).replace(" ", "").upper()


def _id(key: str, alias: str, *, required: bool = True, ref: str | None = None) -> Column:
    return Column(key, alias, text(64), required=required, ref=ref)


def _lat_lng() -> tuple[Column, Column]:
    return (Column("lat", "纬度", real(-90, 90, "纬度")), Column("lng", "经度", real(-180, 180, "经度")))


def _check_lat_lng(rec: dict[str, Any]) -> list[tuple[str, str]]:
    if ("lat" in rec) != ("lng" in rec) or (rec.get("lat") is None) != (rec.get("lng") is None):
        missing = "lng" if rec.get("lat") is not None else "lat"
        return [(missing, "纬度和经度应同时填写或同时留空")]
    return []


def _check_user(rec: dict[str, Any]) -> list[tuple[str, str]]:
    if rec.get("manager_userid") and rec.get("manager_userid") == rec.get("userid"):
        return [("manager_userid", "上级账号不能是本人")]
    return []


def _check_contract(rec: dict[str, Any]) -> list[tuple[str, str]]:
    if rec.get("signed_on") and rec.get("due_on") and rec["due_on"] < rec["signed_on"]:
        return [("due_on", f"约定回款日早于签约日期（{rec['signed_on'].isoformat()}）")]
    return []


def _check_lead(rec: dict[str, Any]) -> list[tuple[str, str]]:
    if rec.get("lost_reason") and rec.get("stage") not in (None, "lost"):
        return [("lost_reason", "只有阶段为“已输单”的线索才有输单原因")]
    return []


def _check_ticket(rec: dict[str, Any]) -> list[tuple[str, str]]:
    if rec.get("opened_at") and rec.get("responded_at") and rec["responded_at"] < rec["opened_at"]:
        return [("responded_at", "响应时间早于创建时间")]
    return []


_TARGET_NEEDS = {
    "region": ("region",),
    "city": ("region", "city"),
    "store": ("customer_id",),
    "rep": ("userid",),
}


def _check_target(rec: dict[str, Any]) -> list[tuple[str, str]]:
    level = rec.get("level")
    out = [(k, f"层级为{level}时必填") for k in _TARGET_NEEDS.get(level or "", ()) if not rec.get(k)]
    if rec.get("development_fen") and level != "rep":
        out.append(("development_fen", "开发目标只适用于个人（业务员）层级"))
    return out


def _compose_target(rec: dict[str, Any]) -> None:
    """targets.target_id "<period>|<level>|<key>" and the node's key, parent and name (docs/targets.md)."""
    level, region, city = rec.get("level"), rec.get("region"), rec.get("city")
    key = {
        "org": "org",
        "region": region,
        "city": f"{region}/{city}",
        "store": rec.get("customer_id"),
        "rep": rec.get("userid"),
    }.get(level or "")
    parent = {
        "region": "org|org",
        "city": f"region|{region}",
        "store": f"city|{region}/{city}" if region and city else None,
    }.get(level or "")
    rec["node_key"] = key
    rec["target_id"] = f"{rec.get('period')}|{level}|{key}"
    rec["parent_id"] = f"{rec.get('period')}|{parent}" if parent else None
    rec["name"] = {"org": "集团", "region": region, "city": city}.get(level or "") or key or ""
    rec["committed_fen"] = rec.get("amount_fen")
    rec["factors"] = {"imported": True}


TABLES: tuple[Table, ...] = (
    Table(
        "users",
        "人员",
        UserRow,
        (
            _id("userid", "账号"),
            Column("name", "姓名", text(64), required=True),
            Column("role", "角色", choice(ROLES), required=True),
            _id("manager_userid", "上级账号", required=False, ref="users"),
            Column("region", "大区", text(32)),
            Column("city", "城市", text(32)),
            Column("active", "在职", yes_no, default=True),
            Column("email", "邮箱", email),
            Column("mobile", "手机", mobile),
        ),
        check=_check_user,
    ),
    Table(
        "customers",
        "客户",
        CustomerRow,
        (
            _id("customer_id", "客户编号"),
            Column("name", "客户名称", text(128), required=True),
            Column("license_no", "营业执照号", _licence),
            Column("channel", "渠道", text(32)),
            Column("region", "大区", text(32)),
            Column("city", "城市", text(32)),
            Column("address", "地址", text(256)),
            *_lat_lng(),
            _id("owner_userid", "负责人账号", ref="users"),
            Column("status", "状态", choice(STATUSES), default="active"),
            Column("lost_on", "流失日期", day),
            Column("nps", "NPS", integer(0, 100)),
            Column("categories", "合作品类", many(), default=list),
            Column("decision_roles", "决策链", decision_roles, default=list),
            Column("created_on", "建档日期", day),
            Column("contact_phones", "联系电话", many(32), default=list),
        ),
        check=_check_lat_lng,
    ),
    Table(
        "visits",
        "拜访",
        VisitRow,
        (
            _id("visit_id", "拜访编号"),
            _id("customer_id", "客户编号", ref="customers"),
            _id("rep_userid", "业务员账号", ref="users"),
            Column("checked_in_at", "签到时间", moment, required=True),
            *_lat_lng(),
            Column("photo_count", "照片数", integer(0, 10000), default=0),
            Column("tags", "需求标签", many(32), default=list, stored=False),
            Column("note", "备注", text(4000)),
        ),
        check=_check_lat_lng,
        on_create={"source": "import", "status": "closed"},
    ),
    Table(
        "interactions",
        "互动",
        InteractionRow,
        (
            _id("interaction_id", "互动编号"),
            _id("customer_id", "客户编号", ref="customers"),
            _id("rep_userid", "业务员账号", required=False, ref="users"),
            Column("at", "时间", moment, required=True),
            Column("channel", "方式", choice(INTERACTION_CHANNELS)),
        ),
    ),
    Table(
        "orders",
        "订单",
        OrderRow,
        (
            _id("order_id", "订单编号"),
            _id("customer_id", "客户编号", ref="customers"),
            Column("ordered_on", "下单日期", day, required=True),
            Column("amount", "金额", money, required=True),
            Column("category", "品类", text(32)),
        ),
    ),
    Table(
        "opportunities",
        "商机",
        OpportunityRow,
        (
            _id("opportunity_id", "商机编号"),
            _id("customer_id", "客户编号", ref="customers"),
            Column("stage", "阶段", choice(STAGES), required=True),
            Column("entered_on", "进入阶段日期", day, required=True),
            Column("amount", "金额", money),
        ),
    ),
    Table(
        "contracts",
        "合同",
        ContractRow,
        (
            _id("contract_no", "合同编号"),
            _id("customer_id", "客户编号", ref="customers"),
            Column("signed_on", "签约日期", day, required=True),
            Column("amount", "金额", money, required=True),
            Column("due_on", "约定回款日", day, required=True),
            Column("terms", "付款条件", text(500)),
            Column("sales_status", "签约状态", choice(SALES_STATUSES)),
        ),
        check=_check_contract,
    ),
    Table(
        "payments",
        "银行流水",
        PaymentRow,
        (
            _id("txn_id", "流水号"),
            Column("paid_on", "到账日期", day, required=True),
            Column("amount", "金额", money, required=True),
            Column("payer", "付款方", text(128)),
            Column("memo", "摘要", text(512)),
        ),
    ),
    Table(
        "tickets",
        "服务工单",
        TicketRow,
        (
            _id("ticket_id", "工单编号"),
            _id("customer_id", "客户编号", ref="customers"),
            Column("opened_at", "创建时间", moment, required=True),
            Column("responded_at", "响应时间", moment),
            Column("sla_hours", "响应时限", integer(1, 24 * 365), default=24),
        ),
        check=_check_ticket,
    ),
    Table(
        "leads",
        "线索",
        LeadRow,
        (
            _id("lead_id", "线索编号"),
            Column("company", "公司名称", text(128), required=True),
            Column("contact_name", "联系人", text(64)),
            Column("contact_role", "联系人职务", text(32)),
            Column("phone", "电话", text(32)),
            Column("industry", "行业", text(32)),
            Column("region", "大区", text(32)),
            Column("source", "来源", text(32)),
            Column("credit_grade", "信用等级", choice(CREDIT_GRADES)),
            Column("inquiries", "询价次数", integer(0, 1000), default=0),
            Column("downloads", "资料下载次数", integer(0, 1000), default=0),
            Column("pain_words", "痛点", many(32), default=list),
            Column("first_contact_at", "首次接触时间", moment),
            _id("owner_userid", "负责人账号", required=False, ref="users"),
            Column("stage", "阶段", choice(LEAD_STAGES), default="new"),
            Column("lost_reason", "输单原因", text(64)),
            Column("last_effective_at", "最近有效互动时间", moment),
        ),
        check=_check_lead,
    ),
    Table(
        "products",
        "产品",
        ProductRow,
        (
            _id("product_id", "产品编号"),
            Column("name", "产品名称", text(128), required=True),
            Column("category", "品类", text(32)),
            Column("industries", "适用行业", many(32), default=list),
            Column("pain_keywords", "痛点关键词", many(32), default=list),
            Column("pitch", "卖点", text(2000)),
            Column("competitors", "竞品对比", text(2000)),
        ),
    ),
    Table(
        "targets",
        "目标",
        TargetRow,
        (
            Column("target_id", "目标编号", text(192)),  # composed from the other columns; ignored when given
            Column("period", "周期", period, required=True),
            Column("level", "层级", choice(TARGET_LEVELS), required=True),
            Column("region", "大区", text(32), stored=False),
            Column("city", "城市", text(32), stored=False),
            Column("customer_id", "客户编号", text(64), ref="customers", stored=False),
            Column("userid", "账号", text(64), ref="users", stored=False),
            Column("amount_fen", "目标金额", fen, required=True),
            Column("baseline_fen", "基数", fen),
            Column("development_fen", "开发目标", fen, default=0),
            Column("rationale", "依据", text(2000), default=""),
        ),
        check=_check_target,
        on_create={"source": "import"},
        compose=_compose_target,
        stamped=True,
    ),
)

TABLES += (
    Table(
        "departments",
        "部门",
        DepartmentRow,
        (
            _id("dept_id", "部门编号"),
            Column("name", "部门名称", text(64), required=True),
            Column("kind", "类型", choice(DEPARTMENT_KINDS), required=True),
            _id("head_userid", "负责人账号", required=False, ref="users"),
            Column("members", "成员账号", many(64), default=list, ref="users"),
        ),
    ),
)

BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
LOAD_ORDER: tuple[str, ...] = tuple(t.name for t in TABLES)  # users, customers, then the rest


def table_for_name(name: str) -> Table | None:
    """The table a file stem or sheet name stands for: `customers`, `Customers`, `客户`."""
    key = name.strip().lower()
    for t in TABLES:
        if key in (t.name, t.label):
            return t
    return None


def header_key(cell: Any) -> str:
    """A header cell normalised for matching: trimmed, lower case, a trailing required-mark `*` dropped."""
    s = "" if cell is None else str(cell)
    return s.replace("\ufeff", "").strip().rstrip("*＊").strip().lower()


def column_lookup(table: Table) -> dict[str, Column]:
    out: dict[str, Column] = {}
    for c in table.columns:
        out[c.key.lower()] = c
        out[c.alias.lower()] = c
    return out
