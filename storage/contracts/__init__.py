"""Contracts from signature to cash: the tables (models), instalments, departments, hand-off work orders, the field-level trail, reconciliation and the scoped questions (docs/contracts.md)."""
