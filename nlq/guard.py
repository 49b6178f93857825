"""Questions that are not questions: writes, sends, forecasts, prompt injection, SQL. Refused before parsing.

Runs on the question itself (NFKC, lower case, spaces kept), before any model sees it.
"""

from __future__ import annotations

import re
import unicodedata

MAX_QUESTION_CHARS = 200

_SQL = re.compile(
    r"\b(select|insert|update|delete|drop|truncate|alter|create|grant|revoke|union|exec|execute|pragma|attach)\b"
    r"|select\s*\*|drop\s*table|union\s*(all\s*)?select|insert\s*into|delete\s*from|truncate\s*table"
    r"|--|/\*|\*/|;\s*[a-z]|\bfrom\s+[a-z_]+|\bwhere\s+[a-z_]+|\btable\b|\bor\s*1\s*=\s*1|'\s*or\s*'"
)
_INJECTION = re.compile(
    r"忽略|无视|不要管|别管|绕过|跳过|越过|之前的指令|以上指令|上面的指令|前面的指令|指令|系统提示|提示词|你现在是|你是一个|"
    r"扮演|假装|越权|提权|管理员权限|所有权限|最高权限|不受限制|解除限制|开发者模式|"
    r"ignore|instruction|system\s*prompt|prompt|jailbreak|developer\s*mode|\bdan\b|roleplay|pretend"
)
_WRITE = re.compile(
    r"删除|删掉|删了|删去|清空|清除|抹掉|修改|改成|改为|改掉|改一下|更改|变更|更新为|更新成|更新到(?!现在|今天|目前|如今|此刻)|设为|设置为|设成|(?:把|将)[^，,。？?]{0,30}标记为|"
    r"置为|重置|添加|插入|录入|写入|导入|作废|撤销|恢复|转给|转移给|分配给|指派给|合并|批量|"
    r"(?:交|分|划|转交|移交)给(?!我)|客户(?:都|全部|全|统统)?给(?!我)|"
    r"发送|发给|发个|发条|发一条|发提醒|发通知|发消息|群发|推送|通知他|通知她|通知他们|提醒他|提醒她|提醒他们|催一下|打电话给"
)
_FORECAST = re.compile(
    r"预测|预计|预估|估计|估算|将会|会不会|能不能达到|能否达到|会达到|能达到|可能会|未来|"
    r"下个?月|下周|下个星期|明天|明年|下季度|下个季度|后天"
)


def refusal_reason(question: str) -> str | None:
    """Why this is not something to answer (None if it may be a question)."""
    text = unicodedata.normalize("NFKC", question).lower()
    if len(text) > MAX_QUESTION_CHARS:
        return f"问题太长（超过{MAX_QUESTION_CHARS}字），请一次只问一件事。"
    if _SQL.search(text) or _SQL.search(re.sub(r"\s+", "", text)):
        return "问题里有SQL语句。我只回答中文提问，不执行任何SQL。"
    if _INJECTION.search(text):
        return "问题里有要求改变我工作方式的指令，已忽略。我只按固定的指标定义、在你的可见范围内回答。"
    if _WRITE.search(text):
        return (
            "提问不会修改、删除或发送任何东西。我只回答问题；要改数据或发提醒，请在对应的卡片或功能里操作。"
        )
    if _FORECAST.search(text):
        return "我只回答已经发生的数据，不做预测。"
    return None
