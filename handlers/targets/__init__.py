"""Targets in chat and on the clock (docs/targets.md): the director's cascade preview and confirmation (cascade),
region coefficients (coefficient), adjustments with evidence (adjust), health lights and the diagnosis card
(health), the monthly penetration report (report)."""
