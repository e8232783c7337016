"""The message input: plain multi-line text, Enter sends, Shift+Enter breaks, emoji, drafts."""

from __future__ import annotations

import logging

from PySide6.QtCore import QMimeData, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWidgetAction,
)

from desktop_chat.core.model import EDIT_WINDOW_MS, MAX_TEXT, utf16_len
from desktop_chat.ui.bridge import ChatBridge
from desktop_chat.ui.formatting import now_ms
from desktop_chat.ui.theme import ACCENT, scaled_font

__all__ = ["EMOJI", "MAX_LINES", "EmojiPicker", "MessageInput", "PlainTextInput"]

log = logging.getLogger("desktop_chat.ui")

MAX_LINES = 6
"""The input grows with its text up to this many lines, then scrolls."""
DRAFT_DELAY_MS = 400
"""A draft is kept this long after the last keystroke (and at once on switching or closing)."""
EMOJI: tuple[tuple[str, str], ...] = (
    ("😀", "grinning face"),
    ("😂", "face with tears of joy"),
    ("🙂", "slightly smiling face"),
    ("😉", "winking face"),
    ("😍", "smiling face with heart-eyes"),
    ("🤔", "thinking face"),
    ("😅", "grinning face with sweat"),
    ("😢", "crying face"),
    ("😮", "face with open mouth"),
    ("😎", "smiling face with sunglasses"),
    ("🙏", "folded hands"),
    ("👍", "thumbs up"),
    ("👎", "thumbs down"),
    ("👏", "clapping hands"),
    ("👋", "waving hand"),
    ("💪", "flexed biceps"),
    ("🎉", "party popper"),
    ("❤️", "red heart"),
    ("🔥", "fire"),
    ("✅", "check mark button"),
    ("📚", "books"),
    ("🎸", "guitar"),
    ("📅", "calendar"),
    ("⏰", "alarm clock"),
)


class PlainTextInput(QPlainTextEdit):
    """A QPlainTextEdit whose Enter submits, Shift+Enter breaks the line, Esc is reported,
    and whose paste keeps only the plain text."""

    submitted = Signal()
    escapePressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if mods & Qt.KeyboardModifier.ShiftModifier:
                self.textCursor().insertText("\n")
            else:
                self.submitted.emit()
            event.accept()
            return
        if key == Qt.Key.Key_Escape:
            self.escapePressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return source.hasText()

    def insertFromMimeData(self, source: QMimeData) -> None:
        if source.hasText():
            text = source.text().replace("\r\n", "\n").replace("\r", "\n").replace("\0", "")
            self.textCursor().insertText(text)


