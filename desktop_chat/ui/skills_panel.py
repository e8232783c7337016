"""The Skills panel: the marketplace's skills, and a skill's page to message its provider."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.ui.bridge import ChatBridge, Skill
from desktop_chat.ui.indicators import linkify
from desktop_chat.ui.theme import ACCENT, SIZES, scaled_font

__all__ = ["ListPanel", "SkillList", "SkillPage", "skill_summary"]

log = logging.getLogger("desktop_chat.ui")

SKILL_ROLE = Qt.ItemDataRole.UserRole + 1


def skill_summary(skill: Skill) -> str:
    """One line under a skill's title: provider, price and length."""
    return f"{skill.provider_name} · price {skill.price_text} · {skill.duration_minutes} min"


class ListPanel(QWidget):
    """A list of items, or a placeholder sentence while there are none; a click or Enter on
    an item calls :meth:`chosen`."""

    def __init__(self, name: str, empty: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(name)
        self.list = QListWidget(self)
        self.list.setAccessibleName(name)
        self.list.setFrameShape(QListWidget.Shape.NoFrame)
        self.list.setWordWrap(True)
        self.list.setSpacing(2)
        self.list.itemActivated.connect(self.chosen)
        self.list.itemClicked.connect(self.chosen)
        self.empty = QLabel(empty, self)
        self.empty.setAccessibleName(f"No {name.lower()}")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.list)
        self.stack.addWidget(self.empty)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    def chosen(self, item: QListWidgetItem) -> None:
        """An item was clicked or activated."""


class SkillList(ListPanel):
    """Every skill (title, provider, price); choosing one reports it."""

    skillChosen = Signal(object)

    def __init__(self, bridge: ChatBridge, parent: QWidget | None = None) -> None:
        super().__init__("Skills", "No skills offered yet", parent)
        self.bridge = bridge
        self.loaded = False
        bridge.skillsLoaded.connect(self.show_skills)

    def load(self) -> None:
        """Read the skills (again)."""
        self.bridge.load_skills()

    def show_skills(self, skills: list[Skill]) -> None:
        self.loaded = True
        self.list.clear()
        for skill in skills:
            item = QListWidgetItem(f"{skill.title}\n{skill_summary(skill)}")
            item.setData(SKILL_ROLE, skill)
            item.setData(
                Qt.ItemDataRole.AccessibleTextRole, f"{skill.title}, {skill_summary(skill)}"
            )
            item.setToolTip(skill.description[:300] or skill.title)
            self.list.addItem(item)
        self.stack.setCurrentWidget(self.list if skills else self.empty)

    def skills(self) -> list[Skill]:
        return [self.list.item(row).data(SKILL_ROLE) for row in range(self.list.count())]

    def chosen(self, item: QListWidgetItem) -> None:
        skill = item.data(SKILL_ROLE)
        if isinstance(skill, Skill):
            self.skillChosen.emit(skill)


class SkillPage(QScrollArea):
    """One skill: title, provider, price, length, description (links clickable, everything
    else literal) and a "Message provider" button."""

    messageProvider = Signal(object)
    bookRequested = Signal(object)  # the skill's booking view

    def __init__(self, bridge: ChatBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.skill: Skill | None = None
        self.setAccessibleName("Skill")
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QWidget(self)
        self.title = QLabel(body)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setWordWrap(True)
        self.title.setFont(scaled_font(self.font(), 1.5, bold=True))
        self.title.setAccessibleName("Skill title")
        self.provider = QLabel(body)
        self.provider.setTextFormat(Qt.TextFormat.PlainText)
        self.provider.setAccessibleName("Provider")
        self.facts = QLabel(body)
        self.facts.setTextFormat(Qt.TextFormat.PlainText)
        self.facts.setAccessibleName("Price and length")
        self.facts.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.description = QLabel(body)
        self.description.setTextFormat(Qt.TextFormat.RichText)  # linkify() escapes first
        self.description.setWordWrap(True)
        self.description.setOpenExternalLinks(True)
        self.description.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.description.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.description.setAccessibleName("Description")
        self.button = QPushButton("Message provider", body)
        self.button.setAccessibleName("Message provider")
        self.button.setStyleSheet(
            f"QPushButton {{ background: {ACCENT}; color: white; border: none;"
            " border-radius: 8px; padding: 8px 18px; font-weight: 600; }"
            "QPushButton:disabled { background: #9C93D9; }"
        )
        self.button.clicked.connect(self._message)
        self.book = QPushButton("Book a session", body)
        self.book.setAccessibleName("Book a session")
        self.book.setStyleSheet(self.button.styleSheet())
        self.book.clicked.connect(self._book)
        self.note = QLabel(body)
        self.note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.note.setAccessibleName("Note")
        buttons = QHBoxLayout()
        buttons.addWidget(self.book)
        buttons.addWidget(self.button)
        buttons.addWidget(self.note, 1)
        layout = QVBoxLayout(body)
        margin = SIZES.margin * 2
        layout.setContentsMargins(margin, margin, margin, margin)
        layout.setSpacing(SIZES.margin)
        for widget in (self.title, self.provider, self.facts, self.description):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.setWidget(body)

    def show_skill(self, skill: Skill) -> None:
        self.skill = skill
        self.title.setText(skill.title)
        self.provider.setText(f"Offered by {skill.provider_name}")
        self.facts.setText(f"Price {skill.price_text} · {skill.duration_minutes} minutes")
        self.description.setText(linkify(skill.description) if skill.description else "")
        self.description.setVisible(bool(skill.description))
        mine = skill.provider_id == self.bridge.uid
        self.button.setEnabled(not mine)
        self.book.setText("Manage availability" if mine else "Book a session")
        self.book.setAccessibleName(self.book.text())
        self.note.setText("This is your skill." if mine else "")
        self.setAccessibleDescription(f"{skill.title}, offered by {skill.provider_name}")

    def _book(self) -> None:
        if self.skill is not None:
            self.bookRequested.emit(self.skill)

    def _message(self) -> None:
        if self.skill is not None:
            self.button.setEnabled(False)
            self.messageProvider.emit(self.skill)

    def opened(self) -> None:
        """The conversation opened (or failed): the button works again."""
        if self.skill is not None:
            self.button.setEnabled(self.skill.provider_id != self.bridge.uid)
