"""WeCom's REST API under `/cgi-bin/`, served from a FakeWeCom.

Each call is recorded, may meet an injected fault, has its access_token checked (40014 / 42001), and is
answered the way WeCom answers: HTTP 200 with a JSON errcode, media bytes with their Content-Type (or
JSON when the media_id is bad), an HTML page for a gateway 502.

A TIMEOUT fault lets the call take effect, holds the answer `state.hang_seconds`, then raises
`EmulatedTimeout` (an `httpx.ReadTimeout`). In-process transports hand it to the client as is:
`httpx.ASGITransport` and Starlette's `TestClient` both re-raise app exceptions, so the assistant's
client sees a read timeout after WeCom already acted. Over a real socket set `hang_seconds` above the
client's timeout so the client gives up first.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from bot.emulator.faults import FAULT_ERRMSG, Fault
from bot.emulator.payloads import ApiError
from bot.emulator.records import ApiCall
from bot.emulator.state import FakeWeCom

BAD_GATEWAY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
    "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


GARBLED_ANSWERS: dict[Fault, Callable[[], Response]] = {
    Fault.JSON_LIST: lambda: JSONResponse([]),
    Fault.MISSING_FIELD: lambda: JSONResponse({"errmsg": "ok"}),
    Fault.BAD_GZIP: lambda: Response(
        b"\x00not gzip at all", media_type="application/json", headers={"Content-Encoding": "gzip"}
    ),
}


class EmulatedTimeout(httpx.ReadTimeout):
    """The emulated WeCom acted on the request but its answer never came."""


def error_body(errcode: int, errmsg: str, **extra: Any) -> dict[str, Any]:
    """WeCom's error JSON: errmsg carries a hint and a link to the errcode's page."""
    hint = secrets.token_hex(8)
    text = (
        f"{errmsg}, hint: [{hint}], from ip: 127.0.0.1, "
        f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"
    )
    return {"errcode": errcode, "errmsg": text, **extra}


def content_disposition(disposition: str, filename: str) -> str:
    """A Content-Disposition header value that survives non-ASCII file names (RFC 6266)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    if fallback == filename:
        return f'{disposition}; filename="{filename}"'
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return raw


