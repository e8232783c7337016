"""The core's exceptions: one root, and one subclass per kind of bad input."""

from __future__ import annotations


class CoreError(Exception):
    """Root of every exception raised by desktop_chat.core."""


class InvalidPathError(CoreError):
    """A data-tree path or key breaks Firebase's rules for keys and depth."""


class InvalidDataError(CoreError):
    """A value cannot be stored: wrong type, bad key, too deep, unknown server value."""


class InvalidQueryError(CoreError):
    """Query parameters that Firebase would refuse."""


class InvalidIdError(CoreError):
    """A uid, conversation id or message id that the data model does not allow."""


class InvalidMessageError(CoreError):
    """Message content the data model refuses: blank or too-long text, a bad type or slot."""
