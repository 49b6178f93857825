"""Targets in storage (docs/targets.md): the cascade's inputs read and its plan applied (plan), the stored tree
(tree), attainment scoped inside the query (attainment), adjustments with evidence (adjust), weekly checks and
the diagnosis (health), the monthly penetration report (report), `main.py targets` (cli)."""
