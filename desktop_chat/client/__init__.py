"""desktop_chat.client: (arrives with a later issue)."""
