"""The organisation's SOP policy as stored in org_config["sop"], and names the SOP handlers share."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from core.sop.policy import SopPolicy
from storage.models import OrgConfigRow

log = logging.getLogger("assistant.sop")

SOP_ACTOR = "system:sop"
CONFIG_KEY = "sop"

# What firing a timer returned: the timer's final status ("done" | "cancelled") and a short outcome.
FireResult = tuple[str, str]


POLICY_CACHE = "sop_policy"  # Ctx.cache key: the policy is read once per unit of work


def load_policy(session: Session) -> SopPolicy:
    """The stored overrides on top of the defaults. A broken setting is logged and the defaults apply,
    so timers keep firing while an admin fixes it."""
    row = session.get(OrgConfigRow, CONFIG_KEY)
    if row is None:
        return SopPolicy()
    try:
        return SopPolicy.from_config(row.value)
    except (ValueError, TypeError, KeyError) as exc:
        log.error("org_config[%s] is invalid, using the defaults: %s", CONFIG_KEY, exc)
        return SopPolicy()


def policy_of(ctx) -> SopPolicy:  # noqa: ANN001 - a handlers.context.Ctx
    """The policy for this unit of work (read once per context)."""
    cached = ctx.cache.get(POLICY_CACHE)
    if isinstance(cached, SopPolicy):
        return cached
    policy = load_policy(ctx.session)
    ctx.cache[POLICY_CACHE] = policy
    return policy
