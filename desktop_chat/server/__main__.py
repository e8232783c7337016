"""`python -m desktop_chat.server`: the same as `desktop-chat-server`."""

from desktop_chat.server.cli import main

raise SystemExit(main())
