"""Every way into the assistant, in one table. Read this first.

For a message: a card click goes by its key's action, then the sender's dialog state, then text commands
(the first pattern that matches wins, in this order), then the role's fallbacks, then event types.
For a domain event: its subscribers, in order, inside the unit of work that emitted it.
For a due timer: the firer of its kind; RECURRING books the first occurrence of each recurring kind (each
firing books the next). handlers/router.py builds the `Router` and refuses a key listed twice.
"""

from __future__ import annotations

from core.events import PromiseCancelled, PromiseRestored, TagRemoved, TagRestored, VisitCompleted
from handlers import ask, people_admin, welcome
from handlers.contacts import sync as contacts_sync
from handlers.context import HandlerDeps
from handlers.contracts import changes as contract_changes
from handlers.contracts import handoff, reconcile
from handlers.contracts import health_report as handoff_report
from handlers.contracts import won as won_opportunity
from handlers.customer_contacts import events as contact_events
from handlers.customer_contacts import figures as contact_figures
from handlers.customer_contacts import link as contact_link
from handlers.dialog import DialogState as S
from handlers.handover import flow as handover
from handlers.leads import board as lead_board
from handlers.leads import intake as lead_intake
from handlers.leads import pool as lead_pool
from handlers.leads import recommend as lead_recommend
from handlers.leads import sop as lead_sop
from handlers.links import calendar as calendar_link
from handlers.links import dashboard as dashboard_link
from handlers.messages import CardAction as A
from handlers.messages import (
    ContactChange,
    ContactFiguresDue,
    ContactSyncRequest,
    EnterAgent,
    ExternalChatChanged,
    ExternalContactAdded,
    ExternalContactChanged,
    ImageIn,
    LocationIn,
    LocationReport,
    MenuClick,
)
from handlers.router import MANAGER, REP, Router, Routes
from handlers.sop import (
    approvals,
    calendar,
    catch_up,
    daily_brief,
    payments,
    promises,
    scorecard,
    stale,
    weekly_brief,
)
from handlers.sop.sweep import Firer, Firing
from handlers.targets import adjust as target_adjust
from handlers.targets import cascade as target_cascade
from handlers.targets import coefficient as target_coefficient
from handlers.targets import health as target_health
from handlers.targets import report as target_report
from handlers.visits import checkin, line, onboarding, photos, self_service

