"""desktop-chat-server: a Firebase-compatible Realtime Database server that stores to SQLite."""

from __future__ import annotations

from desktop_chat.server.errors import ServerError

__all__ = ["ServerError"]
