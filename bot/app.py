"""The FastAPI application: the callback, health checks, and (when running) the metronome."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bot.beat import BeatThread
from bot.bootstrap import Runtime
from bot.health import Readiness
from bot.web.headers import SecurityHeaders
from bot.wecom.callback import CallbackDeps, ReceiveEndpoint, make_router

log = logging.getLogger("assistant")
TICK_SECONDS = 1.0


class AssistantApp(FastAPI):
    """FastAPI with one fast lane: `POST /wecom/callback` goes straight to its ASGI endpoint, past the
    middleware stack and the router, which cost about as much as the callback's own checks. So middleware
    added to this app does not see that request, and an unexpected exception there is uvicorn's 500 (logged).
    Any other spelling of the path (under a root_path…) takes the ordinary route to the same endpoint."""

    fast_callback: ReceiveEndpoint | None = None

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if (
            self.fast_callback is not None
            and scope["type"] == "http"
            and scope["path"] == "/wecom/callback"
            and scope["method"] == "POST"
            and not scope.get("root_path")
        ):
            await self.fast_callback(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(services: Runtime, *, run_scheduler: bool = False) -> FastAPI:
    """`run_scheduler`: also drive the inbox worker, timer sweep and outbox relay in this process, on an
    event loop of their own in a thread (bot/beat.py `BeatThread`), so the loop that acknowledges callbacks
    never waits behind a round of sends.

    APScheduler is only the metronome (one interval job, in memory): SOP timers are database rows, so
    every process may tick; a stored callback nudges the job to run at once.
    """
    beat: BeatThread | None = None

    def wake() -> None:
        if beat is not None:
            beat.wake()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        nonlocal beat
        if run_scheduler:
            await _install_menu()
            beat = BeatThread(services, interval=TICK_SECONDS)
            beat.start()
        try:
            yield
        finally:
            if beat is not None:
                await asyncio.to_thread(beat.stop)
                beat = None
            await services.client.aclose()
            if app.fast_callback is not None:
                app.fast_callback.close()
            app.state.readiness.close()

    async def _install_menu() -> None:
        """The app menu of WECOM_APP_MENU (checked when the settings loaded), by default 拍照 (camera only),
        签到 (send location), 我的待办 (bot/menu.py). Idempotent on WeCom's side."""
        try:
            await services.client.menu_create(services.settings.app_menu())
        except Exception as exc:  # noqa: BLE001 - a missing menu must not stop the service
            log.warning("menu/create failed: %s", exc)

    # no API schema pages in production: /openapi.json, /docs and /redoc exist only with DEBUG_API_DOCS
    docs = services.settings.DEBUG_API_DOCS
    app = AssistantApp(
        title="WeCom sales assistant",
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.add_middleware(SecurityHeaders)  # every ordinary route; the callback's fast lane passes by it
    deps = CallbackDeps(
        crypto=services.crypto,
        engine=services.engine,
        clock=services.clock,
        max_clock_skew=services.settings.WECOM_MAX_CLOCK_SKEW,
        on_stored=wake,
    )
    # the POST callback is a plain ASGI endpoint (bot/wecom/callback.py), reached by the fast lane or, failing that, as
    # the first route; the GET verification is an ordinary FastAPI route
    app.fast_callback = ReceiveEndpoint(deps)
    app.add_route("/wecom/callback", app.fast_callback, methods=["POST"], include_in_schema=False)
    app.include_router(make_router(deps))
    from bot.web.dashboard import make_dashboard_router
    from bot.web.ics import make_ics_router
    from bot.web.signin import WebAuth, make_signin_router

    # every web page needs a WeCom sign-in session (docs/web-sign-in.md); the ICS feed keeps its own secret
    auth = WebAuth.from_settings(services.settings, services.session_factory, services.clock)
    app.include_router(make_signin_router(auth, services.client))
    app.include_router(make_dashboard_router(services.session_factory, auth, services.clock))

    app.include_router(
        make_ics_router(services.session_factory, services.settings.WECOM_SECRET, clock=services.clock)
    )

    readiness = Readiness(services)
    app.state.readiness = readiness

    @app.get("/healthz")
    async def healthz() -> dict:
        """On the event loop, touching nothing: answers whatever the database or Redis do (bot/health.py)."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ok, body = await readiness.check()
        return JSONResponse(body, status_code=200 if ok else 503)

    app.state.services = services
    return app
