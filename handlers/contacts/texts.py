"""What an admin reads about the address-book sync: the summary, and each WeCom restriction with the admin-console
step that lifts it (also written to the log)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ONLY_ADMIN = "只有管理员可以同步通讯录。"
STARTED = "正在从企业微信同步通讯录，完成后把结果发给你。"
NOT_WIRED = (
    "通讯录同步没有读到企业微信的数据（本进程未接入企业微信接口），请用 python main.py sync-contacts 运行。"
)

SUMMARY = "通讯录同步完成：部门 {depts} 个，成员 {members} 人；新增 {created} 人，更新 {updated} 人（其中 {moved} 人上级变更），停用 {deactivated} 人。"
SUMMARY_NEW = "新增：{names}"
SUMMARY_GONE = "已停用（已离开企业微信）：{names}。他们的客户仍在原处，请安排交接。"
HELD_BACK = (
    "有 {n} 人这次不在企业微信的可见范围内（{names}），人数较多，没有自动停用：请在管理后台 "
    "应用管理→自建应用→（本应用）→可见范围 确认是否被缩小；确属离职，请发「停用 账号」。"
)
INACTIVE_HERE = "{names} 在企业微信中仍在职，但在本助手中已停用；如需恢复，请发「启用 账号」。"
WITHHELD = (
    "企业微信没有返回成员的{fields}：自2022年6月20日起，新建的自建应用读不到成员的手机、邮箱、头像（需成员本人授权）。"
    "这些字段没有同步，已有的值保持不变；请继续用 Excel 导入 users 表的 mobile、email 列填写。"
)
KEPT = "角色、区域、城市以 Excel 导入为准，同步不会改动。"
MEMBER_PARTIAL = "成员 {userid} 的变更只按事件里的字段处理（读取成员详情被拒绝）：{reason}"
RENAMED = "企业微信中成员账号由 {old} 改为 {new}：本助手仍按 {old} 记录其历史，请用 Excel 导入调整。"

FIELD_WORDS = {"mobile": "手机", "email": "邮箱"}

# errcode → (what happened, the admin-console step). 60020/60011/48009/48002/40001 are the restrictions corps meet
# since 2022 (docs/contacts-sync.md §Restrictions).
_SECRET = (
    "请在管理后台 应用管理→自建应用→（本应用）→Secret 查看应用的 Secret，设为本服务的 WECOM_SECRET 后重启"
    "（不要用 管理工具→通讯录同步 的 Secret）。"
)
RESTRICTIONS: dict[int, tuple[str, str]] = {
    60020: (
        "企业微信拒绝了本服务器的IP（60020）",
        "请在管理后台 应用管理→自建应用→（本应用）→企业可信IP 添加本服务器的出口IP（错误信息中 from ip 后的地址）。",
    ),
    60011: (
        "应用无权读取这些成员或部门（60011，不在可见范围内）",
        "请在管理后台 应用管理→自建应用→（本应用）→可见范围 添加需要同步的部门或成员；只有可见范围内的成员会被同步。",
    ),
    48009: (
        "企业微信禁止用通讯录同步的 Secret 读取成员（48009）",
        "自2022年8月15日起，通讯录同步助手的 Secret 在新增IP上不能再读取成员详情。本助手用应用自己的 Secret 读取"
        "可见范围内的成员：" + _SECRET + "再把要同步的部门加入应用的可见范围。",
    ),
    48002: (
        "应用没有读取通讯录的接口权限（48002）",
        "请在管理后台 应用管理→自建应用→（本应用）确认应用已启用，并把要同步的部门加入可见范围。",
    ),
    40001: ("应用 Secret 无效（40001）", _SECRET),
    40014: ("access_token 被拒绝（40014）", _SECRET),
    42001: ("access_token 已过期且刷新失败（42001）", _SECRET),
    301002: (
        "应用无权操作指定的应用（301002）",
        "请确认 WECOM_AGENT_ID 与 WECOM_SECRET 属于同一个自建应用（管理后台 应用管理→自建应用→（本应用）查看 AgentId 和 Secret）。",
    ),
}
REFUSED = "通讯录同步未完成：{what}。{fix}本次没有改动任何人员数据。"
UNKNOWN = ("企业微信返回错误（{errcode}）", "请查看日志中的错误信息；本次没有改动任何人员数据。")


def restriction(error: Mapping[str, Any]) -> tuple[str, str]:
    """(what happened, the console step) for a refused read."""
    code = int(error.get("errcode") or 0)
    if code in RESTRICTIONS:
        return RESTRICTIONS[code]
    return UNKNOWN[0].format(errcode=code), str(error.get("errmsg") or "")[:120] + "。"


FROM_IP = re.compile(r"from ip: ?([0-9A-Fa-f.:]+)")


def refused(error: Mapping[str, Any]) -> str:
    what, fix = restriction(error)
    ip = FROM_IP.search(str(error.get("errmsg") or ""))
    if ip and int(error.get("errcode") or 0) == 60020:
        what += f"，本服务器出口IP为 {ip.group(1)}"
    return REFUSED.format(what=what, fix=fix).replace("。。", "。")


def withheld(fields: list[str]) -> str:
    return WITHHELD.format(fields="、".join(FIELD_WORDS.get(f, f) for f in fields))
