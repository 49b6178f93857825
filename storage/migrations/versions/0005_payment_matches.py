"""payment_matches: the stored payment → contract matching (memo contains the contract number)

回款逾期 questions tested every payment memo against every contract number (seconds at 35k contracts ×
40k payments); the import of contracts or payments now stores the pairs (storage.payments.store_matches)
and readers join them. The upgrade fills the table from the rows already there.

Revision ID: 0005_payment_matches
Revises: 0004_outbox_status_key
"""
import sqlalchemy as sa
from alembic import op

revision = '0005_payment_matches'
down_revision = '0004_outbox_status_key'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'payment_matches',
        sa.Column('contract_no', sa.String(length=64), nullable=False),
        sa.Column('txn_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('contract_no', 'txn_id'),
    )
    op.create_index(op.f('ix_payment_matches_txn_id'), 'payment_matches', ['txn_id'], unique=False)
    conn = op.get_bind()
    by_len: dict[int, set[str]] = {}
    for (no,) in conn.execute(sa.text("SELECT contract_no FROM contracts")):
        by_len.setdefault(len(no), set()).add(no)
    if not by_len:
        return
    rows = []
    for txn_id, memo in conn.execute(sa.text("SELECT txn_id, memo FROM payments WHERE memo IS NOT NULL")):
        found = {memo[i:i + n] for n, numbers in by_len.items() for i in range(len(memo) - n + 1)
                 if memo[i:i + n] in numbers}
        rows += [{'contract_no': no, 'txn_id': txn_id} for no in sorted(found)]
    for i in range(0, len(rows), 2000):
        op.bulk_insert(table, rows[i:i + 2000])


def downgrade() -> None:
    op.drop_index(op.f('ix_payment_matches_txn_id'), table_name='payment_matches')
    op.drop_table('payment_matches')
