"""desktop_chat.ui: (arrives with a later issue)."""
