"""Fixtures of tests/desktop."""

from tests.e2e.test_two_apps import display  # noqa: F401 (Xvfb and a private session bus)
