"""Targets in chat (docs/targets.md): adjustments with evidence (adjust), health lights and the diagnosis card
(health), the monthly penetration report (report)."""
