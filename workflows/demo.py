"""A realistic demo year (2025) played through the engine, command by command.

Two counties of Lishui (遂昌, 松阳), twelve giving organisations and twelve villages, some of
them weak (collective income under 30,000 yuan).  Business time moves with a fake clock
through 2025, so every fact is dated when it happened; the recorded time is the real one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable
from uuid import UUID

from domain.base import Actor
from domain.commitment import PublicCommitment
from domain.organisation import Organisation
from domain.pairing import Pairing
from workflows.store.clock import FakeClock, LOCAL_TZ
from workflows.store.settings import Settings
from workflows.engine import Engine, open_engine
from workflows.errors import EngineError

YEAR = 2025
OPERATOR = Actor(user_id="operator", role="admin", region_code="")

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
VILLAGES = [  # code, name, kind, region, collective income 2024 (yuan)
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
# giver, receiver; the last two of each county stay unhealthy on purpose.
PAIRINGS = [
    ("SC-CZJ", "SC-SL"), ("SC-GDJ", "SC-JX"), ("SC-YY", "SC-HY"), ("SC-ZX", "SC-GT"),
    ("SC-NYJ", "SC-JX"), ("SC-DS", "SC-NX"),
    ("SY-ZZB", "SY-YX"), ("SY-XH", "SY-TT"), ("SY-JYJ", "SY-LK"), ("SY-WLJ", "SY-YC"),
    ("SY-YD", "SY-SJ"),
]
DECLINED = ("SY-SG", "SY-CT")


class DemoAlreadyLoaded(EngineError):
    code = "demo-loaded"


@dataclass
class Party:
    id: UUID
    user: Actor


@dataclass
class DemoYear:
    """The year as a timeline: each step is scheduled at a local time and the steps run in
    time order, so every fact is dated after what it answers."""

    engine: Engine
    clock: FakeClock
    parties: dict[str, Party] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    steps: list[tuple[datetime, int, Callable[[], None]]] = field(default_factory=list)
    ids: dict[str, UUID] = field(default_factory=dict)

    def at(self, month: int, day: int, step: Callable[[], None], hour: int = 10) -> None:
        moment = datetime(YEAR, month, day, hour, tzinfo=LOCAL_TZ).astimezone(timezone.utc)
        self.steps.append((moment, len(self.steps), step))

    def run(self) -> None:
        for moment, _, step in sorted(self.steps, key=lambda s: (s[0], s[1])):
            if moment > self.clock.now():
                self.clock.set(moment)
            step()

    def today(self) -> date:
        return self.clock.now().astimezone(LOCAL_TZ).date()

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def register(self) -> None:
        for code, name, kind, region in AGENCIES:
            self._register(code, name, kind, region, "agency")
        for code, name, kind, region, income in VILLAGES:
            org = self._register(code, name, kind, region, "village")
            self.engine.report_collective_income(OPERATOR, org.id, YEAR - 1, Decimal(income))

    def _register(self, code: str, name: str, kind: str, region: str, role: str) -> Party:
        e = self.engine
        org = e.register_organisation(OPERATOR, code, name, kind, region)
        _, token = e.register_user(OPERATOR, f"{name}书记", role, org.id)
        self.parties[code] = Party(org.id, e.authenticate(token))
        self.count("organisations")
        return self.parties[code]

    def plan_pairings(self) -> None:
        e = self.engine
        for n, (giver, receiver) in enumerate(PAIRINGS):
            key = f"p{n}"

            def propose(giver=giver, receiver=receiver, key=key):
                g, r = self.parties[giver], self.parties[receiver]
                self.ids[key] = e.propose_pairing(
                    g.user, g.id, r.id, date(YEAR, 1, 1), date(YEAR + 2, 12, 31),
                    ["organisation", "industry", "talent"]).id

            def accept_and_sign(key=key):
                g, r = self._sides(self.ids[key])
                e.accept_pairing(r.user, self.ids[key])
                e.sign_agreement(g.user, self.ids[key], self.today())
                e.sign_agreement(r.user, self.ids[key], self.today())
                self.count("pairings in force")

            self.at(1, 10 + n, propose)
            self.at(1, 20 + n, accept_and_sign)

        def propose_declined():
            g, r = self.parties[DECLINED[0]], self.parties[DECLINED[1]]
            self.ids["declined"] = e.propose_pairing(
                g.user, g.id, r.id, date(YEAR, 2, 1), date(YEAR + 1, 12, 31)).id

        def decline():
            r = self.parties[DECLINED[1]]
            e.decline_pairing(r.user, self.ids["declined"], "本社区已与县直单位结对，资源重复")
            self.count("pairings declined")

        self.at(2, 3, propose_declined)
        self.at(2, 8, decline)

    def plan_activities(self) -> None:
        """Quarterly joint organisational life; pairings 5 and 10 stay stuck at signing
        (no activity, no commitment) and 4 and 9 go quiet after June."""
        e = self.engine
        for month in (3, 6, 9, 11):
            for n in range(len(PAIRINGS)):
                if n in (5, 10) or (month > 6 and n in (4, 9)):
                    continue

                def record(n=n, month=month):
                    p = self.ids[f"p{n}"]
                    giver, receiver = self._sides(p)
                    host = giver if (n + month) % 2 else receiver
                    a = e.record_activity(host.user, p, "joint_org_life", f"{month}月联合主题党日",
                                          self.clock.now(),
                                          {"giver": 8 + n, "receiver": 15 + n, "masses": 20})
                    self.ids[f"a{n}-{month}"] = UUID(a.details["activity_id"])

                def cosign(n=n, month=month):
                    p = self.ids[f"p{n}"]
                    giver, receiver = self._sides(p)
                    other = receiver if (n + month) % 2 else giver
                    e.cosign_activity(other.user, p, self.ids[f"a{n}-{month}"].hex)
                    self.count("activities co-signed")

                self.at(month, 5 + n, record)
                self.at(month, 7 + n, cosign)

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

        self.at(11, 20, visit)
        self.at(11, 22, contest)

    def plan_commitments(self) -> None:
        e = self.engine
        plans = [  # pairing, maker side, category, content, due, amount, fate
            (0, "giver", "funds", "出资建设村级文化礼堂", date(YEAR, 8, 31), Decimal("50000.00"), "kept"),
            (1, "giver", "technology", "为茶园安装智能灌溉设备", date(YEAR, 7, 31), Decimal("30000.00"), "disputed"),
            (2, "giver", "practical_matter", "每季度组织一次义诊", date(YEAR, 12, 20), None, "kept"),
            (3, "giver", "talent", "选派两名教师开展课后辅导", date(YEAR, 10, 31), None, "kept"),
            (6, "giver", "project", "帮助申报高山蔬菜基地项目", date(YEAR, 9, 30), Decimal("80000.00"), "abandoned"),
            (7, "giver", "funds", "设立集体经济发展基金", date(YEAR, 6, 30), Decimal("100000.00"), "kept"),
            (8, "giver", "org_life", "联合开展党员冬训", date(YEAR, 9, 15), None, "overdue"),
            (3, "receiver", "other", "为学校提供劳动教育基地", date(YEAR, 11, 30), None, "kept"),
        ]
        for n, (index, side, category, content, due, amount, fate) in enumerate(plans):
            key = f"c{n}"

            def make(index=index, side=side, category=category, content=content, due=due,
                     amount=amount, key=key):
                p = self.ids[f"p{index}"]
                maker = self._sides(p)[0 if side == "giver" else 1]
                quantity, unit = (None, None) if amount else (Decimal("4"), "次")
                self.ids[key] = e.make_commitment(maker.user, p, side, category, content, due,
                                                  quantity=quantity, unit=unit, amount_yuan=amount).id
                e.publicise_commitment(maker.user, self.ids[key], "村务公开栏", self.today())
                self.count("commitments publicised")

            self.at(3, 1 + n, make, hour=15)
            if fate == "overdue":
                self.at(3, 1 + n, lambda: self.count("commitments left to go overdue"), hour=16)
                continue
            if fate == "abandoned":
                def abandon(key=key):
                    maker, _ = self._commitment_parties(self.ids[key])
                    e.abandon_commitment(maker.user, self.ids[key], "项目用地未获审批，无法实施",
                                         explained_to_public=True)
                    self.count("commitments abandoned")

                self.at(8, 15, abandon)
                continue

            def claim(key=key, note="已按承诺完成，附验收照片"):
                maker, _ = self._commitment_parties(self.ids[key])
                e.claim_fulfilment(maker.user, self.ids[key], note=note)

            def confirm(key=key):
                _, beneficiary = self._commitment_parties(self.ids[key])
                e.confirm_fulfilment(beneficiary.user, self.ids[key])
                self.count("commitments confirmed")

            self.at(due.month, due.day - 10, claim)
            if fate == "disputed":
                def dispute(key=key):
                    _, beneficiary = self._commitment_parties(self.ids[key])
                    e.dispute_fulfilment(beneficiary.user, self.ids[key], "设备只装了一半，另一片茶园未覆盖")
                    self.count("commitments disputed")

                self.at(due.month, due.day - 8, dispute)
                self.at(due.month, due.day - 2, lambda claim=claim: claim(note="已补装剩余设备"))
            self.at(due.month, due.day, confirm)

    def plan_tasks(self) -> None:
        e = self.engine
        needs = [
            (0, "infrastructure", "村道安装太阳能路灯", Decimal("18000")),
            (1, "skills_training", "茶叶加工技术培训", Decimal("3000")),
            (2, "health", "老年人慢病筛查", Decimal("5000")),
            (6, "collective_economy", "民宿运营指导", Decimal("8000")),
            (7, "education", "留守儿童暑期课堂", Decimal("6000")),
        ]
        for n, (index, category, title, budget) in enumerate(needs):
            key = f"t{n}"

            def raise_need(index=index, category=category, title=title, key=key):
                _, receiver = self._sides(self.ids[f"p{index}"])
                self.ids[key] = e.raise_need(receiver.user, receiver.id, category, title).id
                self.count("needs raised")

            def claim_and_plan(index=index, budget=budget, key=key):
                giver, _ = self._sides(self.ids[f"p{index}"])
                e.claim_task(giver.user, self.ids[key], giver.id)
                e.plan_task(giver.user, self.ids[key], date(YEAR, 7, 31), budget)

            def deliver(index=index, budget=budget, key=key, note="已完成"):
                giver, _ = self._sides(self.ids[f"p{index}"])
                e.report_delivery(giver.user, self.ids[key], self.clock.now() - timedelta(hours=2),
                                  budget, note)

            def confirm_and_rate(index=index, key=key, n=n):
                _, receiver = self._sides(self.ids[f"p{index}"])
                e.confirm_delivery(receiver.user, self.ids[key])
                self.count("deliveries confirmed")
                level = "basically_satisfied" if n == 2 else "satisfied"
                e.rate_task(receiver.user, self.ids[key], level, "群众反映良好")
                e.close_task(receiver.user, self.ids[key])

            self.at(4, 2 + n, raise_need)
            self.at(4, 10 + n, claim_and_plan)
            self.at(6, 10 + n, deliver)
            if n == 0:
                def reject(index=index, key=key):
                    _, receiver = self._sides(self.ids[f"p{index}"])
                    e.reject_delivery(receiver.user, self.ids[key], "部分路灯不亮，需返修")
                    self.count("deliveries rejected")

                self.at(6, 15, reject)
                self.at(7, 1, lambda deliver=deliver: deliver(note="已全部返修"))
            self.at(7, 5 + n, confirm_and_rate)

        def unclaimed_need():
            _, receiver = self._sides(self.ids["p8"])
            e.raise_need(receiver.user, receiver.id, "elderly_care", "村居家养老服务站设备")
            self.count("needs raised")

        # Nobody claims it: the workflow pools it once the claim window has passed.
        self.at(10, 8, unclaimed_need)

    def _sides(self, pairing_id: UUID) -> tuple[Party, Party]:
        p = self.engine.load(Pairing, pairing_id)
        by_id = {party.id: party for party in self.parties.values()}
        return by_id[p.giver_id], by_id[p.receiver_id]

    def _commitment_parties(self, commitment_id: UUID) -> tuple[Party, Party]:
        c = self.engine.load(PublicCommitment, commitment_id)
        by_id = {party.id: party for party in self.parties.values()}
        return by_id[c.maker_id], by_id[c.beneficiary_id]


LABELS = {
    "organisations": "党组织", "pairings in force": "生效结对", "pairings declined": "拒绝的结对申请",
    "activities co-signed": "双方确认的活动", "activities contested": "被对方否认的活动",
    "commitments publicised": "公开承诺", "commitments confirmed": "已确认兑现的承诺",
    "commitments disputed": "曾被退回的承诺", "commitments abandoned": "放弃并说明的承诺",
    "commitments left to go overdue": "未兑现、将逾期的承诺", "needs raised": "提出的需求",
    "deliveries confirmed": "村方确认的交付", "deliveries rejected": "被退回的交付",
}


def play_demo_year(settings: Settings) -> list[str]:
    """Play the demo year into the store of ``settings``; refuse if it is already there."""
    clock = FakeClock(datetime(YEAR, 1, 6, 9, tzinfo=LOCAL_TZ))
    engine = open_engine(settings, clock)
    try:
        if engine.exists(Organisation.create_id(AGENCIES[0][0])):
            raise DemoAlreadyLoaded(
                f"the {YEAR} demo year is already loaded in {settings.home}; nothing was written")
        year = DemoYear(engine, clock)
        year.register()
        year.plan_pairings()
        year.plan_activities()
        year.plan_commitments()
        year.plan_tasks()
        year.run()
        events = engine.recorder.max_notification_id()
    finally:
        engine.close()
    lines = [f"演示年度 {YEAR} 已写入 {settings.home}（共 {events} 条事件）："]
    lines += [f"  {label}：{year.counts[key]}" for key, label in LABELS.items() if key in year.counts]
    return lines
