"""The one catalogue of Chinese names for the codes people read.

Codes (``paired_but_inactive``, ``funds``, ``R9``) are what the domain stores and compares;
people read the names below, in reports, exports, JSON answers (``*_label``), web pages,
notifications and the CLI.  Every name is declared here and nowhere else, so the same code
never reads two ways (R9 once read 交付逾期未确认 in one file and 交付久未确认 in another).
``tests/test_labels.py`` checks that every code the domain can produce has a name here.

The codes themselves stay with the aggregate that owns them (``domain.task.STATES``, ...);
a catalogue is a mapping from those codes to names, in the order people expect to read them.
"""
from __future__ import annotations

from typing import Mapping

Catalogue = Mapping[str, str]

# A fact entered by an admin or supervisor for another organisation (``on_behalf_of``).
PROXY_ENTRY = "代录"

# -- pairings ------------------------------------------------------------------------------------

# The lifecycle state (``Pairing.state``, ``pairing_rules.lifecycle_state``).
PAIRING_STATES: Catalogue = {
    "proposed": "待接受", "accepted": "待签约", "in_force": "履行中", "suspended": "暂停",
    "declined": "已拒绝", "terminated": "终止", "expired": "到期",
}
# The status board's one word for a pairing (``pairing_rules.derived_status``).
PAIRING_STATUSES: Catalogue = {
    "proposed": "待生效", "active": "正常", "paired_but_inactive": "联而不动",
    "slow": "联而慢动", "suspended": "暂停", "expired": "到期", "terminated": "终止",
    "declined": "已拒绝",
}
PAIRING_SLOT_STATES: Catalogue = {"free": "空闲", "taken": "已占用"}
AREAS: Catalogue = {
    "organisation": "组织共建", "members": "党员共管", "resources": "资源共享",
    "activities": "活动共办", "talent": "人才共育", "industry": "产业共兴",
    "culture": "文化共建", "governance": "治理共抓", "other": "其他",
}
ACTIVITY_KINDS: Catalogue = {
    "joint_org_life": "联合组织生活", "visit": "走访", "training": "培训",
    "practical_matter": "民生实事", "meeting": "座谈会", "other": "其他",
}
ACTIVITY_STATUSES: Catalogue = {"recorded": "待对方确认", "cosigned": "已确认", "contested": "有异议"}
SIDES: Catalogue = {"giver": "帮扶方", "receiver": "受援方"}
# Who took part in an activity (``ActivityRecorded.participants``).
PARTICIPANT_GROUPS: Catalogue = {**SIDES, "masses": "群众"}

# -- rules R1–R9 ----------------------------------------------------------------------------------

RULES: Catalogue = {
    "R1": "止于签约", "R2": "联而不动", "R3": "全年无联合组织生活", "R4": "全年无民生实事",
    "R5": "联而慢动", "R6": "单向帮扶", "R9": "交付逾期未确认",
}
SEVERITIES: Catalogue = {"info": "提示", "warning": "预警", "red": "严重"}

# -- commitments and service tasks ---------------------------------------------------------------

COMMITMENT_STATES: Catalogue = {
    "draft": "草稿", "public": "已公开", "overdue": "逾期", "claimed": "待确认践诺",
    "fulfilled": "已践诺", "not_fulfilled": "未践诺", "evaluated": "已评诺",
    "discarded": "已作废",
}
COMMITMENT_CATEGORIES: Catalogue = {
    "funds": "资金", "talent": "人才", "information": "信息", "technology": "技术",
    "practical_matter": "民生实事", "org_life": "组织生活", "project": "项目", "other": "其他",
}
OUTCOMES: Catalogue = {"kept": "已兑现", "partial": "部分兑现", "broken": "未兑现"}

