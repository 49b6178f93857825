"""Questions about the newer domains — targets (目标), leads (线索), contract hand-offs and reconciliation — read
into the same QuerySpec (entities targets, leads, handoffs, finance) and answered with the scope inside every
statement. docs/nlq-semantics.md § How nlq/ implements this page, "Targets, leads, hand-offs and finance"."""
