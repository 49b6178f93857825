"""Hand-over when someone leaves or moves (docs/handover.md): open (the card to the manager, the fallback
timer), decide (a button or the fallback; the audited move, calendar entries re-made, WeCom's own transfer),
report (what WeCom answered, per customer)."""
