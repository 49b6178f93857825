"""Matching bank statement lines to receivables (open instalments), as a pure rule: the nightly
reconciliation's decisions (storage/contracts/reconcile.py loads the rows and writes the outcome).

In order, each line's unallocated amount goes:
1. by contract number — the memo names one or more contract numbers (compared without case, spaces or
   punctuation: 「ht2026 001」 is HT-2026-001): the line pays those contracts' open instalments, earliest due
   first (a split payment: several lines towards one instalment; a combined one: one line over several);
   what is left of it after they are paid is unmatched;
2. by payer and amount — no number: the payer is the customer whose name matches (exactly, or by the given
   similarity ≥ `threshold` after dropping 有限公司-like suffixes; two customers within `MARGIN` of each other
   are not a match),
   and the amount equals one open instalment, or the open instalments due first, or a few of them together;
3. split without a number — lines of one payer that could not be matched alone, whose amounts together
   equal one open instalment;
4. anything else is unmatched, with up to three candidate instalments (the payer's, else by name
   similarity, else of the same amount) for finance to pick from.
Amounts match to the cent. The order of lines is by date then id, so the outcome is deterministic.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import combinations

ZERO = Decimal(0)
_FAR = date.max
_SUFFIX = re.compile(
    r"(股份有限公司|有限责任公司|有限公司|集团|公司|分公司|（中国）|\(中国\)|[()（）\s·.,，])"
)
_NUM_NOISE = re.compile(r"[^0-9A-Za-z]")

Similarity = Callable[[str, str], float]  # 0..100
THRESHOLD = 80.0  # one character wrong in a six-character name (suffixes dropped) scores 83
MARGIN = 5.0  # the best customer must beat the second by this much


@dataclass(frozen=True)
class Receivable:
    key: int  # the instalment's id
    contract_no: str
    customer: str  # the customer's name
    open: Decimal  # what is still owed
    due_on: date | None
    seq: int = 1


@dataclass(frozen=True)
class Line:
    txn_id: str
    paid_on: date
    amount: Decimal  # what of the line is not allocated yet
    payer: str | None
    memo: str | None


@dataclass(frozen=True)
class Allocation:
    txn_id: str
    key: int
    amount: Decimal
    how: str  # number | amount_payer | split_payer


@dataclass(frozen=True)
class Candidate:
    key: int
    contract_no: str
    customer: str
    open: Decimal
    due_on: date | None


@dataclass(frozen=True)
class Unmatched:
    txn_id: str
    left: Decimal
    why: str  # Chinese: why it was not matched
    candidates: tuple[Candidate, ...]


@dataclass
class Result:
    allocations: list[Allocation] = field(default_factory=list)
    unmatched: list[Unmatched] = field(default_factory=list)


NEAR = 40  # customers compared with one payer name
COMMON = 1000  # a character pair held by more names than this does not make two names near


def _bigrams(key: str) -> set[str]:
    return {key[i : i + 2] for i in range(len(key) - 1)} or ({key} if key else set())


def company_key(name: str | None) -> str:
    """A company name without the suffixes and punctuation that vary between a contract and a bank line."""
    return _SUFFIX.sub("", name or "").upper()


def number_key(no: str) -> str:
    return _NUM_NOISE.sub("", no).upper()


class _Book:
    """The open receivables, indexed by contract, customer and normalised contract number."""

    def __init__(self, receivables: Iterable[Receivable]):
        self.rec: dict[int, Receivable] = {}
        self.open: dict[int, Decimal] = {}
        self.by_contract: dict[str, list[int]] = defaultdict(list)
        self.by_customer: dict[str, list[int]] = defaultdict(list)
        self.names: dict[str, str] = {}  # company key → a name as written
        self.by_amount: dict[Decimal, list[int]] = {}  # filled once matching is over
        self._near: dict[tuple[str, float], list[str]] = {}
        for r in receivables:
            if r.open <= 0:
                continue
            self.rec[r.key] = r
            self.open[r.key] = r.open
            self.by_contract[r.contract_no].append(r.key)
            ck = company_key(r.customer)
            self.by_customer[ck].append(r.key)
            self.names.setdefault(ck, r.customer)
        order = self._order
        for keys in (*self.by_contract.values(), *self.by_customer.values()):
            keys.sort(key=order)
        self.bigrams: dict[str, set[str]] = defaultdict(set)  # two characters → customer keys holding them
        for ck in self.by_customer:
            for bg in _bigrams(ck):
                self.bigrams[bg].add(ck)
        self.numbers: dict[int, dict[str, str]] = defaultdict(dict)  # length → normalised → contract_no
        for no in self.by_contract:
            nk = number_key(no)
            if nk:
                self.numbers[len(nk)][nk] = no

    def _order(self, key: int) -> tuple[date, int, int]:
        r = self.rec[key]
        return (r.due_on or _FAR, r.seq, key)

    def open_keys(self, keys: list[int]) -> list[int]:
        return [k for k in keys if self.open[k] > 0]

    def contracts_in(self, memo: str | None) -> list[str]:
        """The contract numbers whose normalised form occurs in the normalised memo, in memo order."""
        if not memo:
            return []
        text = number_key(memo)
        found: dict[str, int] = {}
        for length, numbers in self.numbers.items():
            for i in range(len(text) - length + 1):
                no = numbers.get(text[i : i + length])
                if no is not None and no not in found:
                    found[no] = i
        return sorted(found, key=lambda no: found[no])

    def near(self, pk: str, *, min_share: float) -> list[str]:
        """The customer keys sharing the most character pairs with `pk` — at least `min_share` of its pairs;
        a pair found in more than COMMON names says nothing and is skipped. A similarity is only computed for
        these: a payer is compared with a few dozen names, not with every customer."""
        cached = self._near.get((pk, min_share))
        if cached is not None:
            return cached
        pairs = _bigrams(pk)
        counts: dict[str, int] = defaultdict(int)
        for bg in pairs:
            holders = self.bigrams.get(bg, ())
            if len(holders) > COMMON:
                continue
            for ck in holders:
                counts[ck] += 1
        need = max(2 if len(pairs) >= 3 else 1, math.ceil(len(pairs) * min_share))
        found = heapq.nsmallest(
            NEAR, (ck for ck, n in counts.items() if n >= need), key=lambda ck: (-counts[ck], ck)
        )
        self._near[(pk, min_share)] = found
        return found

    def candidate(self, key: int) -> Candidate:
        r = self.rec[key]
        return Candidate(r.key, r.contract_no, r.customer, self.open[key], r.due_on)


def _payer(book: _Book, payer: str | None, similarity: Similarity, threshold: float) -> str | None:
    """The company key of the customer the payer is, or None (unknown, or two customers equally close)."""
    pk = company_key(payer)
    if not pk:
        return None
    if pk in book.by_customer:
        return pk
    scored = sorted(((similarity(pk, ck), ck) for ck in book.near(pk, min_share=0.4)), reverse=True)
    if not scored or scored[0][0] < threshold:
        return None
    if len(scored) > 1 and scored[1][0] > scored[0][0] - MARGIN:
        return None  # two customers about as close: not a match
    return scored[0][1]


def reconcile(
    receivables: Iterable[Receivable],
    lines: Iterable[Line],
    *,
    similarity: Similarity,
    threshold: float = THRESHOLD,
) -> Result:
    book = _Book(receivables)
    result = Result()
    left: dict[str, Decimal] = {}
    ordered = sorted((ln for ln in lines if ln.amount > 0), key=lambda ln: (ln.paid_on, ln.txn_id))
    payer_cache: dict[str | None, str | None] = {}

    def payer_of(ln: Line) -> str | None:
        if ln.payer not in payer_cache:
            payer_cache[ln.payer] = _payer(book, ln.payer, similarity, threshold)
        return payer_cache[ln.payer]

    def allocate(txn: str, key: int, amount: Decimal, how: str) -> None:
        book.open[key] -= amount
        left[txn] -= amount
        result.allocations.append(Allocation(txn, key, amount, how))

    held: dict[str, list[str]] = defaultdict(list)  # customer key → lines for the split pass
    why: dict[str, str] = {}
    named: dict[str, list[str]] = {}
    for ln in ordered:
        left[ln.txn_id] = ln.amount
        nos = book.contracts_in(ln.memo)
        if nos:
            named[ln.txn_id] = nos
            for no in nos:
                for key in book.open_keys(book.by_contract[no]):
                    if left[ln.txn_id] <= 0:
                        break
                    allocate(ln.txn_id, key, min(book.open[key], left[ln.txn_id]), "number")
            if left[ln.txn_id] > 0:
                why[ln.txn_id] = (
                    "超出摘要所列合同的未付金额"
                    if left[ln.txn_id] < ln.amount
                    else "摘要所列合同已无未付款项"
                )
            continue
        ck = payer_of(ln)
        if ck is None:
            why[ln.txn_id] = "摘要没有合同编号，付款方与客户名称对不上"
            continue
        keys = book.open_keys(book.by_customer[ck])
        match = _exact_cover(ln.amount, keys, book)
        if match is None:
            held[ck].append(ln.txn_id)
            continue
        for key in match:
            allocate(ln.txn_id, key, book.open[key], "amount_payer")

    for ck, txns in held.items():  # split payments of one payer, without a number
        txns = [t for t in txns if left[t] > 0]
        for key in book.open_keys(book.by_customer[ck]):
            group = _lines_for(book.open[key], txns, left)
            if group is None:
                continue
            for t in group:
                allocate(t, key, left[t], "split_payer")
            txns = [t for t in txns if left[t] > 0]
        for t in txns:
            why[t] = "金额与该客户的未付分期对不上"

    by_amount: dict[Decimal, list[int]] = defaultdict(list)  # open amount → instalments (for candidates)
    for key in sorted(book.open, key=book._order):
        if book.open[key] > 0:
            by_amount[book.open[key]].append(key)
    book.by_amount = by_amount
    for ln in ordered:
        rest = left[ln.txn_id]
        if rest <= 0:
            continue
        result.unmatched.append(
            Unmatched(
                ln.txn_id,
                rest,
                why.get(ln.txn_id, "没有找到对应的应收"),
                _candidates(book, ln, rest, named.get(ln.txn_id, []), payer_of(ln), similarity),
            )
        )
    return result


def _exact_cover(amount: Decimal, keys: list[int], book: _Book) -> list[int] | None:
    """Open instalments whose open amounts add up to `amount`: one of them, else the ones due first, else a
    few (at most 4 of the first 12) together."""
    for k in keys:
        if book.open[k] == amount:
            return [k]
    total = ZERO
    for i, k in enumerate(keys):
        total += book.open[k]
        if total == amount:
            return keys[: i + 1]
        if total > amount:
            break
    head = keys[:12]
    for size in (2, 3, 4):
        for combo in combinations(head, size):
            if sum((book.open[k] for k in combo), ZERO) == amount:
                return list(combo)
    return None


def _lines_for(target: Decimal, txns: list[str], left: dict[str, Decimal]) -> list[str] | None:
    head = txns[:12]
    for size in (2, 3, 4):
        for combo in combinations(head, size):
            if sum((left[t] for t in combo), ZERO) == target:
                return list(combo)
    return None


def _candidates(
    book: _Book, ln: Line, rest: Decimal, named: list[str], ck: str | None, similarity: Similarity
) -> tuple[Candidate, ...]:
    keys: list[int] = []
    for no in named:
        keys += book.by_contract[no]
    if not keys and ck is not None:
        keys = list(book.by_customer[ck])
    if not keys and company_key(ln.payer):
        pk = company_key(ln.payer)
        close = sorted(((similarity(pk, c), c) for c in book.near(pk, min_share=0.25)), reverse=True)[:3]
        for score, c in close:
            if score >= 50:
                keys += book.by_customer[c]
    if not keys:
        keys = book.by_amount.get(rest, [])[:3]
    open_keys = [k for k in keys if book.open[k] > 0] or keys
    open_keys.sort(key=lambda k: (abs(book.open[k] - rest), book._order(k)))
    return tuple(book.candidate(k) for k in open_keys[:3])
