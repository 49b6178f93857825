"""`python main.py demo`: the embedded default with sample data and the local WeCom emulator.

Two servers in one process: the assistant on PORT (callback, worker and scheduler, exactly what `serve`
runs) and the emulator on PORT+1 (WeCom's API + the chat page). They talk only through the protocol:
the emulator posts encrypted callbacks to the assistant, the assistant calls WECOM_API_BASE = the emulator.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import IO

import uvicorn
from sqlalchemy import select

from bot.app import create_app
from bot.bootstrap import build, on_imported
from bot.emulator.chat import create_emulator_app
from bot.emulator.corp import DEMO_CORP, demo_settings
from bot.emulator.peer import WeComPeer
from bot.emulator.state import FakeWeCom
from bot.logs import setup_logging
from core.clock import SystemClock
from storage.models import CustomerRow, UserRow

PLACES_PER_REP = 3


def _load_sample_data(services, data_dir: Path) -> None:  # noqa: ANN001
    from storage.importer.run import format_summary, import_paths
    from storage.importer.sample import write_sample_dataset

    with services.session_factory() as s:
        if s.scalar(select(UserRow.userid).limit(1)) is not None:
            return
    folder = data_dir / "sample"
    print("正在生成示例数据（28名业务员、约4000家客户、半年拜访记录）…", flush=True)
    write_sample_dataset(folder, now=SystemClock().now())
    summary = import_paths(
        services.session_factory,
        [folder],
        now=SystemClock().now(),
        progress=True,
        on_imported=on_imported,
    )
    print(format_summary(summary), flush=True)
    _sample_targets(services.session_factory, SystemClock().now())


def _sample_targets(session_factory, now) -> None:  # noqa: ANN001
    """This month's and this quarter's organisation targets, cascaded and applied as a director would with
    `targets cascade --apply` (10% over the same length of history before), so 目标完成率 answers in the demo."""
    from datetime import timedelta

    from sqlalchemy import func

    from core.clock import ORG_ZONE
    from core.targets.periods import period_of
    from storage.db import writer_session
    from storage.models import OrderRow
    from storage.targets.plan import NothingToSplit, apply, preview

    today = now.astimezone(ORG_ZONE).date()
    for kind in ("month", "quarter"):
        period = period_of(kind, today)
        days = period.days
        with writer_session(session_factory) as s:
            history = s.scalar(
                select(func.coalesce(func.sum(OrderRow.amount), 0)).where(
                    OrderRow.ordered_on >= today - timedelta(days=days), OrderRow.ordered_on < today
                )
            )
            amount_fen = int(float(history) * 110)  # yuan → fen, +10%
            if amount_fen <= 0:
                continue
            try:
                plan = preview(s, period, amount_fen, today=today)
            except NothingToSplit:
                continue
            apply(s, plan, by="director", now=now, reason="demo sample target")
            s.commit()
        print(
            f"示例目标：{period.label}（{period.key}）¥{amount_fen / 100:,.0f}，已分解到每位业务员",
            flush=True,
        )


def _people_and_places(services) -> tuple[list[dict], list[dict]]:  # noqa: ANN001
    with services.session_factory() as s:
        users = [
            {
                "userid": u.userid,
                "name": u.name,
                "role": u.role,
                "title": " · ".join(x for x in (u.region, u.city) if x),
            }
            for u in s.scalars(select(UserRow).order_by(UserRow.role, UserRow.userid))
        ]
        places = []
        for u in users:
            if u["role"] != "rep":
                continue
            rows = s.scalars(
                select(CustomerRow)
                .where(
                    CustomerRow.owner_userid == u["userid"],
                    CustomerRow.status == "active",
                    CustomerRow.lat.is_not(None),
                )
                .order_by(CustomerRow.customer_id)
                .limit(PLACES_PER_REP)
            )
            places += [{"label": f"{u['userid']} · {c.name}门口", "lat": c.lat, "lng": c.lng} for c in rows]
    return users, places


def _hold_data_dir(data_dir: Path) -> IO[str] | None:
    """An exclusive lock beside the data folder (not in it: `--reset` removes the folder), held while this
    demo runs. None when another demo holds it: a second `demo --reset` used to delete the database under
    the running one, whose every tick then failed with 'database disk image is malformed'."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir.parent / f".{data_dir.name}.lock", "a+")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip()
        handle.close()
        print(
            f"另一个 demo（进程 {owner or '未知'}）正在使用 {data_dir}：先在它的窗口按 Ctrl+C 结束它，"
            "或用 --data-dir 换一个目录。",
            file=sys.stderr,
        )
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _busy_port(host: str, ports: tuple[int, ...]) -> int | None:
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                probe.bind((host, port))
            except OSError:
                return port
    return None