TASK_STATES: Catalogue = {
    "open": "待认领", "pooled": "领办大厅", "claimed": "已认领", "planned": "已立项",
    "delivered": "待确认", "confirmed": "已确认", "rated": "已评价", "closed": "已办结",
    "cancelled": "已取消",
}
TASK_CATEGORIES: Catalogue = {
    "infrastructure": "基础设施", "industry": "产业发展", "education": "教育",
    "health": "医疗卫生", "elderly_care": "养老", "environment": "环境整治",
    "culture_sports": "文化体育", "skills_training": "技能培训", "legal": "法律",
    "employment": "就业", "collective_economy": "集体经济", "hardship_relief": "困难帮扶",
    "other": "其他",
}
# A village's rating of a confirmed delivery, and the masses' answers in an evaluation round.
SATISFACTION_LEVELS: Catalogue = {
    "satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意",
    "unknown": "不了解",
}

# -- follow-up cases (督办) -------------------------------------------------------------------------

FOLLOWUP_STATES: Catalogue = {"open": "待答复", "responded": "已答复", "closed": "已结案"}
# Why a case was opened: a rule's hit, or a supervisor by hand.
FOLLOWUP_REASONS: Catalogue = {**RULES, "manual": "督办"}
FOLLOWUP_RESOLUTIONS: Catalogue = {"resolved": "已解决", "escalated": "已上报", "dismissed": "不予督办"}
SUBJECT_TYPES: Catalogue = {"pairing": "结对", "commitment": "承诺", "task": "项目"}
# What a message (消息) is about, as its first words say.
MESSAGE_SUBJECTS: Catalogue = {"activity": "活动", "task": "需求", "commitment": "承诺"}

# -- evaluation rounds (年度考核) ----------------------------------------------------------------

EVALUATION_STATES: Catalogue = {
    "open": "联评中", "computed": "已计分", "publicised": "公示中",
    "publicity_ended": "公示期满", "finalised": "已定档",
}
# The 五好 dimensions a pairing is rated and scored on.
FIVE_GOOD: Catalogue = {
    "ideology": "思想作风好", "mechanism": "工作机制好", "teamwork": "团结协作好",
    "results": "发展业绩好", "response": "群众反映好",
}
# The dimensions a score is shown in (``domain.scoring.DIMENSIONS``, in its order): the 五好
# and the quality of the records.
DIMENSIONS: Catalogue = {
    **{d: FIVE_GOOD[d] for d in ("mechanism", "teamwork", "ideology", "results", "response")},
    "records": "台账质量",
}
GRADES: Catalogue = {"excellent": "优秀", "good": "良好", "fair": "一般", "poor": "较差"}
OBJECTION_RESOLUTIONS: Catalogue = {"upheld": "异议成立", "dismissed": "异议不成立"}

# -- organisations, users, rule sets, timers -------------------------------------------------------

ORGANISATION_KINDS: Catalogue = {
    "agency": "机关", "enterprise": "企业", "institution": "事业单位", "school": "学校",
    "new_economic": "新经济组织", "new_social": "新社会组织", "village": "村", "community": "社区",
}
ORGANISATION_STATES: Catalogue = {"active": "正常", "dissolved": "已撤销"}
REGION_STATES: Catalogue = {"named": "已命名"}
# A division by its level (``domain.region.LEVELS``).
REGION_LEVELS: Catalogue = {"province": "省", "city": "市", "county": "县（区）",
                            "township": "乡镇（街道）", "village": "村（社区）"}
# What naming a division does (``workflows.regions.RegionChange``), as an import's preview says.
REGION_CHANGES: Catalogue = {"named": "新增", "renamed": "更名", "same": "不变"}
# An ``agency`` account works for a giving organisation of any kind (机关, 企业, 学校, ...): the
# 结对单位 of the seeds' 结对共建, the 帮扶方 of its pairings (``SIDES``).
ROLES: Catalogue = {
    "admin": "组织部", "supervisor": "督办", "agency": "结对单位", "village": "村（社区）",
    "evaluator": "考核",
}
USER_STATES: Catalogue = {"active": "正常", "deactivated": "已停用"}
# A sign-in name is taken once, for good (``domain.user.LoginName``).
LOGIN_NAME_STATES: Catalogue = {"taken": "已占用"}
TOKEN_STATES: Catalogue = {"valid": "有效", "revoked": "已吊销"}
RULE_SET_STATES: Catalogue = {"published": "已发布"}
TIMER_STATES: Catalogue = {"scheduled": "待触发", "fired": "已触发", "cancelled": "已取消"}

