"""The demo: the twelve months up to today, played through the engine command by command.

Two counties of Lishui (遂昌, 松阳), twelve giving organisations and twelve villages, some of
them weak (collective income under 30,000 yuan).  A fake clock walks from a year ago to now;
every fact is dated, and recorded, at the time it is played (the engine's clock drives both),
and the workflow's worker runs as the clock moves, so overdue marks, pooled needs, 联而不动
flags and follow-up cases happen on their day, as they would in real life.

What today's default report shows is what the demo means (the fates in ``PAIRINGS``): most
pairings working, two gone quiet (联而不动, R2: one for about five months, one for seven), one
signed eleven weeks before today and idle since (止于签约, R1), one with a commitment overdue
for two months (联而慢动, R5), a delivery sent back for rework eleven days ago, a refused
proposal; and nothing backfilled (补录).  Only the played dates depend on the calendar, never
the mix.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Callable
from uuid import UUID

from domain.base import Actor
from domain.commitment import PublicCommitment
from domain.organisation import Organisation
from domain.pairing import Pairing
from domain.user import AccessToken, LoginName, User
from workflows.engine import Engine, open_engine
from workflows.errors import EngineError
from workflows.policies import WorkflowPolicies
from workflows.scheduler import DrainReport, Worker, open_worker_state
from workflows.store.clock import Clock, FakeClock, SystemClock, local_date, start_of_local_day
from workflows.store.settings import Settings

DAYS = 365  # the demo starts this many days before today; every step is played before today
OPERATOR = Actor(user_id="operator", role="admin", region_code="")

# The divisions the demo's organisations are in, by name (区划名称), as the organisation
# department records them, so the supervisors' pages name real townships.
REGIONS = [  # code at its level, name
    ("33", "浙江省"), ("3311", "丽水市"), ("331123", "遂昌县"), ("331124", "松阳县"),
    ("331123001", "妙高街道"), ("331123101", "大柘镇"), ("331123102", "金竹镇"),
    ("331123103", "北界镇"), ("331123201", "湖山乡"), ("331123202", "高坪乡"),
    ("331124001", "西屏街道"), ("331124002", "望松街道"), ("331124101", "大东坝镇"),
    ("331124102", "新兴镇"), ("331124103", "玉岩镇"), ("331124201", "四都乡"),
]
AGENCIES = [  # code, name, kind, region
    ("SC-CZJ", "遂昌县财政局机关党委", "agency", "331123000000"),
    ("SC-GDJ", "国网遂昌县供电公司党委", "enterprise", "331123000000"),
    ("SC-YY", "遂昌县人民医院党委", "institution", "331123000000"),
    ("SC-ZX", "遂昌中学党总支", "school", "331123000000"),
    ("SC-NYJ", "遂昌县农业农村局机关党委", "agency", "331123000000"),
    ("SC-DS", "遂昌县电商协会党支部", "new_economic", "331123000000"),
    ("SY-ZZB", "松阳县委组织部机关党支部", "agency", "331124000000"),
    ("SY-XH", "松阳县农商银行党委", "enterprise", "331124000000"),
    ("SY-JYJ", "松阳县教育局机关党委", "agency", "331124000000"),
    ("SY-WLJ", "松阳县文广旅体局机关党委", "agency", "331124000000"),
    ("SY-YD", "中国移动松阳分公司党支部", "enterprise", "331124000000"),
    ("SY-SG", "松阳县社会工作协会党支部", "new_social", "331124000000"),
]
VILLAGES = [  # code, name, kind, region, collective income of the last full year (yuan)
    ("SC-SL", "妙高街道石练村党支部", "village", "331123001201", "26000"),
    ("SC-HY", "大柘镇黄岩村党支部", "village", "331123101202", "85000"),
    ("SC-JX", "金竹镇金溪村党支部", "village", "331123102203", "18000"),
    ("SC-NX", "湖山乡南溪村党支部", "village", "331123201204", "120000"),
    ("SC-BS", "北界镇白沙社区党支部", "community", "331123103205", "240000"),
    ("SC-GT", "高坪乡桂洋村党支部", "village", "331123202206", "21000"),
    ("SY-YC", "西屏街道叶村党支部", "village", "331124001201", "45000"),
    ("SY-TT", "大东坝镇石仓村党支部", "village", "331124101202", "29000"),
    ("SY-YX", "四都乡杨家堂村党支部", "village", "331124201203", "15000"),
    ("SY-CT", "望松街道城北社区党支部", "community", "331124002204", "310000"),
    ("SY-SJ", "新兴镇上田村党支部", "village", "331124102205", "33000"),
    ("SY-LK", "玉岩镇界首村党支部", "village", "331124103206", "12000"),
]
# giver, receiver, and the pairing's fate, which today's status board shows: ``active``
# (正常, no rule hit), ``quiet`` (联而不动, R2), ``stuck`` (联而不动, R1 止于签约), ``slow``
# (联而慢动, R5).
PAIRINGS = [
    ("SC-CZJ", "SC-SL", "active"), ("SC-GDJ", "SC-JX", "active"), ("SC-YY", "SC-HY", "active"),
    ("SC-ZX", "SC-GT", "active"), ("SC-NYJ", "SC-JX", "quiet"), ("SC-DS", "SC-NX", "active"),
    ("SY-ZZB", "SY-YX", "active"), ("SY-XH", "SY-TT", "active"), ("SY-JYJ", "SY-LK", "slow"),
    ("SY-WLJ", "SY-YC", "quiet"), ("SY-YD", "SY-SJ", "stuck"),
]
DECLINED = ("SY-SG", "SY-CT")

# Joint activities every 45 days from day 35, each pairing a day after the one before; the
# kinds rotate so that every stretch of nine months has organisational life and a practical
# matter (R3, R4 look at the calendar year from 1 October).
SLOTS = range(35, 351, 45)
KINDS = (("joint_org_life", "{month}月联合主题党日"), ("practical_matter", "为民办实事：{month}月便民服务进村"),
         ("training", "{month}月农村实用技术培训"))
# Pairings that go quiet: no activity after this slot day (R2 today: ~145 and ~230 days).
QUIET_AFTER = {4: 215, 9: 125}
STUCK_PROPOSED_ON = 280  # signed eleven weeks before today and idle since (R1 today)
SIGN_AFTER = 7  # days from proposal to signing

COMMITMENTS = [  # pairing, maker side, category, content, made day, due day, amount, fate
    (0, "giver", "funds", "出资建设村级文化礼堂", 45, 200, "50000.00", "kept"),
    (1, "giver", "technology", "为茶园安装智能灌溉设备", 46, 170, "30000.00", "disputed"),
    (2, "giver", "practical_matter", "每季度组织一次义诊", 47, 330, None, "kept"),
    (3, "giver", "talent", "选派两名教师开展课后辅导", 48, 260, None, "kept"),
    (6, "giver", "project", "帮助申报高山蔬菜基地项目", 49, 240, "80000.00", "abandoned"),
    (7, "giver", "funds", "设立集体经济发展基金", 50, 150, "100000.00", "kept"),
    (8, "giver", "org_life", "联合开展党员集中培训", 51, 300, None, "overdue"),
    (3, "receiver", "other", "为学校提供劳动教育基地", 52, 320, None, "kept"),
    (5, "giver", "funds", "资助村电商直播间建设", 200, 420, "20000.00", "open"),
]
TASKS = [  # pairing, category, title, budget, raised, claimed, delivered, rejected, confirmed
    (0, "infrastructure", "村道安装太阳能路灯", "18000", 60, 66, 120, 124, 138),
    (1, "skills_training", "茶叶加工技术培训", "3000", 62, 68, 130, None, 134),
    (2, "health", "老年人慢病筛查", "5000", 64, 70, 140, None, 144),
    (6, "collective_economy", "民宿运营指导", "8000", 150, 156, 230, None, 234),
    (7, "education", "留守儿童周末课堂", "6000", 170, 176, 215, None, 219),
    # sent back last week and being reworked today
    (5, "culture_sports", "村文化广场音响设备更新", "12000", 300, 303, 350, 354, None),
]
REDELIVERED_AFTER = 11  # days from a rejection to the reworked delivery
UNCLAIMED_NEED = (8, "elderly_care", "村居家养老服务站设备", 310)  # pooled by the workflow


class DemoAlreadyLoaded(EngineError):
    code = "demo-loaded"


class StoreInUse(EngineError):
    """The demo plays a year with the workflow's worker running at the played times; in a
    store that holds other records the worker would act on them at those times too."""

    code = "store-in-use"


@dataclass
class Party:
    id: UUID
    user: Actor


@dataclass
class DemoYear:
    """The twelve months as a timeline: each step is scheduled on a day after ``start`` and
    the steps run in time order, so every fact is dated after what it answers.  Between two
    steps the worker fires every timer at its due time, as it does in service."""

    engine: Engine
    clock: FakeClock
    worker: Worker
    start: date
    parties: dict[str, Party] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    steps: list[tuple[datetime, int, Callable[[], None]]] = field(default_factory=list)
    ids: dict[str, UUID] = field(default_factory=dict)

    def at(self, day: int, step: Callable[[], None], hour: int = 10) -> None:
        if not 0 <= day < DAYS:
            raise ValueError(f"day {day} is not in the played year")
        moment = start_of_local_day(self.start + timedelta(days=day)) + timedelta(hours=hour)
        self.steps.append((moment, len(self.steps), step))

    def run(self, until: datetime) -> None:
        for moment, _, step in sorted(self.steps, key=lambda s: (s[0], s[1])):
            self.advance_to(moment)
            step()
            self.drain()
        self.advance_to(until)

    def advance_to(self, moment: datetime) -> None:
        """Move the clock to ``moment``, stopping at every timer due on the way."""
        while (due := self.worker.state.next_due()) is not None and due <= moment:
            if due > self.clock.now():
                self.clock.set(due)
            if not self.drain().fired:
                break  # nothing fires at its time (cannot happen with a consistent index)
        if moment > self.clock.now():
            self.clock.set(moment)
        self.drain()

    def drain(self) -> DrainReport:
        report = self.worker.drain()
        for effect, n in (report.effects or {}).items():
            for part in effect.split("; "):
                what = WORKFLOW_EFFECTS.get(part.split(" ", 1)[-1] if part[:1] == "R" else part)
                if what:
                    self.counts[what] = self.counts.get(what, 0) + n
        return report

    def today(self) -> date:
        return local_date(self.clock.now())

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    # -- who -------------------------------------------------------------------------------

    def register(self) -> None:
        income_year = self.start.year - 1
        for code, name in REGIONS:
            self.engine.name_region(OPERATOR, code, name)
            self.count("divisions named")
        for code, name, kind, region in AGENCIES:
            self._register(code, name, kind, region)
        for code, name, kind, region, income in VILLAGES:
            org = self._register(code, name, kind, region)
            self.engine.report_collective_income(OPERATOR, org.id, income_year, Decimal(income))
        # Villages report the income of a year once it is over, in January.
        january = date(self.start.year + 1, 1, 15)
        if (january - self.start).days < DAYS and january.year - 1 != income_year:
            def report_income() -> None:
                for code, *_, income in VILLAGES:
                    self.engine.report_collective_income(
                        OPERATOR, self.parties[code].id, january.year - 1, Decimal(income))

            self.at((january - self.start).days, report_income, hour=9)

    def _register(self, code: str, name: str, kind: str, region: str) -> Party:
        e = self.engine
        org = e.register_organisation(OPERATOR, code, name, kind, region)
        role = "village" if kind in ("village", "community") else "agency"
        _, token = e.register_user(OPERATOR, f"{name}书记", role, org.id)
        self.parties[code] = Party(org.id, e.authenticate(token))
        self.count("organisations")
        return self.parties[code]

    # -- pairings --------------------------------------------------------------------------

    def plan_pairings(self) -> None:
        e = self.engine
        for n, (giver, receiver, fate) in enumerate(PAIRINGS):
            key = f"p{n}"
            proposed = STUCK_PROPOSED_ON if fate == "stuck" else 8 + n

            def propose(giver=giver, receiver=receiver, key=key):
                g, r = self.parties[giver], self.parties[receiver]
                term_start = self.today() + timedelta(days=SIGN_AFTER)
                self.ids[key] = e.propose_pairing(
                    g.user, g.id, r.id, term_start, date(term_start.year + 3, 12, 31),
                    ["organisation", "industry", "talent"]).id

            def accept_and_sign(key=key):
                g, r = self._sides(self.ids[key])
                e.accept_pairing(r.user, self.ids[key])
                e.sign_agreement(g.user, self.ids[key], self.today())
                e.sign_agreement(r.user, self.ids[key], self.today())
                self.count("pairings in force")

            self.at(proposed, propose)
            self.at(proposed + SIGN_AFTER, accept_and_sign)

        def propose_declined():
            g, r = self.parties[DECLINED[0]], self.parties[DECLINED[1]]
            self.ids["declined"] = e.propose_pairing(
                g.user, g.id, r.id, self.today() + timedelta(days=7),
                self.today() + timedelta(days=2 * 365)).id

        def decline():
            r = self.parties[DECLINED[1]]
            e.decline_pairing(r.user, self.ids["declined"], "本社区已与县直单位结对，资源重复")
            self.count("pairings declined")

        self.at(30, propose_declined)
        self.at(35, decline)

    def plan_activities(self) -> None:
        """A joint meeting after signing, then an activity every 45 days, hosted by each side
        in turn and co-signed by the other two days later."""
        e = self.engine
        for n, (_, _, fate) in enumerate(PAIRINGS):
            if fate == "stuck":
                continue
            plan = [(25 + n, "meeting", "结对共建联席会议")]
            plan += [(slot + n, *KINDS[k % len(KINDS)]) for k, slot in enumerate(SLOTS)
                     if slot <= QUIET_AFTER.get(n, DAYS)]
            for k, (day, kind, title) in enumerate(plan):
                key = f"a{n}-{k}"

                def record(n=n, k=k, kind=kind, title=title, key=key):
                    p = self.ids[f"p{n}"]
                    host = self._sides(p)[(n + k) % 2]
                    a = e.record_activity(host.user, p, kind,
                                          title.format(month=self.today().month), self.clock.now(),
                                          {"giver": 8 + n, "receiver": 15 + n, "masses": 20})
                    self.ids[key] = UUID(a.details["activity_id"])

                def cosign(n=n, k=k, key=key):
                    p = self.ids[f"p{n}"]
                    other = self._sides(p)[(n + k + 1) % 2]
                    e.cosign_activity(other.user, p, self.ids[key].hex)
                    self.count("activities co-signed")

                self.at(day, record)
                self.at(day + 2, cosign)

        def visit():
            p = self.ids["p0"]
            giver, _ = self._sides(p)
            a = e.record_activity(giver.user, p, "visit", "入户走访困难党员", self.clock.now())
            self.ids["contested"] = UUID(a.details["activity_id"])

        def contest():
            p = self.ids["p0"]
            _, receiver = self._sides(p)
            e.contest_activity(receiver.user, p, self.ids["contested"].hex,
                               "当日村里未见走访人员，照片为往年旧照")
            self.count("activities contested")

        self.at(300, visit, hour=15)
        self.at(302, contest)

    def plan_followup_answer(self) -> None:
        """The giver of a quiet pairing answers the 联而不动 case the workflow opened."""
        n = 9
        answer_on = QUIET_AFTER[n] + n + 2 + 90 + 6  # last co-signed activity + R2 + a week

        def respond():
            pairing = self.engine.load(Pairing, self.ids[f"p{n}"])
            case_id = WorkflowPolicies.pairing_case_id(pairing, "R2")
            giver, _ = self._sides(pairing.id)
            self.engine.respond_followup(giver.user, case_id, "已制定走访计划，下季度起恢复联合活动")
            self.count("follow-up cases answered")

        self.at(answer_on, respond, hour=16)

    # -- commitments and tasks -------------------------------------------------------------

    def plan_commitments(self) -> None:
        e = self.engine
        for n, (index, side, category, content, made, due, amount, fate) in enumerate(COMMITMENTS):
            key = f"c{n}"

            def make(index=index, side=side, category=category, content=content, due=due,
                     amount=amount, key=key):
                p = self.ids[f"p{index}"]
                maker = self._sides(p)[0 if side == "giver" else 1]
                quantity, unit = (None, None) if amount else (Decimal("4"), "次")
                self.ids[key] = e.make_commitment(
                    maker.user, p, side, category, content, self.start + timedelta(days=due),
                    quantity=quantity, unit=unit,
                    amount_yuan=Decimal(amount) if amount else None).id
                e.publicise_commitment(maker.user, self.ids[key], "村务公开栏", self.today())
                self.count("commitments publicised")

            self.at(made, make, hour=15)
            if fate == "overdue":
                self.at(made, lambda: self.count("commitments left to go overdue"), hour=16)
                continue
            if fate == "open":
                continue
            if fate == "abandoned":
                def abandon(key=key):
                    maker, _ = self._commitment_parties(self.ids[key])
                    e.abandon_commitment(maker.user, self.ids[key], "项目用地未获审批，无法实施",
                                         explained_to_public=True)
                    self.count("commitments abandoned")

                self.at(due - 60, abandon)
                continue

            def claim(key=key, note="已按承诺完成，附验收照片"):
                maker, _ = self._commitment_parties(self.ids[key])
                e.claim_fulfilment(maker.user, self.ids[key], note=note)

            def confirm(key=key):
                _, beneficiary = self._commitment_parties(self.ids[key])
                e.confirm_fulfilment(beneficiary.user, self.ids[key])
                self.count("commitments confirmed")

            self.at(due - 10, claim)
            if fate == "disputed":
                def dispute(key=key):
                    _, beneficiary = self._commitment_parties(self.ids[key])
                    e.dispute_fulfilment(beneficiary.user, self.ids[key], "设备只装了一半，另一片茶园未覆盖")
                    self.count("commitments disputed")

                self.at(due - 8, dispute)
                self.at(due - 4, functools.partial(claim, note="已补装剩余设备"))
                self.at(due - 2, confirm)
            else:
                self.at(due - 5, confirm)

    def plan_tasks(self) -> None:
        e = self.engine
        for n, (index, category, title, budget, raised, claimed, delivered, rejected,
                confirmed) in enumerate(TASKS):
            key = f"t{n}"

            def raise_need(index=index, category=category, title=title, key=key):
                _, receiver = self._sides(self.ids[f"p{index}"])
                self.ids[key] = e.raise_need(receiver.user, receiver.id, category, title).id
                self.count("needs raised")

            def claim_and_plan(index=index, budget=budget, key=key, due=delivered + 40):
                giver, _ = self._sides(self.ids[f"p{index}"])
                e.claim_task(giver.user, self.ids[key], giver.id)
                e.plan_task(giver.user, self.ids[key], self.start + timedelta(days=due),
                            Decimal(budget))

            def deliver(index=index, budget=budget, key=key, note="已完成"):
                giver, _ = self._sides(self.ids[f"p{index}"])
                e.report_delivery(giver.user, self.ids[key], self.clock.now() - timedelta(hours=2),
                                  Decimal(budget), note)

            def confirm_and_rate(index=index, key=key, n=n):
                _, receiver = self._sides(self.ids[f"p{index}"])
                e.confirm_delivery(receiver.user, self.ids[key])
                self.count("deliveries confirmed")
                level = "basically_satisfied" if n == 2 else "satisfied"
                e.rate_task(receiver.user, self.ids[key], level, "群众反映良好")
                e.close_task(receiver.user, self.ids[key])

            def reject(index=index, key=key, title=title):
                _, receiver = self._sides(self.ids[f"p{index}"])
                e.reject_delivery(receiver.user, self.ids[key], "验收未通过，需返修：" + title)
                self.count("deliveries rejected")

            self.at(raised, raise_need)
            self.at(claimed, claim_and_plan)
            self.at(delivered, deliver, hour=17)
            if rejected is not None:
                self.at(rejected, reject)
                if confirmed is not None:
                    self.at(rejected + REDELIVERED_AFTER,
                            functools.partial(deliver, note="已全部返修"), hour=17)
            if confirmed is not None:
                self.at(confirmed, confirm_and_rate)

        index, category, title, raised = UNCLAIMED_NEED

        def unclaimed_need():
            _, receiver = self._sides(self.ids[f"p{index}"])
            e.raise_need(receiver.user, receiver.id, category, title)
            self.count("needs raised")

        # Nobody claims it: the workflow pools it once the claim window has passed.
        self.at(raised, unclaimed_need)

    # -- lookups ---------------------------------------------------------------------------

    def _sides(self, pairing_id: UUID) -> tuple[Party, Party]:
        p = self.engine.load(Pairing, pairing_id)
        by_id = {party.id: party for party in self.parties.values()}
        return by_id[p.giver_id], by_id[p.receiver_id]

    def _commitment_parties(self, commitment_id: UUID) -> tuple[Party, Party]:
        c = self.engine.load(PublicCommitment, commitment_id)
        by_id = {party.id: party for party in self.parties.values()}
        return by_id[c.maker_id], by_id[c.beneficiary_id]


# What the worker did on its own: the effects of ``workflows.policies`` (a rule's effects
# without the rule's name: "R2 flagged" counts as "flagged").
WORKFLOW_EFFECTS = {"flagged": "follow-up cases opened by the workflow",
                    "marked overdue": "commitments marked overdue by the workflow",
                    "pooled": "needs pooled by the workflow"}

LABELS = {
    "divisions named": "登记名称的区划", "organisations": "党组织", "pairings in force": "生效结对",
    "pairings declined": "拒绝的结对申请",
    "activities co-signed": "双方确认的活动", "activities contested": "被对方否认的活动",
    "commitments publicised": "公开承诺", "commitments confirmed": "已确认兑现的承诺",
    "commitments disputed": "曾被退回的承诺", "commitments abandoned": "放弃并说明的承诺",
    "commitments left to go overdue": "未兑现、逾期的承诺", "needs raised": "提出的需求",
    "deliveries confirmed": "村方确认的交付", "deliveries rejected": "被退回的交付",
    "commitments marked overdue by the workflow": "工作流标记逾期的承诺",
    "needs pooled by the workflow": "工作流转入需求池的需求",
    "follow-up cases opened by the workflow": "工作流开出的督办案件",
    "follow-up cases answered": "已答复的督办案件",
}


def holds_only_accounts(engine: Engine, page: int = 1000) -> bool:
    """Whether the log holds nothing but users, their tokens and logins (what ``cobuild
    init`` writes)."""
    position = 0
    while notifications := engine.recorder.select_notifications(
            start=position, limit=page, inclusive_of_start=False):
        for notification in notifications:
            if not isinstance(engine.mapper.to_domain_event(notification),
                              (User.Event, AccessToken.Event, LoginName.Event)):
                return False
        position = notifications[-1].id
    return True


def play_demo_year(settings: Settings, clock: Clock | None = None) -> list[str]:
    """Play the twelve months up to now (``clock``'s, by default the system's) into the
    store of ``settings``; refuse, writing nothing, if the demo is already there."""
    now = (clock or SystemClock()).now()
    start = local_date(now) - timedelta(days=DAYS)
    fake = FakeClock(start_of_local_day(start) + timedelta(hours=9))
    engine = open_engine(settings, fake)
    try:
        if engine.exists(Organisation.create_id(AGENCIES[0][0])):
            raise DemoAlreadyLoaded(
                f"the demo is already loaded in {settings.home}; nothing was written")
        if not holds_only_accounts(engine):
            raise StoreInUse(
                f"the demo plays into a new store (after cobuild init), and {settings.home} "
                "already holds records; nothing was written")
        state = open_worker_state(settings)
        try:
            year = DemoYear(engine, fake, Worker(engine, state), start)
            year.register()
            year.plan_pairings()
            year.plan_activities()
            year.plan_followup_answer()
            year.plan_commitments()
            year.plan_tasks()
            year.run(until=now)
        finally:
            state.close()
        events = engine.recorder.max_notification_id()
    finally:
        engine.close()
    lines = [f"演示数据（{start.isoformat()} 至 {local_date(now).isoformat()} 的十二个月）"
             f"已写入 {settings.home}（共 {events} 条事件）："]
    lines += [f"  {label}：{year.counts[key]}" for key, label in LABELS.items() if key in year.counts]
    return lines
