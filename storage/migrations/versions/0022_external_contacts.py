"""Customer contacts (企业微信 客户联系, docs/customer-contacts.md): a member's external contacts and their link to a
customer, the member's daily WeCom contact figures, 客户群, and customers' contact phones (matching).

Revision ID: 0022_external_contacts
Revises: 0018_contract_handoff
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_external_contacts"
down_revision = "0018_contract_handoff"
branch_labels = None
depends_on = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("contact_phones", sa.JSON(), nullable=True))

    op.create_table(
        "external_contacts",
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("userid", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("corp_name", sa.String(length=128), nullable=True),
        sa.Column("remark", sa.String(length=128), nullable=True),
        sa.Column("description", sa.String(length=256), nullable=True),
        sa.Column("remark_mobiles", sa.JSON(), nullable=False),
        sa.Column("add_way", sa.Integer(), nullable=True),
        sa.Column("added_at", _UTC, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("suggested", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", _UTC, nullable=True),
        sa.Column("removed_at", _UTC, nullable=True),
        sa.Column("removed_by", sa.String(length=16), nullable=True),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"]),
        sa.PrimaryKeyConstraint("external_userid", "userid"),
    )
    op.create_index(
        op.f("ix_external_contacts_customer_id"), "external_contacts", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_external_contacts_user_status", "external_contacts", ["userid", "status"], unique=False
    )

    op.create_table(
        "contact_behavior",
        sa.Column("userid", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("chat_cnt", sa.Integer(), nullable=False),
        sa.Column("message_cnt", sa.Integer(), nullable=False),
        sa.Column("reply_percentage", sa.Float(), nullable=True),
        sa.Column("avg_reply_time", sa.Float(), nullable=True),
        sa.Column("new_contact_cnt", sa.Integer(), nullable=False),
        sa.Column("fetched_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("userid", "day"),
    )

    op.create_table(
        "external_chats",
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("owner_userid", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("external_userids", sa.JSON(), nullable=False),
        sa.Column("customer_ids", sa.JSON(), nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )
    op.create_index(op.f("ix_external_chats_owner_userid"), "external_chats", ["owner_userid"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_external_chats_owner_userid"), table_name="external_chats")
    op.drop_table("external_chats")
    op.drop_table("contact_behavior")
    op.drop_index("ix_external_contacts_user_status", table_name="external_contacts")
    op.drop_index(op.f("ix_external_contacts_customer_id"), table_name="external_contacts")
    op.drop_table("external_contacts")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("contact_phones")
