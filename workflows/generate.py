"""A synthetic year of 结对共建 for a county or a whole province, played through the engine.

Two halves, kept apart:

* **planning** (pure, deterministic from the seed and the rule set): the region tree, the
  giving organisations and villages, the pairings with their health, and every pairing's
  year as dated steps (:func:`plan_world`, :func:`schedule`);
* **playing** (:class:`Playback`): a :class:`~workflows.store.clock.FakeClock` walks the year day
  by day and every step is a real engine command with all its checks; each day's commands
  are written in one transaction with ``engine.batch()``.  Nothing is written behind the
  engine's back.

Who acts.  Each organisation's secretary (a user of role ``agency`` or ``village``) acts for
it: the domain's rules are about the parties' own acts (the other side co-signs, the
beneficiary confirms), so the parties must be the ones acting.  For about a quarter of the
villages, mostly weak ones, the township clerk (a ``supervisor`` scoped to the township)
enters the village's facts with ``on_behalf_of``, which is how villages without a capable
secretary report in practice.  The county organisation department (a ``supervisor`` scoped to
the county) evaluates commitments (评诺).  What the workflow does (overdue marks, inactivity
flags, pooling needs) is done as the ``system`` actor, on the day the rule would fire.  The
accounts cost two events per organisation (user and token); the tokens are not kept (an
admin issues one with ``issue_token`` when someone needs to log in).

Deterministic.  The same seed and rule set give the same organisations, codes, names,
region codes, incomes, pairings (by organisation codes), health and business date of every
step.  Organisation and pairing-slot ids are derived from codes and are the same too; ids the
domain draws with uuid4 (users, pairings, commitments, tasks, activities) and token digests
differ from run to run.  Recorded times follow the clock (the engine stamps events with its
own clock when it saves them), so a day's facts are recorded on that day, not as backfill.
"""
from __future__ import annotations

import dataclasses
import math
import multiprocessing
import random
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Callable
from uuid import UUID

from domain import labels
from domain.base import SYSTEM, Actor
from domain.errors import DomainError
from domain.organisation import Organisation
from domain.ruleset import DEFAULT_RULES, Rules
from workflows.store.clock import LOCAL_TZ, FakeClock
from workflows.store.settings import Settings
from workflows.engine import Engine, open_engine

YEAR = 2025
GENERATOR = Actor(user_id="generator", role="admin", region_code="")
PROVINCE = ("33", "浙江省")
CITIES = (("01", "杭州市"), ("02", "宁波市"), ("03", "温州市"), ("04", "嘉兴市"), ("05", "湖州市"),
          ("06", "绍兴市"), ("07", "金华市"), ("08", "衢州市"), ("09", "舟山市"), ("10", "台州市"),
          ("11", "丽水市"))
MAX_FACTOR = 16.0
# Why a township clerk enters a village's facts (代录 needs a reason, DESIGN §13).
CLERK_REASON = "村党支部无专人录入，由乡镇代录"

HEALTH = ("healthy", "inactive", "slow", "one_way", "stuck")
HEALTH_WEIGHTS = (0.56, 0.14, 0.12, 0.12, 0.06)
WEAK_INCOME = 30000  # yuan: a village below it is 薄弱村 (also rules' weak_village_income_yuan)
VILLAGES_PER_TOWNSHIP = 11

# The engine's repository cache, set for generation: aggregates stay in memory between days
# instead of being replayed from their events (a pairing gathers a hundred events in a year),
# and the cached object is the one the next command changes, without a copy.  That is safe
# here because every command checks before it changes anything, a failed day aborts the
# whole generation, and the generation is the only writer while it runs.
ENGINE_ENV = {
    "AGGREGATE_CACHE_MAXSIZE": "400000",
    "AGGREGATE_CACHE_FASTFORWARD": "n",
    "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
}


class GenerationError(DomainError):
    code = "generation-refused"


# ==============================================================================================
# Planning: pure functions of (scale, seed, rules)
# ==============================================================================================

@dataclass(frozen=True)
class Scale:
    name: str
    factor: float
    cities: int
    counties: int
    giving: int
    villages: int
    pairings: int

    @classmethod
    def named(cls, name: str, factor: float = 1.0) -> "Scale":
        base = SCALES.get(name)
        if base is None:
            raise GenerationError(f"unknown scale {name!r}: use county or province")
        if not isinstance(factor, (int, float)) or not 0 < factor <= MAX_FACTOR:
            raise GenerationError(f"factor must be greater than 0 and at most {MAX_FACTOR:g}")
        villages = max(4, round(base.villages * factor))
        return cls(name, float(factor), base.cities, base.counties,
                   giving=max(4, round(base.giving * factor)), villages=villages,
                   pairings=max(villages, round(base.pairings * factor)))


SCALES = {
    # 浙江: 11 cities, 90 county-level divisions, ~14,500 villages and communities; ~27,000
    # party organisations of agencies, enterprises, schools ... paired with them.
    "province": Scale("province", 1.0, 11, 90, 27000, 14500, 30000),
    "county": Scale("county", 1.0, 1, 1, 300, 161, 333),
}


@dataclass(frozen=True)
class Region:
    code: str  # prefix: 4 digits city, 6 county, 9 township
    name: str
    parent: str = ""


@dataclass(frozen=True)
class OrgPlan:
    code: str
    name: str
    kind: str
    region_code: str
    county: str = ""  # the county it belongs to ("" above county level)
    city: str = ""
    income: int | None = None  # collective income of the previous year, villages only
    clerk_entered: bool = False  # the township clerk enters this village's facts

    @property
    def weak(self) -> bool:
        return self.income is not None and self.income < WEAK_INCOME


@dataclass(frozen=True)
class ActivityPlan:
    on: date
    host: str  # giver | receiver
    kind: str
    title: str
    participants: tuple[int, int, int]  # giver, receiver, masses
    answer: str | None  # cosign | contest | None (left unanswered)
    answered_on: date | None


@dataclass(frozen=True)
class CommitmentPlan:
    made_on: date
    made_by: str
    category: str
    content: str
    due_on: date
    amount: int | None
    quantity: int | None
    unit: str | None
    fate: str  # kept, extended, disputed, late, overdue, abandoned, open
    progress_on: tuple[date, ...] = ()
    extend_on: date | None = None
    new_due_on: date | None = None
    overdue_on: date | None = None
    claim_on: date | None = None
    dispute_on: date | None = None
    reclaim_on: date | None = None
    confirm_on: date | None = None
    abandon_on: date | None = None
    evaluate_on: date | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class TaskPlan:
    raised_on: date
    category: str
    title: str
    wanted_by: date
    fate: str  # done, reworked, pooled, open
    budget: int
    claim_on: date | None = None
    due_on: date | None = None
    delivered_on: date | None = None
    reject_on: date | None = None
    redeliver_on: date | None = None
    confirm_on: date | None = None
    satisfaction: str | None = None
    pool_on: date | None = None


