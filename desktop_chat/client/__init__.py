"""desktop_chat.client: the Qt-free asyncio client: backend config, auth, database, streams."""
