"""Child process of the UI benchmarks: the real app (or a bare Qt baseline), timed from inside."""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

STARTED = time.perf_counter()
"""The first thing this script does: the in-script clock starts here."""


def _age_at_start() -> float | None:
    """Seconds between this process's creation (/proc/self/stat) and :data:`STARTED`."""
    try:
        with open("/proc/self/stat") as file:
            stat = file.read()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


AGE_AT_START = _age_at_start()

# Everything else is imported lazily: the app's own imports are part of what is timed.
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from PySide6.QtWidgets import QWidget

    from desktop_chat.core.model import Message
    from desktop_chat.ui.main_window import MainWindow


LATE_MODULES = ("aiohttp", "keyring", "yarl", "socketio", "desktop_chat.ui.chat_view")
"""What the app loads only after its first window has painted (the list is read first)."""


def emit(event: str, **fields: Any) -> None:
    """One JSON line for the parent."""
    print(json.dumps({"event": event, **fields}), flush=True)


def clocks(at: float, spawned: float) -> dict[str, float | None]:
    """Milliseconds to the moment *at* (a perf_counter value): since the parent spawned us (wall
    clock), since this process was created (/proc, 10 ms ticks) and since the script began."""
    wall = time.time() - (time.perf_counter() - at)
    return {
        "since_spawn_ms": (wall - spawned) * 1000,
        "since_process_ms": None if AGE_AT_START is None else (AGE_AT_START + at - STARTED) * 1000,
        "in_script_ms": (at - STARTED) * 1000,
    }


def rss() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process, bytes."""
    found: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) * 1024
    return found


def on_paint(widget: QWidget, ready: Callable[[], bool], done: Callable[[float], None]) -> None:
    """Call *done(perf_counter)* right after the first paint of *widget* for which *ready()*
    holds (the paint event is delivered from the filter, then the clock is read)."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    class Probe(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() != QEvent.Type.Paint or not ready():
                return False
            watched.removeEventFilter(self)
            QApplication.sendEvent(watched, event)  # the paint itself, the other filters' way
            done(time.perf_counter())
            self.deleteLater()
            return True

    widget.installEventFilter(Probe(widget))