@dataclass(frozen=True)
class FlagPlan:
    on: date
    rule: str
    since: date  # signing (R1), last activity (R2) or the due date (R5)
    commitment: int | None = None  # R5: which commitment is overdue


@dataclass(frozen=True)
class PairingPlan:
    index: int
    giver: int  # index into World.giving
    village: int  # index into World.villages
    health: str
    proposed_on: date
    accepted_on: date
    giver_signed_on: date
    village_signed_on: date | None  # None: never signed, stuck before coming into force
    activities: tuple[ActivityPlan, ...] = ()
    commitments: tuple[CommitmentPlan, ...] = ()
    tasks: tuple[TaskPlan, ...] = ()
    flags: tuple[FlagPlan, ...] = ()


@dataclass(frozen=True)
class World:
    scale: Scale
    seed: int
    year: int
    rules: Rules
    cities: tuple[Region, ...]
    counties: tuple[Region, ...]
    townships: tuple[Region, ...]
    giving: tuple[OrgPlan, ...]
    villages: tuple[OrgPlan, ...]
    pairings: tuple[PairingPlan, ...]

    @property
    def marker_code(self) -> str:
        """The first organisation's code: present in a store once this world was generated."""
        return self.giving[0].code

    def health_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(HEALTH, 0)
        for p in self.pairings:
            counts[p.health] += 1
        return counts


# -- names ----------------------------------------------------------------------------------

SYLLABLES = ("安 白 宝 碧 长 大 东 丰 凤 高 古 广 桂 和 黄 华 金 锦 九 兰 莲 林 龙 马 梅 南 平 "
             "青 清 泉 仁 瑞 三 山 上 石 双 水 松 塘 天 田 万 文 西 溪 下 新 杏 岩 阳 杨 叶 永 "
             "玉 源 云 樟 竹 桃 柳 荷 茶 枫 湖 坑 坞 垟 岭").split()
DEPARTMENTS = ("财政局", "农业农村局", "教育局", "卫生健康局", "自然资源和规划局", "交通运输局",
               "水利局", "民政局", "人力资源和社会保障局", "住房和城乡建设局", "市场监督管理局",
               "文化广电旅游局", "商务局", "司法局", "发展和改革局", "科技局", "应急管理局",
               "税务局", "供销合作社", "团委", "妇联", "总工会", "委组织部", "委宣传部", "委统战部",
               "委政法委", "纪委监委", "审计局", "统计局", "林业局")
GIVING_TEMPLATES = {
    "agency": ("{place}{dept}机关党委", "{place}{dept}机关党支部"),
    "enterprise": ("国网{place}供电公司党委", "{place}农商银行党委", "中国移动{place}分公司党支部",
                   "中国电信{place}分公司党支部", "{place}城投集团党委", "{place}水务集团党委",
                   "{place}{word}实业有限公司党支部", "{place}邮政分公司党委"),
    "institution": ("{place}人民医院党委", "{place}中医院党委", "{place}疾病预防控制中心党支部",
                    "{place}农业技术推广中心党支部", "{place}图书馆党支部", "{place}气象局党支部"),
    "school": ("{place}第{n}中学党总支", "{place}{word}小学党支部", "{place}职业技术学校党委",
               "{place}实验幼儿园党支部"),
    "new_economic": ("{place}电子商务协会党支部", "{place}{word}科技有限公司党支部",
                     "{place}{word}农业开发有限公司党支部"),
    "new_social": ("{place}社会工作协会党支部", "{place}律师协会党支部", "{place}志愿者协会党支部",
                   "{place}个体劳动者协会党支部"),
}
GIVING_KIND_WEIGHTS = (("agency", 0.46), ("enterprise", 0.2), ("institution", 0.14),
                       ("school", 0.1), ("new_economic", 0.05), ("new_social", 0.05))

ACTIVITY_TITLES = {
    "joint_org_life": ("{m}月联合主题党日", "联合开展“三会一课”", "共同过组织生活会", "联合开展党史学习"),
    "visit": ("走访慰问困难党员群众", "入户走访低收入农户", "看望老党员", "走访留守老人"),
    "training": ("农村电商技能培训", "茶叶种植技术培训", "党员冬训专题辅导", "安全生产培训",
                 "村务财务管理培训"),
    "practical_matter": ("义诊进村", "修缮村道路灯", "为老人理发送餐", "清理河道垃圾", "送法进村"),
    "meeting": ("结对共建工作推进会", "村集体经济发展座谈会", "结对双方联席会议"),
    "other": ("文艺下乡演出", "图书捐赠进农家书屋"),
}
ACTIVITY_WEIGHTS = (("joint_org_life", 0.3), ("visit", 0.25), ("training", 0.15),
                    ("practical_matter", 0.15), ("meeting", 0.1), ("other", 0.05))
GIVER_PROMISES = (  # category, content, amount (yuan) or (quantity, unit)
    ("funds", "出资支持村级文化礼堂建设", (20000, 80000)),
    ("funds", "设立村集体经济发展基金", (30000, 150000)),
    ("project", "帮助申报高效生态农业项目", (50000, 200000)),
    ("technology", "为茶园安装智能灌溉设备", (10000, 50000)),
    ("practical_matter", "每季度组织一次义诊进村", (4, "次")),
    ("talent", "选派技术骨干驻村指导", (2, "人")),
    ("information", "帮助对接农产品销售渠道", (3, "家")),
    ("org_life", "联合开展党员冬训", (2, "次")),
)
VILLAGE_PROMISES = (
    ("other", "为结对单位提供劳动教育实践基地", (2, "次")),
    ("org_life", "邀请结对单位党员参加村党员大会", (2, "次")),
    ("information", "定期报送村情民意信息", (4, "期")),
)
NEEDS = (
    ("infrastructure", "村道安装太阳能路灯"), ("skills_training", "茶叶加工技术培训"),
    ("health", "老年人慢病筛查"), ("collective_economy", "民宿运营指导"),
    ("education", "留守儿童暑期课堂"), ("elderly_care", "居家养老服务站设备"),
    ("environment", "垃圾分类设施更新"), ("culture_sports", "村文化礼堂音响设备"),
    ("industry", "农产品包装设计"), ("legal", "村规民约法律审查"),
    ("employment", "农村劳动力就业对接"), ("hardship_relief", "困难家庭助学"),
)
CHANNELS = ("村务公开栏", "党务公开栏", "村民微信群")


def _word(rng: random.Random) -> str:
    return rng.choice(SYLLABLES) + rng.choice(SYLLABLES)


def _weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in pairs], weights=[w for _, w in pairs])[0]


# -- the region tree and the organisations ---------------------------------------------------

