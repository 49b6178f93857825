"""The organisation's lead settings: the score card, the grade thresholds, the grade-driven sequences, what
counts as an effective interaction, the nurture and public pools, and the claim cap.

`LeadPolicy()` holds the documented defaults (docs/leads.md). An organisation overrides any of them in
`org_config` under the key "leads" (read with `LeadPolicy.from_config`); an unknown key is an error, so a typo
never silently falls back to a default.

    {"dimensions": [{"key": "source", "label": "来源", "weight": 20, "unknown": 0,
                     "table": {"转介绍": 1.0, "展会": 0.8, …}}, …],
     "grades": {"A+": 85, "A": 70, "B": 50},
     "sequences": {"A+": [{"step": "first_call", "label": "首次电话", "within_minutes": 15,
                           "kinds": ["call", "visit", "meeting"]}, …], "A": […], "B": […], "C": []},
     "escalate_role": "supervisor", "effective_kinds": ["call", …], "dormant_after_hours": 72,
     "public_after_days": 15, "claim_cap": 20, "scan_every_minutes": 60,
     "nurture": [{"after_days": 0, "title": "…", "text": "…"}, …],
     "recommend": {"industry_points": 3, "pain_points": 2, "top": 3}}

A dimension reads one fact of the lead. `table` dimensions map a word to a fraction 0..1: the best entry
whose word is contained in the fact wins (采购总监: 总监 0.8 beats 采购 0.4). `steps` dimensions (counts: inquiries, downloads)
map a threshold to a fraction: the highest threshold the count reaches wins. Points = weight × fraction.
The weights must add up to 100, so the score is 0..100.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from core.roles import ROLES

FACTS = ("source", "credit_grade", "inquiries", "contact_role", "industry", "downloads")
COUNT_FACTS = ("inquiries", "downloads")
GRADES = ("A+", "A", "B", "C")
# every kind of lead interaction the assistant knows (docs/leads.md § Effective interactions)
KINDS = (
    "call",
    "visit",
    "meeting",
    "wecom",
    "email",
    "proposal",
    "case",
    "inquiry",
    "download",
    "mass",
    "sticker",
)
KIND_WORDS = {
    "call": "电话",
    "visit": "拜访",
    "meeting": "会议",
    "wecom": "微信沟通",
    "email": "邮件",
    "proposal": "方案",
    "case": "案例",
    "inquiry": "询价",
    "download": "资料下载",
    "mass": "群发消息",
    "sticker": "表情",
}


@dataclass(frozen=True)
class Dimension:
    key: str  # the fact it reads (FACTS)
    label: str
    weight: float
    table: tuple[tuple[str, float], ...] = ()  # word → fraction (table facts)
    steps: tuple[tuple[int, float], ...] = ()  # threshold → fraction (count facts), ascending
    unknown: float = 0.0  # the fraction when the fact is missing or matches nothing


@dataclass(frozen=True)
class SeqStep:
    step: str
    label: str
    within: timedelta  # after the sequence started
    kinds: tuple[str, ...]  # an interaction of one of these kinds marks the step done


@dataclass(frozen=True)
class NurtureItem:
    after: timedelta  # after the lead entered the nurture pool
    title: str
    text: str


def _dims() -> tuple[Dimension, ...]:
    return (
        Dimension(
            "source",
            "来源",
            20,
            table=(
                ("转介绍", 1.0),
                ("老客户", 1.0),
                ("展会", 0.8),
                ("官网", 0.7),
                ("400", 0.7),
                ("电话咨询", 0.7),
                ("广告", 0.5),
                ("线上", 0.5),
                ("陌拜", 0.3),
                ("地推", 0.3),
            ),
            unknown=0.2,
        ),
        Dimension(
            "credit_grade",
            "信用等级",
            15,
            table=(("A", 1.0), ("B", 0.7), ("C", 0.4), ("D", 0.0)),
            unknown=0.3,
        ),
        Dimension("inquiries", "询价频次", 20, steps=((1, 0.4), (2, 0.7), (3, 1.0))),
        Dimension(
            "contact_role",
            "联系人角色",
            20,
            table=(
                ("董事长", 1.0),
                ("总经理", 1.0),
                ("老板", 1.0),
                ("厂长", 1.0),
                ("总裁", 1.0),
                ("副总", 0.8),
                ("总监", 0.8),
                ("经理", 0.6),
                ("主管", 0.6),
                ("主任", 0.6),
                ("工程师", 0.4),
                ("采购", 0.4),
                ("专员", 0.3),
            ),
            unknown=0.2,
        ),
        Dimension(
            "industry",
            "行业指数",
            15,
            table=(
                ("机械", 1.0),
                ("汽车", 0.9),
                ("化工", 0.8),
                ("电子", 0.8),
                ("冶金", 0.8),
                ("食品", 0.6),
                ("医药", 0.6),
                ("纺织", 0.5),
                ("建材", 0.5),
            ),
            unknown=0.3,
        ),
        Dimension("downloads", "资料下载", 10, steps=((1, 0.5), (2, 1.0))),
    )


def _sequences() -> dict[str, tuple[SeqStep, ...]]:
    contact = ("call", "visit", "meeting")
    return {
        "A+": (
            SeqStep("first_call", "首次电话", timedelta(minutes=15), contact),
            SeqStep("proposal", "定制方案", timedelta(hours=2), ("proposal",)),
            SeqStep("case", "同类客户案例", timedelta(hours=24), ("case",)),
        ),
        "A": (
            SeqStep("first_call", "首次电话", timedelta(hours=4), contact),
            SeqStep("proposal", "定制方案", timedelta(hours=48), ("proposal",)),
        ),
        "B": (SeqStep("first_call", "首次联系", timedelta(hours=24), (*contact, "wecom", "email")),),
        "C": (),
    }


def _nurture() -> tuple[NurtureItem, ...]:
    return (
        NurtureItem(timedelta(0), "行业案例", "同行业客户的降本增效案例，转发给客户并问一句近况。"),
        NurtureItem(timedelta(days=3), "产品白皮书", "产品白皮书与选型指南，转发给客户，约一次电话。"),
        NurtureItem(timedelta(days=7), "客户见证", "客户见证视频与参观邀请，转发给客户，邀请到访。"),
    )


@dataclass(frozen=True)
class LeadPolicy:
    dimensions: tuple[Dimension, ...] = field(default_factory=_dims)
    grades: tuple[tuple[str, float], ...] = (("A+", 85), ("A", 70), ("B", 50))  # below the last: C
    sequences: dict[str, tuple[SeqStep, ...]] = field(default_factory=_sequences)
    escalate_role: str = "supervisor"
    # what counts as follow-up;群发消息 (mass) and 表情 (sticker) never do
    effective_kinds: tuple[str, ...] = ("call", "visit", "meeting", "wecom", "email", "proposal", "case")
    dormant_after: timedelta = timedelta(hours=72)  # no effective interaction → the nurture pool
    public_after: timedelta = timedelta(days=15)  # no effective interaction → the public pool
    claim_cap: int = 20  # leads a rep may hold (owned, nurture included; converted and lost not counted)
    scan_every: timedelta = timedelta(hours=1)
    nurture: tuple[NurtureItem, ...] = field(default_factory=_nurture)
    industry_points: float = 3.0  # recommendations: a product made for the lead's industry
    pain_points: float = 2.0  # recommendations: each pain keyword of the product the lead has
    top: int = 3

    def grade_of(self, score: float) -> str:
        for grade, threshold in self.grades:
            if score >= threshold:
                return grade
        return "C"

    def sequence(self, grade: str | None) -> tuple[SeqStep, ...]:
        return self.sequences.get(grade or "", ())

    def is_effective(self, kind: str) -> bool:
        return kind in self.effective_kinds

    def card_fingerprint(self) -> str:
        """What the scores depend on (dimensions and grade thresholds), as a short digest: when it changes,
        every lead is re-scored (handlers/leads/pool.py, the scan)."""
        return hashlib.sha256(repr((self.dimensions, self.grades)).encode()).hexdigest()[:16]

    @staticmethod
    def from_config(config: Mapping[str, Any] | None) -> LeadPolicy:
        """Defaults overridden by an organisation's settings. Raises ValueError on a bad or unknown key."""
        policy = LeadPolicy()
        if not config:
            return policy
        changes: dict[str, Any] = {}
        for key, value in config.items():
            if key not in _READERS:
                raise ValueError(f"unknown lead setting {key!r}")
            changes.update(_READERS[key](value))
        policy = replace(policy, **changes)
        policy.validate()
        return policy

    def validate(self) -> None:
        total = sum(d.weight for d in self.dimensions)
        if abs(total - 100) > 1e-9:
            raise ValueError(f"the weights of the score card must add up to 100, not {total:g}")
        for d in self.dimensions:
            if d.key not in FACTS:
                raise ValueError(f"unknown score dimension {d.key!r} (one of {', '.join(FACTS)})")
            if (d.key in COUNT_FACTS) != bool(d.steps) or (d.key not in COUNT_FACTS) != bool(d.table):
                raise ValueError(f"dimension {d.key!r}: counts take 'steps', words take 'table'")
            for _, fraction in (*d.table, *d.steps, ("", d.unknown)):
                if not 0 <= fraction <= 1:
                    raise ValueError(f"dimension {d.key!r}: fractions are 0..1")
        thresholds = [t for _, t in self.grades]
        if [g for g, _ in self.grades] != ["A+", "A", "B"] or thresholds != sorted(thresholds, reverse=True):
            raise ValueError("grades are A+, A, B with falling thresholds (below B: C)")
        for grade, steps in self.sequences.items():
            if grade not in GRADES:
                raise ValueError(f"unknown grade {grade!r}")
            for s in steps:
                if s.within <= timedelta(0) or not set(s.kinds) <= set(KINDS):
                    raise ValueError(f"sequence step {s.step!r}: positive time and known kinds")
        if self.escalate_role not in ROLES:
            raise ValueError(f"unknown role {self.escalate_role!r}")
        if not set(self.effective_kinds) <= set(KINDS) or {"mass", "sticker"} & set(self.effective_kinds):
            raise ValueError("effective_kinds: known kinds; mass messages and stickers never count")
        if self.dormant_after <= timedelta(0) or self.public_after <= self.dormant_after:
            raise ValueError("public_after_days must be longer than dormant_after_hours")
        if self.claim_cap < 1 or self.scan_every <= timedelta(0) or not 1 <= self.top <= 10:
            raise ValueError("claim_cap ≥ 1, scan_every_minutes > 0, recommend.top 1..10")