# -- what waits on an organisation (待办) -----------------------------------------------------------

INBOX_KINDS: Catalogue = {
    "accept_pairing": "接受结对", "sign_agreement": "签订共建协议", "cosign_activity": "确认活动",
    "confirm_fulfilment": "确认践诺", "confirm_delivery": "确认交付",
    "answer_followup": "答复督办", "claim_need": "认领需求", "rate_pairing": "结果联评",
    # a region's desk: what waits on a supervisor or an evaluator
    "close_followup": "督办结案", "compute_round": "计算考核得分", "resolve_objection": "处理异议",
}

# -- events, as a history's timeline names them ----------------------------------------------------

EVENT_TYPES: Catalogue = {
    # organisations
    "OrganisationRegistered": "登记党组织", "OrganisationRenamed": "党组织更名",
    "CollectiveIncomeReported": "填报集体经济收入", "OrganisationDissolved": "撤销党组织",
    # divisions (区划)
    "RegionNamed": "登记区划名称", "RegionRenamed": "区划更名",
    # pairings
    "PairingSlotOpened": "开设结对位", "PairingSlotTaken": "占用结对位",
    "PairingProposed": "发起结对", "PairingAccepted": "接受结对", "PairingDeclined": "拒绝结对",
    "AgreementSigned": "签订共建协议", "PairingSuspended": "暂停结对", "PairingResumed": "恢复结对",
    "PairingRenewed": "续签结对", "PairingTerminated": "终止结对", "TermEnded": "协议期满",
    "ActivityRecorded": "记录共建活动", "ActivityCoSigned": "确认共建活动",
    "ActivityContested": "对活动提出异议", "InactivityFlagged": "触发预警",
    "InactivityCleared": "预警解除",
    # commitments
    "CommitmentMade": "作出承诺", "CommitmentPublicised": "公开承诺",
    "ProgressReported": "报告承诺进展", "DeadlineExtended": "延长承诺期限",
    "CommitmentOverdue": "承诺逾期", "FulfilmentClaimed": "申报践诺",
    "FulfilmentConfirmed": "确认践诺", "FulfilmentDisputed": "对践诺提出异议",
    "CommitmentAbandoned": "放弃承诺", "CommitmentEvaluated": "评诺",
    "CommitmentCorrected": "更正承诺草稿", "CommitmentDiscarded": "作废承诺草稿",
    # service tasks
    "NeedRaised": "提出需求", "NeedPooled": "需求进入领办大厅", "TaskClaimed": "认领需求",
    "ClaimWithdrawn": "撤回认领", "TaskPlanned": "项目立项", "DeliveryReported": "报告交付",
    "DeliveryConfirmed": "确认交付", "DeliveryRejected": "退回交付",
    "ConfirmationOverdue": "交付确认超期", "SatisfactionRated": "评价满意度",
    "TaskCancelled": "取消项目", "TaskClosed": "项目办结",
    # follow-up cases
    "FollowUpOpened": "督办立案", "FollowUpUpdated": "督办升级", "FollowUpResponded": "答复督办",
    "FollowUpClosed": "督办结案",
    # evaluation rounds
    "EvaluationOpened": "启动年度考核", "JointRatingSubmitted": "提交联评评分",
    "SatisfactionRecorded": "录入群众满意度", "ScoresComputed": "计算考核得分",
    "ResultPublicised": "公示考核结果", "ObjectionRaised": "提出异议",
    "ObjectionResolved": "处理异议", "PublicityEnded": "公示期满", "ResultFinalised": "考核定档",
    # users, sign-in and tokens
    "UserRegistered": "创建用户", "UserDeactivated": "停用用户", "TokensRevoked": "吊销全部令牌",
    "AccessTokenIssued": "签发访问令牌", "AccessTokenRevoked": "吊销访问令牌",
    "LoginGiven": "设置登录名", "LoginTaken": "占用登录名", "UserActivated": "激活账号",
    "PasswordChanged": "修改密码", "PasswordReset": "重置密码",
    # rule sets and timers
    "RuleSetPublished": "发布规则集", "TimerScheduled": "设定定时", "TimerRescheduled": "调整定时",
    "TimerFired": "定时触发", "TimerCancelled": "取消定时",
}

