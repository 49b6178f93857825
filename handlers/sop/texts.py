"""Every sentence of the SOP engine a person reads (cards, reminders, approvals, briefs), and the
small formatters they share. Chinese for people; code stays English."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

ROLE_NAMES = {
    "rep": "业务员",
    "supervisor": "销售主管",
    "regional_manager": "区域经理",
    "finance_director": "财务总监",
    "sales_director": "销售总监",
    "admin": "管理员",
}

# --- buttons -----------------------------------------------------------------------------------------
BTN_DONE = "已完成"
BTN_FOLLOWED = "已跟进"
BTN_HANDLED = "已处理"
BTN_SNOOZE = "延后(须填原因)"
BTN_APPROVE = "通过"
BTN_REJECT = "驳回"
DONE_LABEL = "已完成"
FOLLOWED_LABEL = "已跟进"
HANDLED_LABEL = "已处理"
SNOOZED_LABEL = "已延后"
APPROVED_LABEL = "已通过"
REJECTED_LABEL = "已驳回"
FIELD_CUSTOMER = "客户"
FIELD_REP = "业务员"
FIELD_OWNER = "负责人"
FIELD_ITEM = "事项"
FIELD_DUE = "到期时间"
FIELD_PLANNED = "计划日期"
FIELD_LAST_TOUCH = "上次跟进"

# --- follow-ups and promises -----------------------------------------------------------------------
FOLLOW_UP_REMIND_TITLE = "今日回访：{customer}"
FOLLOW_UP_REMIND_DESC = "按计划今天回访。完成后点「已完成」，或直接去拜访签到。"
FOLLOW_UP_OVERDUE_TITLE = "回访逾期：{customer}"
FOLLOW_UP_OVERDUE_DESC = "{rep}计划{day}回访，已逾期仍未跟进，请督促。"
PROMISE_BEFORE_TITLE = "承诺明天到期：{customer}"
PROMISE_BEFORE_DESC = "{item}，{due}到期。"
PROMISE_DUE_TITLE = "承诺到期：{customer}"
PROMISE_DUE_DESC = "{item}，已到约定时间。兑现后请点「已完成」。"
PROMISE_OVERDUE_TITLE = "承诺逾期未兑现：{customer}"
PROMISE_OVERDUE_DESC = "{rep}承诺的「{item}」已于{due}到期，仍未完成，请督促。"
PROMISE_MARKED_DONE = "已标记完成：{customer}「{item}」。"
PROMISE_ALREADY = "这条承诺已是「{status}」状态，无需再处理。"
PROMISE_STATUS = {"open": "待完成", "done": "已完成", "cancelled": "已取消"}
NOT_YOURS = "你无权处理这条提醒。"
NOT_FOUND = "这条提醒对应的记录已不存在。"

# --- calendar --------------------------------------------------------------------------------------
CAL_FOLLOW_UP = "回访 {customer}"
CAL_PROMISE = "兑现承诺 {customer}：{item}"
CAL_DONE_PREFIX = "【已完成】"
CAL_DESCRIPTION = "客户：{customer}\n事项：{item}\n来自销售助手（{kind}#{id}）"
CAL_KIND = {"promise": "承诺", "follow_up": "回访"}
ICS_CALENDAR_NAME = "销售助手·我的回访与承诺"
ICS_LINK = (
    "你的日历订阅地址（可添加到手机或电脑日历，自动同步回访和承诺）：\n{url}\n"
    "链接仅限本人使用，请勿转发；如已泄露，发送「重置日历订阅」换一个。"
)
ICS_NOT_CONFIGURED = "日历订阅暂未开通，请联系管理员。"
ICS_RESET = (
    "日历订阅地址已重置，旧地址立即失效。新的地址：\n{url}\n请在手机或电脑日历中删除旧订阅，改用新地址。"
)

# --- stale customers ------------------------------------------------------------------------------
STALE_OWNER_TITLE = "客户{age}未跟进：{customer}"
STALE_OWNER_NEVER_TITLE = "客户还没有跟进过：{customer}"
STALE_OWNER_DESC = "上次跟进：{last}。跟进后点「已跟进」；暂时无法跟进请点「延后」并说明原因。"
STALE_ESCALATE_TITLE = "下属客户{age}未跟进：{customer}"
STALE_ESCALATE_NEVER_TITLE = "下属客户还没有跟进过：{customer}"
STALE_ESCALATE_DESC = "负责人{owner}，上次跟进：{last}，提醒后仍未跟进。"
NEVER_TOUCHED = "从未跟进"
ASK_SNOOZE_REASON = "请回复延后原因（必填），可注明时长，如「客户出差 3天」；回复「取消」放弃。"
SNOOZE_REASON_EMPTY = "延后原因不能为空。" + ASK_SNOOZE_REASON
SNOOZE_CANCELLED = "已取消延后，提醒照常进行。"
SNOOZED = "已延后{span}：{customer}。原因已记入客户档案。"
NOTE_SNOOZE = "未跟进提醒延后{span}：{reason}"
OWNER_FOLLOWED = "已记录跟进：{customer}，{hours}小时计时重新开始。"
ASK_FOLLOWED_HOW = (
    "好的！系统里还没看到{customer}的新拜访或互动记录，请简单说一下是怎么跟进的"
    "（如「电话联系了王老板，周五送货」），会记入客户档案；回复「取消」放弃。"
)
FOLLOWED_HOW_EMPTY = "跟进情况不能为空。请简单说一下是怎么跟进的；回复「取消」放弃。"
FOLLOWED_HOW_CANCELLED = "好的，未记录跟进，提醒照常进行。"
OWNER_FOLLOWED_SEEN = "已看到{customer}在{when}的跟进记录，{hours}小时计时已从那次跟进重新开始。"
NOTE_FOLLOWED = "未跟进提醒·已跟进：{how}"
MANAGER_HANDLED = "已确认处理：{customer}，本轮未跟进提醒停止。"
STALE_ALREADY = "这条提醒已结束（客户已有新的跟进或已被处理）。"

# --- approvals -------------------------------------------------------------------------------------
APPROVAL_TITLE = "价格异议审批：{customer}"
APPROVAL_DESC = "{rep}拜访时客户提出价格异议，请{role}审批。"
APPROVAL_REMIND_TITLE = "审批提醒：{customer}"
APPROVAL_REMIND_DESC = "价格异议审批已超过{hours}小时未处理，请尽快审批。"
APPROVAL_ESCALATED_TITLE = "审批升级：{customer}"
APPROVAL_ESCALATED_DESC = "{approver}超过{hours}小时未处理价格异议审批，已转由你审批。"
APPROVAL_ESCALATED_NOTICE = "价格异议审批（{customer}）超时未处理，已升级给{manager}。你仍可在原卡片上处理。"
FIELD_VISIT_AT = "拜访时间"
FIELD_TAGS = "需求标签"
FIELD_NOTE = "拜访记录"
FIELD_EARLIER = "前序意见"
ASK_REJECT_REASON = "请回复驳回原因（必填）；回复「取消」放弃驳回。"
REJECT_CANCELLED = "已取消驳回，审批仍待你处理。"
APPROVED_NEXT = "已通过，已转交{role}{name}审批。"
APPROVED_FINAL = "已通过，审批完成，已通知{rep}。"
REJECTED_DONE = "已驳回，已通知{rep}。"
REP_APPROVED = "你的价格异议申请（{customer}）已审批通过。{comments}"
REP_REJECTED = "你的价格异议申请（{customer}）被{role}{name}驳回，原因：{reason}"
APPROVAL_STATUS = {
    "approved": "已通过",
    "rejected": "已驳回",
    "pending": "审批中",
    "escalated": "已升级",
    "withdrawn": "已撤回",
    "cancelled": "已撤回",
}
APPROVAL_WITHDRAWN = "价格异议审批已撤回（{customer}）：{rep}撤销了这次拜访的「价格异议」标签，无需再审批。"
ALREADY_DECIDED = "该审批已处理：{status}。"
NOT_APPROVER = "你不是这条审批的审批人。"
WHICH_APPROVAL = "你有{n}条待审批：\n{lines}\n请回复「通过 #编号」或「驳回 #编号 原因」。"
WHICH_LINE = "#{id} {customer}（{rep}）"
NO_PENDING_APPROVAL = "你当前没有待审批的事项。"
APPROVAL_NO_APPROVER = "价格异议审批（{customer}）找不到审批人，请检查组织架构中的主管设置。"
NOTE_APPROVAL = "价格异议审批·{role}{name}{verdict}：{comment}"
NO_COMMENT = "（无意见）"
COMMENTS_LINE = "审批意见：{comments}"
# what the customer asked for (core/price_request.py), as the card and the rep's messages say it
FIELD_REQUEST = "客户要求"
REQUEST_WORDS = {
    "discount": "打{value}折",
    "percent_off": "降价{value}%",
    "unit_price": "单价降到{value}元",
    "amount_off": "每件降{value}元",
}
REQUEST_UNKNOWN = "未写明具体价格（见拜访记录）"
BTN_APPROVE_WITH_COMMENT = "通过并附言"
BTN_WITHDRAW = "撤回申请"
ASK_APPROVE_COMMENT = "请回复审批意见（将随「通过」一并告知业务员）；回复「取消」放弃。"
APPROVE_CANCELLED = "已取消，审批仍待你处理。"
FIELD_RESULT = "审批结果"
FIELD_COMMENTS = "审批意见"
REP_CARD_TITLE = "价格异议审批已提交：{customer}"
REP_CARD_DESC = "已提交给{role}{name}审批，每一级的结果都会通知你；如需撤回，点「撤回申请」。"
REP_STEP_APPROVED = (
    "你的价格异议申请（{customer}）{role}{name}已通过{comment}，已转交{next_role}{next_name}审批。"
)
STEP_COMMENT = "，意见：{comment}"
RESULT_APPROVED = "已通过（{who}）"
RESULT_REJECTED = "已驳回（{who}）"
RESULT_REJECTED_WHY = "已驳回（{who}），原因：{reason}"
RESULT_WITHDRAWN = "已撤回：{why}"
RESULT_STEP_DONE = "本级已由{who}处理：{verdict}"
WHY_TAG_REMOVED = "业务员撤销了「价格异议」标签"
WHY_REP_WITHDREW = "业务员撤回了申请"
APPROVAL_WITHDRAWN_BY_REP = "价格异议审批已撤回（{customer}）：{rep}撤回了申请，无需再审批。"
REP_WITHDRAWN = "已撤回价格异议申请（{customer}），审批人已收到通知。"
NOT_YOUR_REQUEST = "只有提交申请的业务员可以撤回。"
ALREADY_CLOSED = "这条申请已结束：{status}。"

# --- payments --------------------------------------------------------------------------------------
PAYMENT_TITLE = "回款逾期：{customer}"
PAYMENT_DESC = "合同{no}已于{due}到期，尚有¥{left}未回款。"
FIELD_CONTRACT = "合同号"
FIELD_AMOUNT = "合同金额"
FIELD_PAID = "已回款"
FIELD_LEFT = "未回款"
FIELD_DUE_ON = "到期日"

# --- the catch-up digest after an import of history -----------------------------------------------
CATCH_UP_HEAD = "历史数据已导入。导入时已经到期的事项都汇总在这一条里，不再逐条提醒；之后新到期的会照常提醒。"
CATCH_UP_OWN_STALE = "你名下超过{hours}小时未跟进的客户：{n}家。最久的："
CATCH_UP_TEAM_STALE = "团队超过{hours}小时未跟进的客户：{n}家（{people}位负责人）。最久的："
CATCH_UP_STALE_LINE = "{i}. {customer}（{age}）"
CATCH_UP_TEAM_STALE_LINE = "{i}. {customer}（{owner}，{age}）"
CATCH_UP_NOT_YET = "还没有跟进过"
CATCH_UP_NOT_SINCE = "{age}未跟进"
CATCH_UP_PAYMENTS = "回款逾期的合同：{n}份，未回款合计¥{left}。最久的："
CATCH_UP_PAYMENT_LINE = "{i}. {customer} 合同{no}，{due}到期，未回款¥{left}"
CATCH_UP_ASK = "看全部请发送「{question}」"
STALE_QUESTION = "超过{hours}小时未跟进的客户"
PAYMENT_QUESTION = "回款逾期的合同"

# --- the daily brief -----------------------------------------------------------------------------
BRIEF_TITLE = "今日简报（{day}）"
BRIEF_DESC = "团队{people}人。{oldest}"
BRIEF_OLDEST = "最久未跟进：{names}。"
BRIEF_VISITS = "今日待办拜访数"
BRIEF_STALE = "超{hours}小时未更新客户"
BRIEF_TAGS = "高频需求标签TOP3"
BRIEF_NO_TAGS = "暂无"
BRIEF_COUNT = "{n}个"
BRIEF_CUSTOMERS = "{n}家"
BRIEF_LEADS = "线索A+/A/B/C"
BRIEF_LEAD_MIX = "{ap}/{a}/{b}/{c}"
BRIEF_LEAD_OVERDUE = "超时线索SOP步骤"


def role_name(role: str | None) -> str:
    return ROLE_NAMES.get(role or "", role or "")


def when(at: datetime | None, tz: ZoneInfo) -> str:
    if at is None:
        return NEVER_TOUCHED
    local = at.astimezone(tz)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def day(d: date) -> str:
    return f"{d.month}月{d.day}日"


def money(v: Decimal) -> str:
    return f"{v:,.2f}"


def span(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours and hours % 24 == 0:
        return f"{hours // 24}天"
    return f"{hours}小时" if hours else f"{int(delta.total_seconds() // 60)}分钟"


def hours(delta: timedelta) -> int:
    return int(delta.total_seconds() // 3600)


def age(delta: timedelta) -> str:
    """How long a customer has gone without a touch: 「已94天」 from 48 hours on, 「超30小时」 below."""
    h = hours(delta)
    if h >= 48:
        return f"已{h // 24}天"
    return f"超{h}小时"
