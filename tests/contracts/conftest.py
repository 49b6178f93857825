"""The org of the SOP tests plus the three hand-off departments, a customer and contracts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from storage.contracts.models import DepartmentRow
from storage.models import ContractRow, UserRow
from tests.sop.conftest import add_customer, seed_org

TEAM_PEOPLE = [  # userid, name, role (outside the sales tree)
    ("dhead", "交付负责人陈工", "rep"),
    ("d1", "交付工程师孙工", "rep"),
    ("fhead", "财务经理刘会计", "rep"),
    ("f1", "出纳周会计", "rep"),
    ("ahead", "售后负责人何工", "rep"),
    ("a1", "售后工程师林工", "rep"),
]


def seed_departments(sf) -> None:
    with sf() as s:
        for userid, name, role in TEAM_PEOPLE:
            s.add(UserRow(userid=userid, name=name, role=role, manager_userid=None))
        s.add(
            DepartmentRow(dept_id="D-JF", name="交付部", kind="delivery", head_userid="dhead", members=["d1"])
        )
        s.add(
            DepartmentRow(dept_id="D-CW", name="财务部", kind="finance", head_userid="fhead", members=["f1"])
        )
        s.add(
            DepartmentRow(
                dept_id="D-SH", name="售后部", kind="after_sales", head_userid="ahead", members=["a1"]
            )
        )
        s.commit()


def add_contract(
    sf,
    no: str,
    customer_id: str = "c1",
    *,
    amount: str = "500000",
    terms: str | None = "签约后30天付50%，验收后付尾款",
    signed_on: date = date(2026, 12, 7),
    due_on: date = date(2027, 1, 6),
    sales_status: str | None = "pending",
) -> None:
    with sf() as s:
        s.add(
            ContractRow(
                contract_no=no,
                customer_id=customer_id,
                signed_on=signed_on,
                amount=Decimal(amount),
                due_on=due_on,
                terms=terms,
                sales_status=sales_status,
            )
        )
        s.commit()


@pytest.fixture
def org(session_factory):
    seed_org(session_factory)
    seed_departments(session_factory)
    add_customer(session_factory, "c1", "rep1", name="华东精密制造有限公司")
    return session_factory
