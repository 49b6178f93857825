"""Every sentence of customer contacts (Chinese: reps and admins read them)."""

from __future__ import annotations

LINK_TITLE = "新加的微信联系人：{who}"
LINK_DESC = "是你的客户「{best}」吗？（依据：{why}）确认后，这位联系人的添加、备注修改和客户群变动都会记为该客户的互动。"
LINK_DESC_MANY = (
    "可能是以下客户之一（最可能的在前）。确认后，这位联系人的添加、备注修改和客户群变动都会记为该客户的互动。"
)
FIELD_NAME = "微信昵称"
FIELD_REMARK = "备注"
FIELD_CORP = "企业"
FIELD_MOBILE = "备注手机号"
NONE = "无"
BUTTON_USE = "是 {name}"
BUTTON_PICK = "其他客户"
BUTTON_NOT = "不是客户"
LINKED = "已关联：微信联系人「{who}」→ 客户「{customer}」。之后的备注修改和客户群变动都会记为该客户的互动。"
LINKED_DONE = "已关联{customer}"
NOT_CUSTOMER = "已记录：「{who}」不是客户，不计入客户互动。如是新商机，可发「新线索 公司 联系人 电话」。"
NOT_CUSTOMER_DONE = "不是客户"
PICK_ASK = "请回复客户名称（你名下的客户），我来关联「{who}」。回复「取消」放弃。"
PICK_ASKED = "待输入客户名"
PICK_MANY = "有{n}个客户符合「{words}」：{names}。请回复更完整的名称。"
PICK_CANCELLED = "已取消关联。"
NOT_YOURS = "这个客户不在你名下，无法关联。"
CONTACT_GONE = "找不到这位微信联系人（可能已被删除）。"
ALREADY = "「{who}」已关联客户「{customer}」。"
CUSTOMER_LEFT = "提醒：客户「{customer}」的微信联系人「{who}」已把你从微信好友中删除。"

# WeCom's refusals: what happened, and the console step that fixes it (docs/customer-contacts.md § Errors)
REFUSED = {
    48002: (
        "企业微信拒绝了客户联系接口（48002 应用无此接口权限）",
        "请管理员在企业微信管理后台 客户与上下游→客户联系→API，点击「可调用应用」把本应用加入列表"
        "（或在 应用管理→本应用 的 API 权限中开启「客户联系」），保存后即生效，无需重启本服务",
    ),
    84061: (
        "企业微信说该联系人已不是该成员的客户（84061 不存在外部联系人的关系）",
        "可能已被成员删除或对方删除了成员；如仍是好友，请在企业微信 客户联系 中确认该成员已开启客户联系"
        "（管理后台 客户与上下游→客户联系→权限配置 把该成员加入「使用范围」）",
    ),
    60011: (
        "该成员不在本应用的可见范围内（60011）",
        "请管理员在管理后台 应用管理→本应用→可见范围 中添加该成员或其部门",
    ),
    40050: ("企业微信找不到这个客户群（40050）", "该群可能已解散，无需处理"),
}
REFUSED_OTHER = (
    "企业微信拒绝了客户联系接口（错误码{errcode}）",
    "请管理员在管理后台 客户与上下游→客户联系→API 检查本应用的权限",
)
REP_REFUSED = "暂时读不到这位微信联系人的资料：{reason}。已通知管理员处理。"
ADMIN_REFUSED = "客户联系：{reason}。{fix}。"