TEXT_COMMANDS = (
    (r"^\s*(拜访|到店|签到)\s*\S+", checkin.on_visit_by_name),
    (r"^(今天|今日)(拜访|去)了?(哪些|哪几家|什么|几家)", self_service.on_today),
    (r"^(我的)?待办|^我(今天)?要拜访(谁|哪些)", self_service.on_todo),
    (r"^\s*(撤销|撤回|undo)\s*$", self_service.on_undo),
    (r"^\s*(新建客户|新客户|建档)", onboarding.on_new_customer),
    (r"^(日历订阅|订阅日历|我的日历)$", calendar_link.on_calendar_link),
    (r"^(重置日历订阅|重置日历)$", calendar_link.on_calendar_reset),
    (approvals.DECISION_WORDS, approvals.on_typed_decision),
    (r"^(看板|数据看板|我的看板|团队看板|团队健康度|健康度|健康度看板)$", dashboard_link.on_dashboard),
    (people_admin.PATTERN, people_admin.on_activation),
    (contacts_sync.COMMAND, contacts_sync.on_sync_command),  # 同步通讯录 (admin): a full sync from WeCom now
    (handoff.SIGN_PATTERN, handoff.on_sign_command),  # 合同签署完成 HT-001
    (contract_changes.CHANGE_PATTERN, contract_changes.on_change),  # 改金额 / 改付款条件 HT-001 …
    (contract_changes.VERIFY_PATTERN, contract_changes.on_verify),  # 核实金额 HT-001 (finance)
    (contract_changes.MILESTONE_PATTERN, contract_changes.on_milestone),  # 到货 HT-001 [2026-12-20]
    (contract_changes.HISTORY_PATTERN, contract_changes.on_history),  # 谁改过 HT-001
    (reconcile.RUN_PATTERN, reconcile.on_run),  # 对账 (finance: the nightly reconciliation, now)
    (reconcile.TODO_PATTERN, reconcile.on_todos),  # 对账待办
    (r"^\s*(周报|我的周报|看周报|上周周报|经营周报|发一下周报|发我周报)\s*$", weekly_brief.on_brief_request),
    (r"^\s*(调整目标|目标调整)", target_adjust.on_adjust),
    (target_health.ACTION_PATTERN, target_health.on_action),
    (target_cascade.PATTERN, target_cascade.on_cascade),
    (target_coefficient.PATTERN, target_coefficient.on_coefficient),
    (lead_intake.NEW_COMMAND, lead_intake.on_new_lead),
    (lead_intake.FOLLOW_COMMAND, lead_intake.on_follow),
    (lead_intake.CONVERT_COMMAND, lead_intake.on_convert),
    (lead_intake.LOST_COMMAND, lead_intake.on_lost),
    (lead_recommend.COMMAND, lead_recommend.on_recommend),
    (lead_board.COMMAND, lead_board.on_board),
    (lead_pool.POOL_COMMAND, lead_pool.on_pool),
    (lead_pool.CLAIM_COMMAND, lead_pool.on_claim),
)
CARD_ACTIONS = (
    (A.PICK, checkin.on_pick),
    (A.FIX, line.on_fix),
    (A.UNDO, self_service.on_undo_button),
    (A.CUSTOMER, onboarding.on_card),
    (A.ASK, ask.on_action),
    (A.APPROVAL, approvals.on_approval_button),
    (A.PROMISE, promises.on_promise_button),
    (A.STALE, stale.on_stale_button),
    (A.SCORE, scorecard.on_score_action),
    (A.TARGET, target_cascade.on_button),
    (A.LEAD, lead_intake.on_lead_button),
    (A.CONTRACT, handoff.on_contract_button),  # 确认签约, the progress card's 刷新进度 / 查看日志
    (A.WORK_ORDER, handoff.on_work_order_button),  # a hand-off work order's 认领 / 完成 / 受阻
    (
        A.HANDOVER,
        handover.on_handover_button,
    ),  # the successor of a person who left or moved (docs/handover.md)
    (A.CONTACT, contact_link.on_button),  # a new WeChat contact: 是 <客户> / 其他客户 / 不是客户
)
DIALOG_STATES = (
    (S.ONBOARD, onboarding.on_answer),
    (S.REJECT_REASON, approvals.on_reject_reason),
    (S.APPROVE_COMMENT, approvals.on_approve_comment),
    (S.SNOOZE_REASON, stale.on_snooze_reason),
    (S.FOLLOWED_REASON, stale.on_followed_reason),
    (S.TARGET_EVIDENCE, target_adjust.on_evidence),
    (S.BLOCK_REASON, handoff.on_block_reason),
    (S.LINK_CUSTOMER, contact_link.on_typed),  # after 其他客户: the customer's name
)
QUESTION_WORDS = (  # while this question is open, these texts answer it (a text command ends it otherwise)
    (S.REJECT_REASON, approvals.DECISION_WORDS),
    (S.APPROVE_COMMENT, approvals.DECISION_WORDS),
)
EVENTS = (
    (LocationReport, checkin.on_gps),
    (LocationIn, checkin.on_map_location),
    (ImageIn, photos.on_image),
    (MenuClick, self_service.on_menu),
    (EnterAgent, welcome.on_enter),  # the first opening of the app: a welcome and a guide, once
    # 客户联系 (docs/customer-contacts.md): system events, straight to these handlers
    (ExternalContactAdded, contact_events.on_added),  # matched to a customer (card), else a lead
    (ExternalContactChanged, contact_events.on_changed),  # edit / del_external_contact / del_follow_user
    (ExternalChatChanged, contact_events.on_chat),  # 客户群 create / update / dismiss
    (ContactFiguresDue, contact_figures.on_figures),  # the daily timer's fetch of 联系客户统计
    (
        ContactChange,
        contacts_sync.on_contact_change,
    ),  # 通讯录变更 (a system event): the mirror, then the tree
    (ContactSyncRequest, contacts_sync.on_sync_request),  # a full sync with what the prefetch read from WeCom
)
ROLE_FALLBACKS = (
    # the visit's line; else a question about the rep's own book; else a visit's line typed before checking in
    (REP, (line.on_rep_text, ask.on_question, line.on_line_without_visit)),
    (MANAGER, (ask.on_question,)),
)
SUBSCRIBERS = (
    (VisitCompleted, (promises.on_visit_completed, stale.on_visit_completed, approvals.on_visit_completed)),
    (TagRemoved, (approvals.on_tag_removed,)),
    (PromiseCancelled, (promises.on_promise_cancelled,)),
    (TagRestored, (approvals.on_tag_restored,)),
    (PromiseRestored, (promises.on_promise_restored,)),
)
TIMER_KINDS = (
    ("promise", promises.fire_promise),
    ("follow_up", promises.fire_promise),
    (stale.KIND, stale.fire_stale),
    (stale.SCAN_KIND, stale.fire_stale_scan),
    (approvals.KIND, approvals.fire_approval_sla),
    (approvals.CARDS_KIND, approvals.fire_approval_cards),
    (payments.KIND, payments.fire_payment_overdue),
    (catch_up.KIND, catch_up.fire_catch_up),
    (daily_brief.KIND, daily_brief.fire_daily_brief),
    (calendar.KIND, calendar.fire_calendar_sync),
    (scorecard.KIND, scorecard.fire_scorecard_nightly),
    (weekly_brief.KIND, weekly_brief.fire_weekly_brief),
    (weekly_brief.KIND_TO, weekly_brief.fire_weekly_brief_to),
    (target_health.KIND, target_health.fire_target_health),
    (target_health.KIND_ESCALATE, target_health.fire_target_escalate),
    (target_report.KIND, target_report.fire_target_report),
    (lead_sop.KIND, lead_sop.fire_lead_step),
    (lead_pool.SCAN_KIND, lead_pool.fire_lead_scan),
    (lead_pool.NURTURE_KIND, lead_pool.fire_lead_nurture),
    (handoff.SLA_KIND, handoff.fire_work_order_sla),  # a hand-off work order unanswered: head, then director
    (handoff.IMPORT_KIND, handoff.fire_contract_handoff),  # an import marked a contract 已签约
    (reconcile.KIND, reconcile.fire_reconcile_nightly),  # bank lines → instalments, finance's to-dos
    (handoff_report.KIND, handoff_report.fire_handoff_report),  # 协作健康月报 on the 1st
    (won_opportunity.KIND, won_opportunity.fire_opportunity_won),  # 商机赢单: the 确认签约 card, once
    (handover.KIND, handover.fire_handover_auto),  # nobody chose a successor in time: the fallback
    (contact_figures.KIND, contact_figures.fire_contact_figures),  # each member's 联系客户统计, daily
    (contacts_sync.KIND, contacts_sync.fire_nightly),  # the address book's nightly full sync (CONTACTS_SYNC)
)
RECURRING = (  # kind → books the next occurrence after ctx.now (when none is live)
    (daily_brief.KIND, lambda ctx: daily_brief.schedule_next_brief(ctx, after=ctx.now)),
    (stale.SCAN_KIND, lambda ctx: stale.schedule_next_scan(ctx, after=ctx.now)),
    (scorecard.KIND, lambda ctx: scorecard.schedule_next(ctx, after=ctx.now)),
    (weekly_brief.KIND, lambda ctx: weekly_brief.schedule_next(ctx, after=ctx.now)),
    (target_health.KIND, lambda ctx: target_health.schedule_next(ctx, after=ctx.now)),
    (target_report.KIND, lambda ctx: target_report.schedule_next(ctx, after=ctx.now)),
    (lead_pool.SCAN_KIND, lambda ctx: lead_pool.schedule_next_scan(ctx, after=ctx.now)),
    (reconcile.KIND, lambda ctx: reconcile.schedule_next(ctx, after=ctx.now)),
    (handoff_report.KIND, lambda ctx: handoff_report.schedule_next(ctx, after=ctx.now)),
    (contact_figures.KIND, lambda ctx: contact_figures.schedule_next(ctx, after=ctx.now)),
    (contacts_sync.KIND, lambda ctx: contacts_sync.schedule_next(ctx, after=ctx.now)),
)

ROUTES = Routes(
    text_commands=TEXT_COMMANDS,
    card_actions=CARD_ACTIONS,
    dialog_states=DIALOG_STATES,
    events=EVENTS,
    role_fallbacks=ROLE_FALLBACKS,
    subscribers=SUBSCRIBERS,
    timer_kinds=TIMER_KINDS,
    recurring=RECURRING,
    question_words=QUESTION_WORDS,
)
ROUTER = Router(ROUTES)


def firing(deps: HandlerDeps | None = None, *, kinds: dict[str, Firer] | None = None) -> Firing:
    """What the timer sweep needs from this table: the firers (`kinds`: the table's, or the table plus a test's
    own), the recurring kinds, and the subscribers of domain events."""
    return Firing(
        kinds=kinds if kinds is not None else ROUTER.timer_kinds,
        recurring=ROUTER.recurring,
        deps=deps or HandlerDeps(),
        publish=ROUTER.publish,
    )
