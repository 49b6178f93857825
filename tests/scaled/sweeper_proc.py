"""A timer-sweeping process for the kill tests: `python -m tests.scaled.sweeper_proc DB_URL OWNER LEASE_S BATCH`.

It registers the test rule `fault_ping` (one message per timer to payload["to"]) and runs
handlers.sop.sweep.sweep_due_timers on the system clock in a loop, like a worker's tick, until it is killed.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from core.clock import SystemClock
from handlers.messages import Text
from handlers.routes import ROUTER
from handlers.routes import firing as default_firing
from handlers.sop.sweep import sweep_due_timers
from storage.db import make_engine, make_session_factory

KIND = "fault_ping"


def fault_ping(ctx, timer):  # noqa: ANN001
    ctx.send(timer.payload["to"], Text(content=f"ping {timer.business_key}"))
    return "done", "pinged"


def main(argv: list[str]) -> None:
    db_url, owner, lease_s, batch = argv[0], argv[1], float(argv[2]), int(argv[3])
    firing = default_firing(kinds=ROUTER.with_timer_kinds({KIND: fault_ping}))
    factory = make_session_factory(make_engine(db_url))
    clock = SystemClock()
    print("sweeping", flush=True)
    while True:
        fired = sweep_due_timers(
            factory,
            clock,
            owner=owner,
            batch=batch,
            lease=timedelta(seconds=lease_s),
            recurring=False,
            firing=firing,
        )
        if not fired:
            time.sleep(0.1)


if __name__ == "__main__":
    main(sys.argv[1:])