def _split(total: int, parts: int, rng: random.Random, spread: float = 0.4) -> list[int]:
    """``total`` split into ``parts`` uneven shares, each at least 1."""
    weights = [1 + rng.uniform(-spread, spread) for _ in range(parts)]
    shares = [max(1, int(total * w / sum(weights))) for w in weights]
    for i in range(total - sum(shares)):
        shares[i % parts] += 1
    while sum(shares) > total:
        shares[shares.index(max(shares))] -= 1
    return shares


def plan_regions(scale: Scale, rng: random.Random
                 ) -> tuple[list[Region], list[Region], list[tuple[Region, int]]]:
    """Cities, counties and each county's villages count, as 统计用区划代码 prefixes."""
    prov = PROVINCE[0]
    cities = [Region(prov + c, n) for c, n in CITIES[len(CITIES) - scale.cities:]]
    counties: list[tuple[Region, int]] = []
    per_city = _split(scale.counties, len(cities), rng, 0.0)
    villages = _split(scale.villages, scale.counties, rng)
    for city, n in zip(cities, per_city):
        districts = n // 3
        for k in range(n):
            is_district = k < districts
            number = 2 + k if is_district else 21 + k - districts
            suffix = "区" if is_district else rng.choice(("县", "县", "市"))
            region = Region(f"{city.code}{number:02d}", _word(rng) + suffix, city.code)
            counties.append((region, villages[len(counties)]))
    return cities, [c for c, _ in counties], counties


