"""Every sentence of the contract hand-off, in Chinese."""

from __future__ import annotations

SALES_STATUS = {None: "客户确认签约", "signed": "客户确认签约", "pending": "待签约"}
FINANCE_STATUS = {None: "—", "esigned": "电子签章完成", "matching": "流水匹配中", "received": "已到账"}

NO_SUCH_CONTRACT = "没有找到合同「{no}」。请确认合同编号（例如：合同签署完成 HT-2026-001）。"
NOT_YOURS = "合同{no}不在你负责的客户范围内，无法操作。"
SIGNED_NOW = (
    "已记录：合同{no}（{customer}）签署完成。已通知交付、财务、售后三个团队，各自须在{hours}小时内响应。"
)
ALREADY_SIGNED = "合同{no}已于{at}记录签署完成，三张交接工单已在处理中（不会重复创建）。"
TERMS_UNDERSTOOD = "付款条件：{words}"
TERMS_MISSING = "注意：合同没有填写付款条件，财务无法按条件开票，请尽快补充（改付款条件 {no} 条件内容）。"
TERMS_REFUSED = "注意：付款条件没有读懂。{words}"
NO_TEAM = "合同{no}的{team}工单没有人可以接收：请先导入「部门」表（类型：{team}，负责人账号、成员账号）。"

WO_TITLE = "{team}工单：{customer}"
WO_DESC = "合同{no}已签署完成，请在{deadline}前响应（{hours}小时内）。"
WO_ITEMS = "{team}工单（合同{no}，{customer}）的{work}：\n{items}"
WO_FIELDS = ("合同编号", "客户", "合同金额", "业务员", "响应时限", "状态")
WO_CLAIM, WO_DONE, WO_BLOCK = "认领", "完成", "受阻"
WO_CLAIMED = "已认领"
WO_FINISHED = "已完成"
WO_BLOCKED = "已标记受阻"
WO_ALREADY = "该工单{status}（{who}）。"
WO_NOT_TEAM = "你不在{team}团队，不能处理这张工单。"
WO_GONE = "这张工单已不存在。"
WO_ASK_REASON = "请回复受阻原因（例如：客户网络不满足安装条件）。回复「取消」放弃。"
WO_REASON_CANCELLED = "已取消，工单状态未变。"
WO_BLOCKED_NOTICE = "{team}工单受阻：合同{no}（{customer}）。原因：{reason}（{who}）"
WO_CLAIMED_NOTICE = "{team}团队的{who}已认领合同{no}（{customer}）的工单。"
WO_DONE_NOTICE = "{team}团队的{who}已完成合同{no}（{customer}）的工单。"

FINANCE_ITEM = "{mark}{words}：¥{amount}，{due}"
FINANCE_DUE = "应付日{day}"
FINANCE_DUE_LATER = "应付日待{event}后确定"
FINANCE_NO_TERMS = "付款条件未填写：请与业务员确认后补充"
FINANCE_REFUSED = "付款条件未读懂：{part}（{reason}）"

SLA_TITLE = "工单超时未响应：{team}·{customer}"
SLA_DESC = "合同{no}的{team}工单已超过{hours}小时无人响应（{deadline}到期）。请督促{team}团队处理。"
SLA_DESC_DIRECTOR = "合同{no}的{team}工单超时未响应，已通知部门负责人{head}，仍无人处理。"

PROGRESS_TITLE = "合同进度：{customer}"
PROGRESS_HEAD = "合同{no} ¥{amount}｜销售：{sales}｜财务：{finance}"
PROGRESS_STAGE = "{mark} {stage}：{state}"
PROGRESS_SIGNED = "客户确认签约（{at}）"
PROGRESS_WO = {
    "open": "待响应，{deadline}前",
    "claimed": "处理中（{who}）",
    "done": "已完成（{who}）",
    "blocked": "受阻：{reason}",
}
PROGRESS_OVERDUE = "超时未响应（{deadline}到期）"
PROGRESS_PAY = "到账¥{paid}/¥{amount}"
PROGRESS_NOT_STARTED = "未开始"
PAY_LINE = "{words}：¥{amount}，已付¥{paid}，{due}"
PROGRESS_PAY_LATE = "，逾期¥{late}"
PROGRESS_REFRESH, PROGRESS_LOG = "刷新进度", "查看日志"
STAGE_SIGN, STAGE_PAY = "签约", "回款"
LOG_TITLE = "合同{no}的进度日志："
LOG_LINE = "{at} {who}：{what}"
LOG_EMPTY = "合同{no}还没有进度记录。"


def day(d, today) -> str:  # noqa: ANN001 - dates
    """「12月20日」, with the year when it is not this year's: 「2027年12月20日」."""
    return f"{d.month}月{d.day}日" if d.year == today.year else f"{d.year}年{d.month}月{d.day}日"


# the won opportunity's card (handlers/contracts/won.py)
WON_TITLE = "商机赢单：{customer}"
WON_HEAD = "商机{opp}（{amount}）已赢单。客户签约后点「确认签约」，交付、财务、售后会立即收到工单。"
WON_SIGN = "确认签约"
WON_NO_CONTRACT = (
    "商机{opp}（{customer}，{amount}）已赢单，但助手里还没有这份合同。\n"
    "请在合同表导入它：合同编号、客户编号 {cid}、签约日期、金额、约定回款日、付款条件，签约状态填「待签约」；"
    "导入后发「合同签署完成 合同编号」（或点合同卡片上的确认签约），交付、财务、售后会立即收到工单。"
    "签约状态直接填「已签约」，导入时就会开出工单。"
)
WHICH_CONTRACT = "是哪一份合同？请写上合同编号，例如「HT-001谁改过」。"