# Evidence files by their type (``domain.evidence.MEDIA_TYPES``).
MEDIA_TYPES: Catalogue = {"image/jpeg": "照片", "image/png": "照片", "application/pdf": "PDF 文件"}

# A yes-or-no field, as a file shows it.
YES_NO: Mapping[bool, str] = {True: "是", False: "否"}

# The kinds of pairing the province generator plays (``workflows.generate.HEALTH``).
HEALTH_PROFILES: Catalogue = {
    "healthy": "正常运转", "inactive": "联而不动", "slow": "联而慢动", "one_way": "单向帮扶",
    "stuck": "签约后停滞",
}


def rule_set_words(version: int | str | None) -> str:
    """Which rule set a board, a round or a sheet went by, as a person reads it: the built-in
    defaults until an admin publishes one (version 0), then the published one by its number.
    (A report carries the number as text, and ``default`` for the built-in rules of
    ``pairing_rules.DEFAULT_RULES``.)"""
    if version is None or str(version) in ("", "0", "default"):
        return "默认规则"
    return f"规则集第 {version} 版"


def label(catalogue: Catalogue, code: str | None) -> str | None:
    """The name of ``code``; the code itself if the catalogue has none (never hides a value),
    ``None`` for no code."""
    if code is None:
        return None
    return catalogue.get(code, code)

# What a rule's hit measured (``domain.pairing_rules.RuleHit.measured``), as a case reads it.
MEASURES: Catalogue = {
    "days_without_activity": "无活动天数", "days_since_in_force": "生效后天数",
    "last_active_on": "最近有效活动", "last_activity_on": "最近确认活动",
    "in_force_on": "生效日期", "threshold_days": "规则天数", "red_days": "严重天数",
    "max_days_overdue": "最长逾期天数", "commitments_overdue": "逾期承诺数",
    "year": "年度", "count": "次数", "days_unconfirmed": "未确认天数",
    "delivered_on": "交付日期", "rule_set_version": "规则集版本",
}

# -- the rule set's settings, as the admin's page names them (``domain.ruleset.CHECKS``) ----------

RULE_SETTINGS: Catalogue = {
    "r1_stuck_at_signing_days": "止于签约：签约后无活动、无承诺的天数",
    "r1_red_days": "止于签约：转为严重的天数",
    "r2_inactive_days": "联而不动：无有效活动的天数",
    "token_days": "接口令牌：有效天数",
    "r2_red_days": "联而不动：转为严重的天数",
    "r3_warn_from": "全年无联合组织生活：起始预警日（月-日）",
    "r4_warn_from": "全年无民生实事：起始预警日（月-日）",
    "r5_overdue_days": "联而慢动：承诺逾期天数",
    "r6_window_months": "单向帮扶：观察月数",
    "r9_confirmation_days": "交付待确认的天数",
    "claim_window_days": "需求认领期（天）",
    "reminder_days_before": "到期前提醒（天）",
    "weak_village_income_yuan": "薄弱村：集体经济收入低于（元）",
    "publicity_days": "公示期（天）",
    "backfill_days": "超过多少天算补录",
    "targets.joint_org_life": "每年联合组织生活目标次数",
    "targets.practical_matter": "每年民生实事目标件数",
    "satisfaction.satisfied": "满意折算分",
    "satisfaction.basically_satisfied": "基本满意折算分",
    "satisfaction.dissatisfied": "不满意折算分",
    "grades.excellent": "优秀分数线",
    "grades.good": "良好分数线",
    "grades.fair": "一般分数线",
    "weights.mechanism": "权重：工作机制好",
    "weights.teamwork": "权重：团结协作好",
    "weights.ideology": "权重：思想作风好",
    "weights.development": "权重：发展业绩好",
    "weights.public_response": "权重：群众反映好",
    "weights.record_quality": "权重：台账质量",
}
