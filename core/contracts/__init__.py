"""Contracts from signature to cash, as pure rules: payment terms read into instalments (terms), their due
dates from the contract's milestones (schedule), the hand-off work orders' SLA ladder (handoff), and matching
bank statement lines to instalments (reconcile)."""
