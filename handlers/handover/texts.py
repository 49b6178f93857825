"""Every sentence of the hand-over a manager, a successor or a rep reads."""

from __future__ import annotations

REASON_WORDS = {"left": "离职", "moved": "调岗"}

CARD_TITLE = "客户交接：{name}（{reason}）"
CARD_DESC = "请选择接手人。{hours}小时内未选择，将按规则交给你本人接手。交接完成前，这些客户的提醒都发给你。"
CARD_DESC_MOVED = (
    "请选择接手人。{hours}小时内未选择，将按规则交给你本人接手。交接完成前，{name}仍负责这些客户。"
)
FIELD_CUSTOMERS = "客户"
FIELD_PROMISES = "承诺与回访"
FIELD_STALE = "超期提醒"
FIELD_LEADS = "线索"
FIELD_WORK_ORDERS = "合同交接工单"
FIELD_CALENDAR = "日历日程"
FIELD_MOVED_FROM = "调岗前"
BUTTON_SELF = "我来接手"
COUNT = "{n}"
CUSTOMER_FIELD = "{n}家：{names}"
AND_MORE = "等"

DONE_REPLACE = "已交给{name}"
NOT_DECIDER = "只有{name}（或管理员）可以选择这次交接的接手人。"
ALREADY_DONE = "这次交接已完成：已交给{name}。"
CANCELLED = "这次交接已取消（{name}已恢复启用）。"
NOT_ALLOWED = "{name}不能接手：请选择你团队中在职的业务员，或你本人。"
GONE = "没有找到这次交接。"

SUMMARY_PARTS = (
    ("customers", "客户{n}家"),
    ("promises", "承诺与回访{n}条"),
    ("leads", "线索{n}条"),
    ("lead_steps", "线索跟进步骤{n}个"),
    ("work_orders", "合同交接工单{n}张"),
    ("calendar", "日历日程{n}个"),
    ("timers", "提醒{n}个"),
)
NOTHING = "没有需要交接的内容"

TO_SUCCESSOR = (
    "【客户交接】{name}（{reason}）名下的工作已交给你：{summary}。{customers}相关提醒和日程已转到你名下。"
)
TO_DECIDER = "【客户交接】已将{name}（{reason}）名下的工作交给{successor}：{summary}。"
TO_DECIDER_SELF = "【客户交接】你已接手{name}（{reason}）名下的工作：{summary}。{customers}"
TO_DECIDER_AUTO = (
    "【客户交接】{hours}小时内未选择接手人，按规则由你接手{name}（{reason}）名下的工作：{summary}。"
)
TO_MOVED = "【客户交接】你调岗前名下的工作已交给{successor}：{summary}。"
CUSTOMERS_LINE = "客户：{names}。"

WECOM_TITLE = {"resigned": "企业微信离职继承", "on_job": "企业微信在职继承"}
WECOM_REPORT = "【{title}】{name}的企业微信客户转给{successor}：已提交{ok}位，未成功{bad}位。{tail}"
WECOM_NONE = "【{title}】{name}在企业微信中没有待分配的客户。"
WECOM_TAIL = "企业微信会在24小时内完成接替（客户可拒绝）。"
WECOM_LINE = "\n· {who}：{what}"
WECOM_STATUS = {1: "接替完毕", 2: "等待接替", 3: "客户拒绝", 4: "接手人客户数已达上限", 5: "无接替记录"}
WECOM_ERROR = "未成功（错误码{code}）"
WECOM_SUBMITTED = "已提交"
WECOM_MORE = "\n……另有{n}位"
