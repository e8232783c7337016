"""Regression test: PySide6 must not leak references to None/True/False (6.12.0 on 3.11 does)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest
from PySide6 import __version_info__ as pyside_version_info
from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot
from PySide6.QtWidgets import QApplication, QLabel

# A bad build drops one reference per call; a clean one drifts by a handful at most (other
# objects dying meanwhile also drop references, so the bound grows with the number of calls).
MAX_DRIFT = -100
# Check after every CHUNK calls so a bad build fails with an assertion before the refcount of
# True (only ~600 at start) reaches zero and the interpreter aborts with bool_dealloc.
CHUNK = 50
VOID_CALLS = 20_000
EMISSIONS = 20_000


class Emitter(QObject):
    """Source of a bool signal."""

    toggled = Signal(bool)


class Receiver(QObject):
    """Python slot that counts its calls and which values it got."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.trues = 0

    @Slot(bool)
    def on_toggled(self, value: bool) -> None:
        self.calls += 1
        if value:
            self.trues += 1


@pytest.fixture(autouse=True)
def _no_collection_during_the_count() -> Iterator[None]:
    """Garbage from earlier tests, collected mid-count, would drop references too."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def _refcounts() -> tuple[int, int, int]:
    return sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)


def _assert_no_drift(before: tuple[int, int, int], after_calls: int) -> None:
    now = _refcounts()
    drift = tuple(n - b for n, b in zip(now, before, strict=True))
    assert min(drift) > min(MAX_DRIFT, -after_calls // 2), (
        f"refcount drift (None, True, False) = {drift} after {after_calls} calls: "
        f"PySide6 {pyside_version_info[:3]} on Python {sys.version.split()[0]} leaks references"
    )


def test_void_qt_calls_keep_none_refcount(qapp: QApplication) -> None:
    label = QLabel("start")
    label.show()
    calls_per_round = 4
    rounds = VOID_CALLS // calls_per_round
    before = _refcounts()
    calls = 0
    for i in range(rounds):
        label.setText("even" if i % 2 else "odd")
        label.update()
        label.resize(100 + i % 7, 20)
        QCoreApplication.processEvents()
        calls += calls_per_round
        if calls % CHUNK == 0:
            _assert_no_drift(before, calls)
    _assert_no_drift(before, calls)
    assert calls >= VOID_CALLS
    label.close()
    label.deleteLater()
    QCoreApplication.processEvents()


def test_signal_to_python_slot_keeps_bool_refcounts(qapp: QApplication) -> None:
    emitter = Emitter()
    receiver = Receiver()
    emitter.toggled.connect(receiver.on_toggled)
    before = _refcounts()
    for i in range(EMISSIONS):
        emitter.toggled.emit(i % 2 == 0)
        if (i + 1) % CHUNK == 0:
            _assert_no_drift(before, i + 1)
    _assert_no_drift(before, EMISSIONS)
    assert receiver.calls == EMISSIONS
    assert receiver.trues == EMISSIONS // 2
    emitter.toggled.disconnect(receiver.on_toggled)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None/True/False are immortal on 3.12+")
def test_pyside6_pinned_below_6_12_on_python_3_11() -> None:
    assert tuple(pyside_version_info[:2]) < (6, 12), (
        f"PySide6 {pyside_version_info[:3]} on Python {sys.version.split()[0]}: 6.12 leaks "
        "references to None/True/False and aborts; install with -c constraints.txt"
    )