def paint_counter(widget: QWidget) -> list[int]:
    """A one-item list counting every paint event *widget* receives from now on."""
    from PySide6.QtCore import QEvent, QObject

    count = [0]

    class Counter(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                count[0] += 1
            return False

    widget.installEventFilter(Counter(widget))
    return count


def _loop() -> Any:
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a Qt slot outside any coroutine: qasync's loop is the current one
        return asyncio.get_event_loop()


def percentile(values: list[float], pct: float) -> float:
    import math

    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def incoming(cid: str, sender: str, receiver: str, n: int, text: str) -> Message:
    """The *n*-th message the other participant sends during the stall run (now, unread)."""
    from desktop_chat.core.model import Message, MessageType

    return Message(
        f"zin{n:017d}",
        cid,
        sender,
        receiver,
        text,
        int(time.time() * 1000),
        False,
        MessageType.TEXT,
    )


async def measure_stall(
    deliver: Callable[[int], Awaitable[None] | None], rate: float, seconds: float, warmup: float
) -> dict[str, Any]:
    """Tick a 1 ms precise QTimer while ``deliver(n)`` is called *rate* times a second for
    *seconds* (after *warmup* seconds of ticks and deliveries that are not recorded). A stall is
    how late a tick came: the gap to the one before, less 1 ms. An awaitable that ``deliver``
    returns runs as a task (the next delivery does not wait for it); ``deliver_*_ms`` is how
    long those took, from the moment they were offered."""
    import asyncio

    from PySide6.QtCore import Qt, QTimer

    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(1)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    loop = asyncio.get_running_loop()
    gap = 1 / rate
    warm = round(warmup * rate)
    total = warm + round(seconds * rate)
    behind = 0.0
    took: list[float] = []
    pending: set[asyncio.Task[None]] = set()

    async def timed(delivery: Awaitable[None], started: float, recorded: bool) -> None:
        await delivery
        if recorded:
            took.append((time.perf_counter() - started) * 1000)

    timer.start()
    begun = loop.time()
    recorded_from = 0
    measured_start = time.perf_counter()
    for n in range(total):
        if n == warm:
            recorded_from = len(ticks)
            measured_start = time.perf_counter()
        delay = begun + n * gap - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif n >= warm:
            behind = max(behind, -delay)
        started = time.perf_counter()
        result = deliver(n)
        if result is not None:  # offered on time; the app works through them as it can
            task = loop.create_task(timed(result, started, n >= warm))
            pending.add(task)
            task.add_done_callback(pending.discard)
        elif n >= warm:
            took.append((time.perf_counter() - started) * 1000)
    await asyncio.gather(*list(pending))
    await asyncio.sleep(gap)
    measured_end = time.perf_counter()
    timer.stop()
    window = ticks[recorded_from:]
    stalls = [max(0.0, (b - a) * 1000 - 1.0) for a, b in itertools.pairwise(window)]
    elapsed = measured_end - measured_start
    return {
        "delivered": total - warm,
        "seconds": elapsed,
        "processed_per_second": (total - warm) / elapsed,
        "most_behind_ms": behind * 1000,
        "deliver_p50_ms": percentile(took, 50),
        "deliver_p99_ms": percentile(took, 99),
        "ticks": len(window),
        "ticks_per_second": len(window) / elapsed,
        "p50_ms": percentile(stalls, 50),
        "p90_ms": percentile(stalls, 90),
        "p99_ms": percentile(stalls, 99),
        "max_ms": max(stalls, default=0.0),
        "over_16ms": sum(stall > 16 for stall in stalls),
    }


# the bare baselines -------------------------------------------------------------------------
def bare_window(spawned: float) -> int:
    """A bare QMainWindow: shown, first painted, closed."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.setWindowTitle("bare")
    window.resize(1000, 680)

    def painted(at: float) -> None:
        emit("painted", **clocks(at, spawned), **rss())
        QTimer.singleShot(0, window.close)  # after this paint is flushed
        QTimer.singleShot(0, app.quit)

    on_paint(window, lambda: True, painted)
    window.show()
    code = app.exec()
    emit("done")
    return code


def bare_loop(config: dict[str, Any]) -> int:
    """A bare qasync loop and a QListView over a trivial model, fed the same messages."""
    import asyncio

    import qasync
    from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt
    from PySide6.QtWidgets import QApplication, QListView

    class Trivial(QAbstractListModel):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[str] = [f"row {n}" for n in range(50)]

        def rowCount(self, parent: Any = QModelIndex()) -> int:  # noqa: B008
            return 0 if parent.isValid() else len(self.rows)

        def data(self, index: Any, role: int = 0) -> Any:
            if role == Qt.ItemDataRole.DisplayRole and index.isValid():
                return self.rows[index.row()]
            return None

        def append(self, text: str) -> None:
            row = len(self.rows)
            self.beginInsertRows(QModelIndex(), row, row)
            self.rows.append(text)
            self.endInsertRows()

    app = QApplication(sys.argv[:1])
    model = Trivial()
    view = QListView()
    view.setUniformItemSizes(True)  # the cheapest list Qt has: the floor to compare with
    view.setModel(model)
    view.resize(680, 600)
    view.show()
    paints = paint_counter(view.viewport())

    async def run() -> None:
        await asyncio.sleep(0.3)
        text = config["text"]

        def deliver(n: int) -> None:
            message = incoming("c", "them", "me", n, text)
            model.append(message.text or "")
            view.scrollToBottom()

        before = paints[0]
        stats = measure_stall(deliver, config["rate"], config["seconds"], config["warmup"])
        result = await stats
        emit("stall", **result, rows=model.rowCount(), paints=paints[0] - before, **rss())

    with asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
        runner.run(run())
    view.close()
    app.processEvents()
    emit("done")
    return 0


# the app ------------------------------------------------------------------------------------
class Scenario:
    """What the app child does once its conversation list is painted."""

    def __init__(self, window: MainWindow, config: dict[str, Any], spawned: float) -> None:
        self.window = window
        self.config = config
        self.spawned = spawned
        on_paint(window.list.viewport(), self._list_ready, self._list_painted)

    def _list_ready(self) -> bool:
        return not self.window.conversations.loading and self.window.proxy.rowCount() > 0

    def _list_painted(self, at: float) -> None:
        rows = self.window.proxy.rowCount()
        early = sorted(name for name in LATE_MODULES if name in sys.modules)
        emit("list_painted", **clocks(at, self.spawned), rows=rows, loaded_early=early, **rss())
        task = _loop().create_task(self._run())
        task.add_done_callback(self._finished)

    def _finished(self, task: Any) -> None:
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            emit("error", error=f"{type(error).__name__}: {error}")
        emit("done")
        self.window.close()  # the last window: the app quits and cleans up

    async def _run(self) -> None:
        actions = self.config.get("actions", [])
        if "open" in actions:
            await self._open_series()
        if "stall" in actions:
            await self._stall()
        if "memory" in actions:
            await self._memory()

    async def open_once(self, cid: str) -> float:
        """ms from ``open_conversation(cid)`` to the first paint of its history with rows."""
        import asyncio

        chat = self.window.chat
        painted: asyncio.Future[float] = _loop().create_future()

        def ready() -> bool:
            return chat.cid == cid and not chat.history.loading and chat.model.rowCount() > 0

        on_paint(chat.history.viewport(), ready, painted.set_result)
        begun = time.perf_counter()
        self.window.open_conversation(cid)
        return (await asyncio.wait_for(painted, 30) - begun) * 1000

    async def _open_series(self) -> None:
        import asyncio

        big, small = self.config["big_cid"], self.config["small_cid"]
        await asyncio.sleep(0.3)  # the list settled, as a person would click
        first = await self.open_once(big)
        rows = self.window.chat.model.rowCount()
        again: list[float] = []
        small_ms: list[float] = []
        for _ in range(self.config.get("reopens", 0)):
            await asyncio.sleep(0.1)
            small_ms.append(await self.open_once(small))
            await asyncio.sleep(0.1)
            again.append(await self.open_once(big))
        emit("opened", first_ms=first, again_ms=again, small_ms=small_ms, rows=rows)

    async def _stall(self) -> None:
        import asyncio

        from desktop_chat.client.events import ConversationChanged
        from desktop_chat.core.model import ConversationEntry

        window = self.window
        client = window.bridge.client
        cid = self.config["big_cid"]
        if window.chat.cid != cid:
            await self.open_once(cid)
        await asyncio.sleep(0.3)
        merger, me = client.merger, client.uid
        assert merger is not None and me is not None
        other = window.bridge.other_of(cid)
        assert other is not None
        name = window.chat.header.name
        text = self.config["text"]
        model = window.chat.model
        inserted = [0]  # rows added at the end (the history lets go of its oldest meanwhile)
        model.rowsInserted.connect(
            lambda _p, first, last: inserted.__setitem__(0, inserted[0] + last - first + 1)
        )
        memory_before = rss()
        paints = paint_counter(window.chat.history.viewport())

        async def deliver(n: int) -> None:
            message = incoming(cid, other, me, n, text)
            await merger.merge_messages(cid, [message])  # cache, then MessageAdded on the bus
            entry = ConversationEntry(cid, other, name, None, text, message.timestamp, 0)
            client.bus.publish(ConversationChanged(cid, entry))  # the list's row, as its stream

        result = await measure_stall(
            deliver, self.config["rate"], self.config["seconds"], self.config["warmup"]
        )
        await asyncio.sleep(0.2)
        emit(
            "stall",
            **result,
            rows_added=inserted[0],
            rows_kept=model.rowCount(),
            paints=paints[0],
            before=memory_before,
            **rss(),
        )

    async def _memory(self) -> None:
        import asyncio
        import gc

        chat = self.window.chat
        cid = self.config["big_cid"]
        target = self.config["load_rows"]
        await self.open_once(cid)
        await asyncio.sleep(0.5)
        gc.collect()
        opened = {"rows": chat.model.rowCount(), **rss()}
        bar = chat.history.verticalScrollBar()
        begun = time.perf_counter()
        pages = 0
        while chat.model.rowCount() < target and not chat.model.at_beginning:
            rows = chat.model.rowCount()
            bar.setValue(bar.minimum())  # the person scrolls to the top: an older page loads
            waited = 0.0
            while chat.model.rowCount() == rows and not chat.model.at_beginning:
                await asyncio.sleep(0.005)
                waited += 0.005
                if waited > 0.5:  # already at the top: ask as the view would
                    chat.history.fetch_older(force=True)
                    waited = 0.0
            pages += 1
        paging = time.perf_counter() - begun
        await asyncio.sleep(0.5)
        gc.collect()
        loaded = {"rows": chat.model.rowCount(), **rss()}
        # Online, the conversation's message stream would now deliver its first page: the
        # merger then reads every cached message of the conversation to know what is new.
        client = self.window.bridge.client
        assert client.merger is not None
        await client.merger.merge_messages(cid, await client.messages(cid, 50))
        await asyncio.sleep(0.5)
        gc.collect()
        merged = {"rows": chat.model.rowCount(), **rss()}
        emit(
            "memory",
            opened=opened,
            loaded=loaded,
            streamed=merged,
            pages=pages,
            paging_seconds=paging,
        )


def app(config: dict[str, Any], spawned: float) -> int:
    """The real ``desktop-chat`` (its main, its stored session, its cache), probed."""
    from desktop_chat.app import main

    def window_factory(bridge: Any) -> QWidget:
        from desktop_chat.ui.main_window import MainWindow

        window = MainWindow(bridge)
        window.probe = Scenario(window, config, spawned)  # type: ignore[attr-defined]
        return window

    code = main(["--log-level", "WARNING"], window_factory=window_factory)
    emit("exited", code=code)
    return code


def run(argv: list[str]) -> int:
    scenario, raw, spawned = argv
    config = json.loads(raw)
    os.environ.update(config.get("env", {}))
    if scenario == "bare-window":
        return bare_window(float(spawned))
    if scenario == "bare-loop":
        return bare_loop(config)
    if scenario == "app":
        return app(config, float(spawned))
    raise SystemExit(f"unknown scenario {scenario!r}")


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
