"""A test org.freedesktop.Notifications service (dbus-next): logs each call as a JSON line."""
# ruff: noqa: F722, F821, UP037, RUF100
# (dbus-next reads the D-Bus signatures from string annotations: no `from __future__`)

import asyncio
import json
import sys
from pathlib import Path

from dbus_next.aio import MessageBus
from dbus_next.service import ServiceInterface, method, signal

NAME = "org.freedesktop.Notifications"


class Notifications(ServiceInterface):
    """Notify, CloseNotification, GetCapabilities, GetServerInformation; and Invoke(id, key),
    which emits ActionInvoked as a click on the notification would."""

    def __init__(self, log: Path) -> None:
        super().__init__(NAME)
        self.log = log
        self.last = 0

    def _write(self, record: dict[str, object]) -> None:
        with self.log.open("a") as out:
            out.write(json.dumps(record) + "\n")

    @method()
    def Notify(
        self,
        app: "s",
        replaces: "u",
        icon: "s",
        summary: "s",
        body: "s",
        actions: "as",  # noqa: F821
        hints: "a{sv}",
        timeout: "i",  # noqa: F821
    ) -> "u":  # noqa: F821
        nid = replaces or self.last + 1
        self.last = max(self.last, nid)
        self._write(
            {
                "call": "Notify",
                "id": nid,
                "replaces": replaces,
                "app": app,
                "summary": summary,
                "body": body,
                "actions": actions,
            }
        )
        return nid

    @method()
    def CloseNotification(self, nid: "u") -> None:  # noqa: F821
        self._write({"call": "CloseNotification", "id": nid})
        self.NotificationClosed(nid, 3)

    @method()
    def GetCapabilities(self) -> "as":  # noqa: F821
        self._write({"call": "GetCapabilities"})  # a client is connecting
        return ["actions", "body"]

    @method()
    def GetServerInformation(self) -> "ssss":  # noqa: F821
        return ["fake", "tests", "1", "1.2"]

    @method()
    def Invoke(self, nid: "u", key: "s") -> None:  # noqa: F821
        self.ActionInvoked(nid, key)

    @signal()
    def ActionInvoked(self, nid: "u", key: "s") -> "us":  # noqa: F821
        return [nid, key]

    @signal()
    def NotificationClosed(self, nid: "u", reason: "u") -> "uu":  # noqa: F821
        return [nid, reason]


async def main(log: Path) -> None:
    bus = await MessageBus().connect()
    bus.export("/org/freedesktop/Notifications", Notifications(log))
    await bus.request_name(NAME)
    print("ready", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
