"""Round avatar pixmaps: initials on a colour, or photos loaded on the asyncio loop, cached."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QImageReader,
    QPainter,
    QPainterPath,
    QPixmap,
)

from desktop_chat.ui.formatting import avatar_colour, initials

__all__ = ["MAX_PHOTO_BYTES", "AvatarCache", "LruCache", "PhotoLoader"]

log = logging.getLogger("desktop_chat.ui")

PhotoLoader = Callable[[str], Awaitable[bytes]]
"""Fetches a photo URL's bytes (the app injects one on its HTTP session)."""

MAX_PHOTO_BYTES = 8 * 1024 * 1024
_MAX_DECODE = 256  # pixels a side, at most, of a decoded photo (56 px avatars at 3x and less)

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A dict that forgets its least recently used entries beyond *capacity*."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("an LRU cache needs room for one entry")
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def drop_where(self, test: Callable[[K], bool]) -> int:
        """Forget every entry whose key passes *test*; how many were forgotten."""
        doomed = [key for key in self._items if test(key)]
        for key in doomed:
            del self._items[key]
        return len(doomed)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items


def _circle(image: QImage, size: int, dpr: float) -> QPixmap:
    """*image* centre-cropped into a circle *size* logical pixels wide at *dpr*."""
    side = max(1, round(size * dpr))
    pixmap = QPixmap(side, side)
    pixmap.fill(Qt.GlobalColor.transparent)
    scaled = image.scaled(
        side,
        side,
        Qt.AspectRatioMode.KeepAspectRatioByExpanding,
        Qt.TransformationMode.SmoothTransformation,
    )
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    path = QPainterPath()
    path.addEllipse(QRectF(0, 0, side, side))
    painter.setClipPath(path)
    painter.drawImage((side - scaled.width()) // 2, (side - scaled.height()) // 2, scaled)
    painter.end()
    pixmap.setDevicePixelRatio(dpr)
    return pixmap


def _decode(data: bytes) -> QImage | None:
    """The image in *data*, decoded no larger than it needs to be; None when it is not one."""
    if not data or len(data) > MAX_PHOTO_BYTES:
        return None
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > _MAX_DECODE:
        fit = Qt.AspectRatioMode.KeepAspectRatio
        reader.setScaledSize(size.scaled(_MAX_DECODE, _MAX_DECODE, fit))
    image = reader.read()
    buffer.close()
    return None if image.isNull() else image


class AvatarCache(QObject):
    """Avatars by uid. :meth:`pixmap` is what a delegate paints: the photo when it is loaded,
    else initials on the uid's colour (asking for the photo once). Photos come through the
    injected async *loader* on the running (qasync) loop; no threads."""

    avatarReady = Signal(str)

    def __init__(
        self,
        loader: PhotoLoader | None = None,
        *,
        capacity: int = 512,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._initials: LruCache[tuple[str, str, int, float], QPixmap] = LruCache(capacity)
        self._circles: LruCache[tuple[str, str, int, float], QPixmap] = LruCache(capacity)
        self._photos: LruCache[tuple[str, str], QImage] = LruCache(max(1, capacity // 4))
        self._failed: LruCache[tuple[str, str], bool] = LruCache(4 * capacity)
        self._loading: dict[tuple[str, str], asyncio.Task[None]] = {}

    # painting ----------------------------------------------------------------------------
    def pixmap(self, uid: str, name: str, url: str | None, size: int, dpr: float) -> QPixmap:
        """The avatar to paint now: the photo if loaded, else initials (and the photo is
        requested; :attr:`avatarReady` fires when it arrives)."""
        if url:
            key = (uid, url)
            image = self._photos.get(key)
            if image is not None:
                circle = self._circles.get((uid, url, size, dpr))
                if circle is None:
                    circle = _circle(image, size, dpr)
                    self._circles.put((uid, url, size, dpr), circle)
                return circle
            self.request(uid, url, size)
        return self.initials_pixmap(uid, name, size, dpr)

    def initials_pixmap(self, uid: str, name: str, size: int, dpr: float) -> QPixmap:
        """Up to two initials in white on the uid's colour, in a circle."""
        key = (uid, name, size, dpr)
        cached = self._initials.get(key)
        if cached is not None:
            return cached
        side = max(1, round(size * dpr))
        pixmap = QPixmap(side, side)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(avatar_colour(uid)))
        painter.drawEllipse(QRectF(0, 0, side, side))
        font = QFont(QGuiApplication.font())
        text = initials(name)
        font.setPixelSize(max(1, round(side * (0.36 if len(text) > 1 else 0.44))))
        font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(font)
        painter.setPen(QColor("#FFFFFF"))
        painter.drawText(QRectF(0, 0, side, side), Qt.AlignmentFlag.AlignCenter, text)
        painter.end()
        pixmap.setDevicePixelRatio(dpr)
        self._initials.put(key, pixmap)
        return pixmap

    def has_photo(self, uid: str, url: str) -> bool:
        return (uid, url) in self._photos

    def failed(self, uid: str, url: str) -> bool:
        """True when *url* could not be loaded or decoded (it is not asked for again)."""
        return (uid, url) in self._failed

    # loading -----------------------------------------------------------------------------
    def request(self, uid: str, url: str, size: int = 40) -> bool:
        """Start loading *uid*'s photo at *url* unless it is loaded, loading, or failed
        before; True when a load started. *size* is a hint (photos are decoded once)."""
        key = (uid, url)
        if self._loader is None or key in self._photos or key in self._failed:
            return False
        if key in self._loading:
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.debug("no running event loop: the photo of %s stays initials for now", uid)
            return False
        task = loop.create_task(self._load(uid, url), name=f"avatar {uid}")
        self._loading[key] = task
        task.add_done_callback(lambda _task: self._loading.pop(key, None))
        return True

    async def _load(self, uid: str, url: str) -> None:
        assert self._loader is not None
        key = (uid, url)
        try:
            data = await self._loader(url)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any loader failure means initials; log it, do not retry
            log.info("avatar of %s not loaded: %s", uid, exc)
            self._failed.put(key, True)
            return
        image = _decode(bytes(data)) if isinstance(data, bytes | bytearray) else None
        if image is None:
            log.info("avatar of %s is not an image (%d bytes)", uid, len(data or b""))
            self._failed.put(key, True)
            return
        self._photos.put(key, image)
        with contextlib.suppress(RuntimeError):  # the cache's Qt side went away meanwhile
            self.avatarReady.emit(uid)

    def forget(self, uid: str) -> None:
        """Drop everything known about *uid* (a new photo, or try a failed one again)."""
        for cache in (self._photos, self._failed, self._circles, self._initials):
            cache.drop_where(lambda key: key[0] == uid)

    def close(self) -> None:
        """Cancel the loads in flight."""
        for task in list(self._loading.values()):
            task.cancel()
        self._loading.clear()

    @staticmethod
    def device_size(size: int, dpr: float) -> QSize:
        """The pixel size of a *size* avatar at *dpr* (for tests and layout)."""
        side = max(1, round(size * dpr))
        return QSize(side, side)