def _dimensions(v: Any) -> dict[str, Any]:
    dims = []
    for d in v:
        dims.append(
            Dimension(
                key=str(d["key"]),
                label=str(d.get("label", d["key"])),
                weight=float(d["weight"]),
                table=tuple((str(k), float(f)) for k, f in dict(d.get("table", {})).items()),
                steps=tuple(sorted((int(k), float(f)) for k, f in dict(d.get("steps", {})).items())),
                unknown=float(d.get("unknown", 0)),
            )
        )
    return {"dimensions": tuple(dims)}


def _grades(v: Any) -> dict[str, Any]:
    return {"grades": tuple((g, float(v[g])) for g in ("A+", "A", "B"))}


def _sequences_of(v: Any) -> dict[str, Any]:
    seqs = dict(_sequences())
    for grade, steps in dict(v).items():
        seqs[str(grade)] = tuple(
            SeqStep(
                step=str(s["step"]),
                label=str(s.get("label", s["step"])),
                within=timedelta(minutes=float(s["within_minutes"])),
                kinds=tuple(str(k) for k in s["kinds"]),
            )
            for s in steps
        )
    return {"sequences": seqs}


def _nurture_of(v: Any) -> dict[str, Any]:
    return {
        "nurture": tuple(
            NurtureItem(timedelta(days=float(n["after_days"])), str(n["title"]), str(n["text"])) for n in v
        )
    }


def _recommend(v: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, name, read in (
        ("industry_points", "industry_points", float),
        ("pain_points", "pain_points", float),
        ("top", "top", int),
    ):
        if k in v:
            out[name] = read(v[k])
    if set(v) - {"industry_points", "pain_points", "top"}:
        raise ValueError("recommend takes industry_points, pain_points, top")
    return out


def _kinds(v: Any) -> dict[str, Any]:
    if isinstance(v, str):
        raise ValueError("a list of kinds is expected")
    return {"effective_kinds": tuple(str(k) for k in v)}


_READERS: dict[str, Any] = {
    "dimensions": _dimensions,
    "grades": _grades,
    "sequences": _sequences_of,
    "escalate_role": lambda v: {"escalate_role": str(v)},
    "effective_kinds": _kinds,
    "dormant_after_hours": lambda v: {"dormant_after": timedelta(hours=float(v))},
    "public_after_days": lambda v: {"public_after": timedelta(days=float(v))},
    "claim_cap": lambda v: {"claim_cap": int(v)},
    "scan_every_minutes": lambda v: {"scan_every": timedelta(minutes=float(v))},
    "nurture": _nurture_of,
    "recommend": _recommend,
}
