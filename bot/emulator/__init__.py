"""A local WeCom: the only fake in the test suite, and the engine of `python main.py demo`.

- `FakeWeCom` (state.py): the in-memory corp — tokens, media, deliveries, cards, schedules, limits, faults;
  `FakeWeCom.external` (external_contacts.py): 客户联系 — members' external contacts, daily figures, 客户群.
- `create_api_router` (api.py): WeCom's REST API under /cgi-bin/, served from a FakeWeCom.
- `WeComPeer` (peer.py): posts encrypted callbacks to the assistant exactly as WeCom does.
- `create_oauth_router` (oauth.py): WeCom's sign-in pages (网页授权登录, 扫码登录) for the web pages' sign-in.
- `create_emulator_app` (chat.py): the API plus a browser chat page for trying the assistant.
"""

from bot.emulator.api import EmulatedTimeout, create_api_router
from bot.emulator.chat import create_emulator_app
from bot.emulator.faults import Fault
from bot.emulator.oauth import create_oauth_router
from bot.emulator.payloads import ApiError
from bot.emulator.peer import EchoCheck, SentCallback, WeComPeer
from bot.emulator.records import ApiCall, Callback, Delivery, Dropped, Media, ScheduleOp, Suppressed
from bot.emulator.state import FakeWeCom

__all__ = [
    "ApiCall",
    "ApiError",
    "Callback",
    "Delivery",
    "Dropped",
    "EchoCheck",
    "EmulatedTimeout",
    "FakeWeCom",
    "Fault",
    "Media",
    "ScheduleOp",
    "SentCallback",
    "Suppressed",
    "WeComPeer",
    "create_api_router",
    "create_emulator_app",
    "create_oauth_router",
]
