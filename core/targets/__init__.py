"""Targets (目标): periods, baselines from order history, the cascade that keeps every fen, adjustments within
bounds and health lights. Pure rules, standard library only (docs/targets.md)."""
