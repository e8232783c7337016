"""`desktop-chat`: until the desktop UI lands, it runs the embedded server in the user data dir."""

from __future__ import annotations

import sys


def main() -> int:
    """Start the embedded server (the app's window arrives with the desktop-app issue)."""
    from desktop_chat.server.cli import main as server_main

    return server_main(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    raise SystemExit(main())