class EmojiPicker(QToolButton):
    """A button opening a small grid of common emoji; a click reports the emoji chosen."""

    picked = Signal(str)

    def __init__(self, parent: QWidget | None = None, columns: int = 6) -> None:
        super().__init__(parent)
        self.setText("🙂")
        self.setToolTip("Insert an emoji")
        self.setAccessibleName("Emoji")
        self.setAccessibleDescription("Opens a grid of emoji to insert at the cursor")
        self.setAutoRaise(True)
        self.setFont(scaled_font(self.font(), 1.4))
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
        self.menu_ = QMenu(self)
        self.menu_.setAccessibleName("Emoji picker")
        self.grid = QFrame(self.menu_)
        self.grid.setAccessibleName("Emoji")
        layout = QGridLayout(self.grid)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(2)
        self.buttons: list[QToolButton] = []
        for n, (emoji, name) in enumerate(EMOJI):
            button = QToolButton(self.grid)
            button.setText(emoji)
            button.setAutoRaise(True)
            button.setFixedSize(QSize(34, 34))
            button.setAccessibleName(name)
            button.setToolTip(name)
            font = button.font()
            font.setPointSizeF(font.pointSizeF() * 1.35)
            button.setFont(font)
            button.clicked.connect(lambda _=False, e=emoji: self._pick(e))
            layout.addWidget(button, n // columns, n % columns)
            self.buttons.append(button)
        action = QWidgetAction(self.menu_)
        action.setDefaultWidget(self.grid)
        self.menu_.addAction(action)
        self.setMenu(self.menu_)

    def _pick(self, emoji: str) -> None:
        self.menu_.close()
        self.picked.emit(emoji)


class MessageInput(QWidget):
    """The composer of the open conversation: sends through the bridge, edits one of my
    messages inline, tells the other side I type, and keeps a draft per conversation."""

    sent = Signal(str)
    escapePressed = Signal()

    def __init__(self, bridge: ChatBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.cid: str | None = None
        self.editing: str | None = None
        """The id of the message being edited (None: composing a new one)."""
        self._edit_sent_at: int | None = None
        self._stashed = ""
        self._quiet = False
        self._kept = ""
        self.setAccessibleName("Message composer")

        self.edit_bar = QWidget(self)
        self.edit_bar.setAccessibleName("Editing a message")
        bar = QHBoxLayout(self.edit_bar)
        bar.setContentsMargins(8, 2, 4, 2)
        self.edit_label = QLabel("Editing message", self.edit_bar)
        self.cancel_edit_button = QToolButton(self.edit_bar)
        self.cancel_edit_button.setText("✕")
        self.cancel_edit_button.setAutoRaise(True)
        self.cancel_edit_button.setAccessibleName("Cancel editing")
        self.cancel_edit_button.setToolTip("Cancel editing (Esc)")
        self.cancel_edit_button.clicked.connect(self.cancel_edit)
        bar.addWidget(self.edit_label, 1)
        bar.addWidget(self.cancel_edit_button)
        self.edit_bar.hide()

        self.emoji = EmojiPicker(self)
        self.emoji.picked.connect(self.insert_text)
        self.text = PlainTextInput(self)
        self.text.setAccessibleName("Message")
        self.text.setAccessibleDescription("Enter sends, Shift+Enter starts a new line")
        self.text.setPlaceholderText("Write a message…")
        self.text.setTabChangesFocus(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.text.submitted.connect(self.submit)
        self.text.escapePressed.connect(self._escape)
        self.text.textChanged.connect(self._edited)
        self.text.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.send_button = QPushButton("Send", self)
        self.send_button.setAccessibleName("Send")
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.setEnabled(False)
        self.send_button.setStyleSheet(
            f"QPushButton {{ background: {ACCENT}; color: white; border: none;"
            " border-radius: 8px; padding: 6px 16px; font-weight: 600; }"
            "QPushButton:disabled { background: palette(mid); color: palette(window); }"
        )
        self.send_button.clicked.connect(self.submit)
        self.counter = QLabel(self)
        self.counter.setAccessibleName("Characters left")
        self.counter.hide()

        row = self._row = QHBoxLayout()
        row.setContentsMargins(6, 6, 6, 6)
        row.setSpacing(6)
        row.addWidget(self.emoji, 0, Qt.AlignmentFlag.AlignBottom)
        row.addWidget(self.text, 1)
        row.addWidget(self.counter, 0, Qt.AlignmentFlag.AlignBottom)
        row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.edit_bar)
        column.addLayout(row)

        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_DELAY_MS)
        self._draft_timer.timeout.connect(self.flush_draft)
        self._fit()

    # conversation and drafts ---------------------------------------------------------------
    def set_conversation(self, cid: str | None, draft: str = "") -> None:
        """Show *cid*'s composer with its kept *draft* (the previous one's draft is kept)."""
        self.flush_draft()
        if self.editing is not None:
            self.cancel_edit()
        self.cid = cid
        self._kept = draft
        self._set_text(draft)
        self.setEnabled(cid is not None)

    def set_blocked(self, blocked: bool) -> None:
        """A blocked conversation cannot be written to."""
        self.text.setReadOnly(blocked)
        self.emoji.setEnabled(not blocked)
        self.text.setPlaceholderText(
            "You blocked this person. Unblock them to write." if blocked else "Write a message…"
        )
        self._update_send()

    def flush_draft(self) -> None:
        """Keep the current text as the conversation's draft now, if it changed."""
        self._draft_timer.stop()
        if self.cid is None or self.editing is not None:
            return
        text = self.text.toPlainText()
        if text != self._kept:
            self._kept = text
            self.bridge.set_draft(self.cid, text)

    # editing -------------------------------------------------------------------------------
    def begin_edit(self, mid: str, text: str, sent_at: int | None = None) -> None:
        """Edit my message *mid* (sent at *sent_at*, server ms) in place of the composer (Enter
        saves, Esc cancels)."""
        if self.editing is None:
            self.flush_draft()
            self._stashed = self.text.toPlainText()
        self.editing = mid
        self._edit_sent_at = sent_at
        self.edit_bar.show()
        self._set_text(text)
        self.text.setFocus()
        self.text.moveCursor(self.text.textCursor().MoveOperation.End)

    def cancel_edit(self) -> None:
        if self.editing is None:
            return
        self.editing = None
        self.edit_bar.hide()
        self._set_text(self._stashed)
        self._stashed = ""

    # typing --------------------------------------------------------------------------------
    def add_tool(self, tool: QWidget) -> None:
        """Another button beside the emoji picker (such as "Propose a time")."""
        self._row.insertWidget(1, tool, 0, Qt.AlignmentFlag.AlignBottom)

    def insert_text(self, text: str) -> None:
        """Insert *text* at the cursor (the emoji picker's choice)."""
        self.text.textCursor().insertText(text)
        self.text.setFocus()

    def submit(self) -> None:
        """Send the text (or save the edit); a blank text does nothing."""
        text = self.text.toPlainText().strip()
        if self.cid is None or not text or self.text.isReadOnly():
            return
        if utf16_len(text) > MAX_TEXT:
            return
        if self.editing is not None:
            sent_at = self._edit_sent_at
            if sent_at is not None and now_ms() - sent_at > EDIT_WINDOW_MS:
                minutes = EDIT_WINDOW_MS // 60_000  # the text stays here, to copy or cancel
                self.bridge.error.emit(
                    f"Could not save the edit: a message can be changed for {minutes} minutes "
                    "after it was sent."
                )
                return
            self.bridge.edit(self.cid, self.editing, text)
            self.cancel_edit()
            return
        self.bridge.send(self.cid, text)
        self._set_text("")
        self._draft_timer.stop()
        if self._kept:
            self._kept = ""
            self.bridge.set_draft(self.cid, "")
        self.sent.emit(text)

    def _set_text(self, text: str) -> None:
        self._quiet = True
        try:
            self.text.setPlainText(text)
            self.text.moveCursor(self.text.textCursor().MoveOperation.End)
        finally:
            self._quiet = False
        self._update_send()

    def _edited(self) -> None:
        self._update_send()
        if self._quiet or self.cid is None:
            return
        if self.editing is None:
            self._draft_timer.start()
        if self.text.toPlainText():
            self.bridge.typing(self.cid)

    def _escape(self) -> None:
        if self.editing is not None:
            self.cancel_edit()
        else:
            self.escapePressed.emit()

    def _update_send(self) -> None:
        text = self.text.toPlainText()
        length = utf16_len(text)
        blank = not text.strip()
        self.send_button.setEnabled(not blank and length <= MAX_TEXT and not self.text.isReadOnly())
        self.send_button.setText("Save" if self.editing is not None else "Send")
        near = length > MAX_TEXT - 200
        self.counter.setVisible(near)
        if near:
            self.counter.setText(str(MAX_TEXT - length))
            self.counter.setToolTip(f"At most {MAX_TEXT} characters")

    def _fit(self) -> None:
        """Grow with the text from one line to MAX_LINES lines."""
        lines = max(1, min(MAX_LINES, round(self.text.document().size().height())))
        margins = self.text.contentsMargins()
        doc_margin = self.text.document().documentMargin()
        height = (
            lines * self.text.fontMetrics().lineSpacing()
            + 2 * doc_margin
            + margins.top()
            + margins.bottom()
            + 2
        )
        if self.text.height() != int(height):
            self.text.setFixedHeight(int(height))
