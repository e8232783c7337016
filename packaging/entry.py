"""The PyInstaller entry point of the bundled app: ``desktop_chat.app.main()``, its exit code."""

from __future__ import annotations

import sys

from desktop_chat.app import main

if __name__ == "__main__":
    # A bundle also runs itself as its local server (``--serve-embedded ARGS``); main() sees that
    # first and never imports Qt for it.
    sys.exit(main())
