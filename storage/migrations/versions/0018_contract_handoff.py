"""From signature to cash: departments, contract terms and statuses, instalments, hand-off work orders,
bank lines matched to instalments, finance to-dos (docs/contracts.md)

Existing contracts keep NULL in the new columns: imported history (signed, no hand-off, no instalments; their
overdue figures keep reading due_on until terms are given).

Revision ID: 0018_contract_handoff
Revises: 0019_user_channels
"""
import sqlalchemy as sa
from alembic import op

revision = '0018_contract_handoff'
down_revision = '0019_user_channels'
branch_labels = None
depends_on = None

_UTC = sa.DateTime(timezone=True)
_MONEY = sa.Numeric(14, 2)
_BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('contracts') as batch:
        batch.add_column(sa.Column('terms', sa.Text(), nullable=True))
        batch.add_column(sa.Column('sales_status', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('finance_status', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('signed_at', _UTC, nullable=True))
        batch.add_column(sa.Column('signed_by', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('milestones', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('amount_verified_at', _UTC, nullable=True))
        batch.add_column(sa.Column('amount_verified_by', sa.String(length=64), nullable=True))
    op.create_index(op.f('ix_contracts_finance_status'), 'contracts', ['finance_status'], unique=False)

    op.create_table(
        'departments',
        sa.Column('dept_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('head_userid', sa.String(length=64), nullable=True),
        sa.Column('members', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('dept_id'),
    )
    op.create_index(op.f('ix_departments_kind'), 'departments', ['kind'], unique=False)

    op.create_table(
        'contract_instalments',
        sa.Column('id', _BIGID, autoincrement=True, nullable=False),
        sa.Column('contract_no', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=16), nullable=True),
        sa.Column('events', sa.String(length=128), nullable=False),
        sa.Column('rule', sa.JSON(), nullable=False),
        sa.Column('words', sa.String(length=256), nullable=False),
        sa.Column('share', sa.Numeric(9, 4), nullable=True),
        sa.Column('amount', _MONEY, nullable=False),
        sa.Column('due_on', sa.Date(), nullable=True),
        sa.Column('paid', _MONEY, server_default='0', nullable=False),
        sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
        sa.Column('paid_on', sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(['contract_no'], ['contracts.contract_no']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('contract_no', 'seq'),
    )
    op.create_index(op.f('ix_contract_instalments_contract_no'), 'contract_instalments', ['contract_no'])
    op.create_index(op.f('ix_contract_instalments_due_on'), 'contract_instalments', ['due_on'])

    op.create_table(
        'instalment_payments',
        sa.Column('instalment_id', _BIGID, nullable=False),
        sa.Column('txn_id', sa.String(length=64), nullable=False),
        sa.Column('amount', _MONEY, nullable=False),
        sa.Column('how', sa.String(length=16), nullable=False),
        sa.Column('matched_at', _UTC, nullable=False),
        sa.ForeignKeyConstraint(['instalment_id'], ['contract_instalments.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['txn_id'], ['payments.txn_id']),
        sa.PrimaryKeyConstraint('instalment_id', 'txn_id'),
    )
    op.create_index(op.f('ix_instalment_payments_txn_id'), 'instalment_payments', ['txn_id'])

    op.create_table(
        'work_orders',
        sa.Column('id', _BIGID, autoincrement=True, nullable=False),
        sa.Column('contract_no', sa.String(length=64), nullable=False),
        sa.Column('team', sa.String(length=16), nullable=False),
        sa.Column('dept_id', sa.String(length=64), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('items', sa.JSON(), nullable=False),
        sa.Column('sla_hours', sa.Integer(), nullable=False),
        sa.Column('due_at', _UTC, nullable=False),
        sa.Column('created_at', _UTC, nullable=False),
        sa.Column('claimed_by', sa.String(length=64), nullable=True),
        sa.Column('claimed_at', _UTC, nullable=True),
        sa.Column('done_at', _UTC, nullable=True),
        sa.Column('blocked_reason', sa.Text(), nullable=True),
        sa.Column('blocked_at', _UTC, nullable=True),
        sa.Column('escalated', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['contract_no'], ['contracts.contract_no']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('contract_no', 'team'),
    )
    op.create_index(op.f('ix_work_orders_contract_no'), 'work_orders', ['contract_no'])
    op.create_index(op.f('ix_work_orders_status'), 'work_orders', ['status'])
    op.create_index(op.f('ix_work_orders_due_at'), 'work_orders', ['due_at'])

    op.create_table(
        'finance_todos',
        sa.Column('id', _BIGID, autoincrement=True, nullable=False),
        sa.Column('business_key', sa.String(length=128), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('ref', sa.String(length=64), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', _UTC, nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('done_at', _UTC, nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('business_key'),
    )
    op.create_index(op.f('ix_finance_todos_ref'), 'finance_todos', ['ref'])
    op.create_index('ix_finance_todos_status_kind', 'finance_todos', ['status', 'kind'])


def downgrade() -> None:
    op.drop_table('finance_todos')
    op.drop_table('work_orders')
    op.drop_table('instalment_payments')
    op.drop_table('contract_instalments')
    op.drop_table('departments')
    op.drop_index(op.f('ix_contracts_finance_status'), table_name='contracts')
    with op.batch_alter_table('contracts') as batch:
        for col in ('amount_verified_by', 'amount_verified_at', 'milestones', 'signed_by', 'signed_at',
                    'finance_status', 'sales_status', 'terms'):
            batch.drop_column(col)
