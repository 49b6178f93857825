"""The organisation's lead policy for a unit of work (org_config["leads"], read once per context)."""

from __future__ import annotations

import logging

from core.leads.policy import LeadPolicy
from storage.leads import store

log = logging.getLogger("assistant.leads")

LEADS_ACTOR = "system:leads"
CACHE_KEY = "lead_policy"

FireResult = tuple[str, str]  # what a firer returns: the timer's final status and a short outcome


def policy_of(ctx) -> LeadPolicy:  # noqa: ANN001 - a handlers.context.Ctx
    """The stored overrides on the defaults. A broken setting is logged and the defaults apply, so the
    sequences keep running while an admin fixes it."""
    cached = ctx.cache.get(CACHE_KEY)
    if isinstance(cached, LeadPolicy):
        return cached
    try:
        policy = store.load_policy(ctx.session)
    except (ValueError, TypeError, KeyError) as exc:
        log.error("org_config[%s] is invalid, using the defaults: %s", store.CONFIG_KEY, exc)
        policy = LeadPolicy()
    ctx.cache[CACHE_KEY] = policy
    return policy