def create_api_router(state: FakeWeCom) -> APIRouter:
    """The emulated `https://qyapi.weixin.qq.com/cgi-bin/` (mount at the app root)."""
    router = APIRouter(prefix="/cgi-bin")

    async def run(
        request: Request,
        path: str,
        body: Any,
        op: Callable[[], dict[str, Any] | Response],
        *,
        needs_token: bool = True,
    ) -> Response:
        query = dict(request.query_params)
        at = state.now()

        def record(
            status: int, errcode: int | None, response: dict[str, Any] | None, fault: Fault | None
        ) -> None:
            state.record_call(
                ApiCall(
                    path,
                    query,
                    body,
                    at,
                    request.method,
                    status,
                    errcode,
                    fault.value if fault else None,
                    response,
                )
            )

        fault = state.take_fault(path)
        if fault is Fault.HTTP_502:
            record(502, None, None, fault)
            return HTMLResponse(BAD_GATEWAY, status_code=502)
        if fault in GARBLED_ANSWERS:
            record(200, None, None, fault)
            return GARBLED_ANSWERS[fault]()
        if fault is not None and fault.errcode is not None:
            answer = error_body(fault.errcode, FAULT_ERRMSG[fault])
            record(200, fault.errcode, answer, fault)
            return JSONResponse(answer)
        try:
            if needs_token:
                state.check_token(query.get("access_token", ""))
            result = op()
        except ApiError as exc:
            answer = error_body(exc.errcode, exc.errmsg, **exc.extra)
            record(200, exc.errcode, answer, fault)
            return JSONResponse(answer)
        if isinstance(result, Response):
            record(result.status_code, None, None, fault)
            response: Response = result
        else:
            record(200, int(result.get("errcode", 0)), result, fault)
            response = JSONResponse(result)
        if fault is Fault.TIMEOUT:
            await asyncio.sleep(state.hang_seconds)
            raise EmulatedTimeout(f"emulated timeout: WeCom handled {path} but the answer never arrived")
        return response

    @router.get("/gettoken")
    async def gettoken(request: Request) -> Response:
        q = request.query_params
        return await run(
            request,
            "gettoken",
            None,
            lambda: state.issue_token(q.get("corpid", ""), q.get("corpsecret", "")),
            needs_token=False,
        )

    @router.post("/message/send")
    async def message_send(request: Request) -> Response:
        body = _parse_json(await request.body())
        return await run(request, "message/send", body, lambda: state.send_message(body))

    @router.post("/message/update_template_card")
    async def update_template_card(request: Request) -> Response:
        body = _parse_json(await request.body())
        return await run(
            request, "message/update_template_card", body, lambda: state.update_template_card(body)
        )

    @router.get("/media/get")
    async def media_get(request: Request) -> Response:
        media_id = request.query_params.get("media_id", "")

        def op() -> Response:
            if not media_id:
                raise ApiError(41006, "missing media_id")
            media = state.get_media(media_id)
            if media is None:
                raise ApiError(40007, "invalid media_id")
            return Response(
                media.data,
                media_type=media.content_type,
                headers={
                    "Content-Disposition": content_disposition("attachment", media.filename),
                    "Cache-Control": "no-cache, must-revalidate",
                },
            )

        return await run(request, "media/get", None, op)

    @router.post("/media/upload")
    async def media_upload(request: Request) -> Response:
        kind = request.query_params.get("type", "")
        data, filename, content_type = None, "", ""
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("media")
            if upload is not None and not isinstance(upload, str):
                data = await upload.read()
                filename, content_type = upload.filename or "", upload.content_type or ""
        return await run(
            request, "media/upload", data, lambda: state.upload_media(kind, filename, data, content_type)
        )

    for name, method in (
        ("add", state.schedule_add),
        ("update", state.schedule_update),
        ("del", state.schedule_delete),
    ):
        router.add_api_route(
            f"/oa/schedule/{name}",
            _json_route(run, f"oa/schedule/{name}", method),
            methods=["POST"],
            name=f"schedule_{name}",
        )

    # 客户联系: 在职继承 and 离职继承 (bot/emulator/transfers.py)
    contacts = state.transfers
    for path, method in (
        ("externalcontact/get_unassigned_list", contacts.unassigned),
        ("externalcontact/transfer_customer", lambda b: contacts.transfer(b, resigned=False)),
        ("externalcontact/resigned/transfer_customer", lambda b: contacts.transfer(b, resigned=True)),
        ("externalcontact/transfer_result", lambda b: contacts.result(b, resigned=False)),
        ("externalcontact/resigned/transfer_result", lambda b: contacts.result(b, resigned=True)),
    ):
        router.add_api_route(
            f"/{path}", _json_route(run, path, method), methods=["POST"], name=path.replace("/", "_")
        )

    @router.get("/externalcontact/list")
    async def external_contact_list(request: Request) -> Response:
        userid = request.query_params.get("userid", "")
        return await run(request, "externalcontact/list", None, lambda: contacts.external_list(userid))

    @router.get("/agent/get")
    async def agent_get(request: Request) -> Response:
        agentid = request.query_params.get("agentid", "")
        return await run(request, "agent/get", None, lambda: state.agent_get(agentid))

    @router.get("/auth/getuserinfo")
    async def auth_getuserinfo(request: Request) -> Response:
        code = request.query_params.get("code", "")
        return await run(request, "auth/getuserinfo", None, lambda: state.user_of_code(code))

    @router.post("/menu/create")
    async def menu_create(request: Request) -> Response:
        body = _parse_json(await request.body())
        agentid = request.query_params.get("agentid", "")
        return await run(request, "menu/create", body, lambda: state.create_menu(agentid, body))

    # the address book (bot/emulator/contacts.py): the visible range, 60011 outside it, 48009 for a contact token
    def contacts_route(path: str, read: Callable[[Any, Request, Any], dict[str, Any]], method: str) -> None:
        async def endpoint(request: Request) -> Response:
            body = _parse_json(await request.body()) if method == "POST" else None
            token = request.query_params.get("access_token", "")
            return await run(
                request, path, body, lambda: state.contacts(path, token, lambda b: read(b, request, body))
            )

        router.add_api_route(f"/{path}", endpoint, methods=[method], name=path.replace("/", "_"))

    q = lambda r, name: r.query_params.get(name, "")  # noqa: E731
    contacts_route("department/list", lambda b, r, _: b.department_list(q(r, "id")), "GET")
    contacts_route("department/simplelist", lambda b, r, _: b.department_simplelist(q(r, "id")), "GET")
    contacts_route("user/list", lambda b, r, _: b.user_list(q(r, "department_id")), "GET")
    contacts_route("user/get", lambda b, r, _: b.user_get(q(r, "userid")), "GET")
    contacts_route("user/list_id", lambda b, r, body: b.user_list_id(body), "POST")

    @router.get("/externalcontact/get")
    async def external_contact_get(request: Request) -> Response:
        external = request.query_params.get("external_userid", "")
        return await run(request, "externalcontact/get", None, lambda: state.external.get(external))

    for name, method in (
        ("get_user_behavior_data", state.external.behavior),
        ("groupchat/get", state.external.groupchat),
    ):
        router.add_api_route(
            f"/externalcontact/{name}",
            _json_route(run, f"externalcontact/{name}", method),
            methods=["POST"],
            name=f"externalcontact_{name.replace('/', '_')}",
        )

    @router.api_route("/{rest:path}", methods=["GET", "POST"])
    async def not_emulated(request: Request, rest: str) -> Response:
        body = _parse_json(await request.body())
        state.record_call(
            ApiCall(rest, dict(request.query_params), body, state.now(), request.method, 200, 48002)
        )
        return JSONResponse(error_body(48002, f"api forbidden: the emulator does not serve cgi-bin/{rest}"))

    return router


def _json_route(
    run: Callable[..., Awaitable[Response]], path: str, method: Callable[[Any], dict[str, Any]]
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        body = _parse_json(await request.body())
        return await run(request, path, body, lambda: method(body))

    return endpoint