def run_demo(*, host: str, port: int, data_dir: Path, reset: bool) -> int:
    setup_logging("WARNING")
    lock = _hold_data_dir(data_dir)
    if lock is None:
        return 2
    busy = _busy_port(host, (port, port + 1))
    if busy is not None:
        print(
            f"端口 {busy} 已被占用（demo 用 {port} 和 {port + 1}）：结束占用它的程序，或用 --port 换一个端口。",
            file=sys.stderr,
        )
        return 2
    if reset and data_dir.exists():
        shutil.rmtree(data_dir)
    emu_port = port + 1
    settings = demo_settings(
        data_dir=data_dir,
        api_base=f"http://{host}:{emu_port}/cgi-bin/",
        public_base_url=f"http://{host}:{port}",
        # sign-in to the dashboard through the emulator's WeCom pages (bot/emulator/oauth.py)
        WECOM_OAUTH_URL=f"http://{host}:{emu_port}/connect/oauth2/authorize",
        WECOM_QR_LOGIN_URL=f"http://{host}:{emu_port}/wwlogin/sso/login",
    )
    services = build(settings)
    _load_sample_data(services, data_dir)
    users, places = _people_and_places(services)

    wecom = FakeWeCom(
        corp_id=DEMO_CORP["WECOM_CORP_ID"],
        secret=DEMO_CORP["WECOM_SECRET"],
        agent_id=DEMO_CORP["WECOM_AGENT_ID"],
        users=[u["userid"] for u in users],
    )
    with services.session_factory() as s:  # the address book WeCom would hold: 同步通讯录 finds the same tree
        wecom.book.seed_from_tree(
            s.execute(select(UserRow.userid, UserRow.name, UserRow.manager_userid)).all()
        )
    peer = WeComPeer(
        wecom,
        callback_url=f"http://{host}:{port}/wecom/callback",
        token=DEMO_CORP["WECOM_TOKEN"],
        aes_key=DEMO_CORP["WECOM_AES_KEY"],
        corp_id=DEMO_CORP["WECOM_CORP_ID"],
        agent_id=DEMO_CORP["WECOM_AGENT_ID"],
        retries=3,  # as WeCom
    )
    emulator = create_emulator_app(wecom, peer=peer, users=users, places=places)
    assistant = create_app(services, run_scheduler=True)

    async def both() -> None:
        # the emulator first: the assistant installs its app menu through it at start
        servers = [
            uvicorn.Server(uvicorn.Config(emulator, host=host, port=emu_port, log_level="warning")),
            uvicorn.Server(uvicorn.Config(assistant, host=host, port=port, log_level="warning")),
        ]
        tasks = []
        for server in servers:
            tasks.append(asyncio.create_task(server.serve()))
            while not server.started and not tasks[-1].done():
                await asyncio.sleep(0.05)
        if all(s.started for s in servers):
            print(
                f"\n销售助手已启动。打开聊天页面：http://{host}:{emu_port}/\n"
                f"（助手回调地址 http://{host}:{port}/wecom/callback ，按 Ctrl+C 退出）",
                flush=True,
            )
        await asyncio.gather(*tasks)

    try:
        asyncio.run(both())
    except KeyboardInterrupt:
        pass
    return 0 if sys.exc_info()[0] is None else 1