def plan_organisations(scale: Scale, seed: int, rng: random.Random,
                       ) -> tuple[list[Region], list[Region], list[Region], list[OrgPlan], list[OrgPlan]]:
    cities, counties, county_villages = plan_regions(scale, rng)
    city_names = {c.code: c.name for c in cities}
    townships: list[Region] = []
    villages: list[OrgPlan] = []
    for county, n in county_villages:
        n_towns = max(1, math.ceil(n / VILLAGES_PER_TOWNSHIP))
        for t, share in enumerate(_split(n, n_towns, rng, 0.3)):
            # 001-099 街道, 100-199 镇, 200-299 乡 (the 统计用区划代码 convention)
            kind, number = (("街道", 1 + t) if t < max(1, n_towns // 6)
                            else ("乡", 200 + t) if t >= n_towns - n_towns // 5
                            else ("镇", 100 + t))
            town = Region(f"{county.code}{number:03d}", _word(rng) + kind, county.code)
            townships.append(town)
            communities = 0
            for v in range(share):
                is_community = kind == "街道" and v < 3 or rng.random() < 0.04
                # 001-199 居委会 (社区), 200-399 村委会
                if is_community:
                    communities += 1
                    code, name = f"{town.code}{communities:03d}", _word(rng) + "社区"
                else:
                    code, name = f"{town.code}{200 + v - communities + 1:03d}", _word(rng) + "村"
                weak = not is_community and rng.random() < 0.36
                income = (rng.randrange(30, 300) * 100 if weak
                          else int(min(5_000_000, 30000 + rng.lognormvariate(11.3, 0.9))) // 100 * 100)
                villages.append(OrgPlan(
                    code=f"S{seed}-V{code}", name=f"{town.name}{name}党{'委' if is_community else '支部'}",
                    kind="community" if is_community else "village", region_code=code,
                    county=county.code, city=county.parent, income=income,
                    clerk_entered=rng.random() < (0.45 if weak else 0.12)))
    giving: list[OrgPlan] = []
    county_share = _split(scale.giving, len(counties), rng)
    for n in range(scale.giving):
        level = rng.random()
        county = counties[min(len(counties) - 1, _index_for(n, county_share))]
        if level < 0.03:
            place, region, county_code, city_code = PROVINCE[1], f"{PROVINCE[0]}0000000000", "", ""
        elif level < 0.2:
            city_code = county.parent
            place, region, county_code = city_names[city_code], f"{city_code}00000000", ""
        else:
            place, region = county.name, f"{county.code}000000"
            county_code, city_code = county.code, county.parent
        kind = _weighted(rng, GIVING_KIND_WEIGHTS)
        template = rng.choice(GIVING_TEMPLATES[kind])
        name = template.format(place=place, dept=rng.choice(DEPARTMENTS), word=_word(rng),
                               n=rng.randrange(1, 9))
        giving.append(OrgPlan(code=f"S{seed}-A{n + 1:06d}", name=name, kind=kind,
                              region_code=region, county=county_code, city=city_code))
    return cities, counties, townships, giving, villages


def _index_for(n: int, shares: list[int]) -> int:
    for i, share in enumerate(shares):
        if n < share:
            return i
        n -= share
    return len(shares) - 1


def plan_pairs(scale: Scale, giving: list[OrgPlan], villages: list[OrgPlan],
               rng: random.Random) -> list[tuple[int, int]]:
    """(giver, village) pairs: every village once, the rest more often to weak villages;
    givers of the village's county mostly, of its city or the province sometimes."""
    by_county: dict[str, list[int]] = {}
    by_city: dict[str, list[int]] = {}
    province_level: list[int] = []
    for i, org in enumerate(giving):
        if org.county:
            by_county.setdefault(org.county, []).append(i)
        elif org.city:
            by_city.setdefault(org.city, []).append(i)
        else:
            province_level.append(i)
    receivers = list(range(len(villages)))
    rng.shuffle(receivers)
    weights = [3.0 if v.weak else 1.0 for v in villages]
    receivers += rng.choices(range(len(villages)), weights=weights,
                             k=scale.pairings - len(villages))
    load = [0] * len(giving)
    taken: set[tuple[int, int]] = set()
    pairs: list[tuple[int, int]] = []
    everyone = list(range(len(giving)))
    for v in receivers:
        village = villages[v]
        for attempt in range(30):
            level = rng.random()
            pool = (by_county.get(village.county) if level < 0.78 else
                    by_city.get(village.city) if level < 0.95 else province_level) or everyone
            if attempt > 20:
                pool = everyone
            a, b = rng.choice(pool), rng.choice(pool)
            g = a if load[a] <= load[b] else b  # the less busy of two: ~1 pairing per giver
            if (g, v) not in taken:
                taken.add((g, v))
                load[g] += 1
                pairs.append((g, v))
                break
    return pairs


# -- one pairing's year ---------------------------------------------------------------------

def _day(year: int, n: int) -> date:
    return date(year, 1, 1) + timedelta(days=n)


def plan_pairing(index: int, giver: int, village: int, health: str, year: int, rules: Rules,
                 rng: random.Random) -> PairingPlan:
    end = date(year, 12, 31)
    proposed = _day(year, rng.randrange(2, 80))
    accepted = proposed + timedelta(days=rng.randrange(1, 12))
    giver_signed = accepted + timedelta(days=rng.randrange(0, 8))
    village_signed: date | None = giver_signed + timedelta(days=rng.randrange(0, 8))
    if health == "stuck" and rng.random() < 0.5:
        village_signed = None
    base = PairingPlan(index, giver, village, health, proposed, accepted, giver_signed, village_signed)
    if village_signed is None:
        return base
    in_force = village_signed
    activities = _plan_activities(health, in_force, end, year, rng)
    commitments = _plan_commitments(health, in_force, end, rules, rng)
    tasks = _plan_tasks(health, in_force, end, rules, rng)
    flags = _plan_flags(health, in_force, end, activities, commitments, rules)
    return dataclasses.replace(base, activities=activities, commitments=commitments,
                               tasks=tasks, flags=flags)


def _plan_activities(health: str, since: date, end: date, year: int,
                     rng: random.Random) -> tuple[ActivityPlan, ...]:
    if health == "stuck":
        return ()
    gaps = {"healthy": (6, 15), "one_way": (6, 17), "slow": (15, 45), "inactive": (10, 30)}[health]
    count_cap = rng.randrange(1, 4) if health == "inactive" else 10_000
    out: list[ActivityPlan] = []
    day = since + timedelta(days=rng.randrange(3, 15))
    while day <= end - timedelta(days=3) and len(out) < count_cap:
        kind = _weighted(rng, ACTIVITY_WEIGHTS)
        title = rng.choice(ACTIVITY_TITLES[kind]).format(m=day.month)
        host = "giver" if health == "one_way" or rng.random() < 0.55 else "receiver"
        roll = rng.random()
        answer = "cosign" if roll < 0.93 else "contest" if roll < 0.96 else None
        answered = day + timedelta(days=rng.randrange(1, 6)) if answer else None
        if answered is not None and answered > end:
            answer, answered = None, None
        people = (rng.randrange(2, 20), rng.randrange(5, 40), rng.randrange(0, 80))
        out.append(ActivityPlan(day, host, kind, title, people, answer, answered))
        day += timedelta(days=rng.randrange(*gaps))
    return tuple(out)


def _promise(rng: random.Random, made_by: str) -> tuple[str, str, int | None, int | None, str | None]:
    category, content, target = rng.choice(GIVER_PROMISES if made_by == "giver" else VILLAGE_PROMISES)
    if isinstance(target[1], str):
        return category, content, None, target[0], target[1]
    return category, content, rng.randrange(target[0] // 1000, target[1] // 1000) * 1000, None, None


def _plan_commitments(health: str, since: date, end: date, rules: Rules,
                      rng: random.Random) -> tuple[CommitmentPlan, ...]:
    if health in ("stuck", "inactive"):
        return ()
    count = {"healthy": rng.randrange(3, 7), "one_way": rng.randrange(2, 5),
             "slow": rng.randrange(2, 5)}[health]
    out: list[CommitmentPlan] = []
    for n in range(count):
        made_by = "receiver" if health == "healthy" and n == count - 1 and rng.random() < 0.6 else "giver"
        made = since + timedelta(days=rng.randrange(5, 50))
        due = made + timedelta(days=rng.randrange(60, 240))
        category, content, amount, quantity, unit = _promise(rng, made_by)
        if health == "slow":
            fate = rng.choices(("late", "overdue", "kept", "abandoned"), (0.35, 0.4, 0.15, 0.1))[0]
        else:
            fate = rng.choices(("kept", "extended", "disputed", "abandoned"), (0.8, 0.07, 0.08, 0.05))[0]
        plan = _commitment_course(fate, made, due, end, rules, rng)
        out.append(CommitmentPlan(made, made_by, category, content, due, amount, quantity, unit,
                                  **plan))
    return tuple(out)


def _commitment_course(fate: str, made: date, due: date, end: date, rules: Rules,
                       rng: random.Random) -> dict:
    """The dated course of one commitment; fates that run past the year end stop there."""
    def later(d: date, lo: int, hi: int) -> date:
        return d + timedelta(days=rng.randrange(lo, hi))

    course: dict = {"fate": fate}
    progress = sorted({later(made, 10, max(11, (due - made).days - 15))
                       for _ in range(rng.randrange(1, 3))})
    course["progress_on"] = tuple(d for d in progress if d < due and d <= end)
    if fate == "abandoned":
        course["abandon_on"] = later(made, 20, max(21, (due - made).days))
        course["progress_on"] = tuple(d for d in course["progress_on"] if d < course["abandon_on"])
        course["evaluate_on"] = later(course["abandon_on"], 5, 20)
        course["outcome"] = "broken"
    elif fate in ("late", "overdue"):
        course["overdue_on"] = due + timedelta(days=1)
        if fate == "late":
            course["claim_on"] = later(due, 5, 50)
            course["confirm_on"] = later(course["claim_on"], 1, 8)
            course["evaluate_on"] = later(course["confirm_on"], 5, 20)
            course["outcome"] = "partial"
    else:
        if fate == "extended":
            course["extend_on"] = later(made, 5, max(6, (due - made).days - 5))
            course["new_due_on"] = due + timedelta(days=rng.randrange(30, 90))
            due = course["new_due_on"]
        course["claim_on"] = due - timedelta(days=rng.randrange(1, 15))
        if fate == "disputed":
            course["dispute_on"] = later(course["claim_on"], 1, 5)
            course["reclaim_on"] = later(course["dispute_on"], 3, 20)
            course["confirm_on"] = later(course["reclaim_on"], 1, 6)
        else:
            course["confirm_on"] = later(course["claim_on"], 1, 8)
        course["evaluate_on"] = later(course["confirm_on"], 5, 20)
        course["outcome"] = "kept"
    return _cut_at(course, end)


_COMMITMENT_ORDER = ("progress_on", "extend_on", "overdue_on", "abandon_on", "claim_on",
                     "dispute_on", "reclaim_on", "confirm_on", "evaluate_on")


def _cut_at(course: dict, end: date) -> dict:
    """Drop every step after the year end and everything that depends on it."""
    cut = False
    for key in _COMMITMENT_ORDER:
        value = course.get(key)
        if key == "progress_on" or value is None:
            continue
        if cut or value > end:
            cut = True
            course[key] = None
    if course.get("extend_on") is None:
        course["new_due_on"] = None
    if course.get("evaluate_on") is None:
        course["outcome"] = None
    return course


def _plan_tasks(health: str, since: date, end: date, rules: Rules,
                rng: random.Random) -> tuple[TaskPlan, ...]:
    if health in ("stuck", "one_way"):
        return ()  # one-way: the village initiates nothing, so it raises no need
    count = {"healthy": rng.randrange(4, 9), "slow": rng.randrange(1, 4),
             "inactive": rng.randrange(0, 2)}[health]
    window = rules["claim_window_days"]
    out: list[TaskPlan] = []
    for _ in range(count):
        raised = since + timedelta(days=rng.randrange(5, 200))
        if raised > end - timedelta(days=5):
            continue
        category, title = rng.choice(NEEDS)
        wanted = raised + timedelta(days=rng.randrange(30, 120))
        budget = rng.randrange(10, 300) * 100
        if health == "inactive":
            out.append(TaskPlan(raised, category, title, wanted, "pooled", budget,
                                pool_on=_not_after(raised + timedelta(days=window), end)))
            continue
        fate = rng.choices(("done", "reworked", "open"), (0.85, 0.08, 0.07))[0]
        if fate == "open":
            out.append(TaskPlan(raised, category, title, wanted, "open", budget))
            continue
        slow = 3 if health == "slow" else 1
        claim = raised + timedelta(days=rng.randrange(1, 8) * slow)
        due = claim + timedelta(days=rng.randrange(20, 60))
        delivered = claim + timedelta(days=rng.randrange(10, 50) * slow)
        reject = redeliver = None
        if fate == "reworked":
            reject = delivered + timedelta(days=rng.randrange(1, 5))
            redeliver = reject + timedelta(days=rng.randrange(5, 20))
        confirm = (redeliver or delivered) + timedelta(days=rng.randrange(1, 10) * slow)
        level = rng.choices(("satisfied", "basically_satisfied", "dissatisfied"), (0.7, 0.25, 0.05))[0]
        task = TaskPlan(raised, category, title, wanted, fate, budget, claim_on=claim,
                        due_on=due, delivered_on=delivered, reject_on=reject,
                        redeliver_on=redeliver, confirm_on=confirm, satisfaction=level)
        out.append(_cut_task(task, end))
    return tuple(out)


def _not_after(d: date, end: date) -> date | None:
    return d if d <= end else None


def _cut_task(task: TaskPlan, end: date) -> TaskPlan:
    steps = ("claim_on", "delivered_on", "reject_on", "redeliver_on", "confirm_on")
    changes: dict = {}
    cut = False
    for key in steps:
        value = getattr(task, key)
        if value is not None and (cut or value > end):
            cut = True
            changes[key] = None
    if changes.get("claim_on", task.claim_on) is None:
        changes["due_on"] = None
    if changes.get("confirm_on", task.confirm_on) is None:
        changes["satisfaction"] = None
    return dataclasses.replace(task, **changes) if changes else task


def _plan_flags(health: str, in_force: date, end: date, activities: tuple[ActivityPlan, ...],
                commitments: tuple[CommitmentPlan, ...], rules: Rules) -> tuple[FlagPlan, ...]:
    """The inactivity flags the workflow raises on the day its rule first hits."""
    flags: list[FlagPlan] = []
    if health == "stuck":
        flags.append(FlagPlan(in_force + timedelta(days=rules["r1_stuck_at_signing_days"]), "R1", in_force))
    if health in ("stuck", "inactive"):
        cosigned = [a.on for a in activities if a.answer == "cosign"]
        last = max(cosigned + [in_force])
        flags.append(FlagPlan(last + timedelta(days=rules["r2_inactive_days"]), "R2", last))
    if health == "slow":
        r5 = rules["r5_overdue_days"]
        late = [(c.due_on, n) for n, c in enumerate(commitments) if c.overdue_on is not None
                and (c.claim_on is None or c.claim_on > c.due_on + timedelta(days=r5 + 1))]
        if late:
            due, n = min(late)
            flags.append(FlagPlan(due + timedelta(days=r5 + 1), "R5", due, n))
    return tuple(f for f in flags if f.on <= end)


def plan_world(scale: Scale, seed: int, rules: Rules = DEFAULT_RULES, year: int = YEAR) -> World:
    """Everything the generation will do, decided from the seed alone."""
    rng = random.Random(f"cobuild-generate/{seed}")
    cities, counties, townships, giving, villages = plan_organisations(scale, seed, rng)
    pairs = plan_pairs(scale, giving, villages, rng)
    pairings = []
    for index, (g, v) in enumerate(pairs):
        own = random.Random(f"cobuild-generate/{seed}/pairing/{index}")
        weights = list(HEALTH_WEIGHTS)
        if villages[v].weak:  # weak villages are more often only on the receiving end
            weights[HEALTH.index("one_way")] *= 1.5
        health = own.choices(HEALTH, weights)[0]
        pairings.append(plan_pairing(index, g, v, health, year, rules, own))
    return World(scale, seed, year, rules, tuple(cities), tuple(counties),
                 tuple(townships), tuple(giving), tuple(villages), tuple(pairings))


# -- the year as steps -----------------------------------------------------------------------

# A step: (minute of the local day, pairing index, act, its argument), the act a method of
# :class:`Playback`.  The workflow's own acts come first in the night; the parties act in
# office hours.
Act = Callable[["Playback", int, Any], None]
Step = tuple[int, int, Act, Any]
NIGHT = 30
OFFICE = (8 * 60 + 30, 17 * 60 + 30)


def schedule(world: World) -> list[list[Step]]:
    """The steps of every day of the year (index 0 is 1 January), each day in time order."""
    days: list[list[Step]] = [[] for _ in range(366 + 1)]
    start = date(world.year, 1, 1)
    rng = random.Random(f"cobuild-generate/{world.seed}/schedule")

    last: dict[object, tuple[date, int]] = {}

    def at(day: date | None, index: int, act: Act, arg: Any = None, night: bool = False,
           chain: object = None) -> None:
        """One step; a step on the same day as the one before it in its ``chain`` (the
        course of one pairing, activity, commitment or task) comes later that day."""
        if day is None:
            return
        minute = NIGHT if night else rng.randrange(*OFFICE)
        key = (index, chain)
        if key in last and last[key][0] == day:
            minute = last[key][1] + rng.randrange(5, 40)
        last[key] = (day, minute)
        days[(day - start).days].append((minute, index, act, arg))

    for p in world.pairings:
        i = p.index
        at(p.proposed_on, i, Playback._propose)
        at(p.accepted_on, i, Playback._accept)
        at(p.giver_signed_on, i, Playback._sign, "giver")
        at(p.village_signed_on, i, Playback._sign, "receiver")
        for n, a in enumerate(p.activities):
            at(a.on, i, Playback._activity, n, chain=("a", n))
            at(a.answered_on, i, Playback._answer, n, chain=("a", n))
        for n, c in enumerate(p.commitments):
            chain = ("c", n)
            at(c.made_on, i, Playback._commit, n, chain=chain)
            for k, d in enumerate(c.progress_on):
                at(d, i, Playback._progress, (n, k), chain=chain)
            at(c.extend_on, i, Playback._extend, n, chain=chain)
            at(c.overdue_on, i, Playback._overdue, n, night=True, chain=chain)
            at(c.abandon_on, i, Playback._abandon, n, chain=chain)
            at(c.claim_on, i, Playback._claim, n, chain=chain)
            at(c.dispute_on, i, Playback._dispute, n, chain=chain)
            at(c.reclaim_on, i, Playback._claim, n, chain=chain)
            at(c.confirm_on, i, Playback._confirm, n, chain=chain)
            at(c.evaluate_on, i, Playback._evaluate, n, chain=chain)
        for n, t in enumerate(p.tasks):
            chain = ("t", n)
            at(t.raised_on, i, Playback._need, n, chain=chain)
            at(t.pool_on, i, Playback._pool, n, night=True, chain=chain)
            at(t.claim_on, i, Playback._take, n, chain=chain)
            at(t.delivered_on, i, Playback._deliver, n, chain=chain)
            at(t.reject_on, i, Playback._reject, n, chain=chain)
            at(t.redeliver_on, i, Playback._deliver, n, chain=chain)
            at(t.confirm_on, i, Playback._accept_delivery, n, chain=chain)
        for f in p.flags:
            at(f.on, i, Playback._flag, f, night=True, chain=f.rule)
    for steps in days:
        steps.sort(key=lambda s: (s[0], s[1]))
    return days


# ==============================================================================================
# Playing the plan through the engine
# ==============================================================================================

@dataclass
class Report:
    world: World
    events: int
    commands: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        w = self.world
        health = w.health_counts()
        return [
            f"已生成{'全省' if w.scale.name == 'province' else '一个县'}规模 ×{w.scale.factor:g}"
            f"（种子 {w.seed}，{w.year} 年）：",
            f"  区划：{len(w.cities)} 个市，{len(w.counties)} 个县（市、区），{len(w.townships)} 个乡镇（街道）",
            f"  党组织：帮扶方 {len(w.giving)} 个，村（社区）{len(w.villages)} 个，"
            f"其中薄弱村 {sum(v.weak for v in w.villages)} 个",
            f"  结对：{len(w.pairings)} 对，" + "，".join(f"{labels.HEALTH_PROFILES[h]} {health[h]}" for h in HEALTH),
            f"  事件 {self.events} 条，命令 {self.commands} 条，用时 {self.seconds:.1f} 秒"
            f"（{self.events_per_second:.0f} 条事件/秒）",
        ]


class Playback:
    """Plays a :class:`World` through an engine whose clock is ``clock``."""

    def __init__(self, engine: Engine, clock: FakeClock, world: World,
                 progress: Callable[[int], None] | None = None,
                 organisations_per_batch: int = 2000) -> None:
        self.engine = engine
        self.clock = clock
        self.world = world
        self.progress = progress or (lambda n: None)
        self.organisations_per_batch = organisations_per_batch
        self.giving_ids = [Organisation.create_id(o.code) for o in world.giving]
        self.village_ids = [Organisation.create_id(o.code) for o in world.villages]
        self.giving_users: list[Actor] = []
        self.village_users: list[Actor] = []
        self.clerks: dict[str, Actor] = {}
        self.departments: dict[str, Actor] = {}
        self.pairing_ids: list[UUID | None] = [None] * len(world.pairings)
        self.activity_ids: dict[tuple[int, int], str] = {}
        self.commitment_ids: dict[tuple[int, int], UUID] = {}
        self.task_ids: dict[tuple[int, int], UUID] = {}
        self.commands = 0

    # -- the run -------------------------------------------------------------------------------

    def commands_planned(self, days: list[list[Step]]) -> int:
        return len(self.world.giving) + len(self.world.villages) + sum(map(len, days))

    def run(self, days: list[list[Step]] | None = None) -> None:
        self.register()
        self.play_days(days if days is not None else schedule(self.world))

    def play_days(self, days: list[list[Step]]) -> None:
        start = date(self.world.year, 1, 1)
        for n, steps in enumerate(days):
            if not steps:
                continue
            day = start + timedelta(days=n)
            with self.engine.batch():
                for minute, index, act, arg in steps:
                    moment = datetime(day.year, day.month, day.day, minute // 60, minute % 60,
                                      tzinfo=LOCAL_TZ)
                    if moment > self.clock.now():
                        self.clock.set(moment)
                    act(self, index, arg)
            self.commands += len(steps)
            self.progress(len(steps))

    def register(self) -> None:
        """The names of the divisions, organisations, last year's collective income, and one
        account per organisation; township clerks and county organisation departments (on
        the first working day)."""
        w, e = self.world, self.engine
        self.clock.set(datetime(w.year, 1, 2, 8, 30, tzinfo=LOCAL_TZ))
        with e.batch():
            for region in (Region(*PROVINCE), *w.cities, *w.counties, *w.townships):
                e.name_region(GENERATOR, region.code, region.name)
            for county in w.counties:
                self.departments[county.code] = self._user(
                    f"{county.name}委组织部", "supervisor", region_code=county.code)
            for town in w.townships:
                self.clerks[town.code] = self._user(
                    f"{town.name}党建工作办公室", "supervisor", region_code=town.code)
        orgs = [(o, "agency", self.giving_users) for o in w.giving]
        orgs += [(o, "village", self.village_users) for o in w.villages]
        for chunk in range(0, len(orgs), self.organisations_per_batch):
            with e.batch():
                for org, role, users in orgs[chunk:chunk + self.organisations_per_batch]:
                    outcome = e.register_organisation(GENERATOR, org.code, org.name, org.kind,
                                                      org.region_code)
                    if org.income is not None:
                        e.report_collective_income(GENERATOR, outcome.id, w.year - 1,
                                                   Decimal(org.income))
                    users.append(self._user(f"{org.name}书记", role, organisation_id=outcome.id))
            done = min(self.organisations_per_batch, len(orgs) - chunk)
            self.commands += done
            self.progress(done)

    def _user(self, name: str, role: str, organisation_id: UUID | None = None,
              region_code: str | None = None) -> Actor:
        _, token = self.engine.register_user(GENERATOR, name, role, organisation_id, region_code)
        return self.engine.authenticate(token)

    # -- who acts for a side --------------------------------------------------------------------

    def _pairing(self, index: int) -> UUID:
        """The pairing the schedule proposed before any later step of its course."""
        pairing_id = self.pairing_ids[index]
        if pairing_id is None:
            raise GenerationError(f"pairing {index} was not proposed before its next step")
        return pairing_id

    def _giver(self, index: int) -> tuple[Actor, UUID | None]:
        return self.giving_users[self.world.pairings[index].giver], None

    def _village(self, index: int) -> tuple[Actor, UUID | None]:
        v = self.world.pairings[index].village
        org = self.world.villages[v]
        if org.clerk_entered:
            return self.clerks[org.region_code[:9]], self.village_ids[v]
        return self.village_users[v], None

    def _side(self, index: int, side: str) -> tuple[Actor, UUID | None]:
        return self._giver(index) if side == "giver" else self._village(index)

    @staticmethod
    def _other(side: str) -> str:
        return "receiver" if side == "giver" else "giver"

    # -- pairing ---------------------------------------------------------------------------

    def _propose(self, index: int, _: object) -> None:
        p = self.world.pairings[index]
        actor, _ = self._giver(index)
        giver_id, village_id = self.giving_ids[p.giver], self.village_ids[p.village]
        term = (date(self.world.year, 1, 1), date(self.world.year + 2, 12, 31))
        areas = ["organisation", "industry", "talent"] if index % 2 else ["organisation", "resources", "culture"]
        self.pairing_ids[index] = self.engine.propose_pairing(
            actor, giver_id, village_id, *term, areas).id

    def _accept(self, index: int, _: object) -> None:
        actor, behalf = self._village(index)
        self.engine.accept_pairing(actor, self._pairing(index), on_behalf_of=behalf, reason=CLERK_REASON)

    def _sign(self, index: int, side: str) -> None:
        actor, behalf = self._side(index, side)
        self.engine.sign_agreement(actor, self._pairing(index), self.engine.today(),
                                   on_behalf_of=behalf, reason=CLERK_REASON)

    def _activity(self, index: int, n: int) -> None:
        a = self.world.pairings[index].activities[n]
        actor, behalf = self._side(index, a.host)
        giver, receiver, masses = a.participants
        outcome = self.engine.record_activity(
            actor, self._pairing(index), a.kind, a.title, self.clock.now(),
            {"giver": giver, "receiver": receiver, "masses": masses}, on_behalf_of=behalf, reason=CLERK_REASON)
        if a.answer:
            self.activity_ids[index, n] = outcome.details["activity_id"]

    def _answer(self, index: int, n: int) -> None:
        a = self.world.pairings[index].activities[n]
        actor, behalf = self._side(index, self._other(a.host))
        activity_id = self.activity_ids.pop((index, n))
        if a.answer == "cosign":
            self.engine.cosign_activity(actor, self._pairing(index), activity_id,
                                        on_behalf_of=behalf, reason=CLERK_REASON)
        else:
            self.engine.contest_activity(actor, self._pairing(index), activity_id,
                                         "当日未见对方人员到场，记录与实际不符", on_behalf_of=behalf)

    def _flag(self, index: int, f: FlagPlan) -> None:
        today = self.engine.today()
        days = (today - f.since).days
        rules = self.world.rules
        # The same measurements the workflow's rules record (workflows.policies).
        measured: dict
        if f.rule == "R1":
            measured = {"signed_on": f.since.isoformat(), "days_since_signing": days,
                        "threshold_days": rules["r1_stuck_at_signing_days"]}
        elif f.rule == "R2":
            measured = {"last_active_on": f.since.isoformat(), "days_without_activity": days,
                        "threshold_days": rules["r2_inactive_days"],
                        "red_days": rules["r2_red_days"]}
        else:
            assert f.commitment is not None  # an R5 flag names its overdue commitment
            measured = {"commitment_id": str(self.commitment_ids[index, f.commitment]),
                        "due_on": f.since.isoformat(), "days_overdue": days,
                        "overdue_commitments": 1, "threshold_days": rules["r5_overdue_days"]}
        measured["rule_set_version"] = rules.version
        self.engine.flag_pairing_inactivity(SYSTEM, self._pairing(index), f.rule, measured)

    # -- commitments -------------------------------------------------------------------------

    def _commitment(self, index: int, n: int) -> tuple[CommitmentPlan, UUID]:
        """A commitment the schedule made before any later step of its course."""
        return self.world.pairings[index].commitments[n], self.commitment_ids[index, n]

    def _commit(self, index: int, n: int) -> None:
        c = self.world.pairings[index].commitments[n]
        actor, behalf = self._side(index, c.made_by)
        e = self.engine
        cid = e.make_commitment(
            actor, self._pairing(index), c.made_by, c.category, c.content, c.due_on,
            quantity=Decimal(c.quantity) if c.quantity else None, unit=c.unit,
            amount_yuan=Decimal(c.amount) if c.amount else None, on_behalf_of=behalf, reason=CLERK_REASON).id
        e.publicise_commitment(actor, cid, CHANNELS[index % len(CHANNELS)], e.today(),
                               on_behalf_of=behalf, reason=CLERK_REASON)
        self.commitment_ids[index, n] = cid

    def _progress(self, index: int, arg: tuple[int, int]) -> None:
        n, k = arg
        c, cid = self._commitment(index, n)
        actor, behalf = self._side(index, c.made_by)
        share = Decimal(k + 1) / Decimal(len(c.progress_on) + 1)
        self.engine.report_commitment_progress(
            actor, cid, "按计划推进中",
            quantity=(Decimal(c.quantity) * share).quantize(Decimal("0.01")) if c.quantity else None,
            amount_yuan=(Decimal(c.amount) * share).quantize(Decimal("0.01")) if c.amount else None,
            on_behalf_of=behalf, reason=CLERK_REASON)

    def _extend(self, index: int, n: int) -> None:
        c, cid = self._commitment(index, n)
        actor, behalf = self._side(index, c.made_by)
        assert c.new_due_on is not None  # scheduled with the extension it plans
        self.engine.extend_commitment_deadline(actor, cid, c.new_due_on, "受天气影响，工期顺延",
                                               on_behalf_of=behalf)

    def _overdue(self, index: int, n: int) -> None:
        _, cid = self._commitment(index, n)
        self.engine.mark_commitment_overdue(SYSTEM, cid)

    def _abandon(self, index: int, n: int) -> None:
        c, cid = self._commitment(index, n)
        actor, behalf = self._side(index, c.made_by)
        self.engine.abandon_commitment(actor, cid, "项目用地未获审批，无法实施",
                                       explained_to_public=True, on_behalf_of=behalf)

    def _claim(self, index: int, n: int) -> None:
        c, cid = self._commitment(index, n)
        actor, behalf = self._side(index, c.made_by)
        self.engine.claim_fulfilment(actor, cid, note="已按承诺完成，附验收照片", on_behalf_of=behalf,
                                     reason=CLERK_REASON)

    def _dispute(self, index: int, n: int) -> None:
        c, cid = self._commitment(index, n)
        actor, behalf = self._side(index, self._other(c.made_by))
        self.engine.dispute_fulfilment(actor, cid, "只完成了一部分，与承诺不符", on_behalf_of=behalf)

    def _confirm(self, index: int, n: int) -> None:
        c, cid = self._commitment(index, n)
        actor, behalf = self._side(index, self._other(c.made_by))
        self.engine.confirm_fulfilment(actor, cid, on_behalf_of=behalf,
                                       reason=CLERK_REASON)

    def _evaluate(self, index: int, n: int) -> None:
        c, cid = self._commitment(index, n)
        village = self.world.villages[self.world.pairings[index].village]
        assert c.outcome is not None  # scheduled with the outcome it plans
        reason = None if c.outcome == "kept" else (
            "逾期后才兑现" if c.outcome == "partial" else "承诺未兑现，已向群众说明")
        self.engine.evaluate_commitment(self.departments[village.county], cid, c.outcome, reason)

    # -- tasks -------------------------------------------------------------------------------

    def _task(self, index: int, n: int) -> tuple[TaskPlan, UUID]:
        """A need the schedule raised before any later step of its course."""
        return self.world.pairings[index].tasks[n], self.task_ids[index, n]

    def _need(self, index: int, n: int) -> None:
        t = self.world.pairings[index].tasks[n]
        actor, behalf = self._village(index)
        village_id = self.village_ids[self.world.pairings[index].village]
        self.task_ids[index, n] = self.engine.raise_need(
            actor, village_id, t.category, t.title, wanted_by=t.wanted_by, on_behalf_of=behalf, reason=CLERK_REASON).id

    def _pool(self, index: int, n: int) -> None:
        _, tid = self._task(index, n)
        self.engine.pool_need(SYSTEM, tid, self.world.rules["claim_window_days"])

    def _take(self, index: int, n: int) -> None:
        t, tid = self._task(index, n)
        actor, _ = self._giver(index)
        giver_id = self.giving_ids[self.world.pairings[index].giver]
        self.engine.claim_task(actor, tid, giver_id)
        assert t.due_on is not None  # scheduled with the plan it makes
        self.engine.plan_task(actor, tid, t.due_on, Decimal(t.budget))

    def _deliver(self, index: int, n: int) -> None:
        t, tid = self._task(index, n)
        actor, _ = self._giver(index)
        self.engine.report_delivery(actor, tid, self.clock.now() - timedelta(hours=1),
                                    Decimal(t.budget), "已完成，附现场照片")

    def _reject(self, index: int, n: int) -> None:
        _, tid = self._task(index, n)
        actor, behalf = self._village(index)
        self.engine.reject_delivery(actor, tid, "部分未完成，需返工", on_behalf_of=behalf)

    def _accept_delivery(self, index: int, n: int) -> None:
        t, tid = self._task(index, n)
        actor, behalf = self._village(index)
        e = self.engine
        assert t.satisfaction is not None  # scheduled with the rating it plans
        e.confirm_delivery(actor, tid, on_behalf_of=behalf, reason=CLERK_REASON)
        e.rate_task(actor, tid, t.satisfaction, "群众反映良好" if t.satisfaction != "dissatisfied"
                    else "效果不明显", on_behalf_of=behalf, reason=CLERK_REASON)
        e.close_task(actor, tid, on_behalf_of=behalf, reason=CLERK_REASON)


# ==============================================================================================
# The whole generation against a store
# ==============================================================================================

def generation_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, extra_env={**ENGINE_ENV, **settings.extra_env})


def events_in(engine: Engine) -> int:
    return engine.recorder.max_notification_id() or 0


class Generation:
    """One generation into the store of ``settings``: planned and checked when opened,
    written by :meth:`play`.

    Refuses (:class:`GenerationError`, nothing written) when the store already holds events,
    unless ``force``; and always when the same world is already in it (organisation codes
    are natural keys).  Nothing else may write to the store while it plays (see
    ``ENGINE_ENV``): another writer's event makes a day fail with ``ConcurrencyConflict``.
    """

    def __init__(self, settings: Settings, scale: Scale, seed: int, force: bool = False) -> None:
        self.settings = settings
        self.clock = FakeClock(datetime(YEAR, 1, 1, tzinfo=LOCAL_TZ))
        self.engine = open_engine(generation_settings(settings), self.clock)
        try:
            self.existing = events_in(self.engine)
            # Refused before planning, which takes half a minute at province scale.
            if self.existing and not force:
                raise GenerationError(
                    f"the store in {settings.home} already holds {self.existing} events; "
                    "generate writes into an empty store (add --force to add to it); "
                    "nothing was written")
            self.world = plan_world(scale, seed, self.engine.current_rules())
            if self.engine.exists(Organisation.create_id(self.world.marker_code)):
                raise GenerationError(f"a world with seed {seed} is already generated in "
                                      f"{settings.home}; nothing was written")
            self.days = schedule(self.world)
            self.playback = Playback(self.engine, self.clock, self.world)
        except BaseException:
            self.engine.close()
            raise

    def play(self, progress: Callable[[int], None] | None = None, jobs: int = 1) -> Report:
        """Write the world.  With ``jobs`` > 1 the year is played by that many processes,
        each for the pairings whose index is its number modulo ``jobs``: what they write
        (pairings, their slots, commitments, tasks) never overlaps, and each reads only
        the organisations and users registered before they start.  Business dates are the
        same; only the order in which the processes' days interleave in the log differs."""
        if not 1 <= jobs <= 16:
            raise GenerationError("jobs must be from 1 to 16")
        tick = progress or (lambda n: None)
        self.playback.progress = tick
        begin = time.perf_counter()
        if jobs == 1:
            self.playback.run(self.days)
        else:
            self.playback.register()
            self.engine.close()  # no SQLite connection may cross a fork
            try:
                self._play_in_processes(jobs, tick)
            finally:
                self.engine = open_engine(generation_settings(self.settings), self.clock)
        seconds = time.perf_counter() - begin
        return Report(self.world, events_in(self.engine) - self.existing,
                      self.commands, seconds)

    def _play_in_processes(self, jobs: int, tick: Callable[[int], None]) -> None:
        context = multiprocessing.get_context("fork")
        messages = context.SimpleQueue()
        workers = [context.Process(target=self._play_share, args=(k, jobs, messages), daemon=True)
                   for k in range(jobs)]
        for worker in workers:
            worker.start()
        running, failures = jobs, []
        while running:
            message = messages.get()
            if isinstance(message, int):
                tick(message)
            else:
                running -= 1
                if message:
                    failures.append(message)
        for worker in workers:
            worker.join()
        if failures or any(w.exitcode for w in workers):
            raise GenerationError("generation failed part way; the store holds a partial year: "
                                  + "; ".join(failures or ["a worker process died"]))

    def _play_share(self, k: int, jobs: int, messages: Any) -> None:
        """In a worker process: its own engine and clock, its share of every day."""
        error = ""
        try:
            clock = FakeClock(self.clock.now())
            playback = self.playback
            playback.engine = open_engine(generation_settings(self.settings), clock)
            playback.clock = clock
            playback.progress = messages.put
            try:
                playback.play_days([[s for s in steps if s[1] % jobs == k] for steps in self.days])
            finally:
                playback.engine.close()
        except Exception as failure:  # reported to the parent, which refuses the whole run
            error = f"{type(failure).__name__}: {getattr(failure, 'message', failure)}"
        messages.put(error)

    @property
    def commands(self) -> int:
        return self.playback.commands_planned(self.days)

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> "Generation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
