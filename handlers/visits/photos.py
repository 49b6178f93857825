"""Image messages: the photo was already downloaded and checked (bot/wecom/media.py, before the transaction);
here it is judged against earlier photos and the check-in time, stored, and counted."""

from __future__ import annotations

from datetime import datetime

from core.photos import judge_photo
from handlers import texts
from handlers.context import Ctx
from handlers.messages import ImageIn, Inbound
from handlers.messages import Text as TextReply
from handlers.visits import flow as visit_flow
from storage import visits as visit_repo
from storage.models import PhotoRow


def hash_bands(phash: str) -> tuple[int, int, int, int]:
    v = int(phash, 16)
    return tuple((v >> shift) & 0xFFFF for shift in (48, 32, 16, 0))  # type: ignore[return-value]


def on_image(ctx: Ctx, event: Inbound) -> None:
    assert isinstance(event, ImageIn)
    got = ctx.prefetched or {"ok": False, "reason": "照片下载失败"}
    visit = visit_repo.open_visit(ctx.session, ctx.userid)
    if not got.get("ok"):
        _store_rejected(ctx, event, visit, got.get("reason", "无法读取"))
        ctx.reply(TextReply(content=texts.PHOTO_REJECTED.format(reason=got.get("reason", "无法读取"))))
        return
    taken_at = datetime.fromisoformat(got["taken_at"]) if got.get("taken_at") else None
    phash = got["phash"]
    bands = hash_bands(phash)
    earlier = visit_repo.similar_hashes(ctx.session, bands, exclude_media=event.media_id)
    reference_time = visit.checked_in_at if visit is not None else ctx.now
    verdict = judge_photo(
        phash=phash, earlier_hashes=earlier, taken_at=taken_at, checked_in_at=reference_time
    )
    photo = PhotoRow(
        visit_id=visit.visit_id if visit else None,
        rep_userid=ctx.userid,
        media_id=event.media_id,
        path=got.get("path"),
        thumb_path=got.get("thumb_path"),
        width=got.get("width"),
        height=got.get("height"),
        size_bytes=got.get("size_bytes"),
        phash=phash,
        ph0=bands[0],
        ph1=bands[1],
        ph2=bands[2],
        ph3=bands[3],
        taken_at=taken_at,
        exif_lat=got.get("exif_lat"),
        exif_lng=got.get("exif_lng"),
        verdict=verdict.verdict,
        reason=verdict.reason_zh,
        received_at=ctx.now,
    )
    visit_flow.attach_photo(ctx, photo)
    visit_flow.remember_undo(ctx, {"op": "photo", "photo_id": photo.id})
    if visit is None:
        pending = len(
            visit_repo.unattached_photos(
                ctx.session,
                ctx.userid,
                since=visit_repo.recent_window(ctx.now, visit_flow.PENDING_PHOTOS_WINDOW),
            )
        )
        ctx.reply(
            TextReply(
                content=texts.PHOTO_NO_VISIT if pending <= 1 else texts.PHOTO_PENDING.format(count=pending)
            )
        )
        return
    count = visit_repo.refresh_photo_count(ctx.session, visit)
    if verdict.verdict != "ok":
        ctx.reply(TextReply(content=texts.PHOTO_FLAGGED.format(reason=verdict.reason_zh, count=count)))
        visit_flow.after_change(ctx, visit, announce_missing=False)
        return
    if not visit_flow.after_change(ctx, visit, announce_missing=False) or visit.completed_at != ctx.now:
        ctx.reply(TextReply(content=texts.PHOTO_OK.format(count=count)))


def _store_rejected(ctx: Ctx, event: ImageIn, visit, reason: str) -> None:  # noqa: ANN001
    photo = PhotoRow(
        visit_id=visit.visit_id if visit else None,
        rep_userid=ctx.userid,
        media_id=event.media_id,
        verdict="rejected",
        reason=reason[:256],
        received_at=ctx.now,
    )
    visit_repo.add_photo(ctx.session, photo, now=ctx.now, why=ctx.source)
